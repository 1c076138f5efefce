// Merges the CRM directory into the team the rules name, so routing sees who can really own a lead.
import type { Directory, DirectoryOwner } from '../../connectors/connector.js';
import type { Rep, Team } from '../core/types.js';

export interface MergedTeam {
  team: Team;
  /** Rep email (lower case) → the CRM owner. */
  ownerByEmail: Map<string, DirectoryOwner>;
}

/**
 * - A team rep whose CRM owner is archived/inactive, or who has no CRM owner at all, becomes inactive:
 *   the lead could not be assigned to them, so routing skips them saying which ("deactivated in the
 *   CRM", "not a user of the CRM portal").
 * - Directory owners the team does not name are added as reps (UTC, always available) so account
 *   owners and existing owners can be routed to.
 * - Queues the team names pick up the CRM team id from the directory when they have none.
 */
export function mergeDirectory(team: Team, directory: Directory): MergedTeam {
  const ownerByEmail = new Map<string, DirectoryOwner>();
  for (const o of directory.owners) {
    const email = o.email.toLowerCase();
    const seen = ownerByEmail.get(email);
    // One email, several owner records (re-invited user): prefer the active one.
    if (seen === undefined || (!seen.active && o.active)) ownerByEmail.set(email, o);
  }
  const reps: Record<string, Rep> = {};
  for (const [email, rep] of Object.entries(team.reps)) {
    const owner = ownerByEmail.get(email.toLowerCase());
    if (!rep.active) reps[email] = rep;
    else if (owner === undefined)
      reps[email] = { ...rep, active: false, inactiveReason: 'not a user of the CRM portal' };
    else if (!owner.active) reps[email] = { ...rep, active: false, inactiveReason: 'deactivated in the CRM' };
    else reps[email] = rep;
  }
  for (const [email, owner] of ownerByEmail) {
    if (Object.hasOwn(reps, email)) continue;
    reps[email] = {
      email,
      name: owner.name,
      timezone: 'UTC',
      hours: [],
      outOfOffice: [],
      weight: 1,
      caps: {},
      active: owner.active,
    };
  }
  const queues: Team['queues'] = {};
  for (const [name, q] of Object.entries(team.queues)) {
    const crmId = q.crmId ?? directory.queues[name];
    queues[name] = crmId === undefined ? { ...q } : { ...q, crmId };
  }
  return { team: { reps, queues }, ownerByEmail };
}
