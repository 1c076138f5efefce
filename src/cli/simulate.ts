// `lead-router simulate`: routes a file of leads through a rule set, in order, carrying rotation state.
import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { AccountIndex } from '../core/accounts.js';
import { decide } from '../core/decide.js';
import { applyStateChanges } from '../core/state.js';
import { explainDecision, summarizeDecision } from '../core/explain.js';
import { fieldsUsedBy } from '../core/fields.js';
import { leadFieldFor, leadFieldForColumn, toLead } from '../core/normalize.js';
import type { Account, Decision, HoldState, RoutingState, RuleSet, Team } from '../core/types.js';
import { closest } from '../rules/diagnostics.js';
import { routingStateSchema } from '../storage/model.js';
import {
  formatProblem,
  InputError,
  leadProblems,
  readRecordsFile,
  showValue,
  type FileRow,
  type RecordsFile,
  type RowProblem,
} from './records-file.js';

export interface SimulateOptions {
  ruleSet: RuleSet;
  rulesPath: string;
  team: Team;
  leadsPath: string;
  accountsPath?: string | undefined;
  at?: string | undefined;
  statePath?: string | undefined;
  json: boolean;
  explain: boolean;
  /** Stop at the first bad row instead of reporting every one and deciding the rest. */
  strict: boolean;
  /** Used when neither the lead nor `--at` gives a time. */
  clock: () => number;
  /** Each line of output as soon as it is known (a large file is never held as one text). */
  out: (line: string) => void;
  warn: (message: string) => void;
  error: (message: string) => void;
}

export interface SimulateResult {
  decided: number;
  /** Lead and account rows reported as bad and left out. */
  rejected: number;
}

export const EMPTY_STATE: RoutingState = { pools: {}, reps: {} };

async function readState(path: string): Promise<RoutingState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    // A state file that does not exist yet starts an empty rotation, and is written at the end.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_STATE;
    throw new InputError(`cannot read state file ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${path}: not valid JSON: ${(err as Error).message}`);
  }
  const parsed = routingStateSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(
      `${path}: not a rotation state file (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'})`,
    );
  }
  return parsed.data;
}

const accountSchema = z.object({
  id: z.coerce.string().min(1, 'is required'),
  name: z.string().min(1, 'is required'),
  domain: z.string().optional(),
  domains: z.union([z.string(), z.array(z.string())]).optional(),
  owner: z.string().optional(),
  type: z.enum(['customer', 'partner', 'prospect', 'other', '']).optional(),
  contacts: z.coerce.number().int().nonnegative().optional(),
});
const ACCOUNT_COLUMNS = Object.keys(accountSchema.shape);

function toAccount(row: FileRow): Account | RowProblem {
  // CSV cells are strings; an empty cell means "not given".
  const cleaned = Object.fromEntries(Object.entries(row.record).filter(([, v]) => v !== '' && v !== null));
  const parsed = accountSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const column = issue?.path.join('.') ?? '?';
    const value = cleaned[column];
    return {
      line: row.line,
      column,
      message: `${value === undefined ? '' : `${showValue(value)}: `}${issue?.message ?? 'invalid'}`,
    };
  }
  const a = parsed.data;
  const list = typeof a.domains === 'string' ? a.domains.split(/[;,\s]+/) : (a.domains ?? []);
  const domains = [...(a.domain === undefined ? [] : [a.domain]), ...list]
    .map((d) => d.trim().toLowerCase())
    .filter((d) => d !== '');
  return {
    id: a.id,
    name: a.name,
    domains,
    owner: a.owner?.toLowerCase(),
    type: a.type === '' ? undefined : a.type,
    contacts: a.contacts,
  };
}

/** Columns an accounts file has that no account field reads: they would change nothing, silently. */
function unknownAccountColumns(columns: Iterable<string>): string[] {
  const known = new Set(ACCOUNT_COLUMNS);
  return [...columns]
    .filter((c) => !known.has(c))
    .map((c) => {
      const guess = closest(c, ACCOUNT_COLUMNS);
      return `column "${c}" is not an account field and is ignored (${guess === undefined ? `known: ${ACCOUNT_COLUMNS.join(', ')}` : `did you mean "${guess}"?`})`;
    });
}

function unknownFields(ruleSet: RuleSet, columns: Set<string>): string[] {
  const lower = new Set([...columns].map((c) => c.toLowerCase()));
  return fieldsUsedBy(ruleSet).filter((f) => leadFieldFor(f) === undefined && !lower.has(f.toLowerCase()));
}

function parseAt(at: string): number {
  const ms = Date.parse(at);
  if (Number.isNaN(ms)) throw new InputError(`--at "${at}" is not an ISO 8601 time`);
  return ms;
}

function ownerOf(d: Decision): string {
  switch (d.destination.kind) {
    case 'rep':
      return d.destination.email;
    case 'queue':
      return `queue:${d.destination.name}`;
    case 'none':
      return '(none)';
    case 'hold':
      return `(held: ${d.destination.fields.join(',')})`;
    default: {
      const never: never = d.destination;
      return String(never);
    }
  }
}

function actionsOf(d: Decision): string {
  return d.actions
    .filter((a) => a.kind !== 'set_owner' && a.kind !== 'set_queue')
    .map((a) =>
      a.kind === 'create_task' || a.kind === 'queue_task'
        ? 'task'
        : a.kind === 'enroll_sequence'
          ? `seq:${a.sequence.name ?? a.sequence.id ?? '?'}`
          : 'note',
    )
    .join(' ');
}

/** Widest a table column gets; longer cells end in an ellipsis (a 10 MB cell stays one short line). */
const MAX_COLUMN_WIDTHS = [40, 30, 40, 60] as const;
/** Rows read before the column widths are fixed; later rows are printed as they are decided. */
const TABLE_SAMPLE = 200;

function fit(cell: string, width: number): string {
  return cell.length <= width ? cell : `${cell.slice(0, Math.max(0, width - 1))}…`;
}

/** A table printed as it goes: widths come from the first rows, capped, and later cells are cut to fit. */
class StreamingTable {
  private readonly pending: string[][];
  private widths: number[] | undefined;

  constructor(
    header: string[],
    private readonly out: (line: string) => void,
  ) {
    this.pending = [header];
  }

  push(row: string[]): void {
    if (this.widths !== undefined) this.print(row);
    else {
      this.pending.push(row);
      if (this.pending.length > TABLE_SAMPLE) this.flush();
    }
  }

  flush(): void {
    if (this.widths === undefined) {
      const widths = MAX_COLUMN_WIDTHS.map(() => 0);
      for (const row of this.pending)
        row.forEach((cell, i) => {
          widths[i] = Math.min(Math.max(widths[i] ?? 0, cell.length), MAX_COLUMN_WIDTHS[i] ?? 0);
        });
      this.widths = widths;
    }
    for (const row of this.pending.splice(0)) this.print(row);
  }

  private print(row: string[]): void {
    const widths = this.widths ?? [];
    const last = row.length - 1;
    this.out(
      row
        .map((cell, i) => {
          const cut = fit(cell, i === last ? (MAX_COLUMN_WIDTHS[i] ?? 0) : (widths[i] ?? 0));
          return i === last ? cut : cut.padEnd(widths[i] ?? 0);
        })
        .join('  ')
        .trimEnd(),
    );
  }
}

/** Lets pending I/O events (a reader that closed the pipe) through during a long run. */
const YIELD_EVERY = 1000;

async function readAccounts(
  opts: SimulateOptions,
  path: string,
  report: (file: string, p: RowProblem) => boolean,
): Promise<AccountIndex | undefined> {
  const file = await readRecordsFile(path, 'accounts');
  if (file.rows.length === 0 && file.problems.length === 0) opts.warn(`${path} has no accounts`);
  for (const message of unknownAccountColumns(file.columns)) opts.warn(`${path} ${message}`);
  const accounts: Account[] = [];
  const problems = [...file.problems];
  for (const row of file.rows) {
    const account = toAccount(row);
    if ('line' in account) problems.push(account);
    else accounts.push(account);
  }
  problems.sort((a, b) => a.line - b.line);
  for (const p of problems) if (!report(path, p)) return undefined;
  return AccountIndex.build(accounts);
}

function checkLeadsFile(opts: SimulateOptions, file: RecordsFile): void {
  if (file.rows.length === 0 && file.problems.length === 0) opts.warn(`${opts.leadsPath} has no leads`);
  else if (![...file.columns].some((c) => leadFieldForColumn(c) === 'email'))
    opts.warn(
      `${opts.leadsPath} has no email column: leads are told apart by row, and rules on email or domain match nothing`,
    );
  const unknown = unknownFields(opts.ruleSet, file.columns);
  if (unknown.length > 0) {
    const columns = [...file.columns];
    const detail = unknown.map((f) => {
      const guess = closest(f, columns);
      return `"${f}"${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`;
    });
    throw new InputError(
      `${opts.rulesPath} uses field ${detail.join(', ')} that is neither a lead field nor a column of ${opts.leadsPath}`,
    );
  }
}

/**
 * Decides every good lead row in file order and prints each decision as it is made. Bad rows are
 * reported with their line and column and left out (with `strict`, the first one ends the run); the
 * rotation state of the rows decided is still written. Throws InputError for a file that cannot be read.
 */
export async function simulate(opts: SimulateOptions): Promise<SimulateResult> {
  const leadsFile = await readRecordsFile(opts.leadsPath, 'leads');
  checkLeadsFile(opts, leadsFile);
  let rejected = 0;
  let stopped = false;
  /** Reports one bad row; false when the run must stop there. */
  const report = (path: string, p: RowProblem): boolean => {
    opts.error(formatProblem(path, p));
    rejected++;
    if (opts.strict) stopped = true;
    return !stopped;
  };

  const accounts =
    opts.accountsPath === undefined ? undefined : await readAccounts(opts, opts.accountsPath, report);
  const at = opts.at === undefined ? undefined : parseAt(opts.at);
  let state = opts.statePath === undefined ? EMPTY_STATE : await readState(opts.statePath);

  // A lead that appears again (same email) is decided again at that row's time, as when enrichment
  // data arrives; an earlier hold carries over so its timeout runs from the first decision.
  const holds = new Map<string, HoldState>();
  const table =
    opts.json || opts.explain
      ? undefined
      : new StreamingTable(['LEAD', 'ROUTE', 'OWNER', 'ACTIONS'], opts.out);
  const readProblems = leadsFile.problems;
  let nextProblem = 0;
  let decided = 0;
  for (const row of stopped ? [] : leadsFile.rows) {
    while (!stopped && (readProblems[nextProblem]?.line ?? Infinity) < row.line)
      report(opts.leadsPath, readProblems[nextProblem++] as RowProblem);
    if (stopped) break;
    const lead = toLead({ id: `row-${row.line}`, ...row.record });
    const problems = leadProblems(row, lead);
    if (problems.length > 0) {
      for (const p of problems) if (!stopped) report(opts.leadsPath, p);
      if (stopped) break;
      continue;
    }
    const now = lead.createdAt ?? at ?? opts.clock();
    const key = lead.email ?? lead.id;
    const decision = decide(
      lead,
      opts.ruleSet,
      { team: opts.team, state, accounts, hold: holds.get(key) },
      now,
    );
    state = applyStateChanges(state, decision.stateChanges);
    decided++;
    if (decision.destination.kind === 'hold' && decision.route !== null) {
      if (!holds.has(key)) holds.set(key, { route: decision.route.name, since: now });
    } else {
      holds.delete(key);
    }
    const summary = summarizeDecision(decision, lead, opts.team);
    if (opts.json) {
      const { stateChanges: _changes, trace, ...rest } = decision;
      opts.out(
        JSON.stringify({
          lead: lead.email ?? lead.id,
          ...rest,
          owner: ownerOf(decision),
          summary,
          ...(opts.explain ? { trace } : {}),
        }),
      );
    } else if (opts.explain) {
      opts.out(explainDecision(decision, lead, opts.team));
      opts.out('');
    } else {
      table?.push([
        lead.email ?? lead.id,
        decision.route?.name ?? '(fallback)',
        ownerOf(decision),
        actionsOf(decision),
      ]);
    }
    if (decided % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  while (!stopped && nextProblem < readProblems.length)
    report(opts.leadsPath, readProblems[nextProblem++] as RowProblem);
  table?.flush();
  if (opts.statePath !== undefined) await writeFile(opts.statePath, JSON.stringify(state, null, 2) + '\n');
  return { decided, rejected };
}
