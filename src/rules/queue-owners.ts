// A team's people and its queues' CRM targets checked against the CRM account's own users and queues (or
// teams), where the caller has the account's directory. A queue target that names nobody there is only
// found when a lead is written to it, and every lead routed to the queue becomes a dead letter; a rep who
// is no active user there is only skipped by routing, lead after lead, and a manager who is none makes
// each escalation to them fail. What counts as naming someone is what routing resolves
// (src/pipeline/team.ts: `landQueue`, `mergeDirectory`): a person by email is an active user; in a CRM
// without teams a queue's owner by anything else is one of the directory's queues by name, or a queue's
// or a user's id; a team is one the directory lists by name or id. The people a rule file names (a
// destination's rep, an escalation rep, a sequence's sender) are checked the same way, at the rule's line.
import type { Directory, DirectoryOwner } from '../../connectors/connector.js';
import type { QueueTarget } from '../core/types.js';
import { closest } from './diagnostics.js';
import type { CrmFacts } from './issues.js';

/** What of a CRM account's directory the check reads. */
export interface OwnerDirectory {
  readonly owners: readonly Pick<DirectoryOwner, 'id' | 'email' | 'active'>[];
  /** Teams or queues by name → CRM id (Directory.queues). */
  readonly queues: Directory['queues'];
}

export interface QueueTargetProblem {
  /** `owner` or `team`: the key of the queue's target. */
  key: 'owner' | 'team';
  /** The target as the team file names it. */
  name: string;
  message: string;
  suggestion?: string | undefined;
}

/** Why a person a team names no active user of the account is; undefined when they are one. */
export interface UserProblem {
  message: string;
  suggestion?: string | undefined;
}

type Account = Pick<CrmFacts, 'crmName' | 'accountNoun'>;

/**
 * Why `email` names no active user of the account (none has it, or theirs is deactivated), followed by
 * `consequence`; with a did-you-mean among its active users when none has it.
 */
export function userProblem(
  email: string,
  crm: Account,
  directory: OwnerDirectory,
  consequence: string,
): UserProblem | undefined {
  const account = `this ${crm.crmName} ${crm.accountNoun}`;
  const wanted = email.toLowerCase();
  const users = directory.owners.filter((o) => o.email.toLowerCase() === wanted);
  if (users.some((o) => o.active)) return undefined;
  if (users.length > 0) return { message: `the user ${email} is deactivated in ${account}, ${consequence}` };
  return {
    message: `no user of ${account} has the email ${email}, ${consequence}`,
    suggestion: closest(
      wanted,
      directory.owners.filter((o) => o.active).map((o) => o.email.toLowerCase()),
    ),
  };
}

/** Why the team's rep `email` would get no lead: routing skips a rep who is no active user. */
export function repProblem(email: string, crm: Account, directory: OwnerDirectory): UserProblem | undefined {
  return userProblem(email, crm, directory, 'so routing skips this rep and no lead goes to them');
}

/** Why the escalations of `rep`'s leads to their `manager:` would fail: the manager is no active user. */
export function managerProblem(
  rep: string,
  manager: string,
  crm: Account,
  directory: OwnerDirectory,
): UserProblem | undefined {
  return userProblem(
    manager,
    crm,
    directory,
    `so the leads of ${rep} escalated to their manager could not be escalated`,
  );
}

/**
 * A person a rule file names by email, as routing uses them: a rep a destination names (a route's
 * `assign`, a fallback; routing skips one who is no active user and sends the lead to the rule set's
 * fallback, which within the rule set's own fallback leaves it unowned), an SLA's escalation rep, a
 * sequence's sender, or a pool member where no team lists them (routing skips them as a team's rep).
 */
export type RulePerson =
  | { role: 'destination rep'; email: string; ruleSetFallback: boolean }
  | { role: 'escalation rep'; email: string }
  | { role: 'sequence sender'; email: string }
  | { role: 'pool member'; email: string; pool: string };

/** Why what the rules say of `person` would go wrong: they are no active user of the account. */
export function rulePersonProblem(
  person: RulePerson,
  crm: Account,
  directory: OwnerDirectory,
): UserProblem | undefined {
  return userProblem(person.email, crm, directory, ruleConsequence(person));
}

/** Why a rep a destination names gets no lead: the team marks them inactive, so routing skips them. */
export function inactiveRepProblem(person: Extract<RulePerson, { role: 'destination rep' }>): string {
  return `the team marks ${person.email} inactive (active: false), ${ruleConsequence(person)}`;
}

function ruleConsequence(person: RulePerson): string {
  switch (person.role) {
    case 'destination rep':
      return person.ruleSetFallback
        ? 'so routing skips this rep and the leads that fall back to them are left unowned'
        : "so routing skips this rep and the leads sent to them go to the rule set's fallback";
    case 'escalation rep':
      return 'so the untouched leads escalated to them could not be escalated';
    case 'sequence sender':
      return 'so the sequence enrollments sent as them would fail';
    case 'pool member':
      return `so routing skips this rep and no lead of pool "${person.pool}" goes to them`;
    default: {
      const never: never = person;
      return never;
    }
  }
}

/**
 * Why `target` of `queue` names no one the account would take a lead for; undefined when it names someone
 * or cannot be checked here (an owner id in a CRM with teams: HubSpot's QUEUE owners are not listed).
 */
export function queueTargetProblem(
  queue: string,
  target: QueueTarget,
  crm: Pick<CrmFacts, 'crmName' | 'accountNoun' | 'queueTargets' | 'storedId'>,
  directory: OwnerDirectory,
): QueueTargetProblem | undefined {
  const account = `this ${crm.crmName} ${crm.accountNoun}`;
  const dead = `so the leads routed to queue "${queue}" would be dead letters`;
  if (target.kind === 'team') {
    // Where a team is no target (Salesforce), the loader has already refused it.
    if (!crm.queueTargets.teams) return undefined;
    const name = target.team;
    if (Object.hasOwn(directory.queues, name) || Object.values(directory.queues).includes(name))
      return undefined;
    return {
      key: 'team',
      name,
      message: `"${name}" is not a team of ${account} (by name or id), ${dead}`,
      suggestion: closest(name, Object.keys(directory.queues)),
    };
  }
  const name = target.owner;
  if (name.includes('@')) {
    const problem = userProblem(name, crm, directory, dead);
    return problem === undefined ? undefined : { key: 'owner', name, ...problem };
  }
  if (crm.queueTargets.teams) return undefined;
  if (Object.hasOwn(directory.queues, name)) return undefined;
  // An id as the write sends it (a Salesforce 15-character id as its 18-character form).
  const id = crm.storedId(name);
  if (Object.values(directory.queues).includes(id) || directory.owners.some((o) => o.id === id))
    return undefined;
  return {
    key: 'owner',
    name,
    message: `"${name}" is neither a queue of ${account} (by name or id) nor a user (by email or id), ${dead}`,
    suggestion: closest(name, Object.keys(directory.queues)),
  };
}
