// Salesforce records as lead-router's normalized lead and account: which fields are read for Leads and
// Contacts, how they map to lead fields, and the Salesforce conventions undone here rather than in the
// core (multi-select picklists joined by `;`, compound address fields, relationship objects).
// Field lists: jsforce's generated schema (src/types/standard-schema.ts) and the Lead field reference
// https://developer.salesforce.com/docs/platform/field-reference/references/field-reference/salesforce-field-reference-lead.html
import { getDomain } from 'tldts';
import { toLead } from '../../src/core/normalize.js';
import type { Account, Lead, LeadField, LeadValue } from '../../src/core/types.js';

/** Key prefixes of the record ids this connector meets (the first three characters of an id). */
export const ID_PREFIX = {
  Lead: '00Q',
  Contact: '003',
  Account: '001',
  User: '005',
  Group: '00G',
  Task: '00T',
} as const;

export type RoutedObject = 'Lead' | 'Contact';

/** Which routed object an id belongs to, by its key prefix; undefined for any other record. */
export function objectOfId(id: string): RoutedObject | undefined {
  if (id.startsWith(ID_PREFIX.Lead)) return 'Lead';
  if (id.startsWith(ID_PREFIX.Contact)) return 'Contact';
  return undefined;
}

export const isQueueId = (id: string): boolean => id.startsWith(ID_PREFIX.Group);
export const isUserId = (id: string): boolean => id.startsWith(ID_PREFIX.User);

/**
 * Lead fields → the Lead field that feeds each. Where Salesforce has a code and a text field (State &
 * Country picklists on: `CountryCode`, `StateCode`), the code comes first and wins.
 */
export const LEAD_FIELD_MAP = {
  Email: 'email',
  FirstName: 'firstName',
  LastName: 'lastName',
  Title: 'title',
  Company: 'company',
  Website: 'websiteDomain',
  CountryCode: 'country',
  Country: 'country',
  StateCode: 'state',
  State: 'state',
  PostalCode: 'postalCode',
  City: 'city',
  NumberOfEmployees: 'employees',
  AnnualRevenue: 'annualRevenue',
  Industry: 'industry',
  LeadSource: 'leadSource',
  OwnerId: 'owner',
  CreatedDate: 'createdAt',
} as const satisfies Record<string, LeadField>;

/**
 * Contact fields → lead fields. A Contact has no company fields of its own: they come from its
 * Account through the relationship (`Account.Name`, …), flattened to dotted names.
 */
export const CONTACT_FIELD_MAP = {
  Email: 'email',
  FirstName: 'firstName',
  LastName: 'lastName',
  Title: 'title',
  'Account.Name': 'company',
  'Account.Website': 'websiteDomain',
  MailingCountryCode: 'country',
  MailingCountry: 'country',
  MailingStateCode: 'state',
  MailingState: 'state',
  MailingPostalCode: 'postalCode',
  MailingCity: 'city',
  'Account.NumberOfEmployees': 'employees',
  'Account.AnnualRevenue': 'annualRevenue',
  'Account.Industry': 'industry',
  LeadSource: 'leadSource',
  OwnerId: 'owner',
  CreatedDate: 'createdAt',
} as const satisfies Record<string, LeadField>;

export const FIELD_MAPS: Record<RoutedObject, Readonly<Record<string, LeadField>>> = {
  Lead: LEAD_FIELD_MAP,
  Contact: CONTACT_FIELD_MAP,
};

/**
 * The Lead field (API name) that feeds each lead field, for rules that name a lead field and for the
 * connector profile. Contacts read the same lead fields through CONTACT_FIELD_MAP.
 */
export const LEAD_FIELD_PROPERTIES: Partial<Record<LeadField, string>> = (() => {
  const out: Partial<Record<LeadField, string>> = { emailDomain: 'Email' };
  for (const [field, leadField] of Object.entries(LEAD_FIELD_MAP)) out[leadField] ??= field;
  return out;
})();

/** The State & Country picklist code fields exist only when the org turned the picklists on. */
export const OPTIONAL_FIELDS = new Set([
  'CountryCode',
  'StateCode',
  'MailingCountryCode',
  'MailingStateCode',
]);

/** Fields read for every routed record besides the mapped ones. */
export const BASE_FIELDS: Record<RoutedObject, readonly string[]> = {
  Lead: ['Id', 'Status', 'IsConverted'],
  Contact: ['Id', 'AccountId', 'Account.OwnerId'],
};

/**
 * The Lead field naming the Contact its conversion created (Lead field reference): a Contact named by a
 * Lead's `ConvertedContactId` was that lead, routed as such before Convert made it a Contact.
 */
export const CONVERTED_CONTACT_FIELD = 'ConvertedContactId';

/** Rows of `SELECT Id, ConvertedContactId FROM Lead …` as converted Contact id → the lead's id. */
export function convertedLeadsOf(rows: readonly Readonly<Record<string, unknown>>[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const row of rows) {
    const contactId = row[CONVERTED_CONTACT_FIELD];
    const leadId = row['Id'];
    if (typeof contactId === 'string' && contactId !== '' && typeof leadId === 'string' && leadId !== '')
      out.set(contactId, leadId);
  }
  return out;
}

/** One value of a multi-select picklist is one element; Salesforce stores them joined by `;`. */
export function splitMultiSelect(value: string): string[] {
  return value
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Keys of a compound address field (`Address`, `MailingAddress`, `BillingAddress`) as REST returns it. */
const ADDRESS_KEYS: Readonly<Record<string, string>> = {
  street: 'Street',
  city: 'City',
  state: 'State',
  stateCode: 'StateCode',
  postalCode: 'PostalCode',
  country: 'Country',
  countryCode: 'CountryCode',
};

/**
 * A query record flattened to field name → scalar: `attributes` dropped, relationship objects as dotted
 * names (`Account.Name`), a compound address as its component fields (`MailingAddress.city` →
 * `MailingCity`, unless the component was selected itself), and the compound `Name` left out (its parts
 * are fields of their own).
 */
export function flattenRecord(
  record: Readonly<Record<string, unknown>>,
  prefix = '',
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    if (key === 'attributes') continue;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const obj = value as Record<string, unknown>;
      if (key.endsWith('Address') && !('attributes' in obj)) {
        const base = key === 'Address' ? '' : key.slice(0, -'Address'.length);
        for (const [part, field] of Object.entries(ADDRESS_KEYS)) {
          const name = `${prefix}${base}${field}`;
          if (obj[part] !== undefined && !(name in out) && record[`${base}${field}`] === undefined)
            out[name] = obj[part];
        }
        continue;
      }
      if ('attributes' in obj) Object.assign(out, flattenRecord(obj, `${prefix}${key}.`));
      // Other compound values (geolocation, a compound Name) add nothing the component fields lack.
      continue;
    }
    out[`${prefix}${key}`] = value;
  }
  return out;
}

/** What the lead mapping needs to know about the org: its multi-select fields and owner emails. */
export interface RecordContext {
  /** Field names (of this object) whose type is `multipicklist`. */
  multiSelect: ReadonlySet<string>;
  /** The user's email for an owner id, or undefined (a queue, an unknown user). */
  ownerEmail: (ownerId: string) => string | undefined;
  /** The record's territories in the active Territory 2.0 model, by name. */
  territories?: readonly string[] | undefined;
}

/** Lead field under which a record's CRM territories (Territory 2.0, active model) are given to rules. */
export const CRM_TERRITORIES_FIELD = 'crm_territories';

/**
 * A Lead or Contact as a normalized Lead: mapped fields through the core's normalizer (country and
 * state codes, domains, lenient numbers), every other field kept by its API name (custom `__c` fields
 * included), multi-select picklists split, the owner id turned into the owner's email.
 */
export function recordToLead(
  object: RoutedObject,
  record: Readonly<Record<string, unknown>>,
  ctx: RecordContext,
): Lead {
  const flat = inMapOrder(flattenRecord(record), FIELD_MAPS[object]);
  const id = typeof flat['Id'] === 'string' ? flat['Id'] : '';
  const fieldMap: Record<string, LeadField | null> = { ...FIELD_MAPS[object], Id: 'id' };
  const ownerId = typeof flat['OwnerId'] === 'string' ? flat['OwnerId'] : undefined;
  const ownerEmail = ownerId === undefined ? undefined : ctx.ownerEmail(ownerId);
  if (ownerEmail !== undefined) flat['OwnerId'] = ownerEmail;
  // A queue or unknown owner is not a rep email: it stays a field, not `owner`.
  else fieldMap['OwnerId'] = null;
  const lead = toLead(flat, fieldMap);
  // Multi-select picklists reach the core as their values: the core never splits a string.
  const fields: Record<string, LeadValue> = { ...lead.fields };
  for (const name of ctx.multiSelect) {
    const value = fields[name];
    if (typeof value === 'string') fields[name] = splitMultiSelect(value);
  }
  if (ctx.territories !== undefined && ctx.territories.length > 0)
    fields[CRM_TERRITORIES_FIELD] = [...ctx.territories];
  return { ...lead, id, fields };
}

/**
 * The record's keys with the mapped ones first, in the map's order: the normalizer takes the first
 * non-blank field for each lead field, so `CountryCode` must come before `Country` whatever order the
 * answer had.
 */
function inMapOrder(
  flat: Record<string, unknown>,
  map: Readonly<Record<string, LeadField>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(map)) if (Object.hasOwn(flat, key)) out[key] = flat[key];
  for (const [key, value] of Object.entries(flat)) if (!Object.hasOwn(out, key)) out[key] = value;
  return out;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** The registrable domain of a free-text Website (`https://www.acme.co.uk/x` → `acme.co.uk`). */
export function websiteDomain(value: unknown): string | undefined {
  const t = text(value);
  if (t === undefined) return undefined;
  return getDomain(t.trim().toLowerCase()) ?? undefined;
}

function accountType(type: unknown): Account['type'] {
  const t = text(type)?.toLowerCase();
  if (t === undefined) return undefined;
  if (t.startsWith('customer')) return 'customer';
  if (t === 'partner' || t.includes('partner') || t.includes('reseller')) return 'partner';
  if (t === 'prospect') return 'prospect';
  return 'other';
}

/** An Account row (`Id, Name, Website, OwnerId, Type`) as the core's Account. */
export function recordToAccount(
  record: Readonly<Record<string, unknown>>,
  ownerEmail: (id: string) => string | undefined,
): Account {
  const domain = websiteDomain(record['Website']);
  const ownerId = text(record['OwnerId']);
  return {
    id: String(record['Id']),
    name: text(record['Name']) ?? '',
    domains: domain === undefined ? [] : [domain],
    owner: ownerId === undefined ? undefined : ownerEmail(ownerId),
    type: accountType(record['Type']),
  };
}
