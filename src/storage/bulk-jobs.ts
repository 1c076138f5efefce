// Bulk jobs (backfill, reassign): existing records paged from the CRM into the inbox as bulk work. A job
// is a small state machine — listing → routing → done (or failed) — whose transitions are
// compare-and-set on the holder of its listing lease; the cursor moves only after the page it covers
// is in the inbox, so a job resumed by another process never skips a record, and the inbox's dedup key
// (one per job and record) makes a page listed twice enqueue nothing new.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { classifyConstraint, type Db } from './db.js';
import { StorageError } from './errors.js';

export type BulkKind = 'backfill' | 'reassign';
export type BulkState = 'listing' | 'routing' | 'done' | 'failed';

export const bulkParamsSchema = z
  .object({
    /** Backfill: records created at or after (epoch ms). */
    since: z.number().int().nonnegative().optional(),
    /** Backfill: records without an owner only. */
    unowned: z.boolean().optional(),
    /** Reassign: the rep whose records move (email, lower case). */
    from: z.string().email().optional(),
  })
  .strict();
export type BulkParams = z.infer<typeof bulkParamsSchema>;

export interface BulkJob {
  id: string;
  tenantId: string;
  kind: BulkKind;
  /** Same key, same open job: starting it again attaches to it. */
  key: string;
  params: BulkParams;
  dryRun: boolean;
  state: BulkState;
  /** The connector's cursor of the next page; null before the first. */
  cursor: string | null;
  /** Records put in the inbox (or previewed, for a dry run) so far. */
  listed: number;
  /** Records the CRM said were still to come after the last page, when it says. */
  remaining: number | null;
  /** A dry run's rotation state after the pages previewed so far (JSON), so turns carry across pages. */
  previewState: string | null;
  error: string | null;
  startedBy: string;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export interface BulkProgress {
  job: BulkJob;
  /** The job's inbox rows routed, dead-lettered and still waiting (pending or leased). */
  routed: number;
  failed: number;
  waiting: number;
}

export interface PreviewRow {
  leadId: string;
  currentOwner: string | null;
  newOwner: string | null;
  /** What the destination is (`rep`, `queue triage`, `none`, `hold`). */
  destination: string;
  /** The route that decided, or `fallback`. */
  rule: string;
}

interface JobRow {
  id: string;
  tenant_id: string;
  kind: BulkKind;
  job_key: string;
  params: string;
  dry_run: number;
  state: BulkState;
  cursor: string | null;
  listed: number;
  remaining: number | null;
  preview_state: string | null;
  error: string | null;
  started_by: string;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

/** The inbox subscription of a job's records: their dedup key is (tenant, this, record id). */
export const BULK_SUBSCRIPTION_PREFIX = 'lead-router.bulk:';
export const bulkSubscription = (jobId: string): string => `${BULK_SUBSCRIPTION_PREFIX}${jobId}`;

function toJob(r: JobRow): BulkJob {
  let params: unknown;
  try {
    params = JSON.parse(r.params);
  } catch (error) {
    throw new StorageError('corrupt', `bulk_jobs.params of job ${r.id} holds invalid JSON`, { cause: error });
  }
  const parsed = bulkParamsSchema.safeParse(params);
  if (!parsed.success)
    throw new StorageError('corrupt', `bulk_jobs.params of job ${r.id} is not what lead-router writes`);
  return {
    id: r.id,
    tenantId: r.tenant_id,
    kind: r.kind,
    key: r.job_key,
    params: parsed.data,
    dryRun: Number(r.dry_run) === 1,
    state: r.state,
    cursor: r.cursor,
    listed: Number(r.listed),
    remaining: r.remaining === null ? null : Number(r.remaining),
    previewState: r.preview_state,
    error: r.error,
    startedBy: r.started_by,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
  };
}

export class BulkJobRepository {
  constructor(private readonly db: Db) {}

  /**
   * Starts a job, or finds the open one with the same tenant and key (`created: false`): running the
   * same backfill twice, or noticing one deactivation twice, makes one job.
   */
  async start(
    input: {
      tenantId: string;
      kind: BulkKind;
      key: string;
      params: BulkParams;
      dryRun: boolean;
      startedBy: string;
    },
    now: number,
  ): Promise<{ job: BulkJob; created: boolean }> {
    const params = bulkParamsSchema.safeParse(input.params);
    if (!params.success)
      throw new StorageError(
        'invalid',
        `bulk job: ${params.error.issues[0]?.message ?? 'invalid parameters'}`,
      );
    if (input.key === '' || input.startedBy === '')
      throw new StorageError('invalid', 'a bulk job needs a key and who started it');
    const id = randomUUID();
    try {
      const r = await this.db.run(
        `INSERT INTO bulk_jobs (id, tenant_id, kind, job_key, params, dry_run, state, cursor, listed, started_by,
           created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'listing', NULL, 0, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [
          id,
          input.tenantId,
          input.kind,
          input.key,
          JSON.stringify(params.data),
          input.dryRun ? 1 : 0,
          input.startedBy,
          now,
          now,
        ],
      );
      const job = r.changes === 1 ? await this.get(id) : await this.openJob(input.tenantId, input.key);
      if (job === null) throw new StorageError('corrupt', 'bulk job vanished right after it was started');
      return { job, created: r.changes === 1 };
    } catch (error) {
      throw classifyConstraint(error);
    }
  }

  async get(id: string): Promise<BulkJob | null> {
    const row = await this.db.get<JobRow>('SELECT * FROM bulk_jobs WHERE id = ?', [id]);
    return row === undefined ? null : toJob(row);
  }

  async openJob(tenantId: string, key: string): Promise<BulkJob | null> {
    const row = await this.db.get<JobRow>(
      `SELECT * FROM bulk_jobs WHERE tenant_id = ? AND job_key = ? AND state IN ('listing', 'routing')`,
      [tenantId, key],
    );
    return row === undefined ? null : toJob(row);
  }

  /** The tenant's jobs, newest first. */
  async list(tenantId: string, limit = 50): Promise<BulkJob[]> {
    return (
      await this.db.all<JobRow>(
        'SELECT * FROM bulk_jobs WHERE tenant_id = ? ORDER BY created_at DESC, id LIMIT ?',
        [tenantId, limit],
      )
    ).map(toJob);
  }

  /**
   * Takes the listing lease of the oldest job still listing whose lease is free (never taken, or
   * expired: its holder died) or already `holder`'s (it goes on listing where its last pass stopped,
   * rather than waiting out its own lease), for `holder` until `now + ttlMs`.
   */
  async claimListing(holder: string, ttlMs: number, now: number): Promise<BulkJob | null> {
    if (holder === '' || !(ttlMs > 0))
      throw new StorageError('invalid', 'a lease needs a holder and a ttl > 0');
    const free = "state = 'listing' AND (lease_until IS NULL OR lease_until <= ? OR holder = ?)";
    const rows = await this.db.all<JobRow>(
      `UPDATE bulk_jobs SET holder = ?, lease_until = ?, updated_at = ?
       WHERE id = (SELECT id FROM bulk_jobs WHERE ${free} ORDER BY created_at, id LIMIT 1) AND ${free}
       RETURNING *`,
      [holder, now + ttlMs, now, now, holder, now, holder],
    );
    const row = rows[0];
    return row === undefined ? null : toJob(row);
  }

  /**
   * Records a page as listed — its records are in the inbox (or the preview) already — and moves the
   * cursor; `last` ends listing. False when `holder` lost the lease meanwhile (another took the job
   * over and lists that page again, which enqueues nothing new).
   */
  async advance(
    job: Pick<BulkJob, 'id' | 'dryRun'>,
    holder: string,
    page: {
      cursor: string | null;
      added: number;
      remaining: number | undefined;
      last: boolean;
      previewState?: string | undefined;
      ttlMs: number;
    },
    now: number,
  ): Promise<boolean> {
    // A dry run has nothing left to route once listed.
    const state: BulkState = !page.last ? 'listing' : job.dryRun ? 'done' : 'routing';
    const r = await this.db.run(
      `UPDATE bulk_jobs SET cursor = ?, listed = listed + ?, remaining = ?, preview_state = COALESCE(?, preview_state),
         state = ?, finished_at = ?, lease_until = ?, holder = ?, updated_at = ?
       WHERE id = ? AND state = 'listing' AND holder = ?`,
      [
        page.cursor,
        page.added,
        page.remaining ?? null,
        page.previewState ?? null,
        state,
        state === 'done' ? now : null,
        page.last ? null : now + page.ttlMs,
        page.last ? null : holder,
        now,
        job.id,
        holder,
      ],
    );
    return r.changes === 1;
  }

  /** Listing failed for good (the CRM refused the query): the reason is kept, routing of what was listed goes on. */
  async fail(id: string, holder: string, reason: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE bulk_jobs SET state = 'failed', error = ?, holder = NULL, lease_until = NULL, updated_at = ?,
         finished_at = ?
       WHERE id = ? AND state = 'listing' AND holder = ?`,
      [reason, now, now, id, holder],
    );
    return r.changes === 1;
  }

  /** Gives the listing lease back (a transient CRM failure): another pass, here or elsewhere, retries. */
  async release(id: string, holder: string, retryAt: number, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE bulk_jobs SET lease_until = ?, updated_at = ? WHERE id = ? AND state = 'listing' AND holder = ?`,
      [retryAt, now, id, holder],
    );
    return r.changes === 1;
  }

  /** Jobs whose records are all listed and which end once the last of them is routed. */
  async routing(limit = 20): Promise<BulkJob[]> {
    return (
      await this.db.all<JobRow>(
        "SELECT * FROM bulk_jobs WHERE state = 'routing' ORDER BY created_at, id LIMIT ?",
        [limit],
      )
    ).map(toJob);
  }

  /** How far the job is: its inbox rows by state (the dedup key's index serves the count). */
  async progress(id: string): Promise<BulkProgress | null> {
    const job = await this.get(id);
    if (job === null) return null;
    const rows = await this.db.all<{ state: string; n: number | string }>(
      'SELECT state, COUNT(*) AS n FROM inbox WHERE tenant_id = ? AND subscription = ? GROUP BY state',
      [job.tenantId, bulkSubscription(id)],
    );
    const count = (s: string): number => Number(rows.find((r) => r.state === s)?.n ?? 0);
    return {
      job,
      routed: count('done'),
      failed: count('failed'),
      waiting: count('pending') + count('leased'),
    };
  }

  /** A routing job none of whose records waits any more is done. True when it was marked now. */
  async finishIfSettled(id: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE bulk_jobs SET state = 'done', finished_at = ?, updated_at = ?
       WHERE id = ? AND state = 'routing' AND NOT EXISTS (
         SELECT 1 FROM inbox WHERE inbox.tenant_id = bulk_jobs.tenant_id AND inbox.subscription = ?
           AND inbox.state IN ('pending', 'leased'))`,
      [now, now, id, bulkSubscription(id)],
    );
    return r.changes === 1;
  }

  /** Stores a dry run's rows (a page previewed twice after a takeover keeps the first). */
  async addPreview(jobId: string, startSeq: number, rows: readonly PreviewRow[]): Promise<void> {
    for (let at = 0; at < rows.length; at += 200) {
      const part = rows.slice(at, at + 200);
      if (part.length === 0) continue;
      await this.db.run(
        `INSERT INTO bulk_preview (job_id, lead_id, seq, current_owner, new_owner, destination, rule)
         VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')} ON CONFLICT DO NOTHING`,
        part.flatMap((p, i) => [
          jobId,
          p.leadId,
          startSeq + at + i,
          p.currentOwner,
          p.newOwner,
          p.destination,
          p.rule,
        ]),
      );
    }
  }

  /** A dry run's rows in listing order. */
  async preview(jobId: string): Promise<PreviewRow[]> {
    const rows = await this.db.all<{
      lead_id: string;
      current_owner: string | null;
      new_owner: string | null;
      destination: string;
      rule: string;
    }>(
      'SELECT lead_id, current_owner, new_owner, destination, rule FROM bulk_preview WHERE job_id = ? ORDER BY seq',
      [jobId],
    );
    return rows.map((r) => ({
      leadId: r.lead_id,
      currentOwner: r.current_owner,
      newOwner: r.new_owner,
      destination: r.destination,
      rule: r.rule,
    }));
  }
}
