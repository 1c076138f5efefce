// What a piece of work failed with, told apart at the worker's edge: the CRM's answer (a CrmError,
// already classified by its connector), or our own fault — the database, or a bug. Only the first is
// ever reported as the CRM's; the other two keep their stack and are logged as what they are. A write
// the tenant's configuration makes impossible is found before any call and told as that.
import { CrmError } from '../../connectors/connector.js';
import {
  isRetryable as crmRetryable,
  nextStep,
  retryLater,
  type BackoffPolicy,
  type ItemStep,
} from '../../connectors/shared/retry.js';
import { StorageError } from '../storage/errors.js';

/** A failure that is ours: the database did not do what was asked, or the code is wrong. */
export class InternalFailure extends Error {
  override readonly name = 'InternalFailure';
  constructor(
    readonly kind: 'storage' | 'bug',
    readonly original: Error,
  ) {
    super(original.message, { cause: original });
  }

  /** A stored value that does not parse back: trying again reads the same row. */
  get permanent(): boolean {
    return this.original instanceof StorageError && this.original.kind === 'corrupt';
  }
}

/**
 * Work the tenant's rules, team or published configuration asks for that cannot be done, found by our
 * own checks before any call: a queue with no target or a team where the CRM has none, an owner, sender
 * or sequence the CRM's lists lack, an SLA escalation with nowhere to go, a published rule set that does
 * not load. Dead at once as the CRM's 'invalid' is, and never reported as the CRM's refusal.
 */
export class TenantConfigError extends CrmError {
  constructor(message: string) {
    super('invalid', message);
  }
}

export type Failure = CrmError | InternalFailure;

/**
 * Anything thrown while working on an item, as a Failure. A CrmError is the CRM's; a StorageError or a
 * driver error (SQLite / PostgreSQL codes, a refused connection) is the database's; the rest is a bug.
 */
export function toFailure(error: unknown): Failure {
  if (error instanceof CrmError || error instanceof InternalFailure) return error;
  const original = error instanceof Error ? error : new Error(`non-error thrown: ${String(error)}`);
  const code = (original as { code?: unknown }).code;
  const storage = original instanceof StorageError || typeof code === 'string';
  return new InternalFailure(storage ? 'storage' : 'bug', original);
}

/** Whether the work is tried again later (its attempts aside). */
export function isRetryable(failure: Failure): boolean {
  return failure instanceof CrmError ? crmRetryable(failure) : !failure.permanent;
}

/**
 * After the `attempts`-th claim failed: the CRM's failures by the one retry policy; ours are retried
 * with the same stored backoff (a database may come back, a deploy may fix a bug), dead after the
 * attempts — a corrupt stored value at once.
 */
export function itemOutcome(
  failure: Failure,
  attempts: number,
  now: number,
  policy: BackoffPolicy,
): ItemStep {
  const at = { stage: 'item', attempts, now, policy } as const;
  if (failure instanceof CrmError) return nextStep(failure, at);
  return failure.permanent ? { kind: 'dead' } : retryLater(at);
}

/**
 * How a failure reads in a dead letter or a retry's last error: `<crm> refused: …`, `internal bug error:
 * …`, `configuration error: …`.
 */
export function describeFailure(failure: Failure, crm: string): string {
  if (failure instanceof InternalFailure) return `internal ${failure.kind} error: ${failure.message}`;
  if (failure instanceof TenantConfigError) return `configuration error: ${failure.message}`;
  return isRetryable(failure)
    ? `${crm} answered ${failure.kind}: ${failure.message}`
    : `${crm} refused: ${failure.message}`;
}
