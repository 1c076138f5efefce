import { CrmError } from '../../../connectors/connector.js';
import {
  classifyHubSpotError,
  crmErrorFromThrown,
  lostWriteAnswer,
  outcomeUnknown,
  parseRetryAfter,
  rateLimitPolicy,
} from '../../../connectors/hubspot/errors.js';

const DAILY = {
  status: 'error',
  message: 'You have reached your daily limit.',
  errorType: 'RATE_LIMIT',
  correlationId: 'c033cdaa',
  policyName: 'DAILY',
  requestId: '3d3e',
};
const TEN = {
  status: 'error',
  message: 'You have reached your ten_secondly_rolling limit.',
  errorType: 'RATE_LIMIT',
  policyName: 'TEN_SECONDLY_ROLLING',
};
const SECONDLY = {
  status: 'error',
  message: 'You have reached your secondly limit.',
  errorType: 'RATE_LIMIT',
};

describe('classifyHubSpotError', () => {
  it.each([
    ['429 DAILY', 429, DAILY, {}, { kind: 'rate_limited', quotaExhausted: true, code: 'DAILY' }],
    [
      '429 TEN_SECONDLY_ROLLING, no Retry-After → window',
      429,
      TEN,
      {},
      { kind: 'rate_limited', retryAfterMs: 10_000, code: 'TEN_SECONDLY_ROLLING' },
    ],
    [
      '429 TEN_SECONDLY_ROLLING, Retry-After wins',
      429,
      TEN,
      { 'Retry-After': '3' },
      { kind: 'rate_limited', retryAfterMs: 3000 },
    ],
    [
      '429 secondly (search), by message',
      429,
      SECONDLY,
      {},
      { kind: 'rate_limited', retryAfterMs: 1000, code: 'SECONDLY' },
    ],
    [
      '429 daily without policyName (client drops it)',
      429,
      { message: 'You have reached your daily limit.', category: 'RATE_LIMITS' },
      {},
      { kind: 'rate_limited', quotaExhausted: true },
    ],
    ['500', 500, { message: 'internal error' }, {}, { kind: 'transient', status: 500 }],
    ['502 with an HTML body', 502, '<html>Bad gateway</html>', {}, { kind: 'transient' }],
    ['423 locked', 423, { message: 'locked' }, {}, { kind: 'transient' }],
    [
      '401',
      401,
      {
        status: 'error',
        message: 'Authentication credentials not found.',
        category: 'INVALID_AUTHENTICATION',
      },
      {},
      { kind: 'auth', code: 'INVALID_AUTHENTICATION' },
    ],
    [
      '404',
      404,
      { status: 'error', message: 'Object not found.', category: 'OBJECT_NOT_FOUND' },
      {},
      { kind: 'not_found' },
    ],
    [
      '409',
      409,
      { status: 'error', message: 'Contact already exists. Existing ID: 512', category: 'CONFLICT' },
      {},
      { kind: 'invalid', status: 409 },
    ],
    ['422', 422, { message: 'unprocessable' }, {}, { kind: 'invalid' }],
  ])('%s', (_n, status, body, headers, expected) => {
    const err = classifyHubSpotError(status, body, headers);
    expect(err).toBeInstanceOf(CrmError);
    const { kind, ...details } = expected as { kind: string } & Record<string, unknown>;
    expect(err.kind).toBe(kind);
    expect(err.details).toMatchObject(details);
  });

  it('the DAILY limit carries no short retry', () => {
    expect(classifyHubSpotError(429, DAILY, {}).details.retryAfterMs).toBeUndefined();
  });

  it('uses injected windows (no real 10 s in tests)', () => {
    const err = classifyHubSpotError(429, TEN, {}, { windows: { tenSecondlyMs: 20, secondlyMs: 5 } });
    expect(err.details.retryAfterMs).toBe(20);
  });

  it('403 missing scopes names the scope', () => {
    const body = {
      status: 'error',
      message: "This app hasn't been granted all required scopes to make this call.",
      category: 'MISSING_SCOPES',
      errors: [
        {
          message: 'One or more of the following scopes are required.',
          context: { requiredGranularScopes: ['automation.sequences.enrollments.write'] },
        },
      ],
    };
    const err = classifyHubSpotError(403, body, {});
    expect(err.kind).toBe('auth');
    expect(err.message).toContain('automation.sequences.enrollments.write');
  });

  it.each([
    ['sender inbox not connected', 'The senderEmail rep@customer.com is not connected to HubSpot.'],
    ['no sales seat', 'User 2222222 does not have a Sales Hub Professional or Enterprise seat assigned.'],
  ])('400 sequence enrollment error keeps HubSpot message: %s', (_n, message) => {
    const err = classifyHubSpotError(
      400,
      JSON.stringify({ status: 'error', message, category: 'VALIDATION_ERROR' }),
      {},
    );
    expect(err).toMatchObject({ kind: 'invalid', message });
    expect(err.details.code).toBe('VALIDATION_ERROR');
  });
});

describe('rateLimitPolicy / parseRetryAfter', () => {
  it.each([
    [{ policyName: 'DAILY' }, 'DAILY'],
    [{ policyName: 'TEN_SECONDLY_ROLLING' }, 'TEN_SECONDLY_ROLLING'],
    [{ message: 'You have reached your secondly limit.' }, 'SECONDLY'],
    [{ message: 'You have reached your ten_secondly_rolling limit.' }, 'TEN_SECONDLY_ROLLING'],
    [{}, 'TEN_SECONDLY_ROLLING'],
  ])('%j → %s', (body, expected) => {
    expect(rateLimitPolicy(body)).toBe(expected);
  });

  it.each([
    ['2', 0, 2000],
    ['0.5', 0, 500],
    ['Thu, 01 Jan 1970 00:00:10 GMT', 4000, 6000],
    ['soon', 0, undefined],
    [undefined, 0, undefined],
  ])('%s at %d → %s', (value, now, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});

describe('crmErrorFromThrown', () => {
  it('maps an ApiException-shaped error', () => {
    const apiException = Object.assign(new Error('HTTP-Code: 429'), {
      code: 429,
      body: { message: 'You have reached your daily limit.' },
      headers: {},
    });
    expect(crmErrorFromThrown(apiException)).toMatchObject({
      kind: 'rate_limited',
      details: { quotaExhausted: true },
    });
  });

  it.each(['ECONNRESET', 'ETIMEDOUT', 'ECONNREFUSED'])('%s → transient', (code) => {
    const err = Object.assign(new Error(`socket ${code}`), { code });
    expect(crmErrorFromThrown(err)?.kind).toBe('transient');
  });

  it('node-fetch FetchError (type system) wrapping ECONNRESET → transient', () => {
    const err = Object.assign(new Error('request failed, reason: socket hang up'), {
      name: 'FetchError',
      type: 'system',
      code: 'ECONNRESET',
      errno: 'ECONNRESET',
    });
    expect(crmErrorFromThrown(err)?.kind).toBe('transient');
  });

  it.each([
    ['a reset after sending', { code: 'ECONNRESET' }, true],
    ['a hang-up (no code)', {}, true],
    ['a refused connection: never sent', { code: 'ECONNREFUSED' }, false],
    ['an unknown host: never sent', { code: 'ENOTFOUND' }, false],
    ['an HTTP answer', { status: 503 }, false],
  ])('a write failed by %s is outcome unknown: %s', (_what, details, unknown) => {
    const marked = lostWriteAnswer(new CrmError('transient', 'HubSpot unreachable', details));
    expect(outcomeUnknown(marked)).toBe(unknown);
  });

  it('passes CrmError through and returns null for programming errors', () => {
    const e = new CrmError('invalid', 'x');
    expect(crmErrorFromThrown(e)).toBe(e);
    expect(crmErrorFromThrown(new TypeError('x is undefined'))).toBeNull();
  });
});
