// What the worker does after a failure: one pure decision over the closed CrmError kinds.
import { CrmError } from '../../connectors/connector.js';

export interface BackoffPolicy {
  /** Claims of one inbox item before a retryable failure becomes a dead letter. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { maxAttempts: 8, baseDelayMs: 1_000, maxDelayMs: 5 * 60_000 };

export type FailureOutcome = { kind: 'retry'; runAfter: number } | { kind: 'dead' };

/** Retryable: rate limits (unless daily) and transient errors, until attempts run out. */
export function isRetryable(error: CrmError): boolean {
  switch (error.kind) {
    case 'rate_limited':
      return error.details.daily !== true;
    case 'transient':
      return true;
    case 'auth':
    case 'not_found':
    case 'invalid':
      return false;
    default: {
      const never: never = error.kind;
      throw new Error(`unhandled CrmError kind ${String(never)}`);
    }
  }
}

/**
 * After the `attempts`-th claim failed: wait Retry-After when the CRM gave one, else back off
 * exponentially by attempts (capped); a daily rate limit waits the cap. Dead after `maxAttempts`.
 */
export function failureOutcome(
  error: CrmError,
  attempts: number,
  now: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
): FailureOutcome {
  const daily = error.kind === 'rate_limited' && error.details.daily === true;
  if ((!isRetryable(error) && !daily) || attempts >= policy.maxAttempts) return { kind: 'dead' };
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  const wait = daily ? policy.maxDelayMs : (error.details.retryAfterMs ?? backoff);
  return { kind: 'retry', runAfter: now + Math.min(policy.maxDelayMs, Math.max(0, wait)) };
}

/** Anything thrown that is not a CrmError (a storage hiccup, a bug) is retried as transient, then dead. */
export function asCrmError(error: unknown): CrmError {
  if (error instanceof CrmError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new CrmError('transient', `internal error: ${message}`);
}
