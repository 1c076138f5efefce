// `lead-router simulate`: routes a file of leads through a rule set, in order, carrying rotation state.
import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { AccountIndex } from '../core/accounts.js';
import { decide } from '../core/decide.js';
import { applyStateChanges } from '../core/state.js';
import { explainDecision, summarizeDecision } from '../core/explain.js';
import { fieldsUsedBy } from '../core/fields.js';
import { leadFieldFor, leadFieldForColumn, toLead } from '../core/normalize.js';
import type { Account, Decision, HoldState, Lead, RoutingState, RuleSet, Team } from '../core/types.js';
import { closest } from '../rules/diagnostics.js';
import { routingStateSchema } from '../storage/model.js';
import { InputError, readRecordsFile, type FlatRecord } from './records-file.js';

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
  /** Used when neither the lead nor `--at` gives a time. */
  clock: () => number;
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

function toAccount(record: FlatRecord, path: string, row: number): Account {
  // CSV cells are strings; an empty cell means "not given".
  const cleaned = Object.fromEntries(Object.entries(record).filter(([, v]) => v !== '' && v !== null));
  const parsed = accountSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(
      `${path} row ${row} column ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`,
    );
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

/** Normalized fields that must parse when their column has a value. */
const TYPED_FIELDS: Partial<Record<keyof Lead, string>> = {
  employees: 'a number',
  annualRevenue: 'a number',
  score: 'a number',
  createdAt: 'a date (use ISO 8601)',
};

function checkLeadRecord(record: FlatRecord, lead: Lead, path: string, row: number): void {
  for (const [column, value] of Object.entries(record)) {
    if (value === '' || value === null || value === undefined) continue;
    const field = leadFieldForColumn(column);
    const expected = field === undefined ? undefined : TYPED_FIELDS[field];
    if (field !== undefined && expected !== undefined && lead[field] === undefined) {
      throw new InputError(
        `${path} row ${row} column ${column}: ${JSON.stringify(value)} is not ${expected}`,
      );
    }
  }
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
      a.kind === 'create_task'
        ? 'task'
        : a.kind === 'enroll_sequence'
          ? `seq:${a.sequence.name ?? a.sequence.id ?? '?'}`
          : 'note',
    )
    .join(' ');
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '))
    .join('\n');
}

/** Runs the simulation and returns what to print; throws InputError for bad input. */
export async function simulate(opts: SimulateOptions): Promise<string[]> {
  const leadsFile = await readRecordsFile(opts.leadsPath, 'leads');
  const unknown = unknownFields(opts.ruleSet, leadsFile.columns);
  if (unknown.length > 0) {
    const columns = [...leadsFile.columns];
    const detail = unknown.map((f) => {
      const guess = closest(f, columns);
      return `"${f}"${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`;
    });
    throw new InputError(
      `${opts.rulesPath} uses field ${detail.join(', ')} that is neither a lead field nor a column of ${opts.leadsPath}`,
    );
  }

  let accounts: AccountIndex | undefined;
  if (opts.accountsPath !== undefined) {
    const accountsFile = await readRecordsFile(opts.accountsPath, 'accounts');
    accounts = AccountIndex.build(
      accountsFile.records.map((r, i) => toAccount(r, opts.accountsPath ?? '', i + 2)),
    );
  }
  const at = opts.at === undefined ? undefined : parseAt(opts.at);
  let state = opts.statePath === undefined ? EMPTY_STATE : await readState(opts.statePath);

  // A lead that appears again (same email) is decided again at that row's time, as when enrichment
  // data arrives; an earlier hold carries over so its timeout runs from the first decision.
  const holds = new Map<string, HoldState>();
  const out: string[] = [];
  const rows: string[][] = [['LEAD', 'ROUTE', 'OWNER', 'ACTIONS']];
  leadsFile.records.forEach((record, i) => {
    const row = i + 2; // 1-based, after the header line
    const lead = toLead({ id: `row-${row}`, ...record });
    checkLeadRecord(record, lead, opts.leadsPath, row);
    const now = lead.createdAt ?? at ?? opts.clock();
    const key = lead.email ?? lead.id;
    const decision = decide(
      lead,
      opts.ruleSet,
      { team: opts.team, state, accounts, hold: holds.get(key) },
      now,
    );
    state = applyStateChanges(state, decision.stateChanges);
    if (decision.destination.kind === 'hold' && decision.route !== null) {
      if (!holds.has(key)) holds.set(key, { route: decision.route.name, since: now });
    } else {
      holds.delete(key);
    }
    const summary = summarizeDecision(decision, lead, opts.team);
    if (opts.json) {
      const { stateChanges: _changes, trace, ...rest } = decision;
      out.push(
        JSON.stringify({
          lead: lead.email ?? lead.id,
          ...rest,
          owner: ownerOf(decision),
          summary,
          ...(opts.explain ? { trace } : {}),
        }),
      );
    } else if (opts.explain) {
      out.push(explainDecision(decision, lead, opts.team), '');
    } else {
      rows.push([
        lead.email ?? lead.id,
        decision.route?.name ?? '(fallback)',
        ownerOf(decision),
        actionsOf(decision),
      ]);
    }
  });
  if (!opts.json && !opts.explain) out.push(table(rows));
  if (opts.statePath !== undefined) await writeFile(opts.statePath, JSON.stringify(state, null, 2) + '\n');
  return out;
}
