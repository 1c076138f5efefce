// How bulk work (backfill, reassign) travels through the normal worker path: one inbox event per job and
// record, routed under the effect purpose `bulk:<job id>` — once per job, whatever the retries — and a
// re-decision that lands on the owner the record already has writes nothing.
import type { CrmEvent } from '../../../connectors/connector.js';
import { emptyChanges } from '../../core/state.js';
import type { Decision, Lead, RuleSet, Team } from '../../core/types.js';
import { BULK_SUBSCRIPTION_PREFIX, bulkSubscription } from '../../storage/bulk-jobs.js';

const PURPOSE_PREFIX = 'bulk:';

/** The inbox event that asks the worker to route `leadId` for the job; its dedup key is (job, record). */
export function bulkEvent(jobId: string, leadId: string, now: number): CrmEvent {
  return {
    eventId: leadId,
    subscription: bulkSubscription(jobId),
    kind: 'changed',
    objectId: leadId,
    occurredAt: now,
  };
}

/** The effect purpose of a bulk job's event, or undefined for any other event. */
export function bulkPurposeOf(event: Pick<CrmEvent, 'subscription'>): string | undefined {
  return event.subscription.startsWith(BULK_SUBSCRIPTION_PREFIX)
    ? `${PURPOSE_PREFIX}${event.subscription.slice(BULK_SUBSCRIPTION_PREFIX.length)}`
    : undefined;
}

export const isBulkPurpose = (purpose: string): boolean => purpose.startsWith(PURPOSE_PREFIX);

/**
 * The record's current owner is one the decision could have given it: the rep decided, or an active
 * member of the pool the matched route assigns to (a rotation would otherwise hand every record of a
 * backfill to whoever's turn it is, moving leads nobody asked to move).
 */
function ownerFits(decision: Decision, owner: string, ruleSet: RuleSet, team: Team): boolean {
  const dest = decision.destination;
  if (dest.kind === 'rep' && dest.email.toLowerCase() === owner) return true;
  if (dest.kind !== 'rep' || decision.route === null) return false;
  const assign = ruleSet.routes[decision.route.index]?.assign;
  if (assign?.kind !== 'pool') return false;
  const members = ruleSet.pools[assign.name]?.members ?? [];
  return members.some((m) => m.toLowerCase() === owner) && team.reps[owner]?.active === true;
}

/**
 * A bulk re-decision that leaves the record with an owner that fits changes nothing: no owner write, no
 * second task, enrollment or note, no SLA timer, and no turn taken from the rotation (nobody got a new
 * lead). A changed owner keeps every action of the route, as for a new lead: the new owner gets the
 * owner write, the task and the note, and the sequence enrollment is made under them.
 */
export function keepWhenUnchanged(
  decision: Decision,
  lead: Pick<Lead, 'owner'>,
  ruleSet: RuleSet,
  team: Team,
): Decision {
  const owner = lead.owner?.toLowerCase();
  if (owner === undefined || !ownerFits(decision, owner, ruleSet, team)) return decision;
  return {
    ...decision,
    destination: { kind: 'rep', email: owner },
    actions: [],
    sla: undefined,
    stateChanges: emptyChanges(),
  };
}
