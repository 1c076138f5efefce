// Salesforce failures classified once into the closed CrmError set, and the daily API usage that the
// `Sforce-Limit-Info` header reports (salesforce.md §2.4, §5).
// REST status and error codes: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
// Limit header: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
import { z } from 'zod';
import { CrmError, type CrmErrorKind } from '../connector.js';
import { SoqlValueError } from './soql.js';

/** Waited after the concurrent long-running request limit refused a call (it clears in seconds). */
export const CONCURRENT_LIMIT_WAIT_MS = 5_000;

// Codes that come and go by themselves: a record locked by another transaction, a server that is
// restarting or busy. https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm
const TRANSIENT_CODES = new Set([
  'UNABLE_TO_LOCK_ROW',
  'SERVER_UNAVAILABLE',
  'QUERY_TIMEOUT',
  'UNKNOWN_EXCEPTION',
  'REQUEST_RUNNING_TOO_LONG',
  'SERVICE_UNAVAILABLE',
]);

// The session or the install, not the request: a new token (or a new install) is the only remedy.
const AUTH_CODES = new Set([
  'INVALID_SESSION_ID',
  'INVALID_AUTH_HEADER',
  'API_DISABLED_FOR_ORG',
  'API_CURRENTLY_DISABLED',
  'INVALID_GRANT',
  'invalid_grant',
  'invalid_client',
  'invalid_client_id',
  'inactive_user',
  'inactive_org',
  'ORG_LOCKED',
  'FUNCTIONALITY_NOT_ENABLED',
]);

const NOT_FOUND_CODES = new Set(['NOT_FOUND', 'ENTITY_IS_DELETED', 'INVALID_ID_FIELD']);

// Network failures before a request left the machine (no connection, no address): a write was not sent.
const NEVER_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const NETWORK_CODES = new Set([
  ...NEVER_SENT_CODES,
  'ECONNRESET',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'UND_ERR_SOCKET',
]);

/** One entry of a Salesforce error body, of a collection result's `errors`, or of an action's `errors`. */
export const salesforceErrorSchema = z
  .object({
    statusCode: z.string().optional(),
    errorCode: z.string().optional(),
    message: z.string().optional(),
    fields: z.array(z.string()).optional().nullable(),
  })
  .passthrough();
export type SalesforceErrorEntry = z.infer<typeof salesforceErrorSchema>;

/** What a failed call needs to say besides its code: the operation and whether it was a write. */
export interface CallContext {
  /** "Lead query", "Lead owner update", … for the message. */
  call: string;
  /** A write whose request may have reached Salesforce: no answer means its outcome is unknown. */
  write: boolean;
}

function withFields(message: string, fields: readonly string[] | null | undefined): string {
  return fields !== undefined && fields !== null && fields.length > 0
    ? `${message} (fields: ${fields.join(', ')})`
    : message;
}

/**
 * One error code with its message → a CrmError. Pure. Used for whole-call errors (from the REST error
 * body) and for each record of a collection or action answer (`statusCode`), so both read alike: a
 * refusal "<message> [CODE]", which a dead letter gives as "Salesforce refused: <message> [CODE]".
 */
export function classifySalesforceCode(
  code: string,
  message: string,
  opts: { status?: number | undefined; fields?: readonly string[] | null | undefined; write?: boolean } = {},
): CrmError {
  const text = withFields(message.trim() === '' ? code : message.trim(), opts.fields);
  const details = (kind: CrmErrorKind, extra: CrmError['details'] = {}): CrmError =>
    new CrmError(
      kind,
      kind === 'invalid' || kind === 'not_found' ? `${text} [${code}]` : `Salesforce ${code}: ${text}`,
      {
        status: opts.status,
        code,
        ...extra,
      },
    );
  if (code === 'REQUEST_LIMIT_EXCEEDED') {
    // Two limits share the code: the concurrent long-running requests (clears in seconds) and the
    // org's rolling 24 h allocation ("TotalRequests Limit exceeded.", UNCONFIRMED text): only the first
    // is worth retrying soon.
    const concurrent = /concurrent/i.test(message);
    return concurrent
      ? details('rate_limited', { retryAfterMs: CONCURRENT_LIMIT_WAIT_MS })
      : details('rate_limited', { quotaExhausted: true });
  }
  if (TRANSIENT_CODES.has(code))
    return details(
      'transient',
      opts.write === true && code !== 'UNABLE_TO_LOCK_ROW' ? { outcomeUnknown: true } : {},
    );
  if (AUTH_CODES.has(code)) return details('auth');
  if (NOT_FOUND_CODES.has(code)) return details('not_found');
  const http = /^ERROR_HTTP_(\d{3})$/.exec(code);
  if (http !== null) {
    const status = Number(http[1]);
    if (status === 401 || status === 403) return details('auth', { status });
    if (status === 404) return details('not_found', { status });
    if (status === 429 || status === 420)
      return details('rate_limited', { status, retryAfterMs: CONCURRENT_LIMIT_WAIT_MS });
    // A 5xx to a write: Salesforce may have committed it before failing to answer.
    if (status >= 500 || status === 408)
      return details('transient', { status, ...(opts.write === true ? { outcomeUnknown: true } : {}) });
    return details('invalid', { status });
  }
  if (code === 'INACTIVE_OWNER_OR_USER') return details('invalid', { ownerInactive: true });
  // INVALID_CROSS_REFERENCE_KEY, FIELD_INTEGRITY_EXCEPTION, MALFORMED_ID,
  // REQUIRED_FIELD_MISSING, INVALID_FIELD, MALFORMED_QUERY …: the request is wrong and says why.
  return details('invalid');
}

const httpApiErrorSchema = z.object({
  errorCode: z.string(),
  message: z.string(),
  data: z.unknown().optional(),
});

/**
 * Whatever jsforce threw (HttpApiError {errorCode, message, data}, an OAuth error named after its
 * `error`, "Unable to refresh session due to: …", node-fetch FetchError / AbortError) as a CrmError.
 * Null for anything else (a programming error): callers rethrow it untouched.
 */
export function crmErrorFromJsforce(err: unknown, ctx: CallContext): CrmError | null {
  if (err instanceof CrmError) return err;
  if (err instanceof SoqlValueError) return new CrmError('invalid', `${ctx.call}: ${err.message}`);
  if (typeof err !== 'object' || err === null) return null;
  const api = httpApiErrorSchema.safeParse(err);
  if (api.success) {
    const { errorCode, message, data } = api.data;
    if (errorCode === 'MULTIPLE_API_ERRORS') {
      const entries = z.array(salesforceErrorSchema).safeParse(data);
      const first = entries.success ? entries.data[0] : undefined;
      if (first !== undefined) {
        const all = entries.success
          ? entries.data.map((e) => e.message ?? e.errorCode ?? '').join('; ')
          : message;
        return classifySalesforceCode(first.errorCode ?? first.statusCode ?? errorCode, all, {
          write: ctx.write,
        });
      }
    }
    const entry = salesforceErrorSchema.safeParse(data);
    const fields = entry.success ? entry.data.fields : undefined;
    return classifySalesforceCode(errorCode, message, { fields, write: ctx.write });
  }
  const e = err as {
    name?: unknown;
    code?: unknown;
    errno?: unknown;
    type?: unknown;
    message?: unknown;
    cause?: unknown;
  };
  const message = typeof e.message === 'string' ? e.message : typeof e.name === 'string' ? e.name : 'error';
  const sysCode = typeof e.code === 'string' ? e.code : typeof e.errno === 'string' ? e.errno : undefined;
  if (typeof e.message === 'string' && e.message.startsWith('Unable to refresh session due to:')) {
    // The refresh itself failed: a network failure is worth another try, anything else is the grant.
    const networkCode = [...NETWORK_CODES].find((code) => message.includes(code));
    if (networkCode !== undefined)
      return new CrmError('transient', `Salesforce token refresh failed: ${message}`, { code: networkCode });
    return new CrmError('auth', `Salesforce refused the token refresh: ${message}`, {
      code: 'REFRESH_FAILED',
    });
  }
  if (typeof e.name === 'string' && AUTH_CODES.has(e.name))
    return new CrmError('auth', `Salesforce OAuth ${e.name}: ${message}`, { code: e.name });
  const isAbort = e.name === 'AbortError' || e.type === 'aborted';
  if (
    (sysCode !== undefined && NETWORK_CODES.has(sysCode)) ||
    e.name === 'FetchError' ||
    isAbort ||
    e.type === 'request-timeout'
  ) {
    const sent = ctx.write && !(sysCode !== undefined && NEVER_SENT_CODES.has(sysCode));
    return new CrmError(
      'transient',
      `Salesforce unreachable during ${ctx.call}: ${message}${sent ? ' (the write may have been applied)' : ''}`,
      { code: sysCode ?? (isAbort ? 'ETIMEDOUT' : 'NETWORK'), ...(sent ? { outcomeUnknown: true } : {}) },
    );
  }
  if (e.cause !== undefined && e.cause !== err) return crmErrorFromJsforce(e.cause, ctx);
  return null;
}

/** A call abandoned after `timeoutMs`: transient; a write's outcome is unknown. */
export function timeoutError(ctx: CallContext, timeoutMs: number): CrmError {
  return new CrmError(
    'transient',
    `Salesforce ${ctx.call} timed out: no answer within ${timeoutMs} ms${ctx.write ? ' (the write may have been applied)' : ''}`,
    { code: 'ETIMEDOUT', ...(ctx.write ? { outcomeUnknown: true } : {}) },
  );
}

// ---------------------------------------------------------------------------------------------------
// Daily API usage

/** The org's rolling-24 h API requests, as `Sforce-Limit-Info: api-usage=used/limit` reports them. */
export interface ApiUsage {
  used: number;
  limit: number;
  /** When the header was read (epoch ms). */
  at: number;
}

/**
 * jsforce's `conn.limitInfo` (parsed from `Sforce-Limit-Info: api-usage=used/limit` after every answer)
 * as an ApiUsage. jsforce matches `/api-usage=(\d+)\/(\d+)/` unanchored, so a header that listed the
 * pilot `per-app-api-usage=` first would be misread; Salesforce documents `api-usage` first.
 */
export function usageFromLimitInfo(
  limitInfo: { apiUsage?: { used: number; limit: number } | undefined } | undefined,
  at: number,
): ApiUsage | undefined {
  const usage = limitInfo?.apiUsage;
  if (usage === undefined || !(usage.limit > 0) || !Number.isFinite(usage.used)) return undefined;
  return { used: usage.used, limit: usage.limit, at };
}

export interface UsageThresholds {
  /** Fraction of the daily allocation above which work slows down (default 0.8). */
  slowAbove: number;
  /** Fraction above which only live work runs and bulk work waits (default 0.95). */
  pauseAbove: number;
  /** Spacing added between batches while slowed (default 2 s), growing linearly to 4× at pauseAbove. */
  slowDelayMs: number;
}

export const DEFAULT_USAGE_THRESHOLDS: UsageThresholds = {
  slowAbove: 0.8,
  pauseAbove: 0.95,
  slowDelayMs: 2_000,
};

export type UsagePace =
  | { level: 'normal'; fraction: number | undefined }
  | { level: 'slow'; fraction: number; delayMs: number; reason: string }
  | { level: 'paused'; fraction: number; reason: string };

/**
 * Pure: how fast a tenant's work should go given its org's daily API usage. Salesforce counts one
 * allocation for every integration of the org, so lead-router backs off well before the org runs dry
 * rather than spending the last calls other integrations need.
 */
export function usagePace(
  usage: ApiUsage | undefined,
  t: UsageThresholds = DEFAULT_USAGE_THRESHOLDS,
): UsagePace {
  if (usage === undefined) return { level: 'normal', fraction: undefined };
  const fraction = usage.used / usage.limit;
  const shown = `${usage.used}/${usage.limit} daily API requests used (${Math.round(fraction * 100)}%)`;
  if (fraction >= t.pauseAbove)
    return { level: 'paused', fraction, reason: `${shown}, above ${Math.round(t.pauseAbove * 100)}%` };
  if (fraction >= t.slowAbove) {
    const over = (fraction - t.slowAbove) / Math.max(1e-9, t.pauseAbove - t.slowAbove);
    return {
      level: 'slow',
      fraction,
      delayMs: Math.round(t.slowDelayMs * (1 + 3 * over)),
      reason: `${shown}, above ${Math.round(t.slowAbove * 100)}%`,
    };
  }
  return { level: 'normal', fraction };
}
