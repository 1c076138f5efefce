import type { CrmObject } from '../store.js';

/** Properties returned when none are requested (hubspot.md §4.1). */
const DEFAULT_PROPS: Record<CrmObject['type'], string[]> = {
  contacts: ['firstname', 'lastname', 'email'],
  companies: ['name', 'domain'],
  tasks: ['hs_task_subject', 'hs_timestamp', 'hs_task_status'],
  notes: ['hs_note_body', 'hs_timestamp'],
};
const ALWAYS = ['hs_object_id', 'createdate', 'lastmodifieddate'];

/** SimplePublicObject: requested properties present (null when unset), all values strings. */
export function toSimple(obj: CrmObject, requested?: string[]) {
  const names = [...new Set([...(requested ?? DEFAULT_PROPS[obj.type]), ...ALWAYS])];
  const properties: Record<string, string | null> = {};
  for (const n of names) properties[n] = obj.properties[n] ?? null;
  return {
    id: obj.id,
    properties,
    createdAt: new Date(obj.createdAt).toISOString(),
    updatedAt: new Date(obj.updatedAt).toISOString(),
    archived: obj.archived,
  };
}
