// The one retry policy, acting on CrmError kinds only (connectors classify first). Each kind has one
// remedy, decided in `nextStep` and nowhere else:
//   transient    → the same call again in this process (a dropped connection, a 5xx), a few times;
//   rate_limited → the portal's schedule is pushed back past the window for every lane and process
//                  (the limiter), and the work comes back through the stored backoff after it;
//   auth, not_found, invalid → no retry: the work fails with the CRM's reason (a dead letter).
// Whatever is not retried in process is retried durably (the inbox row's `run_after`), never twice.
import pRetry from 'p-retry';
import { CrmError, type CrmErrorKind } from '../connector.js';

/** In-process retries of one call: transient errors only. */
export interface RetryPolicy {
  /** Attempts of one call in total, the first included. */
  maxAttempts: number;
  /** Exponential backoff for transient errors: base * 2^(attempt-1), capped, with equal jitter. */
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

/** The durable backoff of one piece of work (an inbox item), kept in storage as `run_after`. */
export interface BackoffPolicy {
  /** Claims of one inbox item before a retryable failure becomes a dead letter. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { maxAttempts: 8, baseDelayMs: 1_000, maxDelayMs: 5 * 60_000 };

/** Where a failure is being decided: inside one CRM call, or for the work item after its calls. */
export type FailureAt =
  | { stage: 'call'; attempt: number; policy?: RetryPolicy }
  | { stage: 'item'; attempts: number; now: number; policy?: BackoffPolicy };

/** What the call site does: try again now, pause the portal then pass the error up, or pass it up. */
export type CallStep =
  { kind: 'retry_call'; delayMs: number } | { kind: 'pause_portal'; windowMs: number } | { kind: 'pass_up' };

/** What becomes of the work item: tried again at `runAfter` (stored), or given up. */
export type ItemStep = { kind: 'retry_later'; runAfter: number } | { kind: 'dead' };

const PASS_UP: CallStep = { kind: 'pass_up' };
const DEAD: ItemStep = { kind: 'dead' };

/** Pure: the one decision over the closed set of kinds, for a call (1-based attempt) or an item. */
export function nextStep(error: CrmError, at: Extract<FailureAt, { stage: 'call' }>): CallStep;
export function nextStep(error: CrmError, at: Extract<FailureAt, { stage: 'item' }>): ItemStep;
export function nextStep(error: CrmError, at: FailureAt): CallStep | ItemStep {
  const kind: CrmErrorKind = error.kind;
  switch (kind) {
    case 'rate_limited': {
      // A spent daily allowance does not come back within a window: park the work for the longest backoff.
      if (error.details.quotaExhausted === true)
        return at.stage === 'call' ? PASS_UP : later(at, itemPolicy(at).maxDelayMs);
      if (at.stage === 'call')
        return {
          kind: 'pause_portal',
          windowMs: error.details.retryAfterMs ?? (at.policy ?? DEFAULT_POLICY).defaultRateLimitMs,
        };
      // Not before the window ends: the portal's schedule is paused until then anyway.
      return later(at, error.details.retryAfterMs ?? itemBackoff(at));
    }
    case 'transient': {
      if (at.stage === 'call') {
        const policy = at.policy ?? DEFAULT_POLICY;
        if (at.attempt >= policy.maxAttempts) return PASS_UP;
        const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (at.attempt - 1));
        // "Equal jitter": half fixed, half random, so a retry never fires immediately.
        const backoff = Math.floor(ceiling / 2 + policy.random() * (ceiling / 2));
        return { kind: 'retry_call', delayMs: Math.max(backoff, error.details.retryAfterMs ?? 0) };
      }
      return later(at, error.details.retryAfterMs ?? itemBackoff(at));
    }
    case 'auth':
    case 'not_found':
    case 'invalid':
      return at.stage === 'call' ? PASS_UP : DEAD;
    default: {
      const never: never = kind;
      throw new Error(`unhandled CrmError kind ${String(never)}`);
    }
  }
}

function itemPolicy(at: Extract<FailureAt, { stage: 'item' }>): BackoffPolicy {
  return at.policy ?? DEFAULT_BACKOFF;
}

/** Exponential by the item's attempts, capped. */
function itemBackoff(at: Extract<FailureAt, { stage: 'item' }>): number {
  const policy = itemPolicy(at);
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, at.attempts - 1));
}

/** The stored backoff for work that failed without a window of its own to wait (by attempts). */
export function retryLater(at: Extract<FailureAt, { stage: 'item' }>): ItemStep {
  return later(at, itemBackoff(at));
}

/** Retried at `now + waitMs` (capped), unless the item has used its attempts. */
function later(at: Extract<FailureAt, { stage: 'item' }>, waitMs: number): ItemStep {
  const policy = itemPolicy(at);
  if (at.attempts >= policy.maxAttempts) return DEAD;
  return { kind: 'retry_later', runAfter: at.now + Math.min(policy.maxDelayMs, Math.max(0, waitMs)) };
}

/** Whether the work that failed with `error` is tried again later (attempts left aside). */
export function isRetryable(error: CrmError): boolean {
  return nextStep(error, { stage: 'item', attempts: 0, now: 0 }).kind === 'retry_later';
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
  /**
   * Told to keep every call of the portal (in the bucket that was refused) from starting for
   * `windowMs`: a 429 closes the window for all lanes and processes, not only for this call.
   */
  pausePortal?: (windowMs: number) => Promise<void>;
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
 * Runs `fn` and acts on `nextStep` for each failure: sleeps and tries again (transient), pushes the
 * portal's schedule back (rate limited), or stops. Throws the final CrmError (or the original
 * unclassified error). p-retry drives the loop; our decision supplies the delay.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const policy: RetryPolicy = { ...DEFAULT_POLICY, ...opts.policy };
  const sleep = opts.sleep ?? realSleep;
  let retry = false;
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
          retry = false;
          if (!(error instanceof CrmError)) return;
          const step = nextStep(error, { stage: 'call', attempt: attemptNumber, policy });
          switch (step.kind) {
            case 'retry_call':
              if (opts.mayRetry?.(error) === false) return;
              retry = true;
              opts.onRetry?.({ error, attempt: attemptNumber, delayMs: step.delayMs });
              await sleep(step.delayMs);
              return;
            case 'pause_portal':
              await opts.pausePortal?.(step.windowMs);
              return;
            case 'pass_up':
              return;
            default: {
              const never: never = step;
              throw new Error(`unhandled step ${JSON.stringify(never)}`);
            }
          }
        },
        shouldRetry: () => retry,
      },
    );
  } catch (err) {
    if (err instanceof NotRetryable) throw err.original;
    throw err;
  }
}
