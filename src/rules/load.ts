// Loads a rule file or a team file from YAML text: syntax → schema → references → warnings.
// Every problem found is reported at once with file:line:col and a field path; nothing throws.
import { createHash } from 'node:crypto';
import type { ZodIssue } from 'zod';
import { LineCounter, parseDocument, visit, type Document } from 'yaml';
import type {
  Destination,
  Pool,
  Route,
  RouteActions,
  RuleSet,
  Team,
  Territory,
  TerritoryClause,
} from '../core/types.js';
import { formatPath, type Diagnostic, type PathSegment } from './diagnostics.js';
import { errorMap, isPlainObject, issueExtras, type Known, type RawWarning } from './issues.js';
import { locate } from './locate.js';
import { finalizeDestination, type DraftDestination } from './parse-destination.js';
import { ruleSetSchema, teamSchema, type DraftActions, type RawRuleSet } from './schema.js';

export type LoadResult =
  | { ok: true; ruleSet: RuleSet; warnings: Diagnostic[] }
  | { ok: false; errors: Diagnostic[]; warnings: Diagnostic[] };

export type TeamLoadResult =
  | { ok: true; team: Team; warnings: Diagnostic[] }
  | { ok: false; errors: Diagnostic[]; warnings: Diagnostic[] };

export interface LoadOptions {
  /** The team to check rep references against when the rule file has no inline team (a team file). */
  team?: Team | undefined;
}

/** Short content hash naming the exact rules a decision used. */
export function ruleSetVersion(source: string): string {
  return createHash('sha256').update(source).digest('hex').slice(0, 12);
}

interface Parsed {
  doc: Document;
  lines: LineCounter;
  data: unknown;
}

/** Diagnostics in file order, which is how people fix them. */
function byPosition(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => a.line - b.line || a.column - b.column);
}

class Reporter {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];
  constructor(
    readonly file: string,
    private readonly parsed?: Parsed,
  ) {}

  private make(
    path: readonly PathSegment[],
    message: string,
    suggestion?: string,
    atKey = false,
  ): Diagnostic {
    const pos = this.parsed
      ? locate(this.parsed.doc, this.parsed.lines, path, atKey)
      : { line: 0, column: 0 };
    const d: Diagnostic = {
      file: this.file,
      line: pos.line,
      column: pos.column,
      path: formatPath(path),
      message,
    };
    if (suggestion !== undefined) d.suggestion = suggestion;
    return d;
  }
  error(path: readonly PathSegment[], message: string, suggestion?: string, atKey = false): void {
    this.errors.push(this.make(path, message, suggestion, atKey));
  }
  warn(path: readonly PathSegment[], message: string, suggestion?: string, atKey = false): void {
    this.warnings.push(this.make(path, message, suggestion, atKey));
  }
}

/** YAML text → plain data, or syntax diagnostics. */
function parseYaml(
  source: string,
  file: string,
  what: string,
): { parsed: Parsed } | { errors: Diagnostic[]; warnings: Diagnostic[] } {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (pos: readonly [number, number] | undefined, message: string, code: string): Diagnostic => {
    const p = lines.linePos(pos?.[0] ?? 0);
    const text =
      code === 'DUPLICATE_KEY'
        ? 'duplicate key: each key may appear only once in a mapping'
        : (message.split('\n')[0] ?? message);
    return { file, line: p.line, column: p.col, path: '', message: `YAML: ${text}` };
  };
  const warnings = doc.warnings.map((w) => at(w.pos, w.message, w.code));
  if (doc.errors.length > 0) return { errors: doc.errors.map((e) => at(e.pos, e.message, e.code)), warnings };
  // YAML 1.2 reads 01234 as the number 1234; postal codes and ids need the leading zero kept.
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'number' && typeof node.source === 'string' && /^[-+]?0\d/.test(node.source))
        node.value = node.source;
    },
  });
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // Alias bombs and unresolvable aliases surface here.
    const message = e instanceof Error ? e.message : String(e);
    return { errors: [{ file, line: 1, column: 1, path: '', message: `YAML: ${message}` }], warnings };
  }
  if (!isPlainObject(data)) {
    const p = lines.linePos(doc.contents?.range[0] ?? 0);
    return {
      errors: [
        {
          file,
          line: p.line,
          column: p.col,
          path: '',
          message: `${what} must be a YAML mapping, e.g. ${what === 'a rule file' ? '"routes: …" and "fallback: …"' : '"reps: …"'}`,
        },
      ],
      warnings,
    };
  }
  return { parsed: { doc, lines, data } };
}

function reportIssues(reporter: Reporter, issues: readonly ZodIssue[]): void {
  for (const issue of issues) {
    const { suggestion, atKey } = issueExtras(issue);
    reporter.error(issue.path, issue.message, suggestion, atKey);
  }
}

function keysOf(v: unknown): string[] {
  return isPlainObject(v) ? Object.keys(v) : [];
}

export function loadTeam(source: string, file: string): TeamLoadResult {
  try {
    const y = parseYaml(source, file, 'a team file');
    if (!('parsed' in y)) return { ok: false, errors: y.errors, warnings: y.warnings };
    const reporter = new Reporter(file, y.parsed);
    const raw: RawWarning[] = [];
    const r = teamSchema(raw).safeParse(y.parsed.data, { errorMap });
    for (const w of raw) reporter.warn(w.path, w.message, w.suggestion, w.atKey === true);
    if (!r.success) reportIssues(reporter, r.error.issues);
    if (!r.success || reporter.errors.length > 0)
      return { ok: false, errors: byPosition(reporter.errors), warnings: byPosition(reporter.warnings) };
    return { ok: true, team: r.data, warnings: byPosition(reporter.warnings) };
  } catch (e) {
    return internal(file, e);
  }
}

export function loadRuleSet(source: string, file: string, opts: LoadOptions = {}): LoadResult {
  try {
    return loadRuleSetUnsafe(source, file, opts);
  } catch (e) {
    return internal(file, e);
  }
}

/** A bug of ours must still come back as a diagnostic: the caller asked for a result, not a crash. */
function internal(file: string, e: unknown): { ok: false; errors: Diagnostic[]; warnings: Diagnostic[] } {
  const message = e instanceof Error ? e.message : String(e);
  return {
    ok: false,
    errors: [{ file, line: 0, column: 0, path: '', message: `internal error while loading: ${message}` }],
    warnings: [],
  };
}

function loadRuleSetUnsafe(source: string, file: string, opts: LoadOptions): LoadResult {
  const y = parseYaml(source, file, 'a rule file');
  if (!('parsed' in y)) return { ok: false, errors: y.errors, warnings: y.warnings };
  const data = y.parsed.data as Record<string, unknown>;
  const reporter = new Reporter(file, y.parsed);

  // Names are collected loosely first, so references are checked in the same pass as the shapes.
  const inlineTeam = isPlainObject(data['team']) ? data['team'] : undefined;
  const repNames = opts.team
    ? Object.keys(opts.team.reps)
    : inlineTeam
      ? keysOf(inlineTeam['reps']).map((k) => k.trim().toLowerCase())
      : undefined;
  const queueNames = opts.team
    ? Object.keys(opts.team.queues)
    : inlineTeam
      ? keysOf(inlineTeam['queues'])
      : [];
  const known: Known = {
    territories: new Set(keysOf(data['territories'])),
    pools: new Set(keysOf(data['pools'])),
    reps: repNames === undefined ? undefined : new Set(repNames),
    queues: queueNames.length > 0 ? new Set(queueNames) : undefined,
  };
  checkRouteNames(data['routes'], reporter);
  const rawWarnings: RawWarning[] = [];
  const r = ruleSetSchema(known, rawWarnings).safeParse(data, { errorMap });
  for (const w of rawWarnings) reporter.warn(w.path, w.message, w.suggestion, w.atKey === true);
  if (!r.success) {
    reportIssues(reporter, r.error.issues);
    return { ok: false, errors: byPosition(reporter.errors), warnings: byPosition(reporter.warnings) };
  }
  const ruleSet = assemble(r.data, source, file, reporter);
  const team = opts.team ?? ruleSet.team;
  checkRuleSet(ruleSet, r.data, team, reporter);
  if (reporter.errors.length > 0)
    return { ok: false, errors: byPosition(reporter.errors), warnings: byPosition(reporter.warnings) };
  return { ok: true, ruleSet, warnings: byPosition(reporter.warnings) };
}

function actions(a: DraftActions): RouteActions {
  const out: RouteActions = { note: a.note };
  if (a.task !== undefined) out.task = a.task;
  if (a.sequence !== undefined) out.sequence = a.sequence;
  return out;
}

function baseName(file: string): string {
  const last = file.split(/[\\/]/).pop() ?? file;
  return last.replace(/\.ya?ml$/i, '') || file;
}

function assemble(raw: RawRuleSet, source: string, file: string, reporter: Reporter): RuleSet {
  const draftFallback = raw.fallback;
  // The rule set's fallback is the end of every chain, so it cannot defer to itself.
  if (
    (draftFallback.kind === 'account_owner' || draftFallback.kind === 'existing_owner') &&
    draftFallback.fallback === undefined
  )
    reporter.error(
      ['fallback'],
      `the rule set's fallback "${draftFallback.kind}" needs its own fallback: { ${draftFallback.kind}: { fallback: { queue: … } } }`,
    );
  const fallback = finalizeDestination(draftFallback, { kind: 'none' });
  const fin = (d: DraftDestination): Destination => finalizeDestination(d, fallback);

  const territories: Record<string, Territory> = {};
  for (const [name, clauses] of Object.entries(raw.territories ?? {})) territories[name] = { name, clauses };

  const pools: Record<string, Pool> = {};
  for (const [name, p] of Object.entries(raw.pools ?? {})) {
    const pool: Pool = {
      name,
      members: p.members,
      strategy: p.strategy,
      respectHours: p.respect_hours,
      fallback: p.fallback === undefined ? fallback : fin(p.fallback),
    };
    if (p.window !== undefined) pool.loadWindowMs = p.window;
    pools[name] = pool;
  }

  const routes: Route[] = raw.routes.map((r, index) => {
    const route: Route = {
      name: r.name ?? `route ${index + 1}`,
      index,
      when: r.when ?? { kind: 'always' },
      assign: fin(r.assign),
      actions: actions(r),
    };
    if (r.sla !== undefined)
      route.sla = { firstTouchMs: r.sla.first_touch, onBreach: r.sla.on_breach ?? { kind: 'remind' } };
    return route;
  });

  const ruleSet: RuleSet = {
    name: raw.name ?? baseName(file),
    version: ruleSetVersion(source),
    territories,
    pools,
    routes,
    fallback,
    fallbackActions: raw.fallback_actions ? actions(raw.fallback_actions) : { note: false },
  };
  if (raw.team !== undefined) ruleSet.team = raw.team;
  return ruleSet;
}

// ---------------------------------------------------------------------------------------------------
// Checks that need the whole file: duplicate names, pool fallback cycles, and the warnings.

function poolsIn(d: Destination): string[] {
  switch (d.kind) {
    case 'pool':
      return [d.name];
    case 'account_owner':
    case 'existing_owner':
      return poolsIn(d.fallback);
    case 'hold':
      return poolsIn(d.then);
    case 'rep':
    case 'queue':
    case 'none':
      return [];
  }
}

/** Holds and traces refer to routes by name, so names must be unique (checked on the raw data so it
 * is reported together with any shape errors). */
function checkRouteNames(routes: unknown, reporter: Reporter): void {
  if (!Array.isArray(routes)) return;
  const seen = new Map<string, number>();
  routes.forEach((r: unknown, index) => {
    const name = isPlainObject(r) ? r['name'] : undefined;
    const key = typeof name === 'string' ? name : `route ${index + 1}`;
    const first = seen.get(key);
    if (first !== undefined)
      reporter.error(['routes', index, 'name'], `route name "${key}" is already used by routes[${first}]`);
    else seen.set(key, index);
  });
}

function checkRuleSet(rs: RuleSet, raw: RawRuleSet, team: Team | undefined, reporter: Reporter): void {
  // Pool fallbacks that lead back to the same pool would never end.
  const reported = new Set<string>();
  for (const start of Object.keys(rs.pools)) {
    const walk = (name: string, trail: string[]): void => {
      if (reported.has(start)) return;
      if (trail.includes(name)) {
        if (name !== start) return;
        // One report per cycle, at the first pool of it in file order.
        trail.forEach((p) => reported.add(p));
        const explicit = raw.pools?.[start]?.fallback !== undefined;
        reporter.error(
          explicit ? ['pools', start, 'fallback'] : ['pools', start],
          `pool fallbacks form a cycle: ${[...trail, name].join(' → ')}` +
            (explicit
              ? ''
              : ` (a pool without a fallback uses the rule set's fallback; give "${start}" one)`),
        );
        return;
      }
      const pool = rs.pools[name];
      if (pool !== undefined) for (const next of poolsIn(pool.fallback)) walk(next, [...trail, name]);
    };
    walk(start, []);
  }

  warnOverlaps(rs, reporter);
  warnUnreachable(rs, reporter);
  if (team !== undefined) {
    for (const pool of Object.values(rs.pools))
      pool.members.forEach((m, i) => {
        if (team.reps[m]?.weight === 0)
          reporter.warn(
            ['pools', pool.name, 'members', i],
            `member "${m}" has weight 0 and will never be chosen by weight`,
          );
      });
  }
}

function isAlways(c: Route['when']): boolean {
  if (c.kind === 'always') return true;
  if (c.kind === 'all') return c.of.every(isAlways);
  if (c.kind === 'any') return c.of.some(isAlways);
  return false;
}

function warnUnreachable(rs: RuleSet, reporter: Reporter): void {
  const catchAll = rs.routes.find((r) => isAlways(r.when) && r.assign.kind !== 'hold');
  if (catchAll === undefined) return;
  for (const r of rs.routes.slice(catchAll.index + 1))
    reporter.warn(
      ['routes', r.index],
      `route "${r.name}" is unreachable: routes[${catchAll.index}] "${catchAll.name}" always matches`,
    );
}

const lower = (xs: string[] | undefined): string[] | undefined => xs?.map((x) => x.toLowerCase());

function shared(a: string[] | undefined, b: string[] | undefined): string[] | 'any' {
  if (a === undefined || b === undefined) return 'any';
  return a.filter((x) => b.includes(x));
}

function postalOverlap(a: TerritoryClause, b: TerritoryClause): boolean {
  const spans = (c: TerritoryClause): { from: string; to: string }[] | undefined => {
    if (c.postalPrefix === undefined && c.postalRange === undefined) return undefined;
    // A prefix p covers the codes from p up to p followed by the highest characters.
    return [
      ...(c.postalPrefix ?? []).map((p) => ({ from: p.toUpperCase(), to: `${p.toUpperCase()}\uffff` })),
      ...(c.postalRange ?? []).map((r) => ({ from: r.from.toUpperCase(), to: r.to.toUpperCase() })),
    ];
  };
  const sa = spans(a);
  const sb = spans(b);
  if (sa === undefined || sb === undefined) return true;
  return sa.some((x) => sb.some((y) => x.from <= y.to && y.from <= x.to));
}

/** Two clauses can match one lead when every key both constrain has a common value. */
function clauseOverlap(a: TerritoryClause, b: TerritoryClause): string | undefined {
  const countries = shared(a.country, b.country);
  const states = shared(lower(a.state), lower(b.state));
  const cities = shared(lower(a.city), lower(b.city));
  if (countries !== 'any' && countries.length === 0) return undefined;
  if (states !== 'any' && states.length === 0) return undefined;
  if (cities !== 'any' && cities.length === 0) return undefined;
  if (!postalOverlap(a, b)) return undefined;
  const why: string[] = [];
  if (countries !== 'any') why.push(`country ${countries.join(', ')}`);
  if (states !== 'any') why.push(`state ${states.join(', ').toUpperCase()}`);
  if (cities !== 'any') why.push(`city ${cities.join(', ')}`);
  return why.length > 0 ? why.join(' and ') : 'the same leads';
}

function warnOverlaps(rs: RuleSet, reporter: Reporter): void {
  const list = Object.values(rs.territories);
  list.forEach((t, i) => {
    for (const u of list.slice(i + 1)) {
      const why = t.clauses
        .flatMap((a) => u.clauses.map((b) => clauseOverlap(a, b)))
        .find((w) => w !== undefined);
      if (why !== undefined)
        reporter.warn(
          ['territories', u.name],
          `territories "${t.name}" and "${u.name}" overlap: both can match ${why}; the first route that names one wins`,
          undefined,
          true,
        );
    }
  });
}
