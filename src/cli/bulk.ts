// `lead-router backfill` and `lead-router reassign`: start (or find, when one is open with the same
// options) a durable bulk job in the app's database, then follow it with a progress bar until the
// running app's workers have routed its last record. The job runs in the app, not here: stopping this
// command (or a crash of either) loses nothing, and running it again follows the same job.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { startReassign } from '../pipeline/bulk/runner.js';
import { csvLine } from '../reports/csv.js';
import {
  BulkJobRepository,
  type BulkJob,
  type BulkProgress,
  type PreviewRow,
  type Storage,
  type Tenant,
} from '../storage/index.js';
import { formatDuration, progressBar, type ProgressStream } from './progress.js';
import { InputError } from './records-file.js';

export interface BulkIo {
  out: (line: string) => void;
  err: (line: string) => void;
  clock: () => number;
  /** Where the progress bar goes (stderr); a TTY gets a redrawn bar, anything else plain lines. */
  progress: ProgressStream;
  sleep?: ((ms: number) => Promise<void>) | undefined;
}

export interface FollowOptions {
  /** Start the job and return: the app routes it; `backfill` again follows it. */
  detach: boolean;
  /** A dry run's CSV file (default `<kind>-dry-run-<job>.csv` in `dataDir`). */
  csv?: string | undefined;
  /** The app's data directory (DATA_DIR), where a dry run's CSV goes unless `csv` says otherwise. */
  dataDir: string;
  pollMs?: number | undefined;
}

/** No progress for this long: say that the app's workers do the routing. */
const STALL_HINT_MS = 15_000;

/** `--since` as epoch ms: a date or a date-time (ISO 8601). */
export function parseSince(value: string): number {
  const at = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(at))
    throw new InputError(`--since takes a date like 2026-01-31 (ISO 8601), not "${value}"`);
  return at;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function startBackfill(
  storage: Storage,
  tenant: Tenant,
  options: { since?: number | undefined; unowned: boolean; dryRun: boolean },
  now: number,
): ReturnType<BulkJobRepository['start']> {
  const params = {
    ...(options.since === undefined ? {} : { since: options.since }),
    ...(options.unowned ? { unowned: true } : {}),
  };
  const key = `backfill:since=${options.since ?? ''}:unowned=${options.unowned}${options.dryRun ? ':dry-run' : ''}`;
  return new BulkJobRepository(storage.db).start(
    { tenantId: tenant.id, kind: 'backfill', key, params, dryRun: options.dryRun, startedBy: 'cli' },
    now,
  );
}

export function startReassignFrom(
  storage: Storage,
  tenant: Tenant,
  rep: string,
  dryRun: boolean,
  now: number,
): ReturnType<BulkJobRepository['start']> {
  if (!EMAIL.test(rep.trim())) throw new InputError(`--from takes the rep's email, not "${rep}"`);
  return startReassign(new BulkJobRepository(storage.db), tenant.id, rep, dryRun, 'cli', now);
}

/**
 * How many of the job's records are through, and of how many. The total is 0 (not known: the bar waits)
 * while the CRM is still listing them without saying how many remain, as Salesforce's listing does:
 * the records listed so far would read as all of them.
 */
export function jobCounts(p: BulkProgress): { done: number; total: number } {
  const job = p.job;
  const done = job.dryRun ? job.listed : p.routed + p.failed;
  if (job.state === 'listing' && job.remaining === null) return { done, total: 0 };
  const total = job.state === 'listing' ? job.listed + (job.remaining ?? 0) : job.listed;
  return { done, total: Math.max(total, job.listed) };
}

/** The dry run's rows as CSV, quoted as reports are (a cell a spreadsheet would run is defused). */
export function previewCsv(rows: readonly PreviewRow[]): string {
  const header = csvLine(['lead_id', 'current_owner', 'new_owner', 'destination', 'rule']);
  return (
    header + rows.map((r) => csvLine([r.leadId, r.currentOwner, r.newOwner, r.destination, r.rule])).join('')
  );
}

/** What would change: the records whose owner the run would write. */
export const changes = (rows: readonly PreviewRow[]): PreviewRow[] =>
  rows.filter((r) => r.newOwner === null || r.newOwner !== r.currentOwner);

/** Follows a started job to its end; returns the exit code (1 when it failed). */
export async function followJob(
  storage: Storage,
  started: { job: BulkJob; created: boolean },
  options: FollowOptions,
  io: BulkIo,
): Promise<number> {
  const jobs = new BulkJobRepository(storage.db);
  const { job } = started;
  const what = `${job.kind}${job.dryRun ? ' (dry run)' : ''}`;
  io.err(
    `${what} ${job.id}: ${started.created ? 'started' : 'already running with these options: following it'}`,
  );
  if (options.detach) {
    io.out(job.id);
    return 0;
  }
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const bar = progressBar(what, 0, io.progress, io.clock);
  const begun = io.clock();
  let lastDone = -1;
  let movedAt = begun;
  let hinted = false;
  let p: BulkProgress | null;
  for (;;) {
    p = await jobs.progress(job.id);
    if (p === null) throw new InputError(`bulk job ${job.id} is gone`);
    const { done, total } = jobCounts(p);
    bar.tick(done, total);
    if (p.job.state === 'done' || p.job.state === 'failed') break;
    if (done !== lastDone) {
      lastDone = done;
      movedAt = io.clock();
    } else if (!hinted && io.clock() - movedAt > STALL_HINT_MS) {
      hinted = true;
      io.err(
        `\nno progress for ${STALL_HINT_MS / 1000} s: the running app's workers route the job (is \`npm start\` or a worker process up?)`,
      );
    }
    await sleep(options.pollMs ?? 1_000);
  }
  bar.done();
  const took = formatDuration((io.clock() - begun) / 1000);
  if (p.job.state === 'failed') {
    io.err(`${what} ${job.id} failed after ${p.job.listed} records: ${p.job.error ?? 'no reason recorded'}`);
    return 1;
  }
  if (p.job.dryRun) {
    const rows = await jobs.preview(job.id);
    const changed = changes(rows);
    const file = resolve(
      options.csv ?? join(options.dataDir, `${job.kind}-dry-run-${job.id.slice(0, 8)}.csv`),
    );
    // With PostgreSQL nothing else may have made DATA_DIR.
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, previewCsv(changed));
    io.out(
      `${what} ${job.id}: ${rows.length} records decided, ${changed.length} would change owner, ${rows.length - changed.length} stay; wrote ${file}`,
    );
    return 0;
  }
  const dead = p.failed > 0 ? ` (see \`lead-router dead-letters list\`)` : '';
  io.out(
    `${what} ${job.id}: ${p.job.listed} records, ${p.routed} routed, ${p.failed} dead letters${dead}, in ${took}`,
  );
  return 0;
}
