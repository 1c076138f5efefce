// Evaluates a route's conditions against a lead and records, for the trace, what was compared.
import { fieldValue } from './normalize.js';
import { matchesTerritory } from './territories.js';
import { isWithinHours } from './availability.js';
import type {
  AccountMatch,
  Condition,
  ConditionTrace,
  FieldValue,
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

function show(value: FieldValue | undefined): string {
  if (value === undefined || value === null) return '∅';
  return typeof value === 'string' ? value : String(value);
}

/** The readable form of a condition, as it appears in traces: `country in [DE, AT, CH]`. */
export function describeCondition(c: Condition): string {
  const cached = textCache.get(c);
  if (cached !== undefined) return cached;
  const text = describeUncached(c);
  textCache.set(c, text);
  return text;
}

function describeUncached(c: Condition): string {
  switch (c.kind) {
    case 'always':
      return 'always';
    case 'all':
      return c.of.map(describeCondition).join(' and ');
    case 'any':
      return `(${c.of.map(describeCondition).join(' or ')})`;
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
      return `within working hours of ${c.pool !== undefined ? `pool ${c.pool}` : `rep ${c.rep ?? '?'}`}`;
    case 'compare':
      switch (c.op) {
        case 'exists':
          return `${c.field} is present`;
        case 'missing':
          return `${c.field} is missing`;
        case 'eq':
          return `${c.field} = ${show(c.value)}`;
        case 'neq':
          return `${c.field} ≠ ${show(c.value)}`;
        case 'contains':
          return `${c.field} contains "${show(c.value)}"`;
        case 'starts_with':
          return `${c.field} starts with "${show(c.value)}"`;
        case 'ends_with':
          return `${c.field} ends with "${show(c.value)}"`;
        case 'in':
          return `${c.field} in [${c.values.map(show).join(', ')}]`;
        case 'not_in':
          return `${c.field} not in [${c.values.map(show).join(', ')}]`;
        case 'gt':
          return `${c.field} > ${c.value}`;
        case 'gte':
          return `${c.field} ≥ ${c.value}`;
        case 'lt':
          return `${c.field} < ${c.value}`;
        case 'lte':
          return `${c.field} ≤ ${c.value}`;
        case 'between':
          return `${c.field} between ${c.min} and ${c.max}`;
        case 'regex':
          return `${c.field} matches /${c.pattern.source}/`;
        default:
          return exhaustive(c);
      }
    default:
      return exhaustive(c);
  }
}

function exhaustive(value: never): never {
  throw new Error(`unhandled condition ${JSON.stringify(value)}`);
}

function isBlank(v: FieldValue | undefined): v is null | undefined | '' {
  return v === undefined || v === null || v === '';
}

function asNumber(v: FieldValue | undefined): number | undefined {
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

/** HubSpot multi-select values arrive as `a;b;c`: each part counts as a value of its own. */
function parts(actual: FieldValue | undefined): (FieldValue | undefined)[] {
  return typeof actual === 'string' && actual.includes(';')
    ? actual.split(';').map((s) => s.trim())
    : [actual];
}

function textOp(
  actual: FieldValue | undefined,
  expected: FieldValue,
  caseSensitive: boolean,
  op: 'contains' | 'starts_with' | 'ends_with',
): boolean {
  if (isBlank(actual) || expected === null) return false;
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

function leaf(
  c: Condition,
  result: boolean,
  values?: Record<string, FieldValue | undefined>,
): ConditionTrace {
  return values === undefined
    ? { text: describeCondition(c), result }
    : { text: describeCondition(c), result, values };
}

/** Evaluates `c`, returning the result with the values it looked at; `all`/`any` stop at the first decisive child. */
export function evaluateCondition(c: Condition, env: ConditionEnv): ConditionTrace {
  switch (c.kind) {
    case 'always':
      return leaf(c, true);
    case 'all': {
      const children: ConditionTrace[] = [];
      for (const child of c.of) {
        const t = evaluateCondition(child, env);
        children.push(t);
        if (!t.result) return { text: describeCondition(c), result: false, children };
      }
      return { text: describeCondition(c), result: true, children };
    }
    case 'any': {
      const children: ConditionTrace[] = [];
      for (const child of c.of) {
        const t = evaluateCondition(child, env);
        children.push(t);
        if (t.result) return { text: describeCondition(c), result: true, children };
      }
      return { text: describeCondition(c), result: false, children };
    }
    case 'not': {
      const t = evaluateCondition(c.of, env);
      return { text: describeCondition(c), result: !t.result, children: [t] };
    }
    case 'territory': {
      const territory = env.territories[c.name];
      const { lead } = env;
      const result = territory !== undefined && matchesTerritory(territory, lead);
      const values: Record<string, FieldValue | undefined> = { country: lead.country };
      if (lead.state !== undefined) values.state = lead.state;
      if (lead.postalCode !== undefined) values.postalCode = lead.postalCode;
      if (lead.city !== undefined) values.city = lead.city;
      return leaf(c, result, values);
    }
    case 'account_matched':
      return leaf(c, (env.account !== null) === c.value, { account: env.account?.account.name ?? null });
    case 'account_owner_active': {
      const owner = env.account?.account.owner;
      const active = owner !== undefined && env.team.reps[owner]?.active === true;
      return leaf(c, env.account !== null && active === c.value, { accountOwner: owner ?? null });
    }
    case 'free_mail': {
      const domain = env.lead.emailDomain;
      const free = domain !== undefined && env.isFreeMail(domain);
      return leaf(c, domain !== undefined && free === c.value, { emailDomain: domain });
    }
    case 'within_hours': {
      const emails =
        c.pool !== undefined ? (env.pools[c.pool]?.members ?? []) : c.rep !== undefined ? [c.rep] : [];
      const result = emails.some((email) => {
        const rep = env.team.reps[email];
        return rep !== undefined && rep.active && isWithinHours(rep, env.now);
      });
      return leaf(c, result);
    }
    case 'compare':
      return compare(c, env.lead);
    default:
      return exhaustive(c);
  }
}

function compare(c: Extract<Condition, { kind: 'compare' }>, lead: Lead): ConditionTrace {
  const actual = fieldValue(lead, c.field);
  const values = { [c.field]: actual };
  switch (c.op) {
    case 'exists':
      return leaf(c, !isBlank(actual), values);
    case 'missing':
      return leaf(c, isBlank(actual), values);
    case 'eq':
      return leaf(
        c,
        parts(actual).some((a) => same(a, c.value, c.caseSensitive)),
        values,
      );
    case 'neq':
      return leaf(
        c,
        !isBlank(actual) && !parts(actual).some((a) => same(a, c.value, c.caseSensitive)),
        values,
      );
    case 'in':
      return leaf(
        c,
        parts(actual).some((a) => c.values.some((v) => same(a, v, c.caseSensitive))),
        values,
      );
    case 'not_in':
      return leaf(
        c,
        !isBlank(actual) && !parts(actual).some((a) => c.values.some((v) => same(a, v, c.caseSensitive))),
        values,
      );
    case 'contains':
    case 'starts_with':
    case 'ends_with':
      return leaf(c, textOp(actual, c.value, c.caseSensitive, c.op), values);
    case 'regex':
      return leaf(c, !isBlank(actual) && c.pattern.test(String(actual)), values);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const n = asNumber(actual);
      if (n === undefined) return leaf(c, false, values);
      const result =
        c.op === 'gt'
          ? n > c.value
          : c.op === 'gte'
            ? n >= c.value
            : c.op === 'lt'
              ? n < c.value
              : n <= c.value;
      return leaf(c, result, values);
    }
    case 'between': {
      const n = asNumber(actual);
      return leaf(c, n !== undefined && n >= c.min && n <= c.max, values);
    }
    default:
      return exhaustive(c);
  }
}
