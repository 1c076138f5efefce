// One schema for both engines. Types are chosen to mean the same thing in SQLite and PostgreSQL:
// TEXT, INTEGER (small counters), BIGINT (epoch milliseconds, ids); JSON is stored as TEXT and parsed
// through a schema when read. Migrations are append-only: never edit a released one, add the next.
import type { Db, Dialect } from './db.js';
import { StorageError } from './errors.js';
import { routingStateSchema } from './model.js';

export interface Migration {
  version: number;
  name: string;
  statements: (d: Dialect) => string[];
  /** Data moves that need code, run after `statements` in the same transaction; same code on both engines. */
  run?: (tx: Db, now: number) => Promise<void>;
}

/**
 * Moves each tenant's rotation document (migration 1) into one row per pool and one per rep, then drops
 * the document table, so rotations survive the upgrade where they were.
 */
async function splitRoutingState(tx: Db, now: number): Promise<void> {
  const docs = await tx.all<{ tenant_id: string; state: string }>(
    'SELECT tenant_id, state FROM routing_state',
  );
  for (const doc of docs) {
    let parsed: ReturnType<typeof routingStateSchema.safeParse>;
    try {
      parsed = routingStateSchema.safeParse(JSON.parse(doc.state));
    } catch (error) {
      throw new StorageError('corrupt', `routing_state of tenant ${doc.tenant_id} holds invalid JSON`, {
        cause: error,
      });
    }
    if (!parsed.success) {
      throw new StorageError('corrupt', `routing_state of tenant ${doc.tenant_id}: ${parsed.error.message}`);
    }
    const entries = [
      ...Object.entries(parsed.data.pools).map(([name, value]) => ['pool', name, value] as const),
      ...Object.entries(parsed.data.reps).map(([name, value]) => ['rep', name, value] as const),
    ];
    for (const [kind, name, value] of entries) {
      await tx.run(
        `INSERT INTO rotation_state (tenant_id, kind, name, state, version, updated_at) VALUES (?, ?, ?, ?, 1, ?)`,
        [doc.tenant_id, kind, name, JSON.stringify(value), now],
      );
    }
  }
  await tx.run('DROP TABLE routing_state');
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    statements: (d) => [
      `CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        provider TEXT NOT NULL CHECK (provider IN ('hubspot', 'salesforce', 'sandbox')),
        external_id TEXT NOT NULL,
        name TEXT NOT NULL,
        token_blob TEXT,
        webhook_secret_ref TEXT,
        settings TEXT NOT NULL,
        active_ruleset_version TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (provider, external_id)
      )`,
      `CREATE TABLE rulesets (
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        version TEXT NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('draft', 'published')),
        created_by TEXT,
        created_at BIGINT NOT NULL,
        published_by TEXT,
        published_at BIGINT,
        PRIMARY KEY (tenant_id, version)
      )`,
      `CREATE TABLE inbox (
        id ${d.autoId},
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        subscription TEXT NOT NULL,
        event_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        object_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'leased', 'done', 'failed')),
        attempts INTEGER NOT NULL,
        run_after BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until BIGINT,
        last_error TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (tenant_id, subscription, event_id)
      )`,
      `CREATE INDEX inbox_claim ON inbox (state, run_after, id)`,
      `CREATE INDEX inbox_tenant_claim ON inbox (tenant_id, state, run_after, id)`,
      `CREATE INDEX inbox_lease ON inbox (state, lease_until)`,
      // The effect key: whoever inserts it first routes the lead; a second event for the same lead
      // (another event id, a redelivery under a new id) finds it taken.
      `CREATE TABLE effects (
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        lead_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        inbox_id BIGINT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('claimed', 'done')),
        claimed_at BIGINT NOT NULL,
        done_at BIGINT,
        PRIMARY KEY (tenant_id, lead_id, purpose)
      )`,
      `CREATE INDEX effects_inbox ON effects (inbox_id)`,
      `CREATE TABLE routing_state (
        tenant_id TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
        state TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at BIGINT NOT NULL
      )`,
      `CREATE TABLE decisions (
        id ${d.autoId},
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        decision_key TEXT NOT NULL,
        lead_id TEXT NOT NULL,
        email TEXT,
        decided_at BIGINT NOT NULL,
        route_name TEXT,
        route_index INTEGER,
        destination TEXT NOT NULL,
        owner TEXT,
        ruleset_name TEXT NOT NULL,
        ruleset_version TEXT NOT NULL,
        actions TEXT NOT NULL,
        sla TEXT,
        trace TEXT NOT NULL,
        summary TEXT NOT NULL,
        UNIQUE (tenant_id, decision_key)
      )`,
      `CREATE INDEX decisions_lead ON decisions (tenant_id, lead_id, decided_at)`,
      `CREATE INDEX decisions_email ON decisions (tenant_id, email, decided_at)`,
      `CREATE TABLE actions (
        id ${d.autoId},
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        lead_id TEXT NOT NULL,
        decision_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('planned', 'done', 'failed')),
        crm_id TEXT,
        error TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (tenant_id, lead_id, kind, decision_key)
      )`,
      `CREATE INDEX actions_lead ON actions (tenant_id, lead_id, status)`,
      `CREATE TABLE holds (
        id ${d.autoId},
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        lead_id TEXT NOT NULL,
        route TEXT NOT NULL,
        fields TEXT NOT NULL,
        since BIGINT NOT NULL,
        until BIGINT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('held', 'released', 'timed_out')),
        released_at BIGINT
      )`,
      // At most one open hold per lead; released ones stay as history.
      `CREATE UNIQUE INDEX holds_open ON holds (tenant_id, lead_id) WHERE state = 'held'`,
      `CREATE INDEX holds_due ON holds (state, until)`,
      `CREATE TABLE sla_timers (
        id ${d.autoId},
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        lead_id TEXT NOT NULL,
        decision_key TEXT NOT NULL,
        owner TEXT,
        due_at BIGINT NOT NULL,
        on_breach TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('armed', 'met', 'breached', 'cancelled')),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (tenant_id, lead_id, decision_key)
      )`,
      `CREATE INDEX sla_due ON sla_timers (state, due_at)`,
      `CREATE TABLE directory_cache (
        tenant_id TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
        directory TEXT NOT NULL,
        fetched_at BIGINT NOT NULL
      )`,
    ],
  },
  {
    version: 2,
    name: 'actions by decision',
    // Every commit and retry reads a decision's actions; without this a burst scans all actions per lead.
    statements: () => [`CREATE INDEX actions_decision ON actions (tenant_id, decision_key)`],
  },
  {
    version: 3,
    name: 'pending actions by kind',
    // Explanation notes are written in gathered batches, found by kind among the planned actions.
    statements: () => [`CREATE INDEX actions_pending ON actions (status, kind, id)`],
  },
  {
    version: 4,
    name: 'rotation state per pool and rep',
    // The one document per tenant was parsed and rewritten by every decision and grew with the
    // least-loaded windows; with a row per entry a commit reads and writes only the entries it changed,
    // each a compare-and-set on its own version.
    statements: () => [
      `CREATE TABLE rotation_state (
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('pool', 'rep')),
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, kind, name)
      )`,
    ],
    run: splitRoutingState,
  },
  {
    version: 5,
    name: 'action leases and sends',
    // Every worker process writes deferred notes: an action is leased to one writer before it is sent.
    // A CRM create has no idempotency key, so the time a create was sent is stored before sending; an
    // attempt that finds it set looks in the CRM for what the earlier one may have made.
    statements: () => [
      `ALTER TABLE actions ADD COLUMN lease_owner TEXT`,
      `ALTER TABLE actions ADD COLUMN lease_until BIGINT`,
      `ALTER TABLE actions ADD COLUMN sent_at BIGINT`,
    ],
  },
  {
    version: 6,
    name: 'fair claims across tenants',
    // Work is claimed one tenant at a time, in turn: `work_turn` orders the tenants (served longest ago
    // first), `priority` puts a tenant's live events before its bulk work, and the index finds the
    // tenants with pending rows (a skip over tenant ids) and serves each one's claim in order. The
    // FIFO index across tenants is no longer used.
    statements: () => [
      `ALTER TABLE inbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0 CHECK (priority IN (0, 1))`,
      `ALTER TABLE tenants ADD COLUMN work_turn BIGINT NOT NULL DEFAULT 0`,
      `CREATE INDEX inbox_fair_claim ON inbox (state, tenant_id, priority, run_after, id)`,
      `CREATE INDEX tenants_work_turn ON tenants (work_turn)`,
      `DROP INDEX inbox_claim`,
    ],
  },
  {
    version: 7,
    name: 'retention',
    // The housekeeping lane deletes finished rows by age in batches: each index finds the oldest
    // finished rows of one table without scanning the live ones.
    statements: () => [
      `CREATE INDEX inbox_finished ON inbox (state, updated_at, id)`,
      `CREATE INDEX effects_finished ON effects (state, done_at)`,
      `CREATE INDEX decisions_age ON decisions (decided_at, id)`,
    ],
  },
  {
    version: 8,
    name: 'uninstalls and privacy deletions',
    // A portal that uninstalled the app keeps its rules and rotation for a reinstall, but its work is
    // no longer claimed. A privacy deletion leaves only how many rows it removed, never whose.
    statements: (d) => [
      `ALTER TABLE tenants ADD COLUMN uninstalled_at BIGINT`,
      `CREATE TABLE privacy_deletions (
        id ${d.autoId},
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        deleted_at BIGINT NOT NULL,
        rows_deleted TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 9,
    name: 'stream subscriptions',
    // A pulled event stream (Salesforce CDC) is read by one process per tenant and channel: the lease
    // says which, and another takes it over once it expires. The cursor says where the stream resumes
    // (the last replay id whose events are in the inbox) and up to when the catch-up poll has covered
    // creations.
    statements: () => [
      `CREATE TABLE stream_leases (
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        channel TEXT NOT NULL,
        holder TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        taken_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, channel)
      )`,
      `CREATE TABLE stream_cursors (
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        channel TEXT NOT NULL,
        replay_id TEXT,
        replay_at BIGINT,
        covered_until BIGINT,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, channel)
      )`,
    ],
  },
  {
    version: 10,
    name: 'tenant configuration',
    // Each tenant's team lives here with versions, as its rule sets do; a publication records what
    // became active together (rules and team), by whom and why, so any earlier one can be restored.
    // Each decision keeps the normalized lead and the matched account it was decided on, so a past
    // lead can be decided again under another version (impact preview); `search` is the lower-cased
    // email, name and company the activity search matches.
    statements: (d) => [
      `CREATE TABLE team_versions (
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        version TEXT NOT NULL,
        source TEXT NOT NULL,
        created_by TEXT,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, version)
      )`,
      `ALTER TABLE tenants ADD COLUMN active_team_version TEXT`,
      `CREATE TABLE config_publications (
        id ${d.autoId},
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        ruleset_version TEXT NOT NULL,
        team_version TEXT,
        published_by TEXT NOT NULL,
        published_at BIGINT NOT NULL,
        note TEXT NOT NULL
      )`,
      `CREATE INDEX config_publications_tenant ON config_publications (tenant_id, id)`,
      `CREATE TABLE decision_inputs (
        tenant_id TEXT NOT NULL,
        decision_key TEXT NOT NULL,
        lead TEXT NOT NULL,
        account TEXT,
        search TEXT NOT NULL,
        PRIMARY KEY (tenant_id, decision_key),
        FOREIGN KEY (tenant_id, decision_key) REFERENCES decisions (tenant_id, decision_key) ON DELETE CASCADE
      )`,
    ],
  },
  {
    version: 11,
    name: 'open provider list',
    // The provider is any connector's key, validated as a short identifier when a tenant is created
    // (`providerSchema`); the closed CHECK list would refuse every CRM added after it. PostgreSQL drops
    // the constraint. SQLite cannot, so the table is rebuilt the way its documentation prescribes
    // (foreign keys are off while migrating, see `migrate`): the other tables' `REFERENCES tenants`
    // name the new table once it has the name.
    statements: (d) =>
      d.name === 'postgres'
        ? ['ALTER TABLE tenants DROP CONSTRAINT IF EXISTS tenants_provider_check']
        : [
            `CREATE TABLE tenants_open (
              id TEXT PRIMARY KEY,
              provider TEXT NOT NULL,
              external_id TEXT NOT NULL,
              name TEXT NOT NULL,
              token_blob TEXT,
              webhook_secret_ref TEXT,
              settings TEXT NOT NULL,
              active_ruleset_version TEXT,
              created_at BIGINT NOT NULL,
              updated_at BIGINT NOT NULL,
              work_turn BIGINT NOT NULL DEFAULT 0,
              uninstalled_at BIGINT,
              active_team_version TEXT,
              UNIQUE (provider, external_id)
            )`,
            `INSERT INTO tenants_open (id, provider, external_id, name, token_blob, webhook_secret_ref, settings,
               active_ruleset_version, created_at, updated_at, work_turn, uninstalled_at, active_team_version)
             SELECT id, provider, external_id, name, token_blob, webhook_secret_ref, settings,
               active_ruleset_version, created_at, updated_at, work_turn, uninstalled_at, active_team_version
             FROM tenants`,
            'DROP TABLE tenants',
            'ALTER TABLE tenants_open RENAME TO tenants',
            'CREATE INDEX tenants_work_turn ON tenants (work_turn)',
          ],
  },
  {
    version: 12,
    name: 'settings tab reads',
    // The activity view lists one tenant's decisions by time, and the health page its failed writes.
    statements: () => [
      `CREATE INDEX decisions_tenant_time ON decisions (tenant_id, decided_at, id)`,
      `CREATE INDEX actions_failed ON actions (tenant_id, updated_at) WHERE status = 'failed'`,
    ],
  },
  {
    version: 13,
    name: 'bulk jobs',
    // A backfill or reassign pages existing records from the CRM into the inbox as bulk work. The job
    // row holds where paging resumes (the connector's cursor, moved only after the page is in the inbox)
    // and who is paging (a lease, taken over once it expires). One open job per tenant and key, so a
    // second `backfill` with the same options, or a deactivation noticed twice, attaches to it.
    statements: () => [
      `CREATE TABLE bulk_jobs (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('backfill', 'reassign')),
        job_key TEXT NOT NULL,
        params TEXT NOT NULL,
        dry_run INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
        state TEXT NOT NULL CHECK (state IN ('listing', 'routing', 'done', 'failed')),
        cursor TEXT,
        listed INTEGER NOT NULL,
        remaining INTEGER,
        preview_state TEXT,
        holder TEXT,
        lease_until BIGINT,
        error TEXT,
        started_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        finished_at BIGINT
      )`,
      `CREATE UNIQUE INDEX bulk_jobs_open ON bulk_jobs (tenant_id, job_key) WHERE state IN ('listing', 'routing')`,
      `CREATE INDEX bulk_jobs_state ON bulk_jobs (state, created_at)`,
      // What a dry run would change, one row per record: the CSV is written from these.
      `CREATE TABLE bulk_preview (
        job_id TEXT NOT NULL REFERENCES bulk_jobs (id) ON DELETE CASCADE,
        lead_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        current_owner TEXT,
        new_owner TEXT,
        destination TEXT NOT NULL,
        rule TEXT NOT NULL,
        PRIMARY KEY (job_id, lead_id)
      )`,
    ],
  },
  {
    version: 14,
    name: 'SLA timers that act, and notifications',
    // A timer walks its checkpoints (the first-touch deadline and each breach step) under a lease, so
    // one worker acts on it at a time; `due_at` is its next checkpoint. Each step taken is a row of
    // sla_steps (claimed, sent, done: a CRM write is never sent twice), which `explain` and reports
    // read. Notifications are durable deliveries, retried with backoff; a channel that keeps failing is
    // marked failing rather than retried forever.
    statements: (d) => [
      `ALTER TABLE sla_timers ADD COLUMN checkpoint INTEGER NOT NULL DEFAULT 0`,
      `ALTER TABLE sla_timers ADD COLUMN started_at BIGINT`,
      `ALTER TABLE sla_timers ADD COLUMN expected_owner TEXT`,
      `ALTER TABLE sla_timers ADD COLUMN had TEXT`,
      `ALTER TABLE sla_timers ADD COLUMN rerouting TEXT`,
      `ALTER TABLE sla_timers ADD COLUMN lease_owner TEXT`,
      `ALTER TABLE sla_timers ADD COLUMN lease_until BIGINT`,
      `ALTER TABLE sla_timers ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0`,
      `ALTER TABLE sla_timers ADD COLUMN last_error TEXT`,
      `ALTER TABLE sla_timers ADD COLUMN first_touch_at BIGINT`,
      `ALTER TABLE sla_timers ADD COLUMN touch_signal TEXT`,
      `ALTER TABLE sla_timers ADD COLUMN breached_at BIGINT`,
      `ALTER TABLE sla_timers ADD COLUMN outcome TEXT`,
      `CREATE INDEX sla_tenant_due ON sla_timers (tenant_id, state, due_at)`,
      `CREATE TABLE sla_steps (
        id ${d.autoId},
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        timer_id BIGINT NOT NULL,
        lead_id TEXT NOT NULL,
        checkpoint INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('breach', 'remind', 'reroute', 'escalate', 'met', 'left_alone')),
        detail TEXT NOT NULL,
        owner TEXT,
        status TEXT NOT NULL CHECK (status IN ('planned', 'sent', 'done', 'failed')),
        crm_id TEXT,
        error TEXT,
        at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (tenant_id, timer_id, checkpoint, kind)
      )`,
      `CREATE INDEX sla_steps_lead ON sla_steps (tenant_id, lead_id, at)`,
      `CREATE TABLE notifications (
        id ${d.autoId},
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        channel TEXT NOT NULL,
        message_id TEXT NOT NULL,
        event TEXT NOT NULL,
        lead_id TEXT,
        payload TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL,
        run_after BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until BIGINT,
        last_error TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        delivered_at BIGINT,
        UNIQUE (tenant_id, channel, message_id)
      )`,
      `CREATE INDEX notifications_due ON notifications (state, run_after)`,
      `CREATE TABLE notification_channels (
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        channel TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('ok', 'failing')),
        failing_since BIGINT,
        last_error TEXT,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, channel)
      )`,
    ],
  },
  {
    version: 15,
    name: 'report columns on decisions',
    // Reports group decisions by rule, pool and rep within a time window, per tenant (through
    // decisions_tenant_time): each decision keeps the CRM event time it answered (speed to lead), the
    // pool that assigned it, and the fallbacks it took (a JSON list, null when none), so a report reads
    // columns, not every trace.
    statements: () => [
      `ALTER TABLE decisions ADD COLUMN event_at BIGINT`,
      `ALTER TABLE decisions ADD COLUMN pool TEXT`,
      `ALTER TABLE decisions ADD COLUMN fallbacks TEXT`,
    ],
  },
  {
    version: 16,
    name: 'publication approvals',
    // A tenant that requires approval publishes through a request a second admin approves: the request
    // names the stored versions it would make active and the versions its author saw (a publication in
    // between makes it stale); a publication remembers who approved it.
    statements: (d) => [
      `CREATE TABLE publication_requests (
        id ${d.autoId},
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        ruleset_version TEXT NOT NULL,
        team_version TEXT,
        based_on_ruleset TEXT,
        based_on_team TEXT,
        requested_by TEXT NOT NULL,
        requested_at BIGINT NOT NULL,
        note TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'stale')),
        decided_by TEXT,
        decided_at BIGINT,
        publication_id BIGINT
      )`,
      `CREATE INDEX publication_requests_tenant ON publication_requests (tenant_id, id)`,
      `ALTER TABLE config_publications ADD COLUMN approved_by TEXT`,
    ],
  },
  {
    version: 17,
    name: 'drop the per-tenant claim index of migration 1',
    // Every read of the inbox by tenant is served as well by inbox_fair_claim (state and tenant first)
    // or by the dedup key's index (tenant first): the index only cost each enqueue and transition a
    // write, and SQLite picked it over inbox_fair_claim for the due-work test of the fair claim.
    statements: () => ['DROP INDEX inbox_tenant_claim'],
  },
  {
    version: 18,
    name: 'crm call counts',
    // How each tenant's CRM calls ended, per minute (a row per tenant, minute and outcome): every process
    // adds its in-memory tally, so the Health page reads the deployment's recent errors and 429s.
    statements: () => [
      `CREATE TABLE crm_call_counts (
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        minute BIGINT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN
          ('ok', 'rate_limited', 'transient', 'auth', 'not_found', 'invalid', 'other')),
        calls BIGINT NOT NULL,
        PRIMARY KEY (tenant_id, minute, outcome)
      )`,
      `CREATE INDEX crm_call_counts_minute ON crm_call_counts (minute)`,
    ],
  },
  {
    version: 19,
    name: 'tenant routing pauses',
    // A tenant whose CRM account refuses our credentials for a policy reason (Salesforce login hours,
    // IP ranges, a user not pre-authorized) keeps its grant and pauses: since when, why, and when its
    // credentials are tried again. Its work is not claimed meanwhile, as an uninstalled tenant's.
    statements: () => [
      `ALTER TABLE tenants ADD COLUMN paused_at BIGINT`,
      `ALTER TABLE tenants ADD COLUMN paused_until BIGINT`,
      `ALTER TABLE tenants ADD COLUMN pause_reason TEXT`,
    ],
  },
  {
    version: 20,
    name: 'stream subscription status',
    // A lease's holder that cannot subscribe (Change Data Capture not enabled for the object, a
    // permission missing) renews its lease and its catch-up poll moves the cursor all the same: the
    // lease row says whether its stream is subscribed, since when it is not and why. Null while unknown
    // (a new holder starts clean).
    statements: () => [
      `ALTER TABLE stream_leases ADD COLUMN subscribed_at BIGINT`,
      `ALTER TABLE stream_leases ADD COLUMN failing_since BIGINT`,
      `ALTER TABLE stream_leases ADD COLUMN last_error TEXT`,
    ],
  },
  {
    version: 21,
    name: 'stream missed records',
    // A subscription that stays up but delivers nothing (the object taken out of Change Data Capture)
    // is seen only by its catch-up poll finding records the inbox did not hold: the lease row keeps when
    // a poll last did and how many, beside the holder's other status (a new holder starts clean).
    statements: () => [
      `ALTER TABLE stream_leases ADD COLUMN missed_at BIGINT`,
      `ALTER TABLE stream_leases ADD COLUMN missed_count INTEGER`,
    ],
  },
  {
    version: 22,
    name: 'retention of SLA steps and notifications',
    // Retention finds a table's oldest finished rows through an index (migration 7): without one, each
    // purge pass read every SLA step, and every delivered notification, kept within the retention.
    statements: () => [
      `CREATE INDEX sla_steps_finished ON sla_steps (status, at)`,
      `CREATE INDEX notifications_finished ON notifications (state, updated_at)`,
    ],
  },
];

/** Applies the missing migrations in one transaction; a second call (or a concurrent opener) is a no-op. */
export async function migrate(
  db: Db,
  now: number,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  // SQLite can change a constraint only by rebuilding the table, and dropping a table that others
  // refer to would cascade into them: foreign keys are off while migrating (a pragma that only takes
  // effect outside a transaction) and checked in full before the commit.
  const sqlite = db.dialect.name === 'sqlite';
  if (sqlite) await db.run('PRAGMA foreign_keys = OFF');
  try {
    return await migrateWith(db, now, migrations, sqlite);
  } finally {
    if (sqlite) await db.run('PRAGMA foreign_keys = ON');
  }
}

function migrateWith(
  db: Db,
  now: number,
  migrations: readonly Migration[],
  checkForeignKeys: boolean,
): Promise<number[]> {
  return db.transaction(async (tx) => {
    if (tx.dialect.migrationLock !== null) await tx.run(tx.dialect.migrationLock);
    await tx.run(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
    );
    const done = new Set(
      (await tx.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) =>
        Number(r.version),
      ),
    );
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      for (const sql of m.statements(tx.dialect)) await tx.run(sql);
      if (m.run !== undefined) await m.run(tx, now);
      await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        m.version,
        m.name,
        now,
      ]);
      applied.push(m.version);
    }
    if (checkForeignKeys && applied.length > 0) {
      const dangling = await tx.all<{ table: string }>('PRAGMA foreign_key_check');
      if (dangling.length > 0) {
        throw new StorageError(
          'corrupt',
          `migration left rows without their parent in ${dangling[0]?.table}`,
        );
      }
    }
    return applied;
  });
}
