// Turns messy CRM values into the normalized Lead the rules read: ISO countries and region codes,
// registrable domains, free-mail detection, company-name tokens, lenient numbers, booleans and dates.
// All lookups are built lazily once and cached in Maps: these run while a lead is built, not per rule.
import countries from 'i18n-iso-countries';
import de from 'i18n-iso-countries/langs/de.json' with { type: 'json' };
import en from 'i18n-iso-countries/langs/en.json' with { type: 'json' };
import es from 'i18n-iso-countries/langs/es.json' with { type: 'json' };
import fr from 'i18n-iso-countries/langs/fr.json' with { type: 'json' };
import it from 'i18n-iso-countries/langs/it.json' with { type: 'json' };
import nl from 'i18n-iso-countries/langs/nl.json' with { type: 'json' };
import pt from 'i18n-iso-countries/langs/pt.json' with { type: 'json' };
import freeMailList from 'email-providers/all.json' with { type: 'json' };
import iso3166 from 'iso-3166-2';
import { getDomain, parse as parseDomain } from 'tldts';

import { COMPANY_STOP_TOKENS, COUNTRY_ALIASES, LEAD_FIELD_ALIASES } from './normalize-tables.js';
import { LEAD_FIELDS } from './types.js';
import type { Lead, LeadField, LeadValue } from './types.js';

export { LEAD_FIELD_ALIASES } from './normalize-tables.js';

// ---------------------------------------------------------------------------------------------------
// Small helpers

/** A Map that forgets everything when it grows past `max`: bounded memory for caches fed by input. */
class BoundedCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}
  get(key: K): V | undefined {
    return this.map.get(key);
  }
  has(key: K): boolean {
    return this.map.has(key);
  }
  set(key: K, value: V): V {
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(key, value);
    return value;
  }
}

const NON_PRINTABLE_ASCII = /[^ -~]/;
const COMBINING_MARKS = /[\u0300-\u036f]/g;
const LIGATURES: Readonly<Record<string, string>> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  ł: 'l',
  đ: 'd',
  ð: 'd',
  þ: 'th',
  ı: 'i',
};
const LIGATURE_RE = /[ßæœøłđðþı]/g;

/** Lower case with diacritics folded ("Österreich" → "osterreich", "Straße" → "strasse"). */
export function foldText(s: string): string {
  const lower = s.toLowerCase();
  if (!NON_PRINTABLE_ASCII.test(lower)) return lower;
  return lower
    .normalize('NFKD')
    .replace(COMBINING_MARKS, '')
    .replace(LIGATURE_RE, (c) => LIGATURES[c] ?? c);
}

/** The key used to compare place names: folded, dots and apostrophes dropped, other punctuation a space. */
function placeKey(s: string): string {
  return foldText(s)
    .replace(/[.'’`]/g, '')
    .replace(/&/g, ' and ')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

// ---------------------------------------------------------------------------------------------------
// Countries

/** Locales whose country names are accepted. English first: on a clash the first locale wins. */
const COUNTRY_LOCALES = [en, de, fr, es, it, nl, pt];

interface CountryTables {
  alpha2: Set<string>;
  alpha3: Map<string, string>;
  names: Map<string, string>;
}
let countryTables: CountryTables | undefined;

function getCountryTables(): CountryTables {
  if (countryTables) return countryTables;
  for (const locale of COUNTRY_LOCALES) countries.registerLocale(locale);
  const alpha2 = new Set(Object.keys(countries.getAlpha2Codes()));
  const alpha3 = new Map(Object.entries(countries.getAlpha3Codes()));
  const names = new Map<string, string>();
  for (const locale of COUNTRY_LOCALES) {
    const all = countries.getNames(locale.locale, { select: 'all' });
    for (const [code, list] of Object.entries(all)) {
      for (const name of list) {
        const key = placeKey(name);
        if (key && !names.has(key)) names.set(key, code);
      }
    }
  }
  for (const [alias, code] of Object.entries(COUNTRY_ALIASES)) {
    if (!names.has(alias)) names.set(alias, code);
  }
  countryTables = { alpha2, alpha3, names };
  return countryTables;
}

const countryCache = new BoundedCache<string, string | null>(10_000);

/**
 * ISO 3166-1 alpha-2 for a code (alpha-2, alpha-3), a country name in en/de/fr/es/it/nl/pt, or a
 * common alias ("USA", "U.S.", "UK", "Great Britain", "Holland", "Deutschland"). Undefined when unknown.
 */
export function normalizeCountry(raw: string): string | undefined {
  const cached = countryCache.get(raw);
  if (cached !== undefined) return cached ?? undefined;
  return countryCache.set(raw, lookupCountry(raw) ?? null) ?? undefined;
}

function lookupCountry(raw: string): string | undefined {
  const key = placeKey(raw);
  if (!key) return undefined;
  const t = getCountryTables();
  const upper = key.toUpperCase();
  if (upper.length === 2 && t.alpha2.has(upper)) return upper;
  if (upper.length === 3) {
    const a2 = t.alpha3.get(upper);
    if (a2) return a2;
  }
  const byName = t.names.get(key);
  if (byName) return byName;
  if (key.startsWith('the ')) return t.names.get(key.slice(4));
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// Regions (states, provinces)

const regionTables = new Map<string, Map<string, string>>();

function getRegionTable(country: string): Map<string, string> | undefined {
  const cached = regionTables.get(country);
  if (cached) return cached;
  const data = iso3166.data[country];
  if (!data) return undefined;
  const table = new Map<string, string>();
  // Codes first so that a name can never shadow a code ("CA" stays California's code in the US).
  for (const code of Object.keys(data.sub)) {
    const region = code.slice(code.indexOf('-') + 1);
    table.set(placeKey(region), region);
    table.set(placeKey(code), region);
  }
  for (const [code, sub] of Object.entries(data.sub)) {
    const key = placeKey(sub.name);
    if (key && !table.has(key)) table.set(key, code.slice(code.indexOf('-') + 1));
  }
  regionTables.set(country, table);
  return table;
}

/** Countries tried, in order, for a region when the lead has no (known) country. */
const REGION_GUESS_COUNTRIES = ['US', 'CA', 'AU'];
const regionCache = new BoundedCache<string, string>(10_000);

/**
 * The region code without the country prefix ("California" → "CA", "ca" → "CA", "New South Wales" →
 * "NSW", "Ontario" → "ON", "Bayern" → "BY") for any country iso-3166-2 knows. Without a country, US, CA
 * and AU are tried in that order (not when the country is given but unknown). Unknown values come back
 * trimmed as given.
 */
export function normalizeRegion(country: string | undefined, raw: string): string {
  const cacheKey = `${country ?? ''}\u0000${raw}`;
  const cached = regionCache.get(cacheKey);
  if (cached !== undefined) return cached;
  return regionCache.set(cacheKey, lookupRegion(country, raw));
}

function lookupRegion(country: string | undefined, raw: string): string {
  const trimmed = raw.trim();
  const key = placeKey(trimmed);
  if (!key) return trimmed;
  const given = country !== undefined && country.trim() !== '';
  const cc = given ? normalizeCountry(country) : undefined;
  // Guess only when no country was given; an unrecognised one is not evidence for the US.
  const tried = cc ? [cc] : given ? [] : REGION_GUESS_COUNTRIES;
  for (const c of tried) {
    const hit = getRegionTable(c)?.get(key);
    if (hit) return hit;
  }
  return trimmed;
}

// ---------------------------------------------------------------------------------------------------
// Domains and free mail

// Private suffixes count too: "acme.myshopify.com" is Acme's own site, not Shopify's.
const DOMAIN_OPTIONS = { allowPrivateDomains: true } as const;
const domainCache = new BoundedCache<string, string | null>(50_000);

/**
 * The registrable domain (public suffix list, private suffixes included) of a host, URL or email,
 * lower case: "https://www.Shop.Acme.co.uk/x" → "acme.co.uk", "ada@eu.acme.com" → "acme.com".
 * Undefined for IPs, bare suffixes ("co.uk") and single labels ("localhost").
 */
export function registrableDomain(hostOrUrlOrEmail: string): string | undefined {
  const cached = domainCache.get(hostOrUrlOrEmail);
  if (cached !== undefined) return cached ?? undefined;
  return domainCache.set(hostOrUrlOrEmail, computeRegistrableDomain(hostOrUrlOrEmail) ?? null) ?? undefined;
}

/** Uncached variant for bulk work (building an account index) that would only churn the cache. */
export function computeRegistrableDomain(input: string): string | undefined {
  let s = input.trim();
  const at = s.lastIndexOf('@');
  if (at >= 0) s = s.slice(at + 1).replace(/[>\s].*$/, '');
  if (!s) return undefined;
  return getDomain(s, DOMAIN_OPTIONS)?.toLowerCase() ?? undefined;
}

/** Consumer mail brands whose every country domain is free mail (yahoo.com.ar, gmx.at …). */
const FREE_MAIL_BRANDS = new Set([
  'gmail',
  'googlemail',
  'yahoo',
  'ymail',
  'hotmail',
  'outlook',
  'gmx',
  'aol',
  'yandex',
  'protonmail',
]);
let freeMailSet: Set<string> | undefined;
const freeMailCache = new BoundedCache<string, boolean>(50_000);

/** True for consumer and disposable mail domains (email-providers' list plus the brands above). */
export function isFreeMailDomain(domain: string): boolean {
  // A decision asks about the same domain twice (account match, then the free_mail condition).
  if (domain === lastFreeMail.domain) return lastFreeMail.result;
  const result = freeMailCache.get(domain) ?? freeMailCache.set(domain, computeFreeMail(domain));
  lastFreeMail.domain = domain;
  lastFreeMail.result = result;
  return result;
}

const lastFreeMail: { domain: string | undefined; result: boolean } = { domain: undefined, result: false };

function computeFreeMail(domain: string): boolean {
  freeMailSet ??= new Set(freeMailList);
  const d = domain.trim().toLowerCase().replace(/\.$/, '');
  if (!d) return false;
  if (freeMailSet.has(d)) return true;
  const reg = registrableDomain(d);
  if (reg === undefined) return false;
  if (freeMailSet.has(reg)) return true;
  const label = parseDomain(reg, DOMAIN_OPTIONS).domainWithoutSuffix;
  return label !== null && FREE_MAIL_BRANDS.has(label);
}

// ---------------------------------------------------------------------------------------------------
// Company names

/**
 * Tokens for matching company names: folded to lower case without diacritics, dots and apostrophes
 * dropped ("S.A." → "sa"), other punctuation splits, legal forms and fillers (Inc, GmbH, Ltd, Co, the,
 * and …) removed, duplicates removed, order kept. A name made only of such tokens ("The Company")
 * keeps them all rather than vanishing.
 */
export function normalizeCompanyName(name: string): string[] {
  const folded = foldText(name).replace(/[.'’`]/g, '');
  const parts = NON_PRINTABLE_ASCII.test(folded)
    ? folded.split(/[^\p{L}\p{N}]+/u)
    : folded.split(/[^a-z0-9]+/);
  const all: string[] = [];
  const kept: string[] = [];
  for (const p of parts) {
    if (!p || all.includes(p)) continue;
    all.push(p);
    if (!COMPANY_STOP_TOKENS.has(p)) kept.push(p);
  }
  return kept.length > 0 ? kept : all;
}

// ---------------------------------------------------------------------------------------------------
// Lenient scalar parsing

const NUMBER_SUFFIX: Readonly<Record<string, number>> = {
  k: 1e3,
  m: 1e6,
  mm: 1e6,
  mn: 1e6,
  b: 1e9,
  bn: 1e9,
};

/**
 * A number from CRM-ish input, or undefined:
 * - numbers pass through when finite;
 * - currency signs, spaces and a trailing `+` are ignored ("$1,200", "10,001+" → 1200, 10001);
 * - grouping: with both `,` and `.`, the last one is the decimal mark ("1.234,5" → 1234.5); a single
 *   kind that repeats or is followed by exactly three digits groups thousands ("1,200" and "1.200" →
 *   1200); otherwise it is the decimal mark ("1,5" → 1.5);
 * - suffixes k, m/mm/mn, b/bn multiply ("1.2k" → 1200, "5M" → 5000000);
 * - a range "51-200" gives its lower bound (company-size bands): 51.
 */
export function parseLenientNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  let s = value
    .trim()
    .toLowerCase()
    .replace(/[\s$€£¥_]/g, '')
    .replace(/(usd|eur|gbp|chf)$/, '');
  if (!s) return undefined;
  const range = /^([^-]+)-(.+)$/.exec(s);
  if (range?.[1]) s = range[1];
  s = s.replace(/\+$/, '');
  // One greedy run and a digit check: `[\d.,]*\d[\d.,]*` backtracks quadratically on a long run of
  // digits that ends in a letter, and these values come from anyone who can fill in a form.
  const m = /^(-?[\d.,]+)(k|mm|mn|m|bn|b)?$/.exec(s);
  if (!m?.[1] || !/\d/.test(m[1])) return undefined;
  const n = parseGroupedNumber(m[1]);
  if (n === undefined) return undefined;
  return m[2] ? n * (NUMBER_SUFFIX[m[2]] ?? 1) : n;
}

function parseGroupedNumber(s: string): number | undefined {
  const lastComma = s.lastIndexOf(',');
  const lastDot = s.lastIndexOf('.');
  let normalized: string;
  if (lastComma >= 0 && lastDot >= 0) {
    const decimal = lastComma > lastDot ? ',' : '.';
    const group = decimal === ',' ? '.' : ',';
    normalized = s.split(group).join('').replace(decimal, '.');
  } else if (lastComma >= 0 || lastDot >= 0) {
    const sep = lastComma >= 0 ? ',' : '.';
    const pieces = s.split(sep);
    const grouped =
      pieces.length > 2 ||
      (pieces.length === 2 && pieces[1]?.length === 3 && (pieces[0] ?? '').replace('-', '') !== '0');
    if (grouped) {
      if (!pieces.slice(1).every((p) => p.length === 3)) return undefined;
      normalized = pieces.join('');
    } else {
      normalized = pieces.join('.');
    }
  } else {
    normalized = s;
  }
  if (!/^-?(\d+(\.\d*)?|\.\d+)$/.test(normalized)) return undefined;
  const n = Number(normalized);
  return Number.isFinite(n) ? n : undefined;
}

const TRUE_WORDS = new Set(['true', 'yes', 'y', '1', 'on', 'checked', 'ja', 'x']);
const FALSE_WORDS = new Set(['false', 'no', 'n', '0', 'off', 'unchecked', 'nein']);

/** yes/no, true/false, 1/0, y/n, on/off, checked/unchecked, ja/nein; undefined for anything else. */
export function parseLenientBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value === 1 ? true : value === 0 ? false : undefined;
  if (typeof value !== 'string') return undefined;
  const s = value.trim().toLowerCase();
  if (TRUE_WORDS.has(s)) return true;
  if (FALSE_WORDS.has(s)) return false;
  return undefined;
}

/** Below this an epoch number is taken as seconds (1e11 s is the year 5138; 1e11 ms is 1973). */
const EPOCH_SECONDS_LIMIT = 1e11;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Epoch milliseconds from epoch seconds or milliseconds (number or digit string) or an ISO 8601
 * date/time. A date-time without an offset is read as UTC so the result never depends on the machine.
 */
export function parseTimestamp(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? value.getTime() : undefined;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    return Math.abs(value) < EPOCH_SECONDS_LIMIT ? value * 1000 : value;
  }
  if (typeof value !== 'string') return undefined;
  const s = value.trim();
  if (/^-?\d+(\.\d+)?$/.test(s)) return parseTimestamp(Number(s));
  const m = ISO_DATE.exec(s);
  if (!m) return undefined;
  const withZone = m[1] && !m[4] ? `${s.replace(' ', 'T')}Z` : s.replace(' ', 'T');
  const t = Date.parse(withZone);
  return Number.isFinite(t) ? t : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Building a lead

/**
 * Overrides for the column → field mapping, by exact raw column name. A LeadField maps the column onto
 * that field; null keeps it as a custom field even when its name looks like an alias ("Region").
 */
export type FieldMap = Readonly<Record<string, LeadField | null>>;

const LEAD_FIELD_SET: ReadonlySet<string> = new Set(LEAD_FIELDS);
/** Folded LEAD_FIELDS names: "annual_revenue", "postalcode", "EMAIL_DOMAIN" resolve directly. */
const FOLDED_LEAD_FIELDS: ReadonlyMap<string, LeadField> = new Map(LEAD_FIELDS.map((f) => [foldKey(f), f]));

/** Column names fold to lower-case letters and digits: "First Name", "first_name", "firstName" → "firstname". */
function foldKey(name: string): string {
  return foldText(name).replace(/[^a-z0-9]/g, '');
}

const columnCache = new BoundedCache<string, LeadField | null>(10_000);

/** The normalized field a raw column feeds by the alias table, or undefined for a custom field. */
export function leadFieldForColumn(column: string): LeadField | undefined {
  let hit = columnCache.get(column);
  if (hit === undefined) {
    const folded = foldKey(column);
    hit = columnCache.set(column, FOLDED_LEAD_FIELDS.get(folded) ?? LEAD_FIELD_ALIASES[folded] ?? null);
  }
  return hit ?? undefined;
}

/**
 * A raw value as a lead value: scalars as they are, a list of strings (a multi-value field, as its
 * connector gives it) as that list, dates as ISO strings, other objects as JSON text.
 */
export function toFieldValue(value: unknown): LeadValue | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'object':
      if (value === null) return null;
      if (Array.isArray(value) && value.every((v) => typeof v === 'string'))
        return value.map((v: string) => v.trim()).filter((v) => v !== '');
      if (value instanceof Date) return Number.isFinite(value.getTime()) ? value.toISOString() : null;
      return JSON.stringify(value);
  }
}

function asText(value: unknown): string | undefined {
  if (typeof value === 'string') {
    const t = value.trim();
    return t === '' ? undefined : t;
  }
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return value.toString();
  return undefined;
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

/**
 * Builds the normalized Lead from a flat record with friendly or CRM-ish keys.
 *
 * - Keys are matched by `fieldMap` (exact raw name) first, then by the alias table
 *   (LEAD_FIELD_ALIASES, on the folded key: case, `_`, `-` and spaces ignored).
 * - Keys that map to nothing are custom fields: they go into `fields` under their raw name, verbatim
 *   (see toFieldValue). There is no "unknown column" error by design.
 * - When two columns feed one field, the first non-blank wins; the other stays in `fields`.
 * - A value that cannot be parsed (employees "lots", website "n/a") leaves the normalized field unset
 *   and is kept in `fields` under its raw name, so nothing is lost silently.
 * - Numbers are lenient (parseLenientNumber), booleans too (parseLenientBoolean), createdAt takes ISO
 *   or epoch seconds/milliseconds (parseTimestamp). Email is lower-cased; emailDomain and
 *   websiteDomain are registrable domains; country is ISO alpha-2 when recognised (else the trimmed
 *   raw text), state a region code when recognised (else the trimmed raw text).
 * - id falls back to the email, then to "" (callers reading files should pass a row id).
 */
export function toLead(raw: Readonly<Record<string, unknown>>, fieldMap?: FieldMap): Lead {
  const picked = new Map<LeadField, { key: string; value: unknown }>();
  const fields: Record<string, LeadValue> = {};
  for (const key of Object.keys(raw)) {
    const value = raw[key];
    const mapped = fieldMap && Object.hasOwn(fieldMap, key) ? fieldMap[key] : leadFieldForColumn(key);
    if (mapped && !picked.has(mapped) && !isBlank(value)) {
      picked.set(mapped, { key, value });
      continue;
    }
    const fv = toFieldValue(value);
    if (fv !== undefined) fields[key] = fv;
  }

  const keepRaw = (f: LeadField): void => {
    const p = picked.get(f);
    if (!p) return;
    const fv = toFieldValue(p.value);
    if (fv !== undefined) fields[p.key] = fv;
  };
  const text = (f: LeadField): string | undefined => asText(picked.get(f)?.value);
  const num = (f: LeadField): number | undefined => {
    const p = picked.get(f);
    if (!p) return undefined;
    const n = parseLenientNumber(p.value);
    if (n === undefined) keepRaw(f);
    return n;
  };

  const email = text('email')?.toLowerCase();
  let emailDomain = email?.includes('@') ? registrableDomain(email) : undefined;
  if (emailDomain === undefined && picked.has('emailDomain')) {
    const d = text('emailDomain');
    emailDomain = d === undefined ? undefined : registrableDomain(d);
    if (emailDomain === undefined) keepRaw('emailDomain');
  }
  let websiteDomain: string | undefined;
  if (picked.has('websiteDomain')) {
    const w = text('websiteDomain');
    websiteDomain = w === undefined ? undefined : registrableDomain(w);
    if (websiteDomain === undefined) keepRaw('websiteDomain');
  }
  const countryText = text('country');
  const country = countryText === undefined ? undefined : (normalizeCountry(countryText) ?? countryText);
  const stateText = text('state');
  const state = stateText === undefined ? undefined : normalizeRegion(country, stateText);
  let postalCode = text('postalCode')?.toUpperCase();
  // A US ZIP that went through a spreadsheet as a number lost its leading zeros ("02134" → 2134).
  if (postalCode !== undefined && country === 'US' && /^\d{3,4}$/.test(postalCode)) {
    postalCode = postalCode.padStart(5, '0');
  }
  let demoRequested: boolean | undefined;
  if (picked.has('demoRequested')) {
    demoRequested = parseLenientBoolean(picked.get('demoRequested')?.value);
    if (demoRequested === undefined) keepRaw('demoRequested');
  }
  let createdAt: number | undefined;
  if (picked.has('createdAt')) {
    createdAt = parseTimestamp(picked.get('createdAt')?.value);
    if (createdAt === undefined) keepRaw('createdAt');
  }

  // Every key is always present (possibly undefined) so all leads share one object shape.
  return {
    id: text('id') ?? email ?? '',
    email,
    emailDomain,
    firstName: text('firstName'),
    lastName: text('lastName'),
    title: text('title'),
    company: text('company'),
    websiteDomain,
    country,
    state,
    postalCode,
    city: text('city'),
    employees: num('employees'),
    annualRevenue: num('annualRevenue'),
    industry: text('industry'),
    leadSource: text('leadSource'),
    form: text('form'),
    productInterest: text('productInterest'),
    demoRequested,
    score: num('score'),
    owner: text('owner')?.toLowerCase(),
    createdAt,
    fields,
  };
}

// ---------------------------------------------------------------------------------------------------
// Field lookup for rules

const fieldNameCache = new Map<string, { direct: LeadField | undefined; alias: LeadField | undefined }>();

function resolveFieldName(field: string): { direct: LeadField | undefined; alias: LeadField | undefined } {
  let hit = fieldNameCache.get(field);
  if (!hit) {
    const folded = foldKey(field);
    hit = {
      direct: LEAD_FIELD_SET.has(field) ? (field as LeadField) : FOLDED_LEAD_FIELDS.get(folded),
      alias: LEAD_FIELD_ALIASES[folded],
    };
    // Rule field names are few and fixed at load time, so this cache stays small.
    if (fieldNameCache.size < 10_000) fieldNameCache.set(field, hit);
  }
  return hit;
}

/**
 * The normalized field a rule's field name refers to, if any: a LEAD_FIELDS name in any case or
 * snake_case ("annual_revenue", "EMAIL_DOMAIN"), or a column alias ("zip" → postalCode).
 */
export function leadFieldFor(field: string): LeadField | undefined {
  const r = resolveFieldName(field);
  return r.direct ?? r.alias;
}

/**
 * The value a rule's field name refers to. Order: a LEAD_FIELDS name (exact, snake_case or any case);
 * then `lead.fields[name]`; then a column alias ("zip" → postalCode, "website" → websiteDomain); then
 * `lead.fields` case-insensitively. A custom field kept under an alias-looking name (via a FieldMap
 * null) is therefore still reachable by its exact name.
 */
export function fieldValue(lead: Lead, field: string): LeadValue | undefined {
  const r = resolveFieldName(field);
  if (r.direct) return lead[r.direct];
  if (Object.hasOwn(lead.fields, field)) return lead.fields[field];
  if (r.alias) return lead[r.alias];
  const lower = field.toLowerCase();
  for (const key of Object.keys(lead.fields)) {
    if (key.toLowerCase() === lower) return lead.fields[key];
  }
  return undefined;
}
