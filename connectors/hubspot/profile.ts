// What the HubSpot connector tells generic code about HubSpot (connector.ts, ConnectorProfile): its
// record noun, batch sizes, rate budgets, search lag, contact properties, and how its notes read back.
import type { Lead, LeadField } from '../../src/core/types.js';
import type { BucketSpec, ConnectorProfile } from '../connector.js';

/** Batch endpoints take 100 records per request (hubspot.md §4.4). */
export const BATCH_SIZE = 100;
/** Domains per `IN` filter; keeps the search body far below its 3,000-character limit. */
export const DOMAINS_PER_SEARCH = 50;

/** Marketplace OAuth app: 110 requests / 10 s per installing account; search: 5 req/s (§7.1). */
// HubSpot counts a *rolling* window, while Bottleneck's reservoir refills at fixed instants and would
// let two windows' worth through back to back. Spacing calls evenly (minTime) keeps every rolling
// window within budget, with a little headroom: 10,000 ms / 92 ms ≈ 108.7 calls per 10 s.
export const HUBSPOT_BUCKETS = {
  general: { reservoir: 110, intervalMs: 10_000, maxConcurrent: 10, minTimeMs: 92 },
  search: { reservoir: 5, intervalMs: 1_000, maxConcurrent: 3, minTimeMs: 210 },
} as const satisfies Record<string, BucketSpec>;

export type HubSpotBucket = keyof typeof HUBSPOT_BUCKETS;

/**
 * The general bucket for a budget other than 110 per 10 s, paced the same way: starts spaced so that no
 * rolling window can hold more than `perTenSeconds - 1` calls.
 */
export function hubspotGeneralBucket(perTenSeconds: number): BucketSpec {
  return {
    ...HUBSPOT_BUCKETS.general,
    reservoir: perTenSeconds,
    minTimeMs: Math.ceil(10_000 / (perTenSeconds - 1)),
  };
}

/**
 * How long after a create HubSpot's search can be trusted to show it: search lags writes by "a few
 * moments" (§4.3), so looking sooner could miss a create that was applied and make it a second time.
 */
export const SEARCH_LAG_MS = 5_000;

/** Contact properties the Lead needs, by HubSpot name → Lead field. */
export const CONTACT_FIELD_MAP = {
  email: 'email',
  firstname: 'firstName',
  lastname: 'lastName',
  jobtitle: 'title',
  company: 'company',
  website: 'websiteDomain',
  country: 'country',
  state: 'state',
  zip: 'postalCode',
  city: 'city',
  numemployees: 'employees',
  annualrevenue: 'annualRevenue',
  industry: 'industry',
  hs_analytics_source: 'leadSource',
  recent_conversion_event_name: 'form',
  hubspotscore: 'score',
  hubspot_owner_id: 'owner',
  createdate: 'createdAt',
} as const satisfies Record<string, keyof Lead>;

/** Lead field → the contact property that feeds it (the inverse of CONTACT_FIELD_MAP). */
function contactPropertyByField(): Partial<Record<LeadField, string>> {
  // The email domain is read from the email itself.
  const out: Partial<Record<LeadField, string>> = { emailDomain: 'email' };
  for (const [prop, field] of Object.entries(CONTACT_FIELD_MAP)) out[field] ??= prop;
  return out;
}

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    const lower = name.toLowerCase();
    if (!lower.startsWith('#')) return ENTITIES[lower] ?? whole;
    const code = lower.startsWith('#x') ? parseInt(lower.slice(2), 16) : parseInt(lower.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/**
 * A note body as plain text: HubSpot may keep the text as it came, or as rich text (`<p>…</p>`, `<br>`,
 * `&amp;`). Tags become spaces, then entities are decoded (`&lt;p&gt;` stays text).
 */
export function hubspotNoteText(stored: string): string {
  return decodeEntities(stored.replace(/<[^>]*>/g, ' '));
}

export const HUBSPOT_PROFILE: ConnectorProfile = {
  crmName: 'HubSpot',
  accountNoun: 'portal',
  storedId: (id) => id,
  recordNoun: () => 'contact',
  batchSizes: {
    readLeads: BATCH_SIZE,
    accountDomains: DOMAINS_PER_SEARCH,
    owners: BATCH_SIZE,
    tasks: BATCH_SIZE,
    notes: BATCH_SIZE,
    // HubSpot has no batch enrollment: one call each.
    enrollments: 1,
  },
  buckets: HUBSPOT_BUCKETS,
  // Two batches' calls keep a portal's 110 calls per 10 s busy through a burst (bench:e2e).
  batchesInFlight: 2,
  // Lookups read associations first, but a contact they leave out is searched for, and search lags.
  lookupLagMs: SEARCH_LAG_MS,
  leadFieldProperties: contactPropertyByField(),
  // A queue's contact gets its team (hubspot_team_id), or its owner.
  queueTargets: { teams: true },
  noteText: hubspotNoteText,
};

/** The profile with the general bucket sized for another budget (a private app, a test sandbox). */
export function hubspotProfile(requestsPer10s?: number): ConnectorProfile {
  if (requestsPer10s === undefined) return HUBSPOT_PROFILE;
  return {
    ...HUBSPOT_PROFILE,
    buckets: { ...HUBSPOT_BUCKETS, general: hubspotGeneralBucket(requestsPer10s) },
  };
}
