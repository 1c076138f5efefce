// The `when` grammar: a mapping whose keys are ANDed; `all`/`any` take lists, `not` one condition;
// field keys take a scalar (equals), a list (in) or an operator object. Unknown field names are CRM
// custom fields, so they are accepted (with a warning when they look like a misspelt known key, or when
// the CRM, if known, would give the field no value).
import { RE2JS } from 're2js';
import {
  LEAD_FIELDS,
  type CompareOp,
  type Condition,
  type FieldValue,
  type LeadField,
  type SafePattern,
} from '../core/types.js';
import { leadFieldFor } from '../core/normalize.js';
import { closest } from './diagnostics.js';
import { describeType, isPlainObject, type CrmFacts, type Scope } from './issues.js';

const SPECIAL_KEYS = [
  'all',
  'any',
  'not',
  'territory',
  'account',
  'account_owner',
  'free_mail',
  'within_hours',
];

const OPS = [
  'eq',
  'neq',
  'in',
  'not_in',
  'contains',
  'starts_with',
  'ends_with',
  'regex',
  'gt',
  'gte',
  'lt',
  'lte',
  'between',
  'exists',
  'missing',
] as const satisfies readonly CompareOp[];

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** snake_case (and camelCase) spellings of the lead fields → the core's camelCase name. */
const FIELD_BY_NAME = new Map<string, string>();
for (const f of LEAD_FIELDS) {
  FIELD_BY_NAME.set(f, f);
  FIELD_BY_NAME.set(snake(f), f);
}

/** The field a rule means by `key`: a lead field's camelCase name, or the CRM field name unchanged. */
export function canonicalField(key: string): string {
  return FIELD_BY_NAME.get(key) ?? key;
}

const ALWAYS: Condition = { kind: 'always' };

export function parseCondition(value: unknown, scope: Scope): Condition {
  if (value === null || value === undefined) return ALWAYS;
  if (!isPlainObject(value)) {
    scope.error(
      [],
      `a condition must be a mapping (field: value, all, any, not …), got ${describeType(value)}`,
    );
    return ALWAYS;
  }
  const parts = Object.entries(value).map(([key, v]) => parseKey(key, v, scope.at(key)));
  if (parts.length === 0) return ALWAYS;
  return parts.length === 1 && parts[0] !== undefined ? parts[0] : { kind: 'all', of: parts };
}

function parseKey(key: string, value: unknown, scope: Scope): Condition {
  switch (key) {
    case 'all':
    case 'any': {
      if (!Array.isArray(value) || value.length === 0) {
        scope.error([], `"${key}" takes a non-empty list of conditions, got ${describeType(value)}`);
        return ALWAYS;
      }
      return { kind: key, of: value.map((c, i) => parseCondition(c, scope.at(i))) };
    }
    case 'not':
      if (value === null || value === undefined) {
        scope.error([], `"not" takes a condition`);
        return ALWAYS;
      }
      return { kind: 'not', of: parseCondition(value, scope) };
    case 'territory':
      return parseTerritoryRef(value, scope);
    case 'account':
      return parseWord(value, scope, key, { matched: true, unmatched: false }, (v) => ({
        kind: 'account_matched',
        value: v,
      }));
    case 'account_owner':
      return parseWord(value, scope, key, { active: true, inactive: false }, (v) => ({
        kind: 'account_owner_active',
        value: v,
      }));
    case 'free_mail':
      if (typeof value !== 'boolean') {
        scope.error([], `"free_mail" takes true or false, got ${describeType(value)}`);
        return ALWAYS;
      }
      return { kind: 'free_mail', value };
    case 'email':
      // `email: free_mail` is the free-mail check; any other email condition compares the field.
      if (value === 'free_mail' || value === 'not_free_mail')
        return { kind: 'free_mail', value: value === 'free_mail' };
      return parseField(key, value, scope);
    case 'within_hours':
      return parseWithinHours(value, scope);
    case 'case_sensitive':
      scope.error(
        [],
        `"case_sensitive" goes inside a field's operator object, e.g. { title: { contains: VP, case_sensitive: true } }`,
        {
          atKey: true,
        },
      );
      return ALWAYS;
    default:
      return parseField(key, value, scope);
  }
}

function parseWord(
  value: unknown,
  scope: Scope,
  key: string,
  words: Record<string, boolean>,
  make: (v: boolean) => Condition,
): Condition {
  const options = Object.keys(words);
  if (typeof value === 'boolean') return make(value);
  if (typeof value === 'string' && value in words) return make(words[value] === true);
  scope.error([], `"${key}" must be ${options.join(' or ')}, got ${describeType(value)}`, {
    suggestion: typeof value === 'string' ? closest(value, options) : undefined,
  });
  return ALWAYS;
}

function checkName(name: string, known: ReadonlySet<string> | undefined, what: string, scope: Scope): void {
  if (known !== undefined && !known.has(name))
    scope.error([], `unknown ${what} "${name}"`, { suggestion: closest(name, known) });
}

function parseTerritoryRef(value: unknown, scope: Scope): Condition {
  if (typeof value === 'string') {
    checkName(value, scope.known.territories, 'territory', scope);
    return { kind: 'territory', name: value };
  }
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) {
    value.forEach((v, i) => checkName(v, scope.known.territories, 'territory', scope.at(i)));
    return { kind: 'any', of: value.map((name) => ({ kind: 'territory', name })) };
  }
  scope.error([], `"territory" takes a territory name or a list of names, got ${describeType(value)}`);
  return ALWAYS;
}

function parseWithinHours(value: unknown, scope: Scope): Condition {
  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    const pool = value['pool'];
    const rep = value['rep'];
    if (keys.length === 1 && typeof pool === 'string') {
      checkName(pool, scope.known.pools, 'pool', scope.at('pool'));
      return { kind: 'within_hours', pool };
    }
    if (keys.length === 1 && typeof rep === 'string') {
      const email = rep.toLowerCase();
      checkName(email, scope.known.reps, 'rep', scope.at('rep'));
      return { kind: 'within_hours', rep: email };
    }
    const other = keys.find((k) => k !== 'pool' && k !== 'rep');
    if (other !== undefined && keys.length === 1) {
      scope.error([other], `unknown key "${other}" (allowed: pool, rep)`, {
        suggestion: closest(other, ['pool', 'rep']),
        atKey: true,
      });
      return ALWAYS;
    }
  }
  scope.error([], `"within_hours" takes { pool: name } or { rep: email }, got ${describeType(value)}`);
  return ALWAYS;
}

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

const isLeadField = (field: string): field is LeadField => (LEAD_FIELDS as readonly string[]).includes(field);

/**
 * Whether the CRM gives a lead field a value: the record's id, a standard field of its own, or else a
 * custom field of the snake_case name, which a CRM whose custom fields carry a suffix cannot have.
 */
function reads(crm: CrmFacts, field: LeadField): boolean {
  return (
    field === 'id' || crm.leadFieldProperties[field] !== undefined || crm.customFieldSuffix === undefined
  );
}

/**
 * Whether a name is plainly a CRM's own field, never a misspelt key: one ending in the CRM's custom field
 * suffix; with the CRM unknown, any name with a double underscore, as CRMs mark theirs (Salesforce's
 * `Demo_Requested__c`) and no lead field is spelt.
 */
function isCrmOwnField(key: string, crm: CrmFacts | undefined): boolean {
  if (crm === undefined) return key.includes('__');
  const suffix = crm.customFieldSuffix;
  return suffix !== undefined && key.toLowerCase().endsWith(suffix.toLowerCase());
}

/**
 * Custom CRM fields are allowed, but a field the rules would never see a value of is most likely a
 * mistake, so say so: a lead field the CRM has no field for, or a near miss of a key it reads.
 */
function checkFieldName(
  key: string,
  field: string,
  scope: Scope,
  otherKeys: readonly string[] = SPECIAL_KEYS,
): void {
  const crm = scope.known.crm;
  if (isLeadField(field)) {
    if (crm !== undefined && !reads(crm, field))
      scope.warn(
        [],
        `"${key}" has no ${crm.crmName} field behind it, so it never has a value there: name the ${crm.crmName} field itself` +
          (crm.customFieldSuffix === undefined ? '' : ` (custom fields end in "${crm.customFieldSuffix}")`),
      );
    return;
  }
  const account = crm?.accountFields;
  // The account's own list is the answer where there is one (a relationship path is left to the CRM).
  if (crm !== undefined && account !== undefined && !key.includes('.')) {
    if (!account.names.has(key.toLowerCase()))
      scope.warn(
        [],
        `"${key}" is not a field of this ${crm.crmName} ${crm.accountNoun}'s ${account.objects}, so it never has a value there`,
        // A lead field the CRM has is as near a miss as the account's own names (employes → employees).
        closest(key, [...account.names.values(), ...LEAD_FIELDS.filter((f) => reads(crm, f)).map(snake)]),
        { missingField: key },
      );
    return;
  }
  if (isCrmOwnField(key, crm)) return;
  const readable = crm === undefined ? LEAD_FIELDS : LEAD_FIELDS.filter((f) => reads(crm, f));
  const near = closest(key, [...otherKeys, ...readable.map(snake)]);
  const standard = crm?.standardFieldName;
  if (crm !== undefined && standard !== undefined && !standard.pattern.test(key))
    scope.warn(
      [],
      `"${key}" is no ${crm.crmName} field, so it never has a value there: ${crm.crmName}'s fields are named with ${standard.spelt}` +
        (crm.customFieldSuffix === undefined ? '' : `, custom ones end in "${crm.customFieldSuffix}"`),
      near,
    );
  else if (near !== undefined)
    scope.warn([], `"${key}" is not a known lead field; it is read as a CRM field`, near);
}

/**
 * Checks a field a rule names outside a condition — a hold's field, a task template's placeholder — as
 * a condition's key is checked; such a name is read as the lead reads it (any case: `Company`), and a
 * near miss is suggested among the lead fields and `otherKeys`.
 */
export function checkFieldReference(key: string, scope: Scope, otherKeys: readonly string[] = []): void {
  checkFieldName(key, leadFieldFor(key) ?? key, scope, otherKeys);
}

/** A value as a flow list's item: quoted only where YAML would read it otherwise. */
function flowItem(v: FieldValue): string {
  const s = String(v);
  return /^[\s\-?:!&*|>%@`'"]|[,[\]{}#]|: |\s$/.test(s) || s === '' ? JSON.stringify(s) : s;
}

/**
 * A comparison that never matches a field the CRM account gives as several values, each compared on its
 * own: a value joined by `;` as the CRM stores them (eq, in; neq and not_in then exclude nothing), or a
 * number comparison, which a list never is.
 */
function checkMultiValue(key: string, c: Condition, scope: Scope): Condition {
  const crm = scope.known.crm;
  const account = crm?.accountFields;
  if (c.kind !== 'compare' || crm === undefined || account === undefined) return c;
  if (!account.multiValued.has(key.toLowerCase())) return c;
  const what = `"${key}" is a multi-select in this ${crm.crmName} ${crm.accountNoun}: each of its values is compared on its own`;
  const about = { multiValueField: key };
  switch (c.op) {
    case 'eq':
    case 'neq':
    case 'in':
    case 'not_in': {
      const values: readonly FieldValue[] = 'values' in c ? c.values : [c.value];
      const joined = values.find((v): v is string => typeof v === 'string' && v.includes(';'));
      if (joined === undefined) return c;
      const each = values.flatMap((v): FieldValue[] =>
        typeof v === 'string' ? v.split(';').flatMap((s) => (s.trim() === '' ? [] : [s.trim()])) : [v],
      );
      const excludes = c.op === 'neq' || c.op === 'not_in';
      scope.warn(
        [],
        `${what}, so "${joined}" never matches${excludes ? ' and no lead is left out' : ''}; use ${excludes ? 'not_in' : 'in'}: [${each.map(flowItem).join(', ')}]`,
        undefined,
        about,
      );
      return c;
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
    case 'between':
      scope.warn([], `${what}, never as a number, so "${c.op}" never matches`, undefined, about);
      return c;
    // Each value on its own is what these test.
    case 'contains':
    case 'starts_with':
    case 'ends_with':
    case 'regex':
    case 'exists':
    case 'missing':
      return c;
  }
}

function parseField(key: string, value: unknown, scope: Scope): Condition {
  const field = canonicalField(key);
  checkFieldName(key, field, scope);
  if (value === null || value === undefined) return { kind: 'compare', field, op: 'missing' };
  if (isScalar(value))
    return checkMultiValue(key, { kind: 'compare', field, op: 'eq', value, caseSensitive: false }, scope);
  if (Array.isArray(value)) {
    const values = scalarList(value, scope);
    return values === undefined
      ? ALWAYS
      : checkMultiValue(key, { kind: 'compare', field, op: 'in', values, caseSensitive: false }, scope);
  }
  if (!isPlainObject(value)) {
    scope.error([], `expected a value, a list or an operator mapping, got ${describeType(value)}`);
    return ALWAYS;
  }
  const cs = value['case_sensitive'];
  if (cs !== undefined && typeof cs !== 'boolean')
    scope.error(['case_sensitive'], `expected true or false, got ${describeType(cs)}`);
  const caseSensitive = cs === true;
  const parts: Condition[] = [];
  for (const [op, arg] of Object.entries(value)) {
    if (op === 'case_sensitive') continue;
    const c = parseOp(field, op, arg, caseSensitive, scope.at(op));
    if (c !== undefined) parts.push(checkMultiValue(key, c, scope.at(op)));
  }
  if (Object.keys(value).filter((k) => k !== 'case_sensitive').length === 0) {
    scope.error([], `needs an operator (${OPS.join(', ')})`);
    return ALWAYS;
  }
  if (parts.length === 0) return ALWAYS;
  return parts.length === 1 && parts[0] !== undefined ? parts[0] : { kind: 'all', of: parts };
}

function scalarList(value: unknown[], scope: Scope): FieldValue[] | undefined {
  if (value.length === 0) {
    scope.error([], 'the list is empty, so nothing could ever match');
    return undefined;
  }
  let ok = true;
  value.forEach((v, i) => {
    if (!isScalar(v)) {
      scope.error([i], `expected a text, number or true/false, got ${describeType(v)}`);
      ok = false;
    }
  });
  return ok ? (value as FieldValue[]) : undefined;
}

function num(arg: unknown, scope: Scope, op: string): number | undefined {
  if (typeof arg === 'number' && Number.isFinite(arg)) return arg;
  scope.error([], `"${op}" takes a number, got ${describeType(arg)}`);
  return undefined;
}

export function compilePattern(source: string, caseSensitive: boolean): SafePattern | string {
  try {
    const re = RE2JS.compile(source, caseSensitive ? 0 : RE2JS.CASE_INSENSITIVE);
    return { source, test: (value: string) => re.test(value) };
  } catch (e) {
    // re2js reports syntax errors (and unsupported constructs such as look-behind) by throwing.
    return (e instanceof Error ? e.message : String(e)).replace('`(?i)', '`');
  }
}

function parseOp(
  field: string,
  op: string,
  arg: unknown,
  caseSensitive: boolean,
  scope: Scope,
): Condition | undefined {
  switch (op) {
    case 'eq':
    case 'neq':
      if (!isScalar(arg) && arg !== null) {
        scope.error([], `"${op}" takes a single value, got ${describeType(arg)}`);
        return undefined;
      }
      return { kind: 'compare', field, op, value: arg, caseSensitive };
    case 'contains':
    case 'starts_with':
    case 'ends_with':
      if (typeof arg !== 'string' && typeof arg !== 'number') {
        scope.error([], `"${op}" takes a text, got ${describeType(arg)}`);
        return undefined;
      }
      return { kind: 'compare', field, op, value: String(arg), caseSensitive };
    case 'in':
    case 'not_in': {
      const values = Array.isArray(arg) ? scalarList(arg, scope) : isScalar(arg) ? [arg] : undefined;
      if (values === undefined) {
        if (!Array.isArray(arg)) scope.error([], `"${op}" takes a list of values, got ${describeType(arg)}`);
        return undefined;
      }
      return { kind: 'compare', field, op, values, caseSensitive };
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const value = num(arg, scope, op);
      return value === undefined ? undefined : { kind: 'compare', field, op, value };
    }
    case 'between': {
      const min: unknown = Array.isArray(arg) ? arg[0] : undefined;
      const max: unknown = Array.isArray(arg) ? arg[1] : undefined;
      if (
        !Array.isArray(arg) ||
        arg.length !== 2 ||
        typeof min !== 'number' ||
        typeof max !== 'number' ||
        !Number.isFinite(min) ||
        !Number.isFinite(max)
      ) {
        scope.error([], `"between" takes [min, max] numbers, got ${describeType(arg)}`);
        return undefined;
      }
      if (min > max) {
        scope.error([], `"between" has min ${min} above max ${max}`);
        return undefined;
      }
      return { kind: 'compare', field, op, min, max };
    }
    case 'exists':
    case 'missing':
      if (typeof arg !== 'boolean') {
        scope.error([], `"${op}" takes true or false, got ${describeType(arg)}`);
        return undefined;
      }
      return { kind: 'compare', field, op: arg === (op === 'exists') ? 'exists' : 'missing' };
    case 'regex': {
      if (typeof arg !== 'string') {
        scope.error([], `"regex" takes a pattern text, got ${describeType(arg)}`);
        return undefined;
      }
      const pattern = compilePattern(arg, caseSensitive);
      if (typeof pattern === 'string') {
        scope.error([], `invalid regex: ${pattern}`);
        return undefined;
      }
      return { kind: 'compare', field, op, pattern };
    }
    default:
      scope.error([], `unknown operator "${op}" (allowed: ${OPS.join(', ')}, case_sensitive)`, {
        suggestion: closest(op, OPS),
        atKey: true,
      });
      return undefined;
  }
}
