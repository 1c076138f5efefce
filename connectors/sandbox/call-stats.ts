// HubSpot's call kinds for the shared call counter (sandbox-kit/call-stats.ts), counted per portal.
import { CallStats as SharedCallStats, totalCalls, type TenantCallStats } from '../sandbox-kit/call-stats.js';

/** What a call is, by method and path shape (ids replaced). */
export function callKind(method: string, path: string): string {
  const p = path.replace(/\/\d+(?=\/|$)/g, '/:id').replace(/\/$/, '');
  return KNOWN_CALLS[`${method} ${p}`] ?? `${method} ${p}`;
}

const KNOWN_CALLS: Record<string, string> = {
  'POST /crm/v3/objects/contacts/batch/read': 'contacts.read',
  'POST /crm/v3/objects/contacts/batch/update': 'owner.batch',
  'POST /crm/v3/objects/tasks/batch/create': 'task.batch',
  'POST /crm/v3/objects/notes/batch/create': 'note.batch',
  'POST /crm/v3/objects/companies/search': 'company.search',
  // Looking for creates whose answer was lost: the contacts' tasks or notes, then the records themselves.
  'POST /crm/v4/associations/contacts/tasks/batch/read': 'task.lookup',
  'POST /crm/v4/associations/contacts/notes/batch/read': 'note.lookup',
  'POST /crm/v3/objects/tasks/batch/read': 'task.read',
  'POST /crm/v3/objects/notes/batch/read': 'note.read',
  'POST /automation/v4/sequences/enrollments': 'enroll',
  'GET /crm/v3/owners': 'owners',
  'GET /automation/v4/sequences': 'sequences',
  'GET /crm/v3/properties/contacts': 'properties',
};

export type PortalCallStats = TenantCallStats;

/** Counts per HubSpot portal (the shared counter keyed by portal id). */
export class CallStats extends SharedCallStats<number> {
  forPortal(portalId: number): PortalCallStats {
    return this.of(portalId);
  }
}

export { totalCalls };
