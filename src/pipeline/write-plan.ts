// What a batch's planned actions become in the CRM, decided before any call: owner writes, team writes,
// task creates and enrollments, each with its CRM ids resolved from the directory, or refused with the
// reason. Pure: the worker then sends each group in as few calls as the connector allows.
import { CrmError, type OwnerWrite, type TaskCreate, type TeamWrite } from '../../connectors/connector.js';
import type { Action, SequenceSpec } from '../core/types.js';
import type { PlannedAction } from '../storage/index.js';
import { TenantConfigError } from './failures.js';
import { landQueue, noTaskReason, type MergedTeam, type QueueCrm } from './team.js';

/** The planner carries whatever the caller attached to each action (its job) through to the plan. */
type Entry = { a: PlannedAction };

export interface WritePlan<E extends Entry> {
  owners: (E & { input: OwnerWrite })[];
  teams: (E & { input: TeamWrite })[];
  tasks: (E & { input: TaskCreate })[];
  /** The sender (a rep email) is resolved when the enrollment is sent, with the sequence. */
  enrollments: (E & { sequence: SequenceSpec; sender: string })[];
  /** Actions that cannot be written: no such owner, a queue without a CRM target. */
  refused: (E & { error: CrmError })[];
  /**
   * Actions with nothing to write, done as they are with the reason recorded: the task of a queue the
   * CRM lets own the lead but no task (a Salesforce Lead queue; its members take the lead from its list).
   */
  needless: (E & { reason: string })[];
}

/**
 * Why `action` will be done with nothing written in this CRM (see `WritePlan.needless`), or undefined:
 * what the lead's summary leaves out, so that it names no task the CRM never gets.
 */
export function needlessReason(action: Action, merged: MergedTeam, crm: QueueCrm): string | undefined {
  if (action.kind !== 'queue_task') return undefined;
  const landing = landQueue(action.queue, action.target, merged, crm);
  if (landing instanceof CrmError || landing.kind !== 'owner') return undefined;
  return noTaskReason(landing.ownerId, merged, crm);
}

/**
 * The plan for `entries` (planned actions of one tenant) over its merged directory. Explanation notes
 * are left out: they are written in batches gathered across worker batches.
 */
export function planWrites<E extends Entry>(
  entries: readonly E[],
  merged: MergedTeam,
  crm: QueueCrm,
): WritePlan<E> {
  const plan: WritePlan<E> = { owners: [], teams: [], tasks: [], enrollments: [], refused: [], needless: [] };
  const ownerIdOf = (entry: E, email: string): string | undefined => {
    const owner = merged.ownerByEmail.get(email.toLowerCase());
    if (owner === undefined)
      plan.refused.push({
        ...entry,
        error: new TenantConfigError(`no ${crm.crmName} owner with the email ${email}`),
      });
    return owner?.id;
  };
  for (const entry of entries) {
    const { a } = entry;
    const action = a.action;
    switch (action.kind) {
      case 'set_owner': {
        const ownerId = ownerIdOf(entry, action.email);
        if (ownerId !== undefined) plan.owners.push({ ...entry, input: { leadId: a.leadId, ownerId } });
        break;
      }
      case 'set_queue': {
        // Done only once the CRM holds it: the queue's owner, or its team.
        const landing = landQueue(action.queue, action.target, merged, crm);
        if (landing instanceof CrmError) plan.refused.push({ ...entry, error: landing });
        else if (landing.kind === 'owner')
          plan.owners.push({ ...entry, input: { leadId: a.leadId, ownerId: landing.ownerId } });
        else plan.teams.push({ ...entry, input: { leadId: a.leadId, teamId: landing.teamId } });
        break;
      }
      case 'queue_task': {
        const landing = landQueue(action.queue, action.target, merged, crm);
        if (landing instanceof CrmError) {
          plan.refused.push({ ...entry, error: landing });
          break;
        }
        const needless = landing.kind === 'owner' ? noTaskReason(landing.ownerId, merged, crm) : undefined;
        if (needless !== undefined) plan.needless.push({ ...entry, reason: needless });
        else
          plan.tasks.push({
            ...entry,
            input: {
              leadId: a.leadId,
              key: a.key,
              // A team's task has no owner; its subject names the team.
              ownerId: landing.kind === 'owner' ? landing.ownerId : undefined,
              subject:
                landing.kind === 'team' ? `${action.subject} (team ${landing.teamName})` : action.subject,
              body: action.body,
              dueAt: action.dueAt,
              priority: action.priority,
            },
          });
        break;
      }
      case 'create_task': {
        const ownerId = ownerIdOf(entry, action.assignee);
        if (ownerId !== undefined)
          plan.tasks.push({
            ...entry,
            input: {
              leadId: a.leadId,
              key: a.key,
              ownerId,
              subject: action.subject,
              body: action.body,
              dueAt: action.dueAt,
              priority: action.priority,
            },
          });
        break;
      }
      case 'write_note':
        break;
      case 'enroll_sequence':
        plan.enrollments.push({ ...entry, sequence: action.sequence, sender: action.sender });
        break;
      default: {
        const never: never = action;
        throw new Error(`unhandled action ${JSON.stringify(never)}`);
      }
    }
  }
  return plan;
}
