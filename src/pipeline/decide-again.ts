// Deciding a lead again when the CRM refused the owner its decision chose as inactive (deactivated since
// the CRM's users were read): the refused write was never applied, so the lead is decided once more on
// the users read afresh and the rotation as it stands, and routed to whoever the rules pick now (the
// pool's next eligible rep, a fallback). The decision made again supersedes the one before (its
// unwritten actions fail with the refusal, in the same commit) and is written as any other. Once per
// attempt: a refusal of the owner chosen again is the item's failure, as any refusal is.
import { mergeDirectory } from './team.js';
import { toFailure } from './failures.js';
import { decidedAgainKey, type DecisionRecord, type Storage } from '../storage/index.js';
import type { BatchDecider } from './decide-batch.js';
import type { CrmLists } from './crm-lists.js';
import { recordOf, type Job } from './job.js';
import type { TenantRuntime } from './runtime.js';
import type { WriteBack } from './write-back.js';

/**
 * Per key committed, the lead's decision that stands: the last one made again after it (each after its
 * owner was refused as inactive), else its own. What goes on from a decision (a retry, an SLA timer's
 * re-route) goes on from that one.
 */
export async function latestDecisions(
  storage: Pick<Storage, 'findDecisions'>,
  tenantId: string,
  keys: readonly string[],
): Promise<Map<string, DecisionRecord>> {
  const latest = await storage.findDecisions(tenantId, keys);
  for (let open = [...latest.keys()]; open.length > 0;) {
    const again = await storage.findDecisions(
      tenantId,
      open.map((k) => decidedAgainKey(latest.get(k)!.decisionKey)),
    );
    open = open.filter((k) => {
      const next = again.get(decidedAgainKey(latest.get(k)!.decisionKey));
      if (next !== undefined) latest.set(k, next);
      return next !== undefined;
    });
  }
  return latest;
}

export interface DecideAgainDeps {
  lists: CrmLists;
  decider: BatchDecider;
  writeBack: WriteBack;
}

export class DecideAgain {
  constructor(private readonly deps: DecideAgainDeps) {}

  /**
   * Decides again, and writes back, the jobs whose owner was refused as inactive and that failed in no
   * other way; the others keep the refusal as their failure. The directory was dropped when the refusal
   * came back, so it is read from the CRM here.
   */
  async run(runtime: TenantRuntime, crm: string, jobs: readonly Job[], now: number): Promise<void> {
    const again: Job[] = [];
    for (const job of jobs) {
      const refused = job.ownerRefused;
      if (refused === undefined) continue;
      job.ownerRefused = undefined;
      if (job.noWork || job.failures.some((f) => f !== refused.failure)) continue;
      job.failures = [];
      job.decidedAgain = refused;
      job.decisionKey = decidedAgainKey(job.decisionKey);
      job.existing = false;
      job.actions = [];
      job.owner = undefined;
      again.push(job);
    }
    if (again.length === 0) return;
    try {
      const merged = mergeDirectory(runtime.team, await this.deps.lists.directory(runtime, now));
      const batch = { runtime, crm, merged };
      const inputs = await this.deps.decider.readInputs(runtime, crm, again, now);
      await this.deps.decider.decideAll(batch, inputs, now);
      await this.deps.writeBack.apply(
        batch,
        again.filter((j) => j.failures.length === 0 && !j.noWork),
        now,
      );
    } catch (error) {
      // The refused write is still planned under the decision before (nothing was committed), or the
      // decision made again is: a retry of the item goes on from whichever it finds.
      const e = toFailure(error);
      for (const job of again)
        if (job.failures.length === 0 && !job.noWork)
          job.failures.push({ error: e, what: `decide ${recordOf(runtime, job.leadId)} again` });
    }
  }
}
