// Evaluates a route's conditions against a lead and records, for the trace, what was compared.
import { fieldValue } from './normalize.js';
import { matchesTerritory } from './territories.js';
import { isWithinHours } from './availability.js';
import type {
  AccountMatch,
  Condition,
  ConditionTrace,
  FieldValue,
  LeadValue,
  Lead,
  Pool,
  Team,
  Territory,
} from './types.js';

/** Everything a condition may look at, computed once per decision. */
export interface ConditionEnv {
  lead: Lead;
  now: number;
  territories: Record<string, Territory>;
  pools: Record<string, Pool>;
  team: Team;
  account: AccountMatch | null;
  isFreeMail: (domain: string) => boolean;
}

const textCache = new WeakMap<Condition, string>();

function show(value: FieldValue): string {
  return value === null ? 'null' : String(value);
}

/** The readable form of a condition, as it appears in traces: `country in [DE, AT, CH]`. */
export function describeCondition(c: Condition): string {
  const cached = textCache.get(c);
  if (cached !== undefined) return cached;
  const text = describeUncached(c);
  textCache.set(c, text);
  return text;
}

const SYMBOL = { eq: '=', neq: '≠', gt: '>', gte: '≥', lt: '<', lte: '≤' } as const;

function describeUncached(c: Condition): string {
  switch (c.kind) {
    case 'always':
      return 'always';
    case 'all':
      return c.of
        .map((x) => (x.kind === 'any' ? `(${describeCondition(x)})` : describeCondition(x)))
        .join(' and ');
    case 'any':
      return c.of
        .map((x) => (x.kind === 'all' ? `(${describeCondition(x)})` : describeCondition(x)))
        .join(' or ');
    case 'not':
      return `not (${describeCondition(c.of)})`;
    case 'territory':
      return `territory ${c.name}`;
    case 'account_matched':
      return c.value ? 'account matched' : 'no account matched';
    case 'account_owner_active':
      return c.value ? 'account owner active' : 'account owner inactive';
    case 'free_mail':
      return c.value ? 'email is free mail' : 'email is not free mail';
    case 'within_hours':
      return c.pool !== undefined
        ? `within working hours of pool ${c.pool}`
        : `within working hours of rep ${c.rep ?? '?'}`;
    case 'compare': {
      const cs = 'caseSensitive' in c && c.caseSensitive ? ' (case-sensitive)' : '';
      switch (c.op) {
        case 'exists':
          return `${c.field} is present`;
        case 'missing':
          return `${c.field} is missing`;
        case 'eq':
        case 'neq':
          return `${c.field} ${SYMBOL[c.op]} ${show(c.value)}${cs}`;
        case 'contains':
          return `${c.field} contains "${show(c.value)}"${cs}`;
        case 'starts_with':
          return `${c.field} starts with "${show(c.value)}"${cs}`;
        case 'ends_with':
          return `${c.field} ends with "${show(c.value)}"${cs}`;
        case 'in':
          return `${c.field} in [${c.values.map(show).join(', ')}]${cs}`;
        case 'not_in':
          return `${c.field} not in [${c.values.map(show).join(', ')}]${cs}`;
        case 'gt':
        case 'gte':
        case 'lt':
        case 'lte':
          return `${c.field} ${SYMBOL[c.op]} ${c.value}`;
        case 'between':
          return `${c.field} between ${c.min} and ${c.max}`;
        case 'regex':
          return `${c.field} matches /${c.pattern.source}/`;
        default:
          return exhaustive(c);
      }
    }
    default:
      return exhaustive(c);
  }
}

function exhaustive(value: never): never {
  throw new Error(`unhandled condition ${JSON.stringify(value)}`);
}

/** A value that counts as missing: absent, null, the empty string, or a multi-value field with none. */
export function isBlank(v: LeadValue | undefined): boolean {
  return v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);
}

/** A number, from a number or numeric text; a multi-value field is never one. */
function asNumber(v: LeadValue | undefined): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v.replace(/,/g, ''));
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** Compares one lead value with one rule value; strings fold case unless asked not to. */
function same(actual: FieldValue | undefined, expected: FieldValue, caseSensitive: boolean): boolean {
  if (isBlank(actual)) return expected === null || expected === '';
  if (expected === null) return false;
  if (typeof expected === 'number') return asNumber(actual) === expected;
  if (typeof expected === 'boolean') {
    if (typeof actual === 'boolean') return actual === expected;
    const s = String(actual).toLowerCase();
    return expected ? s === 'true' || s === 'yes' || s === '1' : s === 'false' || s === 'no' || s === '0';
  }
  const a = String(actual);
  return caseSensitive ? a === expected : a.toLowerCase() === expected.toLowerCase();
}

/**
 * The values a comparison looks at: each value of a multi-value field (its connector gave an array)
 * counts on its own; a string is one value whatever it contains.
 */
function parts(actual: LeadValue | undefined): readonly (FieldValue | undefined)[] {
  return isMulti(actual) ? actual : [actual];
}

function isMulti(v: LeadValue | undefined): v is readonly string[] {
  return Array.isArray(v);
}

function textOp(
  actual: LeadValue | undefined,
  expected: FieldValue,
  caseSensitive: boolean,
  op: 'contains' | 'starts_with' | 'ends_with',
): boolean {
  if (isBlank(actual) || expected === null) return false;
  if (isMulti(actual)) return actual.some((part) => textOp(part, expected, caseSensitive, op));
  const a = caseSensitive ? String(actual) : String(actual).toLowerCase();
  const e = caseSensitive ? String(expected) : String(expected).toLowerCase();
  switch (op) {
    case 'contains':
      return a.includes(e);
    case 'starts_with':
      return a.startsWith(e);
    case 'ends_with':
      return a.endsWith(e);
    default:
      return exhaustive(op);
  }
}

export type Leaf = Exclude<Condition, { kind: 'all' | 'any' | 'not' }>;

/** Whether a single (non-nesting) condition holds; allocation-free, since it runs for every route. */
export function leafHolds(c: Leaf, env: ConditionEnv): boolean {
  switch (c.kind) {
    case 'always':
      return true;
    case 'territory': {
      const territory = env.territories[c.name];
      return territory !== undefined && matchesTerritory(territory, env.lead);
    }
    case 'account_matched':
      return (env.account !== null) === c.value;
    case 'account_owner_active': {
      const owner = env.account?.account.owner;
      const active = owner !== undefined && env.team.reps[owner]?.active === true;
      return env.account !== null && active === c.value;
    }
    case 'free_mail': {
      const domain = env.lead.emailDomain;
      return domain !== undefined && env.isFreeMail(domain) === c.value;
    }
    case 'within_hours': {
      const emails =
        c.pool !== undefined ? (env.pools[c.pool]?.members ?? []) : c.rep !== undefined ? [c.rep] : [];
      return emails.some((email) => {
        const rep = env.team.reps[email];
        return rep !== undefined && rep.active && isWithinHours(rep, env.now);
      });
    }
    case 'compare':
      return compareHolds(c, fieldValue(env.lead, c.field));
    default:
      return exhaustive(c);
  }
}

/** The lead values a single condition looks at, for the trace. */
function leafValues(c: Leaf, env: ConditionEnv): Record<string, LeadValue | undefined> | undefined {
  const { lead } = env;
  switch (c.kind) {
    case 'always':
    case 'within_hours':
      return undefined;
    case 'territory': {
      const values: Record<string, LeadValue | undefined> = { country: lead.country };
      if (lead.state !== undefined) values.state = lead.state;
      if (lead.postalCode !== undefined) values.postalCode = lead.postalCode;
      if (lead.city !== undefined) values.city = lead.city;
      return values;
    }
    case 'account_matched':
      return { account: env.account?.account.name ?? null };
    case 'account_owner_active': {
      // Why the owner counts as active or not: an owner outside the team is never routed to.
      const owner = env.account?.account.owner;
      if (owner === undefined) return { accountOwner: null };
      const rep = env.team.reps[owner];
      return {
        accountOwner: owner,
        ownerIs: rep === undefined ? 'not a rep of the team' : rep.active ? 'active' : 'inactive',
      };
    }
    case 'free_mail':
      return { emailDomain: lead.emailDomain };
    case 'compare':
      return { [c.field]: fieldValue(lead, c.field) };
    default:
      return exhaustive(c);
  }
}

export function leafTrace(c: Leaf, env: ConditionEnv, result: boolean): ConditionTrace {
  const values = leafValues(c, env);
  return values === undefined
    ? { text: describeCondition(c), result }
    : { text: describeCondition(c), result, values };
}

/** Whether `c` holds, without building a trace. */
export function conditionHolds(c: Condition, env: ConditionEnv): boolean {
  if (c.kind === 'all') return c.of.every((child) => conditionHolds(child, env));
  if (c.kind === 'any') return c.of.some((child) => conditionHolds(child, env));
  if (c.kind === 'not') return !conditionHolds(c.of, env);
  return leafHolds(c, env);
}

/** Evaluates `c` with the whole tree traced; `all`/`any` stop at the first decisive child. */
export function evaluateCondition(c: Condition, env: ConditionEnv): ConditionTrace {
  if (c.kind === 'all' || c.kind === 'any') {
    const decisive = c.kind === 'any';
    const children: ConditionTrace[] = [];
    for (const child of c.of) {
      const t = evaluateCondition(child, env);
      children.push(t);
      if (t.result === decisive) return { text: describeCondition(c), result: decisive, children };
    }
    return { text: describeCondition(c), result: !decisive, children };
  }
  if (c.kind === 'not') {
    const t = evaluateCondition(c.of, env);
    return { text: describeCondition(c), result: !t.result, children: [t] };
  }
  return leafTrace(c, env, leafHolds(c, env));
}

/**
 * Why `c` fails, as small as it can be said: the first failing part of an `all`, every part of a failed
 * `any`. Null when `c` holds. Routes that do not match are traced this way, which keeps a decision that
 * tries a hundred routes cheap and its explanation readable.
 */
export function explainFailure(c: Condition, env: ConditionEnv): ConditionTrace | null {
  if (c.kind === 'all') {
    for (const child of c.of) {
      const failure = explainFailure(child, env);
      if (failure !== null) return failure;
    }
    return null;
  }
  if (c.kind === 'any') {
    const children: ConditionTrace[] = [];
    for (const child of c.of) {
      const failure = explainFailure(child, env);
      if (failure === null) return null;
      children.push(failure);
    }
    return { text: describeCondition(c), result: false, children };
  }
  if (c.kind === 'not') return conditionHolds(c.of, env) ? evaluateCondition(c, env) : null;
  return leafHolds(c, env) ? null : leafTrace(c, env, false);
}

export function compareHolds(
  c: Extract<Condition, { kind: 'compare' }>,
  actual: LeadValue | undefined,
): boolean {
  switch (c.op) {
    case 'exists':
      return !isBlank(actual);
    case 'missing':
      return isBlank(actual);
    case 'eq':
      return parts(actual).some((a) => same(a, c.value, c.caseSensitive));
    case 'neq':
      return !isBlank(actual) && !parts(actual).some((a) => same(a, c.value, c.caseSensitive));
    case 'in':
      return parts(actual).some((a) => c.values.some((v) => same(a, v, c.caseSensitive)));
    case 'not_in':
      return (
        !isBlank(actual) && !parts(actual).some((a) => c.values.some((v) => same(a, v, c.caseSensitive)))
      );
    case 'contains':
    case 'starts_with':
    case 'ends_with':
      return textOp(actual, c.value, c.caseSensitive, c.op);
    case 'regex':
      return !isBlank(actual) && parts(actual).some((a) => c.pattern.test(String(a)));
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const n = asNumber(actual);
      if (n === undefined) return false;
      return c.op === 'gt'
        ? n > c.value
        : c.op === 'gte'
          ? n >= c.value
          : c.op === 'lt'
            ? n < c.value
            : n <= c.value;
    }
    case 'between': {
      const n = asNumber(actual);
      return n !== undefined && n >= c.min && n <= c.max;
    }
    default:
      return exhaustive(c);
  }
}
