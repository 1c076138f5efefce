// Merges the CRM directory into the team the rules name, so routing sees who can really own a lead.
import type { ConnectorProfile, Directory, DirectoryOwner } from '../../connectors/connector.js';
import { isValidTimeZone } from '../core/availability.js';
import type { QueueTarget, Rep, Team } from '../core/types.js';
import { TenantConfigError } from './failures.js';

export interface MergedTeam {
  team: Team;
  /** Rep email (lower case) → the CRM owner. */
  ownerByEmail: Map<string, DirectoryOwner>;
  /** CRM team name → id, as the directory lists them. */
  teamIdByName: Readonly<Record<string, string>>;
}

/** Where a queue's target lands in the CRM: an owner id, or a team's id and name. */
export type QueueLanding =
  { kind: 'owner'; ownerId: string } | { kind: 'team'; teamId: string; teamName: string };

/** What landing a queue needs to know of the CRM (its connector profile). */
export type QueueCrm = Pick<ConnectorProfile, 'crmName' | 'queueTargets' | 'storedId'>;

/**
 * The CRM id of an owner the team file names by other than email: in a CRM without teams, a queue of the
 * directory by name (its queues are owners there: Salesforce's Lead queues, named as in Setup, so the
 * team file need not carry their ids); anything else is an id already, for the CRM to check.
 */
function ownerIdNamed(owner: string, merged: MergedTeam, crm: QueueCrm): string {
  // An id in the form the directory holds (Salesforce's 15-character ids as 18), so it is known there.
  if (crm.queueTargets.teams || !Object.hasOwn(merged.teamIdByName, owner)) return crm.storedId(owner);
  return merged.teamIdByName[owner] ?? owner;
}

/**
 * Why no task can be owned by `ownerId`: it is one of the directory's queues, which the CRM lets own
 * records but not tasks (a Salesforce Lead queue). Undefined for any other owner.
 */
export function noTaskReason(ownerId: string, merged: MergedTeam, crm: QueueCrm): string | undefined {
  if (crm.queueTargets.teams || crm.queueTargets.queuesOwnTasks) return undefined;
  if (!Object.values(merged.teamIdByName).includes(ownerId)) return undefined;
  return `a ${crm.crmName} queue cannot own a task; the queue's members take the lead from its list`;
}

/**
 * The CRM id of an owner as the team file and the stored actions name it; for an email, undefined when
 * the directory lists no such owner.
 */
export function crmOwnerId(owner: string, merged: MergedTeam, crm: QueueCrm): string | undefined {
  return owner.includes('@') ? merged.ownerByEmail.get(owner)?.id : ownerIdNamed(owner, merged, crm);
}

/**
 * Resolves a queue's target against the directory. An owner named by email must be an active owner; in a
 * CRM without teams one may be a queue of the directory by name; one named by id is sent as is (a HubSpot
 * QUEUE owner, a Salesforce queue: the CRM checks it). A team must be one the directory of a CRM with
 * teams lists, by name or id. Any other target is the configuration's error, never sent.
 */
export function landQueue(
  queue: string,
  target: QueueTarget | undefined,
  merged: MergedTeam,
  crm: QueueCrm,
): QueueLanding | TenantConfigError {
  if (target === undefined)
    return new TenantConfigError(
      `queue ${queue} has no CRM target: give it an owner or a team in the team file`,
    );
  const name = crm.crmName;
  if (target.kind === 'owner') {
    if (!target.owner.includes('@'))
      return { kind: 'owner', ownerId: ownerIdNamed(target.owner, merged, crm) };
    const owner = merged.ownerByEmail.get(target.owner);
    if (owner === undefined)
      return new TenantConfigError(`queue ${queue}: no ${name} owner with the email ${target.owner}`);
    if (!owner.active)
      return new TenantConfigError(`queue ${queue}: ${name} owner ${target.owner} is deactivated`);
    return { kind: 'owner', ownerId: owner.id };
  }
  // A rule set published before its CRM's targets were checked.
  if (!crm.queueTargets.teams)
    return new TenantConfigError(
      `queue ${queue} targets team ${target.team}, but ${name} has no teams: give it an owner instead, { owner: ${crm.queueTargets.owner} }`,
    );
  const byName = merged.teamIdByName[target.team];
  if (byName !== undefined) return { kind: 'team', teamId: byName, teamName: target.team };
  const named = Object.entries(merged.teamIdByName).find(([, id]) => id === target.team);
  if (named !== undefined) return { kind: 'team', teamId: named[1], teamName: named[0] };
  // Not guessed: a team the directory does not list gets neither the lead nor a task.
  return new TenantConfigError(`queue ${queue}: ${name} lists no team named or numbered ${target.team}`);
}

/**
 * - A team rep whose CRM owner is archived/inactive, or who has no CRM owner at all, becomes inactive:
 *   the lead could not be assigned to them, so routing skips them saying which ("deactivated in the
 *   CRM", "not a user of the CRM portal").
 * - Directory owners the team does not name are added as reps (in their CRM time zone, else UTC;
 *   always available) so account owners and existing owners can be routed to.
 * - A rep's manager is the team file's `manager:`, else the manager the CRM records for their user.
 */
export function mergeDirectory(team: Team, directory: Directory): MergedTeam {
  const ownerByEmail = new Map<string, DirectoryOwner>();
  for (const o of directory.owners) {
    const email = o.email.toLowerCase();
    const seen = ownerByEmail.get(email);
    // One email, several owner records (re-invited user): prefer the active one.
    if (seen === undefined || (!seen.active && o.active)) ownerByEmail.set(email, o);
  }
  const emailById = new Map(directory.owners.map((o) => [o.id, o.email.toLowerCase()]));
  const managerOf = (owner: DirectoryOwner | undefined): string | undefined =>
    owner?.managerId === undefined ? undefined : emailById.get(owner.managerId);
  const reps: Record<string, Rep> = {};
  for (const [email, teamRep] of Object.entries(team.reps)) {
    const owner = ownerByEmail.get(email.toLowerCase());
    const manager = teamRep.manager ?? managerOf(owner);
    const rep = manager === undefined ? teamRep : { ...teamRep, manager };
    if (!rep.active) reps[email] = rep;
    else if (owner === undefined)
      reps[email] = { ...rep, active: false, inactiveReason: 'not a user of the CRM portal' };
    else if (!owner.active) reps[email] = { ...rep, active: false, inactiveReason: 'deactivated in the CRM' };
    else reps[email] = rep;
  }
  for (const [email, owner] of ownerByEmail) {
    if (Object.hasOwn(reps, email)) continue;
    const manager = managerOf(owner);
    reps[email] = {
      ...(manager === undefined ? {} : { manager }),
      email,
      name: owner.name,
      timezone: owner.timezone !== undefined && isValidTimeZone(owner.timezone) ? owner.timezone : 'UTC',
      hours: [],
      outOfOffice: [],
      weight: 1,
      caps: {},
      active: owner.active,
    };
  }
  return { team: { reps, queues: team.queues }, ownerByEmail, teamIdByName: directory.queues };
}
