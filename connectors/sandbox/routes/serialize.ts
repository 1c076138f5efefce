import type { CrmObject, Portal } from '../store.js';
import type { WriteSource } from '../write-log.js';

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

/**
 * Where a write came from, as a history entry's `sourceType` says it: the app's API writes are an
 * integration's, the admin API stands for a person in HubSpot's UI (values as seen on webhooks'
 * `changeSource`, hubspot.md §1.4; the full list is not documented).
 */
const SOURCE_TYPE: Record<WriteSource, string> = {
  api: 'INTEGRATION',
  import: 'IMPORT',
  generator: 'FORM',
  admin: 'CRM_UI',
};

/**
 * `propertiesWithHistory` of a batch read: per property asked, its values newest first, each with when
 * and by what it was set (the client's `ValueWithTimestamp`). A property never set has no entries.
 */
export function withHistoryOf(portal: Portal, obj: CrmObject, names: string[]) {
  return Object.fromEntries(
    names.map((name) => [
      name,
      portal
        .propertyHistory(obj, name)
        .map((v) => ({
          value: v.value,
          timestamp: new Date(v.at).toISOString(),
          sourceType: SOURCE_TYPE[v.source],
        }))
        .reverse(),
    ]),
  );
}
