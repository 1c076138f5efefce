// HubSpot failures classified once into the closed CrmError set (shared/crm/hubspot.md §7).
// Usage guidelines: https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines
import { z } from 'zod';
import { CrmError, type CrmErrorKind } from '../connector.js';

export type Headers = Record<string, string | string[] | undefined>;

/** A CrmError with what the connector needs from HubSpot's answer beyond kind and message. */
export class HubSpotCrmError extends CrmError {
  /**
   * Each value the error's `context` holds (batch input ids, objectWriteTraceIds, …) → the message of
   * the error entry that names it: how a refusal of a whole batch is traced to the inputs at fault.
   */
  readonly named: ReadonlyMap<string, string>;

  constructor(
    kind: CrmErrorKind,
    message: string,
    details: CrmError['details'] = {},
    extra: { named?: ReadonlyMap<string, string>; outcomeUnknown?: boolean } = {},
  ) {
    super(
      kind,
      message,
      extra.outcomeUnknown === undefined ? details : { ...details, outcomeUnknown: extra.outcomeUnknown },
    );
    this.named = extra.named ?? new Map();
  }
}

/** Whether HubSpot may have applied the write that failed with `error` (it was sent, no answer came). */
export function outcomeUnknown(error: CrmError): boolean {
  return error.details.outcomeUnknown === true;
}

/** A call that got no answer in `timeoutMs`: transient, as a network failure; `sent` marks a sent write. */
export function timeoutError(timeoutMs: number, sentWrite: boolean): HubSpotCrmError {
  const unknown = sentWrite ? ' (the write may have been applied)' : '';
  return new HubSpotCrmError(
    'transient',
    `HubSpot request timed out: no answer within ${timeoutMs} ms${unknown}`,
    { code: 'ETIMEDOUT' },
    { outcomeUnknown: sentWrite },
  );
}

/** Windows used when HubSpot sends no Retry-After; injectable so tests never sleep 10 s. */
export interface RateWindows {
  tenSecondlyMs: number;
  secondlyMs: number;
}
export const DEFAULT_WINDOWS: RateWindows = { tenSecondlyMs: 10_000, secondlyMs: 1_000 };

// HubSpot's error body (`Error` schema plus the 429 fields). Every field optional: classify whatever comes.
const errorBodySchema = z
  .object({
    status: z.string().optional(),
    message: z.string().optional(),
    category: z.string().optional(),
    subCategory: z.unknown().optional(),
    policyName: z.string().optional(),
    errorType: z.string().optional(),
    correlationId: z.string().optional(),
    context: z.record(z.unknown()).optional(),
    errors: z
      .array(
        z.object({ message: z.string().optional(), context: z.record(z.unknown()).optional() }).passthrough(),
      )
      .optional(),
  })
  .passthrough();
type ErrorBody = z.infer<typeof errorBodySchema>;

function parseBody(body: unknown): ErrorBody {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return { message: body.slice(0, 500) };
    }
  }
  const parsed = errorBodySchema.safeParse(value);
  return parsed.success ? parsed.data : {};
}

function headerValue(headers: Headers | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/** Retry-After in seconds or as an HTTP date, to milliseconds. `now` is only used for the date form. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export type RateLimitPolicy = 'DAILY' | 'SECONDLY' | 'TEN_SECONDLY_ROLLING';

/**
 * Which limit a 429 hit. `policyName` when the body has it; the client's ApiException drops unknown
 * fields (it deserializes into its `Error` model, which has no policyName), so fall back to the message
 * ("You have reached your daily limit." / "You have reached your secondly limit.").
 */
export function rateLimitPolicy(body: Pick<ErrorBody, 'policyName' | 'message'>): RateLimitPolicy {
  const policy = body.policyName?.toUpperCase();
  if (policy === 'DAILY') return 'DAILY';
  if (policy === 'SECONDLY') return 'SECONDLY';
  if (policy !== undefined) return 'TEN_SECONDLY_ROLLING';
  const message = body.message ?? '';
  if (/daily limit/i.test(message)) return 'DAILY';
  if (/secondly limit/i.test(message) && !/ten.?secondly/i.test(message)) return 'SECONDLY';
  return 'TEN_SECONDLY_ROLLING';
}

function missingScopes(body: ErrorBody): string[] {
  const scopes = new Set<string>();
  const collect = (ctx: Record<string, unknown> | undefined): void => {
    for (const key of ['requiredGranularScopes', 'requiredScopes', 'requiredScope', 'scopes']) {
      const v = ctx?.[key];
      if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') scopes.add(s);
      if (typeof v === 'string') scopes.add(v);
    }
  };
  collect(body.context);
  for (const e of body.errors ?? []) collect(e.context);
  return [...scopes];
}

/** Context values of the body and of each entry in `errors`, with the message that goes with each. */
function namedInContext(body: ErrorBody): Map<string, string> {
  const named = new Map<string, string>();
  const collect = (ctx: Record<string, unknown> | undefined, message: string): void => {
    for (const values of Object.values(ctx ?? {})) {
      for (const v of Array.isArray(values) ? values : [values]) {
        if ((typeof v === 'string' || typeof v === 'number') && !named.has(String(v)))
          named.set(String(v), message);
      }
    }
  };
  // Entries first: their message is about the one input, the body's may sum up several.
  for (const e of body.errors ?? []) collect(e.context, e.message ?? describe(body, 'refused'));
  collect(body.context, describe(body, 'refused'));
  return named;
}

function describe(body: ErrorBody, fallback: string): string {
  const details = (body.errors ?? [])
    .map((e) => e.message)
    .filter((m): m is string => m !== undefined && m !== body.message);
  const base = body.message ?? fallback;
  return details.length > 0 ? `${base} (${details.join('; ')})` : base;
}

/** The one classification of an HTTP answer from HubSpot. Pure: `now` only resolves a date Retry-After. */
export function classifyHubSpotError(
  status: number,
  body: unknown,
  headers: Headers = {},
  opts: { windows?: RateWindows; now?: number } = {},
): CrmError {
  const windows = opts.windows ?? DEFAULT_WINDOWS;
  const b = parseBody(body);
  const named = namedInContext(b);
  const error = (kind: CrmErrorKind, message: string, details: CrmError['details']): HubSpotCrmError =>
    new HubSpotCrmError(kind, message, details, { named });
  const code = b.policyName ?? b.category ?? b.errorType;
  const retryAfter = parseRetryAfter(headerValue(headers, 'retry-after'), opts.now ?? 0);

  if (status === 429) {
    const policy = rateLimitPolicy(b);
    const message = `HubSpot rate limit ${policy}: ${b.message ?? 'too many requests'}`;
    switch (policy) {
      case 'DAILY':
        // Waiting seconds will not help; the pipeline parks the work until the day rolls over.
        return error('rate_limited', message, {
          status,
          code: policy,
          quotaExhausted: true,
          retryAfterMs: retryAfter,
        });
      case 'SECONDLY':
        return error('rate_limited', message, {
          status,
          code: policy,
          retryAfterMs: retryAfter ?? windows.secondlyMs,
        });
      case 'TEN_SECONDLY_ROLLING': {
        const interval = Number(headerValue(headers, 'x-hubspot-ratelimit-interval-milliseconds'));
        const windowMs =
          Number.isFinite(interval) && interval > 0
            ? Math.min(interval, windows.tenSecondlyMs)
            : windows.tenSecondlyMs;
        return error('rate_limited', message, {
          status,
          code: policy,
          retryAfterMs: retryAfter ?? windowMs,
        });
      }
      default: {
        const never: never = policy;
        throw new Error(`unhandled policy ${String(never)}`);
      }
    }
  }
  if (status === 401)
    return error('auth', `HubSpot rejected the token: ${describe(b, 'unauthorized')}`, {
      status,
      code,
    });
  if (status === 403) {
    const scopes = missingScopes(b);
    const message =
      scopes.length > 0 || b.category === 'MISSING_SCOPES'
        ? `HubSpot app is missing scope${scopes.length === 1 ? '' : 's'}: ${scopes.length > 0 ? scopes.join(', ') : 'unknown'} (reinstall the app to grant ${scopes.length === 1 ? 'it' : 'them'})`
        : `HubSpot refused access: ${describe(b, 'forbidden')}`;
    return error('auth', message, { status, code });
  }
  if (status === 404) return error('not_found', describe(b, 'not found'), { status, code });
  // 408 timeout and 423 locked (concurrent writes to one record) clear up by themselves.
  if (status === 408 || status === 423 || status >= 500 || status === 0) {
    return error('transient', `HubSpot ${status || 'network'} error: ${describe(b, 'server error')}`, {
      status,
      code,
      retryAfterMs: retryAfter,
    });
  }
  // 400 / 409 / 422 and every other 4xx: the request itself is wrong; HubSpot's message says why
  // (e.g. sequence enrollment: sender inbox not connected, user without a Sales/Service seat).
  return error('invalid', describe(b, `HubSpot answered ${status}`), { status, code });
}

// Network failures the client surfaces as plain errors (node-fetch FetchError, Node system errors).
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

// Failures that happen before a request leaves (no connection, no address): the write was not sent.
const NEVER_SENT_CODES = new Set([
  'ECONNREFUSED',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * A write that was sent and got no HTTP answer (the connection reset or hung up): HubSpot may have
 * applied it, as after a timeout. Marked so that a create is looked for before it is sent again.
 */
export function lostWriteAnswer(error: CrmError): CrmError {
  const { status, code, outcomeUnknown: unknown } = error.details;
  if (status !== undefined || unknown !== undefined || (code !== undefined && NEVER_SENT_CODES.has(code)))
    return error;
  return new CrmError(error.kind, `${error.message} (the write may have been applied)`, {
    ...error.details,
    outcomeUnknown: true,
  });
}

const apiExceptionSchema = z.object({
  code: z.number().int(),
  body: z.unknown(),
  headers: z.record(z.union([z.string(), z.array(z.string())]).optional()).optional(),
});

/**
 * Turns whatever the client threw (ApiException {code, body, headers}, FetchError, socket errors) into
 * a CrmError. Returns null for anything else (a programming error): callers rethrow it untouched.
 */
export function crmErrorFromThrown(
  err: unknown,
  opts: { windows?: RateWindows; now?: number } = {},
): CrmError | null {
  if (err instanceof CrmError) return err;
  if (typeof err !== 'object' || err === null) return null;
  const api = apiExceptionSchema.safeParse(err);
  if (api.success && api.data.code >= 100) {
    return classifyHubSpotError(api.data.code, api.data.body, api.data.headers ?? {}, opts);
  }
  const e = err as {
    code?: unknown;
    errno?: unknown;
    type?: unknown;
    name?: unknown;
    message?: unknown;
    cause?: unknown;
  };
  const sysCode = typeof e.code === 'string' ? e.code : typeof e.errno === 'string' ? e.errno : undefined;
  const message = typeof e.message === 'string' ? e.message : 'network error';
  if (
    (sysCode !== undefined && TRANSIENT_CODES.has(sysCode)) ||
    e.type === 'request-timeout' ||
    e.type === 'system' ||
    e.name === 'AbortError' ||
    e.name === 'TimeoutError'
  ) {
    return new CrmError('transient', `HubSpot unreachable: ${message}`, {
      code: sysCode ?? String(e.type ?? e.name),
    });
  }
  if (e.cause !== undefined && e.cause !== err) return crmErrorFromThrown(e.cause, opts);
  return null;
}

/** For `apiRequest` (raw Response, never throws on 4xx/5xx): classify a non-2xx answer. */
export async function crmErrorFromResponse(
  res: {
    status: number;
    headers: { forEach(cb: (value: string, key: string) => void): void };
    text(): Promise<string>;
  },
  opts: { windows?: RateWindows; now?: number } = {},
): Promise<CrmError> {
  const headers: Record<string, string> = {};
  res.headers.forEach((value, key) => {
    headers[key] = value;
  });
  const text = await res.text().catch(() => '');
  return classifyHubSpotError(res.status, text, headers, opts);
}
