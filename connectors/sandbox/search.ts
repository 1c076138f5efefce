// CRM search semantics (hubspot.md §4.3): filters AND-ed in a group, groups OR-ed; limits as HubSpot's.
import { z } from 'zod';
import type { ObjectType } from './associations.js';
import { validation } from './errors.js';
import type { CrmObject } from './store.js';

const operator = z.enum([
  'EQ',
  'NEQ',
  'LT',
  'LTE',
  'GT',
  'GTE',
  'BETWEEN',
  'IN',
  'NOT_IN',
  'HAS_PROPERTY',
  'NOT_HAS_PROPERTY',
  'CONTAINS_TOKEN',
  'NOT_CONTAINS_TOKEN',
]);

const filterSchema = z.object({
  propertyName: z.string(),
  operator,
  value: z.union([z.string(), z.number(), z.boolean()]).optional(),
  highValue: z.union([z.string(), z.number()]).optional(),
  values: z.array(z.union([z.string(), z.number()])).optional(),
});

export const searchRequestSchema = z.object({
  filterGroups: z.array(z.object({ filters: z.array(filterSchema) })).default([]),
  sorts: z
    .array(
      z.union([
        z.string(),
        z.object({ propertyName: z.string(), direction: z.enum(['ASCENDING', 'DESCENDING']) }),
      ]),
    )
    .default([]),
  query: z.string().optional(),
  properties: z.array(z.string()).optional(),
  limit: z.number().int().min(0).default(10),
  after: z.union([z.string(), z.number()]).optional(),
});

export type SearchRequest = z.infer<typeof searchRequestSchema>;
type Filter = z.infer<typeof filterSchema>;

/**
 * `associations.{objectType}` pseudo-properties (CRM search guide, "Search through associations"): the
 * documented form is the singular name (`associations.contact`). Plurals and type ids are refused
 * (HubSpot's answer to them is UNCONFIRMED), so a client mistake is loud here.
 */
const ASSOCIATION_PREFIX = 'associations.';
const ASSOCIATION_TYPES = new Map<string, ObjectType>([
  ['contact', 'contacts'],
  ['company', 'companies'],
  ['task', 'tasks'],
  ['note', 'notes'],
]);
/** Operators an association filter takes: it is a set of record ids. UNCONFIRMED which others HubSpot allows. */
const ASSOCIATION_OPERATORS = new Set<Filter['operator']>([
  'EQ',
  'NEQ',
  'IN',
  'NOT_IN',
  'HAS_PROPERTY',
  'NOT_HAS_PROPERTY',
]);

/** For one target type: searched record id → ids of its associated records of that type. */
export type AssociatedIds = (toType: ObjectType) => ReadonlyMap<string, ReadonlySet<string>>;

function associationTarget(f: Filter): ObjectType | undefined {
  if (!f.propertyName.startsWith(ASSOCIATION_PREFIX)) return undefined;
  const name = f.propertyName.slice(ASSOCIATION_PREFIX.length);
  const type = ASSOCIATION_TYPES.get(name);
  if (type === undefined) throw validation(`Unknown association type in filter: ${f.propertyName}`);
  if (!ASSOCIATION_OPERATORS.has(f.operator))
    throw validation(`Operator ${f.operator} is not supported for ${f.propertyName}`);
  return type;
}

export const SEARCH_MAX_LIMIT = 200;
export const SEARCH_MAX_RESULTS = 10_000;

export function checkSearchLimits(req: SearchRequest): void {
  if (req.limit > SEARCH_MAX_LIMIT)
    throw validation(`limit must be less than or equal to ${SEARCH_MAX_LIMIT}`);
  if (req.filterGroups.length > 5) throw validation('Too many filter groups: a maximum of 5 is allowed.');
  const total = req.filterGroups.reduce((n, g) => n + g.filters.length, 0);
  if (req.filterGroups.some((g) => g.filters.length > 6) || total > 18) {
    throw validation('Too many filters: at most 6 per group and 18 in total are allowed.');
  }
  for (const g of req.filterGroups) for (const f of g.filters) associationTarget(f);
  if (offsetOf(req) + req.limit > SEARCH_MAX_RESULTS) {
    throw validation(`Paging beyond ${SEARCH_MAX_RESULTS} results is not supported.`);
  }
}

/**
 * The record ids a search can only match, when every filter group pins `hs_object_id` (EQ or IN); the
 * route then looks those up instead of filtering every record (an SLA check searches 100 ids among
 * 100,000 contacts). The filters still run on them, so the answer is the same.
 */
export function pinnedIds(req: SearchRequest): Set<string> | undefined {
  if (req.filterGroups.length === 0) return undefined;
  const ids = new Set<string>();
  for (const g of req.filterGroups) {
    const pin = g.filters.find(
      (f) => f.propertyName === 'hs_object_id' && (f.operator === 'EQ' || f.operator === 'IN'),
    );
    if (pin === undefined) return undefined;
    const values = pin.operator === 'EQ' ? (pin.value === undefined ? [] : [pin.value]) : (pin.values ?? []);
    // Ids compare as numbers (`007` is `7`).
    for (const v of values) ids.add(Number.isInteger(Number(v)) ? String(Number(v)) : String(v));
  }
  return ids;
}

export function offsetOf(req: SearchRequest): number {
  if (req.after === undefined || req.after === '') return 0;
  const n = Number(req.after);
  if (!Number.isInteger(n) || n < 0) throw validation('after must be an integer');
  return n;
}

/** Numbers compare as numbers, ISO dates as epoch ms (HubSpot accepts ms for date filters), text case-insensitively. */
function comparable(v: string): number | string {
  if (v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
    const t = Date.parse(v);
    if (!Number.isNaN(t)) return t;
  }
  return v.toLowerCase();
}

function compare(a: string, b: string): number {
  const x = comparable(a);
  const y = comparable(b);
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  return String(x) < String(y) ? -1 : String(x) > String(y) ? 1 : 0;
}

function matchesAssociated(ids: ReadonlySet<string>, f: Filter): boolean {
  const value = f.value === undefined ? undefined : String(f.value);
  const listed = (f.values ?? []).map(String);
  switch (f.operator) {
    case 'EQ':
      return value !== undefined && ids.has(value);
    case 'NEQ':
      return value === undefined || !ids.has(value);
    case 'IN':
      return listed.some((v) => ids.has(v));
    case 'NOT_IN':
      return !listed.some((v) => ids.has(v));
    case 'HAS_PROPERTY':
      return ids.size > 0;
    case 'NOT_HAS_PROPERTY':
      return ids.size === 0;
    case 'LT':
    case 'LTE':
    case 'GT':
    case 'GTE':
    case 'BETWEEN':
    case 'CONTAINS_TOKEN':
    case 'NOT_CONTAINS_TOKEN':
      // checkSearchLimits refuses these before any search runs.
      throw validation(`Operator ${f.operator} is not supported for ${f.propertyName}`);
  }
}

const NONE: ReadonlySet<string> = new Set();

function matches(obj: CrmObject, f: Filter, associated: AssociatedIds): boolean {
  const target = associationTarget(f);
  if (target !== undefined) return matchesAssociated(associated(target).get(obj.id) ?? NONE, f);
  const actual = obj.properties[f.propertyName];
  const has = actual !== undefined && actual !== '';
  const value = f.value === undefined ? undefined : String(f.value);
  switch (f.operator) {
    case 'HAS_PROPERTY':
      return has;
    case 'NOT_HAS_PROPERTY':
      return !has;
    case 'EQ':
      return has && value !== undefined && compare(actual, value) === 0;
    case 'NEQ':
      return !has || value === undefined || compare(actual, value) !== 0;
    case 'LT':
      return has && value !== undefined && compare(actual, value) < 0;
    case 'LTE':
      return has && value !== undefined && compare(actual, value) <= 0;
    case 'GT':
      return has && value !== undefined && compare(actual, value) > 0;
    case 'GTE':
      return has && value !== undefined && compare(actual, value) >= 0;
    case 'BETWEEN':
      return (
        has &&
        value !== undefined &&
        f.highValue !== undefined &&
        compare(actual, value) >= 0 &&
        compare(actual, String(f.highValue)) <= 0
      );
    case 'IN':
      return has && (f.values ?? []).some((v) => compare(actual, String(v)) === 0);
    case 'NOT_IN':
      return !has || !(f.values ?? []).some((v) => compare(actual, String(v)) === 0);
    case 'CONTAINS_TOKEN':
      return has && value !== undefined && tokenMatch(actual, value);
    case 'NOT_CONTAINS_TOKEN':
      return !has || value === undefined || !tokenMatch(actual, value);
  }
}

/** Token match with `*` wildcards, as HubSpot's CONTAINS_TOKEN. */
function tokenMatch(actual: string, token: string): boolean {
  const pattern = token
    .toLowerCase()
    .split('*')
    .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const re = new RegExp(`^${pattern}$`);
  return actual
    .toLowerCase()
    .split(/[\s@.,;]+/)
    .concat(actual.toLowerCase())
    .some((t) => re.test(t));
}

const QUERY_PROPS = ['firstname', 'lastname', 'email', 'name', 'domain', 'phone', 'company'];

/** `associated` resolves `associations.{type}` filters; each target type is asked once per search. */
export function runSearch(
  all: Iterable<CrmObject>,
  req: SearchRequest,
  associated: AssociatedIds = () => new Map(),
): { total: number; page: CrmObject[]; next?: string } {
  const cache = new Map<ObjectType, ReadonlyMap<string, ReadonlySet<string>>>();
  const once: AssociatedIds = (toType) => {
    let ids = cache.get(toType);
    if (ids === undefined) {
      ids = associated(toType);
      cache.set(toType, ids);
    }
    return ids;
  };
  let hits = [...all].filter((o) => !o.archived);
  if (req.filterGroups.length > 0) {
    hits = hits.filter((o) => req.filterGroups.some((g) => g.filters.every((f) => matches(o, f, once))));
  }
  if (req.query !== undefined && req.query !== '') {
    const q = req.query.toLowerCase();
    hits = hits.filter((o) => QUERY_PROPS.some((p) => o.properties[p]?.toLowerCase().includes(q)));
  }
  const sorts = req.sorts.map((s) =>
    typeof s === 'string'
      ? { prop: s.replace(/^-/, ''), desc: s.startsWith('-') }
      : { prop: s.propertyName, desc: s.direction === 'DESCENDING' },
  );
  // HubSpot's default order is by id ascending; keep it as the final tie-break so paging is stable.
  hits.sort((a, b) => {
    for (const s of sorts) {
      const c = compare(a.properties[s.prop] ?? '', b.properties[s.prop] ?? '');
      if (c !== 0) return s.desc ? -c : c;
    }
    return Number(a.id) - Number(b.id);
  });
  const offset = offsetOf(req);
  const page = hits.slice(offset, offset + req.limit);
  const end = offset + page.length;
  return end < hits.length && end < SEARCH_MAX_RESULTS
    ? { total: hits.length, page, next: String(end) }
    : { total: hits.length, page };
}
