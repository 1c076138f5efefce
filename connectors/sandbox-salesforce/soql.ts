// SOQL over the org's records: parsed by soql-parser-js (a real grammar, not regexes), then compiled
// into predicates and evaluated. Covers what a routing connector sends: SELECT fields and parent
// relationship fields (Owner.Email, Account.Name, Territory2.Territory2Model.State), COUNT(), WHERE with
// AND/OR/NOT and parentheses, = != < <= > >= IN NOT IN LIKE, semi-joins (Id IN (SELECT ...)), date and
// datetime literals and LAST_N_DAYS-style date literals (UTC, the org's time zone here), ORDER BY with
// NULLS FIRST/LAST, LIMIT and OFFSET. Text comparisons are case-insensitive, as in SOQL.
import soqlParser, { type ConditionWithValueQuery, type Query, type WhereClause } from 'soql-parser-js';
import { SalesforceHttpError } from './errors.js';
import { keyPrefix, toId18 } from './ids.js';
import type { FieldValue, Org, SRecord } from './org.js';
import {
  fieldDef,
  objectDef,
  objectOfPrefix,
  relationshipField,
  type FieldDef,
  type ObjectDef,
} from './schema.js';

export interface OutRecord {
  attributes: { type: string; url?: string };
  [field: string]: unknown;
}

export interface QueryAnswer {
  totalSize: number;
  records: OutRecord[];
}

const malformed = (message: string) => new SalesforceHttpError(400, 'MALFORMED_QUERY', message);
const invalidField = (message: string) => new SalesforceHttpError(400, 'INVALID_FIELD', message);

/** A field reached from an object: the reference fields walked through, then the field itself. */
interface Path {
  /** The reference fields (OwnerId for Owner.Email); empty for a field of the object itself. */
  via: FieldDef[];
  /** The field's definition on the (first possible) target object. */
  field: FieldDef;
  /** Its name as written by the query's relationships: Owner.Email. */
  segments: string[];
}

function resolvePath(obj: ObjectDef, dotted: string): Path {
  const segments = dotted.split('.');
  const via: FieldDef[] = [];
  let current: ObjectDef[] = [obj];
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    const candidates = current;
    const found = candidates
      .map((o) => (last ? fieldDef(o, segment) : relationshipField(o, segment)))
      .find((f) => f !== undefined);
    if (found === undefined) {
      const on = candidates[0]?.name ?? obj.name;
      throw invalidField(
        last
          ? `No such column '${segment}' on entity '${on}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.`
          : `Didn't understand relationship '${segment}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.`,
      );
    }
    if (last) return { via, field: found, segments };
    via.push(found);
    current = (found.referenceTo ?? []).map((n) => objectDef(n)).filter((o) => o !== undefined);
  }
  throw malformed(`empty field path`);
}

/** The value at a path for one record (null when a parent on the way is missing). */
function valueAt(org: Org, rec: SRecord, path: Path): FieldValue {
  // A field of the queried object itself: resolved once with the query, not per row.
  if (path.via.length === 0) return rec[path.field.name] ?? null;
  let current: SRecord | undefined = rec;
  for (const ref of path.via) {
    const id: FieldValue | undefined = current[ref.name];
    current = typeof id === 'string' ? org.get(id) : undefined;
    if (current === undefined) return null;
  }
  const last = path.segments[path.segments.length - 1] ?? '';
  const target = objectOfPrefix(keyPrefix(String(current['Id'])));
  const f = target === undefined ? undefined : fieldDef(target, last);
  return f === undefined ? null : (current[f.name] ?? null);
}

// ---------------------------------------------------------------- literals

/** SOQL string escapes (\' \" \\ \n \r \t \b \f \uXXXX); \% and \_ stay escaped for LIKE. */
function unquote(raw: string, forLike: boolean): string {
  const body = raw.startsWith("'") && raw.endsWith("'") ? raw.slice(1, -1) : raw;
  return body.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_m, c: string) => {
    if (c.length === 5) return String.fromCharCode(parseInt(c.slice(1), 16));
    const map: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' };
    if (c === '%' || c === '_') return forLike ? `\\${c}` : c;
    return map[c] ?? c;
  });
}

const DAY = 86_400_000;
const startOfDay = (ms: number) => Math.floor(ms / DAY) * DAY;

/** A date literal as a half-open range [from, to) of epoch milliseconds (UTC days). */
function dateRange(literal: string, n: number | undefined, now: number): [number, number] {
  const today = startOfDay(now);
  const days = n ?? 0;
  switch (literal) {
    case 'TODAY':
      return [today, today + DAY];
    case 'YESTERDAY':
      return [today - DAY, today];
    case 'TOMORROW':
      return [today + DAY, today + 2 * DAY];
    // "starts with the current day and continues for the past n days" (SOQL date formats).
    case 'LAST_N_DAYS':
      return [today - days * DAY, today + DAY];
    case 'NEXT_N_DAYS':
      return [today, today + (days + 1) * DAY];
    case 'N_DAYS_AGO':
      return [today - days * DAY, today - (days - 1) * DAY];
    case 'LAST_90_DAYS':
      return [today - 90 * DAY, today + DAY];
    default:
      throw malformed(`the sandbox does not evaluate the date literal ${literal}`);
  }
}

const parseDateTime = (s: string): number => Date.parse(s.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));

// ---------------------------------------------------------------- conditions

type Pred = (r: SRecord) => boolean;
type Tok = '(' | ')' | 'AND' | 'OR' | 'NOT' | { cond: ConditionWithValueQuery };

/**
 * soql-parser-js gives WHERE as a right-leaning chain with parenthesis counts on the conditions, not as a
 * precedence tree; we read it back into tokens and parse those (NOT binds tighter than AND than OR).
 */
function tokens(w: WhereClause | undefined, out: Tok[] = []): Tok[] {
  if (w === undefined) return out;
  const left = w.left;
  if (left !== null) {
    for (let i = 0; i < (left.openParen ?? 0); i++) out.push('(');
    if ('operator' in left) out.push({ cond: left });
    const close = 'closeParen' in left ? (left.closeParen ?? 0) : 0;
    for (let i = 0; i < close; i++) out.push(')');
  }
  if ('operator' in w) {
    out.push(w.operator);
    tokens(w.right, out);
  }
  return out;
}

class Compiler {
  private pos = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly leaf: (c: ConditionWithValueQuery) => Pred,
  ) {}

  compile(): Pred {
    if (this.toks.length === 0) return () => true;
    const p = this.or();
    if (this.pos !== this.toks.length) throw malformed('unexpected token in WHERE');
    return p;
  }
  private or(): Pred {
    let l = this.and();
    while (this.toks[this.pos] === 'OR') {
      this.pos++;
      const a = l;
      const b = this.and();
      l = (r) => a(r) || b(r);
    }
    return l;
  }
  private and(): Pred {
    let l = this.not();
    while (this.toks[this.pos] === 'AND') {
      this.pos++;
      const a = l;
      const b = this.not();
      l = (r) => a(r) && b(r);
    }
    return l;
  }
  private not(): Pred {
    const t = this.toks[this.pos++];
    if (t === 'NOT') {
      const inner = this.not();
      return (r) => !inner(r);
    }
    if (t === '(') {
      const inner = this.or();
      if (this.toks[this.pos++] !== ')') throw malformed('unbalanced parentheses in WHERE');
      return inner;
    }
    if (t !== undefined && typeof t === 'object') return this.leaf(t.cond);
    throw malformed('unexpected token in WHERE');
  }
}

type Comparable = string | number | boolean;

/** A record value in comparable form: lower-case text, epoch ms for dates, 18-character ids. */
function comparable(f: FieldDef, v: FieldValue): Comparable | null {
  if (v === null || v === undefined) return null;
  switch (f.type) {
    case 'date':
    case 'datetime':
      return parseDateTime(String(v));
    case 'id':
    case 'reference':
      return toId18(String(v)) ?? String(v);
    case 'int':
    case 'double':
    case 'currency':
      return Number(v);
    case 'boolean':
      return v === true;
    case 'string':
    case 'email':
    case 'url':
    case 'phone':
    case 'textarea':
    case 'picklist':
      return String(v).toLowerCase();
    default: {
      const never: never = f.type;
      return never;
    }
  }
}

type Literal =
  { kind: 'null' } | { kind: 'value'; v: Comparable } | { kind: 'range'; from: number; to: number };

function literal(f: FieldDef, raw: string, type: string, n: number | undefined, now: number): Literal {
  switch (type) {
    case 'NULL':
      return { kind: 'null' };
    case 'BOOLEAN':
      return { kind: 'value', v: raw.toUpperCase() === 'TRUE' };
    case 'INTEGER':
    case 'DECIMAL':
      return { kind: 'value', v: Number(raw) };
    case 'DATETIME':
      return { kind: 'value', v: parseDateTime(raw) };
    case 'DATE': {
      const from = Date.parse(`${raw}T00:00:00Z`);
      return f.type === 'datetime' ? { kind: 'range', from, to: from + DAY } : { kind: 'value', v: from };
    }
    case 'DATE_LITERAL':
    case 'DATE_N_LITERAL': {
      const [from, to] = dateRange(raw.split(':')[0] ?? raw, n, now);
      return { kind: 'range', from, to };
    }
    case 'STRING': {
      const s = unquote(raw, false);
      if (f.type === 'id' || f.type === 'reference') return { kind: 'value', v: toId18(s) ?? s };
      if (f.type === 'boolean') return { kind: 'value', v: s.toLowerCase() === 'true' };
      if (f.type === 'int' || f.type === 'double' || f.type === 'currency')
        return { kind: 'value', v: Number(s) };
      return { kind: 'value', v: s.toLowerCase() };
    }
    default:
      throw malformed(`the sandbox does not evaluate ${type} values`);
  }
}

function compare(op: string, v: Comparable | null, lit: Literal): boolean {
  if (lit.kind === 'null') {
    if (op === '=') return v === null;
    if (op === '!=') return v !== null;
    return false;
  }
  if (v === null) return op === '!=';
  if (lit.kind === 'range') {
    const x = Number(v);
    switch (op) {
      case '=':
        return x >= lit.from && x < lit.to;
      case '!=':
        return !(x >= lit.from && x < lit.to);
      case '<':
        return x < lit.from;
      case '<=':
        return x < lit.to;
      case '>':
        return x >= lit.to;
      case '>=':
        return x >= lit.from;
      default:
        throw malformed(`operator ${op} with a date literal`);
    }
  }
  const l = lit.v;
  switch (op) {
    case '=':
      return v === l;
    case '!=':
      return v !== l;
    case '<':
      return v < l;
    case '<=':
      return v <= l;
    case '>':
      return v > l;
    case '>=':
      return v >= l;
    default:
      throw malformed(`operator ${op}`);
  }
}

function likeRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '\\' && i + 1 < pattern.length) {
      re += pattern.charAt(++i).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else if (c === '%') re += '[\\s\\S]*';
    else if (c === '_') re += '[\\s\\S]';
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'i');
}

// ---------------------------------------------------------------- the query

export interface RunOptions {
  now: number;
  /** `/services/data/v62.0`: where record urls point. */
  baseUrl: string;
}

function parse(soql: string): Query {
  try {
    return soqlParser.parseQuery(soql);
  } catch (err) {
    throw malformed(err instanceof Error ? err.message : String(err));
  }
}

/**
 * The records an `Id IN (…)` or `Id = …` condition names, when WHERE joins its conditions by AND alone:
 * looked up by id instead of testing every record of the object (the whole WHERE still applies to them).
 * Undefined when WHERE has no such condition.
 */
function rowsByIdCondition(org: Org, obj: ObjectDef, toks: readonly Tok[]): SRecord[] | undefined {
  if (toks.some((t) => t === 'OR' || t === 'NOT')) return undefined;
  for (const t of toks) {
    if (typeof t !== 'object') continue;
    const c = t.cond;
    if (!('field' in c) || 'valueQuery' in c || c.field.toLowerCase() !== 'id') continue;
    if (c.operator !== 'IN' && c.operator !== '=') continue;
    // Looked up in the object's own table: another object's id names none of its records.
    const table = org.table(obj.name);
    const found = new Map<string, SRecord>();
    for (const raw of Array.isArray(c.value) ? c.value : [c.value]) {
      const id = toId18(unquote(raw, false));
      const rec = id === undefined ? undefined : table.get(id);
      if (id !== undefined && rec !== undefined) found.set(id, rec);
    }
    return [...found.values()];
  }
  return undefined;
}

function rows(org: Org, q: Query, opts: RunOptions): { obj: ObjectDef; matched: SRecord[] } {
  const obj = objectDef(q.sObject ?? '');
  // An object the running user cannot see is refused as one the org does not have [UNCONFIRMED].
  if (obj === undefined || org.hiddenObjects.has(obj.name))
    throw new SalesforceHttpError(
      400,
      'INVALID_TYPE',
      `sObject type '${q.sObject ?? ''}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.`,
    );
  const leaf = (c: ConditionWithValueQuery): Pred => {
    if (!('field' in c)) throw malformed('functions in WHERE are not evaluated by the sandbox');
    const path = resolvePath(obj, c.field);
    const get = (r: SRecord) => comparable(path.field, valueAt(org, r, path));
    const op = c.operator;
    if ('valueQuery' in c) {
      const sub = c.valueQuery;
      const subFields = sub.fields ?? [];
      const first = subFields[0];
      if (subFields.length !== 1 || first === undefined || first.type !== 'Field')
        throw malformed('a semi-join selects exactly one field');
      const subRows = rows(org, sub, opts);
      const subPath = resolvePath(subRows.obj, first.field);
      const ids = new Set(subRows.matched.map((r) => comparable(subPath.field, valueAt(org, r, subPath))));
      return op === 'NOT IN' ? (r) => !ids.has(get(r)) : (r) => ids.has(get(r));
    }
    const types = c.literalType;
    const n = 'dateLiteralVariable' in c ? c.dateLiteralVariable : undefined;
    if (op === 'IN' || op === 'NOT IN') {
      const values = Array.isArray(c.value) ? c.value : [c.value];
      const lits = values.map((v, i) =>
        literal(
          path.field,
          v,
          String(Array.isArray(types) ? types[i] : types),
          Array.isArray(n) ? n[i] : n,
          opts.now,
        ),
      );
      // Plain values (ids, text, numbers) are looked up in a set: `Id IN (…200 ids…)` over every row of
      // an object was a comparison per row and per id. A date range keeps the comparisons.
      const plain = lits.every((l) => l.kind !== 'range');
      // (NaN equals nothing, as `===` has it.)
      const wanted = new Set(lits.flatMap((l) => (l.kind === 'value' && !Number.isNaN(l.v) ? [l.v] : [])));
      const orNull = lits.some((l) => l.kind === 'null');
      const matchAny = plain
        ? (r: SRecord) => {
            const v = get(r);
            return v === null ? orNull : wanted.has(v);
          }
        : (r: SRecord) => {
            const v = get(r);
            return lits.some((l) => compare('=', v, l));
          };
      return op === 'IN' ? matchAny : (r) => !matchAny(r);
    }
    if (Array.isArray(c.value)) throw malformed(`a list needs IN or NOT IN`);
    if (op === 'LIKE') {
      const re = likeRegex(unquote(c.value, true));
      return (r) => {
        const v = valueAt(org, r, path);
        return v !== null && re.test(String(v));
      };
    }
    if (op === 'INCLUDES' || op === 'EXCLUDES')
      throw malformed(`${op} applies to multi-select picklists only`);
    const lit = literal(path.field, c.value, String(types), Array.isArray(n) ? undefined : n, opts.now);
    return (r) => compare(op, get(r), lit);
  };
  const toks = tokens(q.where);
  const where = new Compiler(toks, leaf).compile();
  const scanned = rowsByIdCondition(org, obj, toks) ?? org.all(obj.name);
  let matched = scanned.filter((r) => r['IsDeleted'] !== true && where(r));

  const orderBy = q.orderBy === undefined ? [] : Array.isArray(q.orderBy) ? q.orderBy : [q.orderBy];
  if (orderBy.length > 0) {
    const keys = orderBy.map((o) => {
      if (!('field' in o) || o.field === undefined)
        throw malformed('ORDER BY a function is not evaluated by the sandbox');
      const path = resolvePath(obj, o.field);
      const desc = o.order === 'DESC';
      return { path, desc, nullsFirst: o.nulls === undefined ? !desc : o.nulls === 'FIRST' };
    });
    matched = [...matched].sort((a, b) => {
      for (const k of keys) {
        const x = comparable(k.path.field, valueAt(org, a, k.path));
        const y = comparable(k.path.field, valueAt(org, b, k.path));
        if (x === y) continue;
        if (x === null) return k.nullsFirst ? -1 : 1;
        if (y === null) return k.nullsFirst ? 1 : -1;
        const c = x < y ? -1 : 1;
        return k.desc ? -c : c;
      }
      return 0;
    });
  }
  const offset = q.offset ?? 0;
  matched = matched.slice(offset, q.limit === undefined ? undefined : offset + q.limit);
  return { obj, matched };
}

/** Runs one SOQL query; the records are projected to the selected fields, in Salesforce's JSON shape. */
export function runQuery(org: Org, soql: string, opts: RunOptions): QueryAnswer {
  const q = parse(soql);
  const fields = q.fields ?? [];
  const countOnly = fields.length === 1 && fields[0]?.type === 'FieldFunctionExpression';
  if (countOnly) {
    const fn = fields[0];
    if (fn?.type !== 'FieldFunctionExpression' || fn.functionName.toUpperCase() !== 'COUNT')
      throw malformed('only COUNT() is evaluated by the sandbox');
    const { matched } = rows(org, q, opts);
    const total = matched.length;
    if (fn.parameters.length === 0) return { totalSize: total, records: [] };
    return {
      totalSize: 1,
      records: [{ attributes: { type: 'AggregateResult' }, [fn.alias ?? 'expr0']: total }],
    };
  }
  const { obj, matched } = rows(org, q, opts);
  const paths = fields.map((f) => {
    if (f.type === 'Field') return resolvePath(obj, f.field);
    if (f.type === 'FieldRelationship') return resolvePath(obj, [...f.relationships, f.field].join('.'));
    throw malformed(`the sandbox evaluates plain and parent fields only (not ${f.type})`);
  });
  const records = matched.map((r) => project(org, obj, r, paths, opts.baseUrl));
  return { totalSize: records.length, records };
}

function attributes(rec: SRecord, baseUrl: string): OutRecord['attributes'] {
  const id = String(rec['Id']);
  const type = objectOfPrefix(keyPrefix(id))?.name ?? 'Name';
  return { type, url: `${baseUrl}/sobjects/${type}/${id}` };
}

function project(org: Org, obj: ObjectDef, rec: SRecord, paths: Path[], baseUrl: string): OutRecord {
  const out: OutRecord = { attributes: attributes(rec, baseUrl) };
  for (const path of paths) {
    let target: OutRecord | null = out;
    let current: SRecord | undefined = rec;
    let currentObj: ObjectDef = obj;
    for (const ref of path.via) {
      const relName = ref.relationshipName ?? ref.name;
      const id: FieldValue | undefined = current?.[ref.name];
      const parent: SRecord | undefined = typeof id === 'string' ? org.get(id) : undefined;
      if (target === null) break;
      if (parent === undefined) {
        target[relName] = null;
        target = null;
        current = undefined;
        break;
      }
      const existing = target[relName];
      const next: OutRecord =
        existing !== null && typeof existing === 'object'
          ? (existing as OutRecord)
          : { attributes: attributes(parent, baseUrl) };
      target[relName] = next;
      target = next;
      current = parent;
      currentObj = objectOfPrefix(keyPrefix(String(parent['Id']))) ?? currentObj;
    }
    if (target === null || current === undefined) continue;
    const last = path.segments[path.segments.length - 1] ?? '';
    const f = fieldDef(currentObj, last);
    target[f?.name ?? last] = f === undefined ? null : (current[f.name] ?? null);
  }
  return out;
}
