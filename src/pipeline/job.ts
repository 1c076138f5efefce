// A batch's unit of work: one inbox item, what it asks for (its effect and decision key), and what became
// of it. Triage makes jobs, deciding fills in their actions, writing back and settling finish them.
import type { Hold, InboxItem, PlannedAction } from '../storage/index.js';
import type { TenantRuntime } from './runtime.js';
import type { MergedTeam } from './team.js';
import type { Failure } from './failures.js';

/** The purpose of a live creation's routing: the effect each new record claims once. */
export const ROUTE_PURPOSE = 'route';

export interface Job {
  item: InboxItem;
  leadId: string;
  decisionKey: string;
  purpose: string;
  /** Deciding a held lead again: the hold, passed to the core as context. */
  hold?: Hold | undefined;
  /** An SLA re-route: the reps who had the lead, never chosen again. */
  exclude?: string[] | undefined;
  /** The effect key is ours. A held lead decided again claims it only once it is decided to route. */
  effectClaimed: boolean;
  /** The decision is committed already (a retry): only its planned actions remain. */
  existing: boolean;
  /** The lead and its decision as people read them: the console's line once the job settles. */
  told?: { who: string; summary: string } | undefined;
  /** The rep the decision assigned, for notes. */
  owner?: string | undefined;
  /** When the lead was created in the CRM (its `createdAt`, else the creation event's time), for metrics. */
  createdAt?: number | undefined;
  actions: PlannedAction[];
  failures: { error: Failure; what: string }[];
  /** Finished without work (effect taken, still held): complete it, nothing else. */
  noWork: boolean;
  /**
   * The CRM refused the owner this job's decision chose, as deactivated since its users were read: the
   * owner write stays planned, what follows it is held back, and the lead is decided again with the
   * users read afresh (decide-again.ts). `failure` is the refusal in `failures` until then.
   */
  ownerRefused?: OwnerRefusal | undefined;
  /**
   * The decision was made again in this claim after such a refusal (which it tells): a refusal of the
   * owner it chose is final for this attempt.
   */
  decidedAgain?: OwnerRefusal | undefined;
}

/** An owner write the CRM refused because the owner is inactive. */
export interface OwnerRefusal {
  /** The owner as the rules name it: a rep's email, or `queue <name>`. */
  owner: string;
  failure: { error: Failure; what: string };
}

export function newJob(item: InboxItem, purpose: string, extra: Partial<Job> = {}): Job {
  const leadId = item.event.objectId;
  return {
    item,
    leadId,
    decisionKey: `${leadId}:${purpose}`,
    purpose,
    createdAt: item.event.kind === 'created' ? item.event.occurredAt : undefined,
    effectClaimed: extra.hold === undefined,
    existing: false,
    actions: [],
    failures: [],
    noWork: false,
    ...extra,
  };
}

/** A job that failed before it could be prepared: it only carries its failure. */
export function bareJob(item: InboxItem, error: Failure, what: string): Job {
  return { ...newJob(item, ''), decisionKey: '', failures: [{ error, what }] };
}

/** One tenant's batch as it is decided and written back. */
export interface TenantBatch {
  runtime: TenantRuntime;
  crm: string;
  merged: MergedTeam;
}

/** The record as reasons name it, in its CRM's noun. */
export function recordOf(runtime: TenantRuntime, leadId: string): string {
  return `${runtime.connector.profile.recordNoun(leadId)} ${leadId}`;
}
