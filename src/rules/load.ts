// Loads a rule file or a team file from YAML text: syntax → schema → references → warnings.
// Every problem found is reported at once with file:line:col and a field path; nothing throws.
import { createHash } from 'node:crypto';
import type { ZodIssue } from 'zod';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { NOTIFY_EVENTS } from '../core/types.js';
import type {
  Destination,
  NotifyChannel,
  Pool,
  Route,
  RouteActions,
  RuleSet,
  Team,
  Territory,
  TerritoryClause,
} from '../core/types.js';
import { slaSteps, stepBreach } from '../core/sla.js';
import { formatPath, OWNER_ROLES, type Diagnostic, type PathSegment } from './diagnostics.js';
import {
  errorMap,
  isPlainObject,
  issueExtras,
  type CrmFacts,
  type Known,
  type RawWarning,
} from './issues.js';
import { indentationProblem, INDENT_ERROR_CODES } from './indentation.js';
import { locate } from './locate.js';
import { namedPeople } from './named-people.js';
import { finalizeDestination, type DraftDestination } from './parse-destination.js';
import { inactiveRepProblem, rulePersonProblem } from './queue-owners.js';
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
  /**
   * Every queue the rules name must have a CRM target in the team, even when no team is given at all
   * (then every queue is an error). Set where rules are put to work (app start, published rule sets); without
   * it, a rule file read on its own skips queue checks as it skips rep checks.
   */
  requireQueueTargets?: boolean | undefined;
  /**
   * The CRM the rules route for, when the caller knows it: a field is checked against the fields that CRM
   * reads (and only those are suggested), without it against every lead field; an inline team as
   * TeamLoadOptions says.
   */
  crm?: CrmFacts | undefined;
}

export interface TeamLoadOptions {
  /** The CRM the team routes for, when the caller knows it: a queue's target must be one it can have. */
  crm?: CrmFacts | undefined;
}

/** Short content hash naming the exact rules a decision used. */
export function ruleSetVersion(source: string): string {
  return createHash('sha256').update(source).digest('hex').slice(0, 12);
}

/** A team's version: its content hash, as for rule sets. */
export const teamVersion = ruleSetVersion;

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
  /** A schema step's warning, with the field, or the person or queue owner, it says the CRM account lacks. */
  warnRaw(w: RawWarning): void {
    const d = this.make(w.path, w.message, w.suggestion, w.atKey === true);
    if (w.missingField !== undefined) d.missingField = w.missingField;
    if (w.multiValueField !== undefined) d.multiValueField = w.multiValueField;
    if (w.unknownOwner !== undefined) d.unknownOwner = w.unknownOwner;
    if (w.ownerRole !== undefined) d.ownerRole = w.ownerRole;
    this.warnings.push(d);
  }
}

/** Deeper than any rule or team file needs; deeper input would only exhaust the stack of a later step. */
export const MAX_NESTING = 64;

/** The key a mapping entry gets in the plain data (aliases resolved); undefined for collection keys. */
function keyText(key: unknown, anchors: ReadonlyMap<string, unknown>): string | undefined {
  const k = isAlias(key) ? anchors.get(key.source) : key;
  if (!isScalar(k)) return undefined;
  return typeof k.value === 'number' && /^[-+]?0\d/.test(k.source ?? '') ? String(k.source) : String(k.value);
}

/**
 * One pass over the document (no recursion, so nesting cannot exhaust the stack). It keeps leading
 * zeros: YAML 1.2 reads 01234 as the number 1234, but postal codes and ids need them. And it finds what
 * the YAML parser accepts but plain data cannot hold: duplicate keys, also those that only collide
 * once read (`1` and `"1"`); the key `__proto__`, which a JavaScript object would swallow; an alias
 * inside its own anchor, which would make the value contain itself; a list or mapping used as a key;
 * and nesting deeper than MAX_NESTING.
 */
function inspect(doc: Document, lines: LineCounter, file: string): Diagnostic[] {
  // A visited node with the way back to the root: paths are only built for the few that are reported.
  interface Visit {
    node: unknown;
    up: Visit | undefined;
    seg: PathSegment | undefined;
    depth: number;
  }
  const pathOf = (v: Visit): PathSegment[] => {
    const path: PathSegment[] = [];
    for (let at: Visit | undefined = v; at !== undefined; at = at.up)
      if (at.seg !== undefined) path.push(at.seg);
    return path.reverse();
  };
  const errors: Diagnostic[] = [];
  const report = (node: unknown, v: Visit, message: string): void => {
    const p = lines.linePos((node as Node | null)?.range?.[0] ?? 0);
    errors.push({ file, line: p.line, column: p.col, path: formatPath(pathOf(v)), message });
  };
  const anchors = new Map<string, unknown>();
  // Children are pushed in reverse so that nodes are visited in document order, as anchors are defined.
  const stack: Visit[] = [{ node: doc.contents, up: undefined, seg: undefined, depth: 0 }];
  for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
    const { node, depth } = v;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      for (let up = v.up; up !== undefined; up = up.up)
        if (up.node === target) {
          report(
            node,
            v,
            `alias *${node.source} is inside its own anchor, so the value would contain itself`,
          );
          break;
        }
      continue;
    }
    const anchor = (node as { anchor?: unknown } | null)?.anchor;
    if (typeof anchor === 'string') anchors.set(anchor, node);
    if (isScalar(node)) {
      if (typeof node.value === 'number' && /^[-+]?0\d/.test(node.source ?? '')) node.value = node.source;
      continue;
    }
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth >= MAX_NESTING) {
      report(node, v, `nested more than ${MAX_NESTING} levels deep`);
      continue;
    }
    const push = (child: unknown, seg: PathSegment | undefined): void => {
      if (child !== null && typeof child === 'object')
        stack.push({ node: child, up: v, seg, depth: depth + 1 });
    };
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = keyText(pair.key, anchors);
        const keyNode = isAlias(pair.key) ? anchors.get(pair.key.source) : pair.key;
        if (isMap(keyNode) || isSeq(keyNode))
          report(
            pair.key,
            { node: pair.key, up: v, seg: undefined, depth },
            'YAML: a key must be plain text, not a list or a mapping',
          );
        else if (key === '__proto__')
          report(pair.key, { node: pair.key, up: v, seg: key, depth }, 'the key "__proto__" is not allowed');
        else if (key !== undefined && seen.has(key))
          report(
            pair.key,
            { node: pair.key, up: v, seg: key, depth },
            'duplicate key: each key may appear only once in a mapping',
          );
        if (key !== undefined) seen.add(key);
        // `&k a: 1` then `*k: 2` in the same mapping: the second key must resolve to the first.
        const keyAnchor = (pair.key as { anchor?: unknown } | null)?.anchor;
        if (typeof keyAnchor === 'string') anchors.set(keyAnchor, pair.key);
      }
      for (let i = node.items.length - 1; i >= 0; i--) {
        const pair = node.items[i];
        const seg = keyText(pair?.key, anchors);
        push(pair?.value, seg);
        push(pair?.key, seg);
      }
    } else for (let i = node.items.length - 1; i >= 0; i--) push(node.items[i], i);
  }
  return byPosition(errors);
}

/**
 * The parser's errors, with those a misaligned or tab-indented line causes replaced by one that names
 * that line and says how to fix it (the others, such as an unclosed bracket, as the parser words them).
 */
function syntaxErrors(
  source: string,
  file: string,
  doc: Document,
  lines: LineCounter,
  at: (pos: readonly [number, number] | undefined, message: string) => Diagnostic,
): Diagnostic[] {
  const errors = doc.errors.map((e) => at(e.pos, e.message));
  const first = doc.errors.find((e) => INDENT_ERROR_CODES.has(e.code));
  if (first === undefined) return errors;
  const problem = indentationProblem(source, lines.linePos(first.pos[0]).line);
  if (problem === undefined) return errors;
  const others = errors.filter((_, i) => !INDENT_ERROR_CODES.has(doc.errors[i]?.code ?? ''));
  return byPosition([
    ...others,
    { file, line: problem.line, column: problem.column, path: '', message: `YAML: ${problem.message}` },
  ]);
}

/** YAML text → plain data, or syntax diagnostics. */
function parseYaml(
  source: string,
  file: string,
  what: string,
): { parsed: Parsed } | { errors: Diagnostic[]; warnings: Diagnostic[] } {
  const lines = new LineCounter();
  // Duplicate keys are found by inspect() in one pass (the parser's own check is quadratic). The core
  // schema holds even under a `%YAML 1.1` directive and explicit tags such as !!set or !!timestamp:
  // only plain data, never dates, sets, maps or bytes. The parser's own warnings come back as
  // diagnostics, not on stderr.
  const doc = parseDocument(source, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: false,
    schema: 'core',
    resolveKnownTags: false,
    logLevel: 'error',
  });
  const at = (pos: readonly [number, number] | undefined, message: string): Diagnostic => {
    const p = lines.linePos(pos?.[0] ?? 0);
    const text = message.includes('Maximum call stack size exceeded')
      ? `nested too deeply to read (more than ${MAX_NESTING} levels is never needed)`
      : (message.split('\n')[0] ?? message);
    return { file, line: p.line, column: p.col, path: '', message: `YAML: ${text}` };
  };
  const warnings = doc.warnings.map((w) => at(w.pos, w.message));
  if (doc.errors.length > 0) return { errors: syntaxErrors(source, file, doc, lines, at), warnings };
  const structural = inspect(doc, lines, file);
  if (structural.length > 0) return { errors: structural, warnings };
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

export function loadTeam(source: string, file: string, opts: TeamLoadOptions = {}): TeamLoadResult {
  try {
    const y = parseYaml(source, file, 'a team file');
    if (!('parsed' in y)) return { ok: false, errors: y.errors, warnings: y.warnings };
    const reporter = new Reporter(file, y.parsed);
    const raw: RawWarning[] = [];
    const r = teamSchema(raw, opts.crm).safeParse(y.parsed.data, { errorMap });
    for (const w of raw) reporter.warnRaw(w);
    if (!r.success) reportIssues(reporter, r.error.issues);
    if (!r.success || reporter.errors.length > 0)
      return { ok: false, errors: byPosition(reporter.errors), warnings: byPosition(reporter.warnings) };
    return { ok: true, team: r.data, warnings: byPosition(reporter.warnings) };
  } catch (e) {
    return internal(file, e);
  }
}

/**
 * Whether a rule file's text carries its own team (a `team:` mapping at the top), read without checking
 * anything else: which team a rule file is checked against is decided before it is checked.
 */
export function hasInlineTeam(source: string): boolean {
  const y = parseYaml(source, '', 'a rule file');
  return 'parsed' in y && isPlainObject(y.parsed.data) && isPlainObject(y.parsed.data['team']);
}

/**
 * The warnings of the people and queue targets that name no active user, queue or team of the CRM
 * account (`crm.directory`: without it, none): a team's reps, managers and queue targets at their lines
 * in the file that holds the team (a team file, or a rule file with its own team), and each person the
 * rules name (a destination's rep, an escalation rep, a sequence's sender) at their line in the rule
 * file, loaded against `rules.team` (its team file's, when it has one). What app start, `validate
 * --tenant` and the settings tab report of them.
 */
export function unknownOwnerWarnings(
  files: {
    team?: { path: string; source: string } | undefined;
    rules?: { path: string; source: string; team: Team | undefined } | undefined;
  },
  crm: CrmFacts,
): Diagnostic[] {
  if (crm.directory === undefined) return [];
  const of = (from: 'team' | 'rule', ds: Diagnostic[]): Diagnostic[] =>
    ds.filter((d) => d.ownerRole !== undefined && OWNER_ROLES[d.ownerRole] === from);
  const { team, rules } = files;
  const teamWarnings =
    team === undefined
      ? []
      : hasInlineTeam(team.source)
        ? loadRuleSet(team.source, team.path, { crm }).warnings
        : loadTeam(team.source, team.path, { crm }).warnings;
  const ruleWarnings =
    rules === undefined
      ? []
      : loadRuleSet(rules.source, rules.path, { team: rules.team, requireQueueTargets: true, crm }).warnings;
  return oncePerPerson([...of('team', teamWarnings), ...of('rule', ruleWarnings)]);
}

const MAX_OTHER_MENTIONS = 3;

/**
 * One warning per person both a team and its rules name who is no active user of the CRM account: the
 * team's (where the person is listed, and routing learns who they are), saying where the rules name them
 * too, instead of one more warning per mention. Other warnings pass unchanged, in their order.
 */
export function oncePerPerson(warnings: readonly Diagnostic[]): Diagnostic[] {
  const from = (d: Diagnostic): 'team' | 'rule' | undefined =>
    d.ownerRole === undefined ? undefined : OWNER_ROLES[d.ownerRole];
  const personOf = (d: Diagnostic): string => (d.unknownOwner ?? '').toLowerCase();
  const teamWarning = new Map<string, Diagnostic>();
  for (const d of warnings)
    if (from(d) === 'team' && d.unknownOwner !== undefined && !teamWarning.has(personOf(d)))
      teamWarning.set(personOf(d), d);
  const mentions = new Map<Diagnostic, Diagnostic[]>();
  const kept: Diagnostic[] = [];
  for (const d of warnings) {
    const team = from(d) === 'rule' ? teamWarning.get(personOf(d)) : undefined;
    if (team === undefined) kept.push(d);
    else mentions.set(team, [...(mentions.get(team) ?? []), d]);
  }
  return kept.map((d) => {
    const others = mentions.get(d);
    if (others === undefined) return d;
    const at = (o: Diagnostic): string =>
      `as ${o.ownerRole ?? 'person'} at ${o.file === d.file ? 'line ' : `${o.file}:`}${o.line}:${o.column}`;
    const listed = others.slice(0, MAX_OTHER_MENTIONS).map(at).join(', ');
    const more = others.length > MAX_OTHER_MENTIONS ? ` and ${others.length - MAX_OTHER_MENTIONS} more` : '';
    return { ...d, message: `${d.message}; the rules name them too, ${listed}${more}` };
  });
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
  // Every queue the rules name must be one the team gives a CRM target (the team checks the targets).
  const queueNames = opts.team
    ? Object.keys(opts.team.queues)
    : inlineTeam
      ? keysOf(inlineTeam['queues'])
      : undefined;
  const known: Known = {
    territories: new Set(keysOf(data['territories'])),
    pools: new Set(keysOf(data['pools'])),
    reps: repNames === undefined ? undefined : new Set(repNames),
    queues: queueNames === undefined && opts.requireQueueTargets !== true ? undefined : new Set(queueNames),
    crm: opts.crm,
  };
  checkRouteNames(data['routes'], reporter);
  const rawWarnings: RawWarning[] = [];
  const r = ruleSetSchema(known, rawWarnings).safeParse(data, { errorMap });
  for (const w of rawWarnings) reporter.warnRaw(w);
  if (!r.success) {
    reportIssues(reporter, r.error.issues);
    return { ok: false, errors: byPosition(reporter.errors), warnings: byPosition(reporter.warnings) };
  }
  const ruleSet = assemble(r.data, source, file, reporter);
  const team = opts.team ?? ruleSet.team;
  checkRuleSet(ruleSet, r.data, team, reporter);
  warnRulePeople(r.data, team, opts.crm, reporter);
  // A rule file with its own team: its reps and the people its rules name are checked in one load.
  const warnings = oncePerPerson(byPosition(reporter.warnings));
  if (reporter.errors.length > 0) return { ok: false, errors: byPosition(reporter.errors), warnings };
  return { ok: true, ruleSet, warnings };
}

/**
 * Each rep a rule's destination names whom the team marks inactive (`active: false`): routing skips them,
 * whatever the CRM says. And, when the CRM account's directory is given, each person the rules name who
 * is no active user of it. Both are warnings at the rule's line, as a team's rep is at theirs.
 */
function warnRulePeople(
  raw: RawRuleSet,
  team: Team | undefined,
  crm: CrmFacts | undefined,
  reporter: Reporter,
): void {
  const directory = crm?.directory;
  for (const { path, person } of namedPeople(raw, team)) {
    if (person.role === 'destination rep' && team?.reps[person.email]?.active === false) {
      reporter.warn(path, inactiveRepProblem(person));
      continue;
    }
    const problem =
      crm === undefined || directory === undefined ? undefined : rulePersonProblem(person, crm, directory);
    if (problem !== undefined)
      reporter.warnRaw({ path, ...problem, unknownOwner: person.email, ownerRole: person.role });
  }
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
    if (p.notify !== undefined) pool.notify = p.notify;
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
    if (r.notify !== undefined) route.notify = r.notify;
    if (r.sla !== undefined) {
      const first = r.sla.steps?.[0];
      route.sla = {
        firstTouchMs: r.sla.first_touch,
        onBreach: first !== undefined ? stepBreach(first) : (r.sla.on_breach ?? { kind: 'remind' }),
      };
      // The shorthand keeps its stored shape; a clock or steps make the policy explicit.
      if (r.sla.steps !== undefined || r.sla.clock !== 'wall') {
        route.sla.clock = r.sla.clock;
        route.sla.steps = r.sla.steps ?? slaSteps(route.sla);
      }
    }
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
  if (raw.touch !== undefined) ruleSet.touch = raw.touch;
  if (raw.notifications !== undefined) {
    ruleSet.notifications = {};
    for (const [name, c] of Object.entries(raw.notifications)) {
      const channel: NotifyChannel = { name, on: c.on ?? [...NOTIFY_EVENTS] };
      if (c.slack !== undefined) channel.slack = { urlEnv: c.slack.url_env };
      if (c.webhook !== undefined) channel.webhook = { url: c.webhook.url, secretEnv: c.webhook.secret_env };
      ruleSet.notifications[name] = channel;
    }
  }
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
  // Pool fallbacks that lead back to the same pool would never end. A pool's fallback names at most one
  // pool, so following them from each pool not yet seen finds every cycle in linear time.
  const order = Object.keys(rs.pools);
  const rank = new Map(order.map((name, i) => [name, i]));
  const next = (name: string): string | undefined =>
    poolsIn(rs.pools[name]?.fallback ?? { kind: 'none' }).find((p) => rank.has(p));
  const walkOf = new Map<string, number>();
  order.forEach((start, walk) => {
    const trail: string[] = [];
    let name: string | undefined = start;
    while (name !== undefined && !walkOf.has(name)) {
      walkOf.set(name, walk);
      trail.push(name);
      name = next(name);
    }
    if (name === undefined || walkOf.get(name) !== walk) return;
    // One report per cycle, at the first pool of it in file order.
    const cycle = trail.slice(trail.indexOf(name));
    const first = cycle.reduce((a, b) => ((rank.get(b) ?? 0) < (rank.get(a) ?? 0) ? b : a));
    const from = cycle.indexOf(first);
    const ring = [...cycle.slice(from), ...cycle.slice(0, from), first];
    const explicit = raw.pools?.[first]?.fallback !== undefined;
    reporter.error(
      explicit ? ['pools', first, 'fallback'] : ['pools', first],
      `pool fallbacks form a cycle: ${ring.join(' → ')}` +
        (explicit ? '' : ` (a pool without a fallback uses the rule set's fallback; give "${first}" one)`),
    );
  });

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

/**
 * Overlap warnings are advice, so the pairwise check has a budget (in element comparisons, an upper
 * bound of the work) and lists a bounded number of pairs: thousands of territories, or one with a
 * huge postal code list, must not stall the loader.
 */
export const MAX_OVERLAP_WARNINGS = 20;
export const OVERLAP_CHECK_BUDGET = 2_000_000;

/** An upper bound of the comparisons clauseOverlap makes for this territory against one clause. */
function overlapWeight(t: Territory): number {
  let w = 0;
  for (const c of t.clauses)
    w +=
      1 +
      (c.country?.length ?? 0) +
      (c.state?.length ?? 0) +
      (c.city?.length ?? 0) +
      (c.postalPrefix?.length ?? 0) +
      (c.postalRange?.length ?? 0);
  return w;
}

function warnOverlaps(rs: RuleSet, reporter: Reporter): void {
  const list = Object.values(rs.territories);
  const weights = list.map(overlapWeight);
  let budget = OVERLAP_CHECK_BUDGET;
  let warned = 0;
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const t = list[i];
      const u = list[j];
      const cost = (weights[i] ?? 0) * (weights[j] ?? 0);
      if (t === undefined || u === undefined) continue;
      if (warned === MAX_OVERLAP_WARNINGS || cost > budget) {
        reporter.warn(
          ['territories'],
          warned === MAX_OVERLAP_WARNINGS
            ? `${MAX_OVERLAP_WARNINGS} overlapping pairs of territories are listed; the other pairs were not checked`
            : 'too many territories (or clauses) to check every pair for overlaps; the other pairs were not checked',
          undefined,
          true,
        );
        return;
      }
      budget -= cost;
      const why = t.clauses
        .flatMap((a) => u.clauses.map((b) => clauseOverlap(a, b)))
        .find((w) => w !== undefined);
      if (why === undefined) continue;
      warned += 1;
      reporter.warn(
        ['territories', u.name],
        `territories "${t.name}" and "${u.name}" overlap: both can match ${why}; the first route that names one wins`,
        undefined,
        true,
      );
    }
  }
}
