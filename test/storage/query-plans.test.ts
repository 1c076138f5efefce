// The claim's reads are served by the index made for them: the engine's own query plan for each
// statement a claim across tenants really sends (recorded on the way to the database) names
// `inbox_fair_claim`, and none reads the whole inbox. A burst of one tenant and thousands of finished
// rows are in the table, so a plan that scans would be costly. PostgreSQL plans with sequential scans
// disabled: on a table this small it would otherwise scan whatever indexes exist.
// And on SQLite, which has no statistics, a statement that names its rows by a list of keys (a batch's
// actions, inbox rows, effects) looks them up by those keys, not by the tenant's or a status's index
// with every row behind it (PostgreSQL plans these from its statistics).
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Storage, type Db, type SqlParam } from '../../src/storage/index.js';
import { migrate } from '../../src/storage/schema.js';
import { ENGINES, T0, addTenant, makeEvent, taskAction } from './helpers.js';

interface Sent {
  sql: string;
  params: readonly SqlParam[];
}

/** `db`, telling `sent` of every statement it runs, inside transactions too. */
function recording(db: Db, sent: Sent[]): Db {
  const note = (sql: string, params: readonly SqlParam[] = []) => sent.push({ sql, params });
  return {
    dialect: db.dialect,
    all: (sql, params) => (note(sql, params), db.all(sql, params)),
    get: (sql, params) => (note(sql, params), db.get(sql, params)),
    run: (sql, params) => (note(sql, params), db.run(sql, params)),
    transaction: (fn) => db.transaction((tx) => fn(recording(tx, sent))),
    close: () => db.close(),
  };
}

/** The inbox indexes a plan reads, and whether it reads all of the inbox. */
interface InboxAccess {
  indexes: string[];
  fullScan: boolean;
}

async function inboxAccess(db: Db, { sql, params }: Sent): Promise<InboxAccess> {
  if (db.dialect.name === 'sqlite') {
    const lines = (await db.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params)).map(
      (r) => r.detail,
    );
    // The claim's statements name the inbox as `inbox`, `i` or `d`.
    const reads = lines.filter((l) => /^(SCAN|SEARCH) (inbox|i|d)\b/.test(l));
    return {
      indexes: reads.map((l) =>
        /USING INTEGER PRIMARY KEY/.test(l) ? 'primary key' : (/INDEX (\w+)/.exec(l)?.[1] ?? 'none'),
      ),
      fullScan: reads.some((l) => l.startsWith('SCAN')),
    };
  }
  const lines = await db.transaction(async (tx) => {
    await tx.run('SET LOCAL enable_seqscan = off');
    return (await tx.all<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params)).map((r) => r['QUERY PLAN']);
  });
  return {
    indexes: lines.flatMap((l) => {
      const name = /(?:Index Scan using|Index Only Scan using|Bitmap Index Scan on) (\w+)/.exec(l)?.[1];
      return name?.startsWith('inbox') === true ? [name === 'inbox_pkey' ? 'primary key' : name] : [];
    }),
    fullScan: lines.some((l) => /Seq Scan on inbox\b/.test(l)),
  };
}

for (const [name, engine, suite] of ENGINES) {
  suite(`query plans of the claim on ${name}`, () => {
    let db: Db;
    let close: () => Promise<void>;
    const sent: Sent[] = [];

    beforeEach(async () => {
      ({ db, close } = await engine.openDb());
      await migrate(db, T0);
      sent.length = 0;
      const s = new Storage(db);
      for (const t of ['tenant-a', 'tenant-b', 'tenant-c']) await addTenant(s, t);
      // A's import, mostly routed already; B and C with a little work each.
      await s.enqueue(
        Array.from({ length: 3_000 }, () => ({ tenantId: 'tenant-a', event: makeEvent() })),
        T0 - 60_000,
      );
      await db.run(`UPDATE inbox SET state = 'done' WHERE id % 20 <> 0`);
      await s.enqueue(
        ['tenant-b', 'tenant-c'].flatMap((tenantId) =>
          Array.from({ length: 5 }, () => ({ tenantId, event: makeEvent() })),
        ),
        T0,
      );
      // One claim across tenants, as a worker's lane makes it, sends every statement the claim has.
      const recorded = new Storage(recording(db, sent));
      const got = await recorded.claim({
        workerId: 'w1',
        limit: 10,
        leaseMs: 30_000,
        now: T0,
        maxBatchesPerTenant: 2,
      });
      expect(got).toHaveLength(10);
    });
    afterEach(async () => {
      await close();
    });

    const statement = (marker: string): Sent => {
      const found = sent.find((s) => s.sql.includes(marker));
      if (found === undefined) throw new Error(`the claim sent no statement with ${marker}`);
      return found;
    };

    it("takes a tenant's due rows through inbox_fair_claim", async () => {
      const access = await inboxAccess(db, statement('WITH picked AS MATERIALIZED'));
      expect(access.fullScan).toBe(false);
      expect([...new Set(access.indexes)].sort()).toEqual(['inbox_fair_claim', 'primary key']);
    });

    it('finds the tenants with due work through inbox_fair_claim alone', async () => {
      const access = await inboxAccess(db, statement('WITH RECURSIVE busy'));
      expect(access.fullScan).toBe(false);
      expect(access.indexes.length).toBeGreaterThan(0);
      expect(new Set(access.indexes)).toEqual(new Set(['inbox_fair_claim']));
    });

    it('counts a tenant’s batches in flight without reading the whole inbox', async () => {
      const access = await inboxAccess(db, statement('COUNT(DISTINCT lease_owner)'));
      expect(access.fullScan).toBe(false);
      expect(access.indexes.length).toBeGreaterThan(0);
    });

    it('reads no statement of the claim by a full scan of the inbox', async () => {
      const onInbox = sent.filter((s) => /\binbox\b/.test(s.sql));
      expect(onInbox.length).toBeGreaterThanOrEqual(4);
      for (const s of onInbox)
        expect({ sql: s.sql, ...(await inboxAccess(db, s)) }).toMatchObject({ fullScan: false });
    });
  });
}

describe('query plans of statements naming rows by a list of keys on sqlite', () => {
  const [, sqlite] = ENGINES[0]!;
  let db: Db;
  let close: () => Promise<void>;
  const sent: Sent[] = [];

  beforeEach(async () => {
    ({ db, close } = await sqlite.openDb());
    await migrate(db, T0);
    sent.length = 0;
    const s = new Storage(db);
    await addTenant(s, 'tenant-a');
    // A batch as a worker holds it: 60 inbox rows leased, each lead's task planned (with history behind).
    await s.enqueue(
      Array.from({ length: 60 }, () => ({ tenantId: 'tenant-a', event: makeEvent() })),
      T0,
    );
    const items = await s.claim({ workerId: 'w1', limit: 60, leaseMs: 30_000, now: T0 });
    const actions = [];
    for (const item of items)
      actions.push(
        ...(await s.planActions(
          'tenant-a',
          item.event.objectId,
          `${item.event.objectId}:route`,
          [taskAction],
          T0,
        )),
      );
    const ids = actions.map((a) => a.id);
    // What a batch's write-back and completion send, recorded.
    const r = new Storage(recording(db, sent));
    const claim = { workerId: 'w1', leaseUntil: T0 + 30_000, now: T0, sentBefore: T0 };
    expect(await r.claimActions('tenant-a', ids, claim)).toHaveLength(60);
    expect(await r.markActionsSent('tenant-a', ids, 'w1', T0)).toHaveLength(60);
    expect(await r.releaseActions('tenant-a', ids.slice(30), 'w1', T0, { notApplied: false })).toBe(30);
    const done = ids.slice(0, 30).map((id) => ({ id, crmId: `task-${id}` }));
    expect(await r.markActionsDone('tenant-a', done, T0)).toBe(30);
    const inboxIds = items.map((i) => i.id);
    expect(await r.renewLeases(inboxIds, 'w1', T0 + 60_000, T0)).toBe(60);
    expect(await r.completeMany(inboxIds, 'w1', T0)).toHaveLength(60);
  });
  afterEach(async () => {
    await close();
  });

  it('looks each list up by its key: the row ids, or the index on the listed column', async () => {
    const listed = sent.flatMap(({ sql, params }) => {
      const m = /(?:UPDATE|FROM) (\w+)[^]*?\b(\w+) IN \((?:\?, ){9,}/.exec(sql);
      return m === null ? [] : [{ sql, params, table: m[1]!, column: m[2]! }];
    });
    expect(listed.map((l) => `${l.table}.${l.column}`).sort()).toEqual([
      'actions.id',
      'actions.id',
      'actions.id',
      'actions.id',
      'effects.inbox_id',
      'inbox.id',
      'inbox.id',
    ]);
    for (const { sql, params, table, column } of listed) {
      const plan = (await db.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params)).map(
        (r) => r.detail,
      );
      const key = column === 'id' ? 'rowid' : column;
      expect({ sql, plan: plan.filter((l) => l.includes(` ${table} `)) }).toEqual({
        sql,
        plan: [expect.stringMatching(new RegExp(`^SEARCH ${table} USING .*\\(${key}=\\?\\)$`))],
      });
    }
  });
});

describe('query plans of retention on sqlite', () => {
  it('finds each table’s expired rows through an index: no purge statement reads a whole table', async () => {
    const { db, close } = await ENGINES[0]![1].openDb();
    try {
      await migrate(db, T0);
      const sent: Sent[] = [];
      const day = 86_400_000;
      await new Storage(recording(db, sent)).purgeExpired(
        T0,
        { inboxDoneMs: day, deadLetterMs: 7 * day, decisionMs: 30 * day },
        100,
      );
      expect(sent.length).toBeGreaterThanOrEqual(8);
      for (const { sql, params } of sent) {
        const plan = (await db.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params)).map(
          (r) => r.detail,
        );
        // `picked` is the statement's own batch of keys; the oldest rows are a range of an index.
        expect({
          sql,
          scans: plan.filter((l) => l.startsWith('SCAN') && l !== 'SCAN picked'),
          byAge: plan.some((l) => /^SEARCH \w+ USING .*\w+<\?\)$/.test(l)),
        }).toEqual({ sql, scans: [], byAge: true });
      }
    } finally {
      await close();
    }
  });
});
