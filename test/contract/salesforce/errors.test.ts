// Salesforce errors as jsforce throws them (HttpApiError built from the documented REST error bodies,
// OAuth errors, refresh failures, node-fetch errors) → the closed CrmError set; and the daily API usage
// policy read from Sforce-Limit-Info.
import {
  classifySalesforceCode,
  crmErrorFromJsforce,
  usageFromLimitInfo,
  usagePace,
} from '../../../connectors/salesforce/errors.js';
import { SoqlValueError } from '../../../connectors/salesforce/soql.js';

/** jsforce's HttpApiError, built as http-api.ts builds it: name = errorCode, data = the error entry. */
function httpApiError(errorCode: string, message: string, data?: unknown): Error {
  const e = new Error(message) as Error & { errorCode: string; data: unknown };
  e.name = errorCode;
  e.errorCode = errorCode;
  e.data = data ?? { errorCode, message };
  return e;
}

const read = { call: 'Lead query', write: false };
const write = { call: 'Lead owner update', write: true };

describe('crmErrorFromJsforce', () => {
  it.each([
    ['INVALID_SESSION_ID', 'Session expired or invalid', 'auth'],
    ['REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.', 'rate_limited'],
    ['UNABLE_TO_LOCK_ROW', 'unable to obtain exclusive access to this record', 'transient'],
    ['SERVER_UNAVAILABLE', 'Server temporarily unavailable', 'transient'],
    ['NOT_FOUND', 'The requested resource does not exist', 'not_found'],
    ['MALFORMED_QUERY', "unexpected token: 'OR'", 'invalid'],
    ['INVALID_FIELD', "No such column 'Region__c' on entity 'Lead'", 'invalid'],
    ['API_DISABLED_FOR_ORG', 'API is not enabled for this Organization or Partner', 'auth'],
    ['ERROR_HTTP_503', '<html>Service Unavailable</html>', 'transient'],
    ['ERROR_HTTP_500', 'oops', 'transient'],
    ['ERROR_HTTP_404', 'no such path', 'not_found'],
    ['ERROR_HTTP_400', 'bad', 'invalid'],
  ] as const)('%s → %s', (code, message, kind) => {
    const error = crmErrorFromJsforce(httpApiError(code, message), read);
    expect(error?.kind).toBe(kind);
    expect(error?.details.code).toBe(code);
    expect(error?.message).toContain(message);
  });

  it('tells the daily allocation from the concurrent-request limit', () => {
    const daily = crmErrorFromJsforce(
      httpApiError('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.'),
      read,
    );
    expect(daily?.details.quotaExhausted).toBe(true);
    const concurrent = crmErrorFromJsforce(
      httpApiError('REQUEST_LIMIT_EXCEEDED', 'ConcurrentRequests (Concurrent API Requests) Limit exceeded.'),
      read,
    );
    expect(concurrent?.details.quotaExhausted).toBeUndefined();
    expect(concurrent?.details.retryAfterMs).toBeGreaterThan(0);
  });

  it('marks a 5xx or a reset connection on a write as outcome unknown, but not on a read', () => {
    expect(
      crmErrorFromJsforce(httpApiError('ERROR_HTTP_502', 'bad gateway'), write)?.details.outcomeUnknown,
    ).toBe(true);
    expect(
      crmErrorFromJsforce(httpApiError('ERROR_HTTP_502', 'bad gateway'), read)?.details.outcomeUnknown,
    ).toBeUndefined();
    const reset = Object.assign(new Error('socket hang up'), { name: 'FetchError', code: 'ECONNRESET' });
    expect(crmErrorFromJsforce(reset, write)).toMatchObject({
      kind: 'transient',
      details: { outcomeUnknown: true },
    });
    const refused = Object.assign(new Error('connect ECONNREFUSED'), {
      name: 'FetchError',
      code: 'ECONNREFUSED',
    });
    expect(crmErrorFromJsforce(refused, write)?.details.outcomeUnknown).toBeUndefined();
    // A locked row refused the write: nothing was applied.
    expect(
      crmErrorFromJsforce(httpApiError('UNABLE_TO_LOCK_ROW', 'locked'), write)?.details.outcomeUnknown,
    ).toBeUndefined();
  });

  it('reads the first entry of several errors and keeps every message', () => {
    const e = httpApiError('MULTIPLE_API_ERRORS', 'Multiple errors returned.', [
      { errorCode: 'INVALID_FIELD', message: 'No such column A__c' },
      { errorCode: 'INVALID_FIELD', message: 'No such column B__c' },
    ]);
    const error = crmErrorFromJsforce(e, read);
    expect(error?.kind).toBe('invalid');
    expect(error?.message).toContain('A__c');
    expect(error?.message).toContain('B__c');
  });

  it('maps OAuth and refresh failures to auth, a refresh cut off by the network to transient', () => {
    const grant = Object.assign(new Error('expired access/refresh token'), { name: 'invalid_grant' });
    expect(crmErrorFromJsforce(grant, read)?.kind).toBe('auth');
    expect(
      crmErrorFromJsforce(new Error('Unable to refresh session due to: expired access/refresh token'), read)
        ?.kind,
    ).toBe('auth');
    expect(
      crmErrorFromJsforce(
        new Error('Unable to refresh session due to: request failed, reason: ECONNRESET'),
        read,
      )?.kind,
    ).toBe('transient');
  });

  it('turns a refused SOQL value into invalid and leaves programming errors alone', () => {
    expect(crmErrorFromJsforce(new SoqlValueError('bad id'), read)?.kind).toBe('invalid');
    expect(crmErrorFromJsforce(new TypeError('x is undefined'), read)).toBeNull();
  });
});

describe('classifySalesforceCode (per-record errors)', () => {
  it('writes a readable dead-letter reason with the fields', () => {
    const error = classifySalesforceCode('INVALID_CROSS_REFERENCE_KEY', 'invalid cross reference id', {
      fields: ['OwnerId'],
    });
    expect(error.kind).toBe('invalid');
    expect(error.message).toBe('invalid cross reference id (fields: OwnerId) [INVALID_CROSS_REFERENCE_KEY]');
  });

  it('retries a locked row', () => {
    expect(classifySalesforceCode('UNABLE_TO_LOCK_ROW', 'unable to obtain exclusive access').kind).toBe(
      'transient',
    );
  });
});

describe('Sforce-Limit-Info and the usage pace', () => {
  it("reads jsforce's limitInfo and ignores an empty one", () => {
    expect(usageFromLimitInfo({ apiUsage: { used: 18, limit: 5000 } }, 7)).toEqual({
      used: 18,
      limit: 5000,
      at: 7,
    });
    expect(usageFromLimitInfo({}, 1)).toBeUndefined();
    expect(usageFromLimitInfo(undefined, 1)).toBeUndefined();
    expect(usageFromLimitInfo({ apiUsage: { used: 1, limit: 0 } }, 1)).toBeUndefined();
  });

  it.each([
    [undefined, 'normal'],
    [{ used: 100, limit: 1000, at: 0 }, 'normal'],
    [{ used: 800, limit: 1000, at: 0 }, 'slow'],
    [{ used: 949, limit: 1000, at: 0 }, 'slow'],
    [{ used: 950, limit: 1000, at: 0 }, 'paused'],
    [{ used: 1200, limit: 1000, at: 0 }, 'paused'],
  ])('%j → %s', (usage, level) => {
    expect(usagePace(usage).level).toBe(level);
  });

  it('slows more the closer usage gets to the pause threshold, and says why', () => {
    const a = usagePace({ used: 800, limit: 1000, at: 0 });
    const b = usagePace({ used: 900, limit: 1000, at: 0 });
    if (a.level !== 'slow' || b.level !== 'slow') throw new Error('expected slow');
    expect(b.delayMs).toBeGreaterThan(a.delayMs);
    expect(a.reason).toBe('800/1000 daily API requests used (80%), above 80%');
  });
});
