// One retry policy for every connector, acting on CrmError kinds only (connectors classify first).
import pRetry from 'p-retry';
import { CrmError, type CrmErrorKind } from '../connector.js';

export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

export interface RetryPolicy {
  /** Attempts in total, the first included. */
  maxAttempts: number;
  /** Exponential backoff for transient errors: base * 2^(attempt-1), capped, with full jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Used when a rate_limited error carries no retryAfterMs. */
  defaultRateLimitMs: number;
  /** Returns [0, 1); injectable so tests are deterministic. */
  random: () => number;
}

export const DEFAULT_POLICY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 30_000,
  defaultRateLimitMs: 10_000,
  random: Math.random,
};

/** Pure: what to do after `attempt` (1-based) failed with `error`. */
export function retryDecision(
  error: CrmError,
  attempt: number,
  policy: RetryPolicy = DEFAULT_POLICY,
): RetryDecision {
  if (attempt >= policy.maxAttempts) return { retry: false };
  const kind: CrmErrorKind = error.kind;
  switch (kind) {
    case 'rate_limited':
      // A daily cap does not reset within a retry budget: fail, the pipeline parks the work.
      if (error.details.daily === true) return { retry: false };
      // Wait out the window; a little jitter keeps several workers from returning together.
      return {
        retry: true,
        delayMs:
          (error.details.retryAfterMs ?? policy.defaultRateLimitMs) +
          Math.floor(policy.random() * policy.baseDelayMs),
      };
    case 'transient': {
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      // "Equal jitter": half fixed, half random, so a retry never fires immediately.
      const backoff = Math.floor(ceiling / 2 + policy.random() * (ceiling / 2));
      return { retry: true, delayMs: Math.max(backoff, error.details.retryAfterMs ?? 0) };
    }
    case 'auth':
    case 'not_found':
    case 'invalid':
      return { retry: false };
    default: {
      const never: never = kind;
      throw new Error(`unhandled CrmError kind ${String(never)}`);
    }
  }
}

export interface RetryOptions {
  policy?: Partial<RetryPolicy>;
  /** Converts a thrown value to a CrmError; null means "not ours": rethrown at once, never retried. */
  classify: (err: unknown) => CrmError | null;
  /**
   * Vetoes a retry the policy would make: false stops at this error (e.g. a create that timed out may
   * have been applied, and sending it again could make a second one).
   */
  mayRetry?: (error: CrmError) => boolean;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Called before each wait (for metrics/logs). */
  onRetry?: (info: { error: CrmError; attempt: number; delayMs: number }) => void;
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Marks a non-CrmError so p-retry stops and we can unwrap it. */
class NotRetryable extends Error {
  constructor(readonly original: unknown) {
    super('not retryable');
  }
}

/**
 * Runs `fn` under the policy. Throws the final CrmError (or the original unclassified error).
 * p-retry drives the loop; our decision supplies the delay (p-retry's own timeouts are zeroed).
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const policy: RetryPolicy = { ...DEFAULT_POLICY, ...opts.policy };
  const sleep = opts.sleep ?? realSleep;
  let last: RetryDecision = { retry: false };
  try {
    return await pRetry(
      async (attempt) => {
        try {
          return await fn(attempt);
        } catch (err) {
          const crm = opts.classify(err);
          if (crm === null) throw new NotRetryable(err);
          throw crm;
        }
      },
      {
        retries: Math.max(0, policy.maxAttempts - 1),
        minTimeout: 0,
        maxTimeout: 0,
        factor: 1,
        randomize: false,
        onFailedAttempt: async ({ error, attemptNumber }) => {
          last =
            error instanceof CrmError && opts.mayRetry?.(error) !== false
              ? retryDecision(error, attemptNumber, policy)
              : { retry: false };
          if (last.retry && error instanceof CrmError) {
            opts.onRetry?.({ error, attempt: attemptNumber, delayMs: last.delayMs });
            await sleep(last.delayMs);
          }
        },
        shouldRetry: () => last.retry,
      },
    );
  } catch (err) {
    if (err instanceof NotRetryable) throw err.original;
    throw err;
  }
}
