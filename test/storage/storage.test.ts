// The storage contract, run on every engine: same queries, same answers.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { decidedAgainKey, Storage, StorageError } from '../../src/storage/index.js';
import { MIGRATIONS } from '../../src/storage/schema.js';
import {
  ENGINES,
  T0,
  addTenant,
  makeDecision,
  makeEvent,
  makeState,
  ownerAction,
  taskAction,
} from './helpers.js';

const A = 'tenant-a';
const B = 'tenant-b';
const LEASE = 30_000;

for (const [name, engine, suite] of ENGINES) {
  suite(`storage on ${name}`, () => {
    let s: Storage;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ storage: s, close } = await engine.open());
      await addTenant(s, A);
      await addTenant(s, B);
    });
    afterEach(async () => {
      await close();
    });

    /** Enqueues one event for A and claims it as `w1`; returns the inbox id. */
    async function leased(workerId = 'w1'): Promise<number> {
      await s.enqueue([{ tenantId: A, event: makeEvent() }], T0);
      const [item] = await s.claim({ tenantId: A, workerId, limit: 1, leaseMs: LEASE, now: T0 });
      return item!.id;
    }

    describe('migrations', () => {
      it('are recorded once and re-running them is a no-op', async () => {
        const { migrate } = await import('../../src/storage/schema.js');
        expect(await migrate(s.db, T0)).toEqual([]);
        const rows = await s.db.all<{ version: number }>('SELECT version FROM schema_migrations');
        expect(rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
      });

      it('4 moves each rotation document into one row per pool and per rep, where it was', async () => {
        const raw = await engine.openDb();
        try {
          const { migrate } = await import('../../src/storage/schema.js');
          await migrate(
            raw.db,
            T0,
            MIGRATIONS.filter((m) => m.version < 4),
          );
          const old = new Storage(raw.db);
          await addTenant(old, A);
          await addTenant(old, B);
          const doc = {
            pools: { ...makeState(3).pools, 'us-ae': { turn: 9, lastTurn: { 'bo@acme.io': 9 } } },
            reps: makeState(3).reps,
          };
          await raw.db.run(
            'INSERT INTO routing_state (tenant_id, state, version, updated_at) VALUES (?, ?, 12, ?)',
            [A, JSON.stringify(doc), T0],
          );
          expect(await migrate(raw.db, T0 + 1)).toEqual(
            MIGRATIONS.filter((m) => m.version >= 4).map((m) => m.version),
          );
          expect(await old.loadRoutingState(A)).toEqual({
            state: doc,
            versions: { pools: { 'emea-ae': 1, 'us-ae': 1 }, reps: { 'ada@acme.io': 1 } },
          });
          expect((await old.loadRoutingState(B)).state).toEqual({ pools: {}, reps: {} });
          await expect(raw.db.all('SELECT * FROM routing_state')).rejects.toBeTruthy();
        } finally {
          await raw.close();
        }
      });

      it('11 opens the provider list and keeps every tenant and the rows that refer to it', async () => {
        const raw = await engine.openDb();
        try {
          const { migrate } = await import('../../src/storage/schema.js');
          await migrate(
            raw.db,
            T0,
            MIGRATIONS.filter((m) => m.version < 11),
          );
          const old = new Storage(raw.db);
          await addTenant(old, A);
          // As markTenantUninstalled did then (today's also ends a pause, a column of migration 19).
          await raw.db.run('UPDATE tenants SET token_blob = NULL, uninstalled_at = ? WHERE id = ?', [
            T0 + 1,
            A,
          ]);
          await old.enqueue([{ tenantId: A, event: makeEvent() }], T0);
          await old.saveRoutingState(A, makeState(2), { pools: {}, reps: {} }, T0);
          await expect(
            old.createTenant({ provider: 'pipedrive', externalId: 'p1', name: 'P' }, T0),
          ).rejects.toMatchObject({ kind: 'invalid' });
          const before = await old.getTenant(A);

          expect(await migrate(raw.db, T0 + 2)).toEqual([
            11,
            ...MIGRATIONS.filter((m) => m.version > 11).map((m) => m.version),
          ]);
          expect(await old.getTenant(A)).toEqual(before);
          expect(await old.inboxStats(A)).toMatchObject({ pending: 1 });
          expect((await old.loadRoutingState(A)).state).toEqual(makeState(2));
          const p = await old.createTenant({ provider: 'pipedrive', externalId: 'p1', name: 'P' }, T0);
          expect(await old.findTenant('pipedrive', 'p1')).toEqual(p);
          // The other tables still refer to the tenants table: an unknown tenant is refused.
          await expect(old.enqueue([{ tenantId: 'nobody', event: makeEvent() }], T0)).rejects.toMatchObject({
            kind: 'invalid',
          });
          await expect(
            old.createTenant({ provider: 'pipedrive', externalId: 'p1', name: 'again' }, T0),
          ).rejects.toMatchObject({ kind: 'invalid' });
        } finally {
          await raw.close();
        }
      });
    });

    describe('tenants', () => {
      it('stores the token encrypted and gives it back decrypted', async () => {
        expect(await s.setTenantToken(A, '{"access":"secret-token"}', T0 + 1)).toBe(true);
        const raw = await s.db.get<{ token_blob: string }>('SELECT token_blob FROM tenants WHERE id = ?', [
          A,
        ]);
        expect(raw?.token_blob).not.toContain('secret-token');
        expect(await s.getTenantToken(A)).toBe('{"access":"secret-token"}');
        expect(await s.getTenantToken(B)).toBeNull();
        const tenant = await s.getTenant(A);
        expect(tenant).toMatchObject({ id: A, hasToken: true, updatedAt: T0 + 1 });
        expect(JSON.stringify(tenant)).not.toContain('secret');
      });

      it('finds by provider account, rejects a duplicate account, updates settings', async () => {
        expect((await s.findTenant('sandbox', `portal-${B}`))?.id).toBe(B);
        await expect(
          s.createTenant({ provider: 'sandbox', externalId: `portal-${A}`, name: 'again' }, T0),
        ).rejects.toBeInstanceOf(StorageError);
        expect(await s.updateTenantSettings(A, { timezone: 'Europe/Berlin' }, T0)).toBe(true);
        expect((await s.getTenant(A))?.settings).toEqual({ timezone: 'Europe/Berlin' });
        expect((await s.listTenants()).map((t) => t.id).sort()).toEqual([A, B]);
      });

      it('pauses a tenant once, keeps its work unclaimed until it resumes, and lets one process take a check', async () => {
        await s.enqueue([{ tenantId: A, event: makeEvent({ eventId: 'a0' }) }], T0);
        const refused = { reason: 'outside login hours', checkAt: T0 + 60_000 };
        expect(await s.pauseTenant(A, refused, T0)).toBe('began');
        expect(await s.pauseTenant(A, { ...refused, checkAt: T0 + 120_000 }, T0 + 1)).toBe('continued');
        expect((await s.getTenant(A))?.pause).toEqual({
          since: T0,
          reason: refused.reason,
          checkAt: T0 + 120_000,
        });
        // Its work is not claimed, by tenant or in turn, and neither are its planned actions.
        expect(await s.claim({ tenantId: A, workerId: 'w1', limit: 5, leaseMs: LEASE, now: T0 + 2 })).toEqual(
          [],
        );
        expect(await s.claim({ workerId: 'w1', limit: 5, leaseMs: LEASE, now: T0 + 2 })).toEqual([]);

        expect((await s.pausedTenants(T0 + 119_999)).map((t) => t.id)).toEqual([]);
        expect((await s.pausedTenants(T0 + 120_000)).map((t) => t.id)).toEqual([A]);
        expect(await s.takePauseCheck(A, T0 + 120_000, T0 + 240_000, T0 + 120_000)).toBe(true);
        expect(await s.takePauseCheck(A, T0 + 120_000, T0 + 240_000, T0 + 120_000)).toBe(false);

        expect(await s.resumeTenant(A, T0 + 3)).toBe(true);
        expect(await s.resumeTenant(A, T0 + 3)).toBe(false);
        expect((await s.getTenant(A))?.pause).toBeNull();
        const claimed = await s.claim({ workerId: 'w1', limit: 5, leaseMs: LEASE, now: T0 + 4 });
        expect(claimed.map((i) => i.event.eventId)).toEqual(['a0']);
        // An uninstall ends a pause, and an uninstalled tenant does not pause.
        expect(await s.pauseTenant(B, refused, T0)).toBe('began');
        expect(await s.markTenantUninstalled(B, T0 + 5)).toBe(true);
        expect((await s.getTenant(B))?.pause).toBeNull();
        expect(await s.pauseTenant(B, refused, T0 + 6)).toBeNull();
      });
    });

    describe('rulesets', () => {
      it('saves drafts idempotently and publishing makes a version active', async () => {
        expect(await s.saveRulesetDraft(A, { version: 'h1', name: 'r', source: 'routes: []' }, T0)).toBe(
          true,
        );
        expect(await s.saveRulesetDraft(A, { version: 'h1', name: 'r', source: 'routes: []' }, T0)).toBe(
          false,
        );
        expect(await s.activeRuleset(A)).toBeNull();
        expect(await s.publishRuleset(A, 'h1', 'ops@acme.io', T0 + 5)).toBe(true);
        expect(await s.activeRuleset(A)).toMatchObject({
          version: 'h1',
          status: 'published',
          publishedBy: 'ops@acme.io',
        });
        expect((await s.getTenant(A))?.activeRulesetVersion).toBe('h1');
      });

      it("cannot publish another tenant's version", async () => {
        await s.saveRulesetDraft(A, { version: 'h1', name: 'r', source: 'x' }, T0);
        expect(await s.publishRuleset(B, 'h1', 'ops', T0)).toBe(false);
        expect(await s.activeRuleset(B)).toBeNull();
        expect(await s.listRulesets(B)).toEqual([]);
      });
    });

    describe('enqueue', () => {
      it('returns only new events: redelivery and a duplicate inside one batch are no-ops', async () => {
        const e1 = makeEvent({ eventId: 'e1' });
        const e2 = makeEvent({ eventId: 'e2' });
        expect(
          await s.enqueue(
            [
              { tenantId: A, event: e2 },
              { tenantId: A, event: e1 },
              { tenantId: A, event: e1 },
            ],
            T0,
          ),
        ).toEqual([
          { tenantId: A, event: e1 },
          { tenantId: A, event: e2 },
        ]);
        expect(await s.enqueue([{ tenantId: A, event: e1 }], T0 + 1)).toEqual([]);
        // The same provider event id in another subscription or another tenant is another event.
        const other = { ...e1, subscription: 'contact.propertyChange' };
        expect(
          await s.enqueue(
            [
              { tenantId: A, event: other },
              { tenantId: B, event: e1 },
            ],
            T0,
          ),
        ).toEqual([
          { tenantId: A, event: other },
          { tenantId: B, event: e1 },
        ]);
      });

      it('tells the new events of a batch from those the inbox already held (a catch-up poll)', async () => {
        const held = makeEvent({ eventId: 'held' });
        await s.enqueue([{ tenantId: A, event: held }], T0);
        const fresh = [makeEvent({ eventId: 'new-1' }), makeEvent({ eventId: 'new-2' })];
        const added = await s.enqueue(
          [held, ...fresh].map((event) => ({ tenantId: A, event })),
          T0 + 1,
        );
        expect(added.map((a) => a.event.eventId)).toEqual(['new-1', 'new-2']);
        expect((await s.inboxStats(A)).pending).toBe(3);
      });

      it('rejects a malformed event and records nothing of its batch', async () => {
        const bad = { ...makeEvent(), eventId: '' };
        await expect(
          s.enqueue(
            [
              { tenantId: A, event: makeEvent() },
              { tenantId: A, event: bad },
            ],
            T0,
          ),
        ).rejects.toMatchObject({
          kind: 'invalid',
        });
        expect(await s.claim({ workerId: 'w', limit: 10, leaseMs: LEASE, now: T0 })).toEqual([]);
      });

      it('rejects an event for an unknown tenant with a clear error and records nothing of its batch', async () => {
        const batch = [
          { tenantId: A, event: makeEvent() },
          { tenantId: 'nobody', event: makeEvent() },
        ];
        await expect(s.enqueue(batch, T0)).rejects.toMatchObject({ kind: 'invalid' });
        expect(await s.inboxStats()).toEqual({ pending: 0, leased: 0, done: 0, failed: 0 });
      });

      it('accepts any provider key and rejects one that is not a short identifier', async () => {
        const pipedrive = await s.createTenant({ provider: 'pipedrive', externalId: 'x', name: 'x' }, T0);
        expect(pipedrive.provider).toBe('pipedrive');
        for (const provider of ['', 'Hub Spot', 'x'.repeat(33), "hubspot'; --"]) {
          await expect(s.createTenant({ provider, externalId: 'y', name: 'y' }, T0)).rejects.toMatchObject({
            kind: 'invalid',
          });
        }
        expect(await s.findTenant('pipedrive', 'y')).toBeNull();
      });

      it('keeps the same lead under two event ids as two rows, but the effect key routes it once', async () => {
        const first = makeEvent({ eventId: 'x1', objectId: 'lead-7' });
        const second = makeEvent({ eventId: 'x2', objectId: 'lead-7' });
        expect(
          await s.enqueue(
            [
              { tenantId: A, event: first },
              { tenantId: A, event: second },
            ],
            T0,
          ),
        ).toHaveLength(2);
        const [r1, r2] = await s.claim({ tenantId: A, workerId: 'w', limit: 10, leaseMs: LEASE, now: T0 });
        expect(await s.claimEffect(A, 'lead-7', 'route', r1!.id, T0)).toBe('claimed');
        expect(await s.claimEffect(A, 'lead-7', 'route', r2!.id, T0)).toBe('taken');
        // The first row's retry after a crash is still allowed to finish its work.
        expect(await s.claimEffect(A, 'lead-7', 'route', r1!.id, T0)).toBe('mine');
        // Another tenant's lead with the same CRM id is unrelated.
        expect(await s.claimEffect(B, 'lead-7', 'route', r2!.id, T0)).toBe('claimed');
      });

      it('claims a batch of effect keys at once, answered in order; a key asked twice goes to the first', async () => {
        await s.enqueue(
          [1, 2, 3, 4].map((i) => ({ tenantId: A, event: makeEvent({ eventId: `b${i}` }) })),
          T0,
        );
        const [r1, r2, r3, r4] = await s.claim({
          tenantId: A,
          workerId: 'w',
          limit: 10,
          leaseMs: LEASE,
          now: T0,
        });
        expect(await s.claimEffect(A, 'lead-x', 'route', r4!.id, T0)).toBe('claimed');
        const asked = [
          { leadId: 'lead-a', purpose: 'route', inboxId: r1!.id },
          { leadId: 'lead-b', purpose: 'route', inboxId: r2!.id },
          { leadId: 'lead-a', purpose: 'route', inboxId: r3!.id },
          { leadId: 'lead-a', purpose: 'route:hold:1', inboxId: r3!.id },
          { leadId: 'lead-x', purpose: 'route', inboxId: r4!.id },
          { leadId: 'lead-x', purpose: 'route', inboxId: r1!.id },
        ];
        expect(await s.claimEffects(A, asked, T0)).toEqual([
          'claimed',
          'claimed',
          'taken',
          'claimed',
          'mine',
          'taken',
        ]);
        // Asked again (a retry of the batch): the holders are told `mine`, the others `taken`.
        expect(await s.claimEffects(A, asked, T0)).toEqual([
          'mine',
          'mine',
          'taken',
          'mine',
          'mine',
          'taken',
        ]);
        expect(await s.claimEffects(B, asked.slice(0, 1), T0)).toEqual(['claimed']);
      });
    });

    describe('fair claims across tenants', () => {
      const C = 'tenant-c';
      const claimAny = (workerId: string, extra: { maxBatchesPerTenant?: number; now?: number } = {}) =>
        s.claim({ workerId, limit: 2, leaseMs: LEASE, now: extra.now ?? T0, ...extra });

      it("takes one tenant per batch, in turn, however old the other tenants' rows are", async () => {
        await addTenant(s, C);
        // A's import came first and is large; B and C each have a little, newer work.
        await s.enqueue(
          Array.from({ length: 8 }, (_, i) => ({ tenantId: A, event: makeEvent({ eventId: `a${i}` }) })),
          T0 - 1_000,
        );
        await s.enqueue(
          [
            { tenantId: B, event: makeEvent({ eventId: 'b0' }) },
            { tenantId: C, event: makeEvent({ eventId: 'c0' }) },
            { tenantId: C, event: makeEvent({ eventId: 'c1' }) },
            { tenantId: C, event: makeEvent({ eventId: 'c2' }) },
          ],
          T0,
        );
        const order: string[][] = [];
        for (let i = 0; i < 6; i += 1) order.push((await claimAny(`w${i}`)).map((r) => r.event.eventId));
        expect(order).toEqual([['a0', 'a1'], ['b0'], ['c0', 'c1'], ['a2', 'a3'], ['c2'], ['a4', 'a5']]);
      });

      it('skips a tenant at its cap of batches in flight, until one of them settles', async () => {
        await s.enqueue(
          Array.from({ length: 6 }, () => ({ tenantId: A, event: makeEvent() })),
          T0,
        );
        const first = await claimAny('h1', { maxBatchesPerTenant: 2 });
        expect(await claimAny('h2', { maxBatchesPerTenant: 2 })).toHaveLength(2);
        // A holds two batches: its third waits, while B's new work is taken at once.
        expect(await claimAny('h3', { maxBatchesPerTenant: 2 })).toEqual([]);
        await s.enqueue([{ tenantId: B, event: makeEvent({ eventId: 'b-new' }) }], T0);
        expect((await claimAny('h3', { maxBatchesPerTenant: 2 })).map((r) => r.tenantId)).toEqual([B]);
        expect(await claimAny('h4', { maxBatchesPerTenant: 2 })).toEqual([]);
        await s.completeMany(
          first.map((r) => r.id),
          'h1',
          T0,
        );
        expect((await claimAny('h4', { maxBatchesPerTenant: 2 })).map((r) => r.tenantId)).toEqual([A, A]);
      });

      it('holds each tenant to the cap of its own CRM when the cap is given per provider', async () => {
        const SF = 'tenant-sf';
        await addTenant(s, SF, 'salesforce');
        await s.enqueue(
          [
            ...Array.from({ length: 8 }, () => ({ tenantId: A, event: makeEvent() })),
            ...Array.from({ length: 8 }, () => ({ tenantId: SF, event: makeEvent() })),
          ],
          T0,
        );
        const capOf = (provider: string) => (provider === 'salesforce' ? 3 : 1);
        const taken: string[] = [];
        for (let i = 0; i < 6; i += 1) {
          const got = await s.claim({
            workerId: `h${i}`,
            limit: 2,
            leaseMs: LEASE,
            now: T0,
            maxBatchesPerTenant: capOf,
          });
          taken.push(got[0]?.tenantId ?? 'none');
        }
        // A (sandbox) holds one batch, the Salesforce org three; then neither may take more.
        expect(taken).toEqual([A, SF, SF, SF, 'none', 'none']);
      });

      it('does not count a batch whose lease expired (its worker died) against the cap', async () => {
        await s.enqueue(
          Array.from({ length: 4 }, () => ({ tenantId: A, event: makeEvent() })),
          T0,
        );
        await claimAny('dead', { maxBatchesPerTenant: 1 });
        expect(await claimAny('h2', { maxBatchesPerTenant: 1 })).toEqual([]);
        expect(await claimAny('h2', { maxBatchesPerTenant: 1, now: T0 + LEASE })).toHaveLength(2);
      });

      it("takes a tenant's live events before its bulk work, whatever their age", async () => {
        await s.enqueue([{ tenantId: A, event: makeEvent({ eventId: 'old-dead' }) }], T0 - 5_000);
        const [dead] = await claimAny('w1');
        await s.deadLetter(dead!.id, 'w1', 'invalid: no seat', T0 - 4_000);
        await s.enqueue(
          [{ tenantId: A, event: makeEvent({ eventId: 'bulk' }), priority: 'bulk' as const }],
          T0 - 3_000,
        );
        expect(await s.replay(A, dead!.id, T0 - 2_000)).toEqual({ status: 'replayed' });
        await s.enqueue([{ tenantId: A, event: makeEvent({ eventId: 'live' }) }], T0);
        const got = await s.claim({ workerId: 'w2', limit: 3, leaseMs: LEASE, now: T0 });
        expect(got.map((r) => [r.event.eventId, r.priority])).toEqual([
          ['live', 'live'],
          ['bulk', 'bulk'],
          ['old-dead', 'bulk'],
        ]);
      });

      it('rejects a cap that is not a positive integer and claims nothing', async () => {
        await s.enqueue([{ tenantId: A, event: makeEvent() }], T0);
        await expect(claimAny('w', { maxBatchesPerTenant: 0 })).rejects.toMatchObject({ kind: 'invalid' });
        expect(await s.inboxStats(A)).toMatchObject({ pending: 1, leased: 0 });
      });
    });

    describe('claim and transitions', () => {
      it('claims due rows in order, increments attempts and sets the lease', async () => {
        await s.enqueue(
          [1, 2, 3].map((i) => ({ tenantId: A, event: makeEvent({ eventId: `o${i}` }) })),
          T0,
        );
        const got = await s.claim({ tenantId: A, workerId: 'w1', limit: 2, leaseMs: LEASE, now: T0 + 10 });
        expect(got.map((g) => g.event.eventId)).toEqual(['o1', 'o2']);
        expect(got[0]).toMatchObject({
          state: 'leased',
          attempts: 1,
          leaseOwner: 'w1',
          leaseUntil: T0 + 10 + LEASE,
        });
        const rest = await s.claim({ tenantId: A, workerId: 'w2', limit: 5, leaseMs: LEASE, now: T0 + 10 });
        expect(rest.map((g) => g.event.eventId)).toEqual(['o3']);
        expect(
          await s.claim({ tenantId: A, workerId: 'w3', limit: 5, leaseMs: LEASE, now: T0 + 10 }),
        ).toEqual([]);
      });

      it('ignores rows whose backoff (run_after) is in the future', async () => {
        const id = await leased();
        expect(await s.retryLater(id, 'w1', T0 + 60_000, 'rate_limited: retry in 60s', T0)).toBe(true);
        expect(await s.claim({ workerId: 'w2', limit: 5, leaseMs: LEASE, now: T0 + 59_999 })).toEqual([]);
        const [again] = await s.claim({ workerId: 'w2', limit: 5, leaseMs: LEASE, now: T0 + 60_000 });
        expect(again).toMatchObject({
          id,
          attempts: 2,
          lastError: 'rate_limited: retry in 60s',
          leaseOwner: 'w2',
        });
      });

      it('counts rows per state, per tenant or overall', async () => {
        const id = await leased();
        await s.enqueue(
          [
            { tenantId: A, event: makeEvent() },
            { tenantId: B, event: makeEvent() },
          ],
          T0,
        );
        await s.deadLetter(id, 'w1', 'invalid', T0);
        expect(await s.inboxStats(A)).toEqual({ pending: 1, leased: 0, done: 0, failed: 1 });
        expect(await s.inboxStats()).toEqual({ pending: 2, leased: 0, done: 0, failed: 1 });
      });

      it('scopes claims to the tenant asked for', async () => {
        await s.enqueue([{ tenantId: B, event: makeEvent() }], T0);
        expect(await s.claim({ tenantId: A, workerId: 'w', limit: 5, leaseMs: LEASE, now: T0 })).toEqual([]);
        const [b] = await s.claim({ workerId: 'w', limit: 5, leaseMs: LEASE, now: T0 });
        expect(b?.tenantId).toBe(B);
        expect(await s.getInboxItem(A, b!.id)).toBeNull();
      });

      type Move = (s: Storage, id: number, worker: string) => Promise<boolean>;
      const moves: [string, Move, string][] = [
        ['complete', (st, id, w) => st.complete(id, w, T0 + 1), 'done'],
        ['retryLater', (st, id, w) => st.retryLater(id, w, T0 + 5000, 'transient', T0 + 1), 'pending'],
        ['deadLetter', (st, id, w) => st.deadLetter(id, w, 'invalid: no email', T0 + 1), 'failed'],
      ];

      it.each(moves)('%s by the lease holder moves the row', async (_n, move, state) => {
        const id = await leased();
        expect(await move(s, id, 'w1')).toBe(true);
        const item = await s.getInboxItem(A, id);
        expect(item).toMatchObject({ state, leaseOwner: null, leaseUntil: null });
      });

      it.each(moves)('%s by another worker fails and changes nothing', async (_n, move) => {
        const id = await leased();
        const before = await s.getInboxItem(A, id);
        expect(await move(s, id, 'intruder')).toBe(false);
        expect(await s.getInboxItem(A, id)).toEqual(before);
      });

      it.each(moves)('%s on a row no longer leased fails (wrong state)', async (_n, move) => {
        const id = await leased();
        expect(await s.complete(id, 'w1', T0)).toBe(true);
        expect(await move(s, id, 'w1')).toBe(false);
        expect((await s.getInboxItem(A, id))?.state).toBe('done');
      });

      it('completes a batch in one go: only rows leased by the caller, and their effect keys', async () => {
        const ids = [await leased('w1'), await leased('w1'), await leased('w2')];
        const leads = await Promise.all(ids.map(async (id) => (await s.getInboxItem(A, id))!.event.objectId));
        await s.claimEffects(
          A,
          ids.map((id, k) => ({ leadId: leads[k]!, purpose: 'route', inboxId: id })),
          T0,
        );
        expect((await s.completeMany([...ids, 999_999], 'w1', T0 + 1)).sort((a, b) => a - b)).toEqual(
          ids.slice(0, 2).sort((a, b) => a - b),
        );
        expect(await s.completeMany(ids, 'w1', T0 + 2)).toEqual([]);
        expect((await s.getInboxItem(A, ids[2]!))?.state).toBe('leased');
        const effects = await s.db.all<{ inbox_id: number; state: string }>(
          'SELECT inbox_id, state FROM effects ORDER BY inbox_id',
        );
        expect(effects.map((e) => [Number(e.inbox_id), e.state])).toEqual([
          [ids[0], 'done'],
          [ids[1], 'done'],
          [ids[2], 'claimed'],
        ]);
      });

      it('a pending row cannot be completed by anyone', async () => {
        await s.enqueue([{ tenantId: A, event: makeEvent({ eventId: 'p' }) }], T0);
        const row = await s.db.get<{ id: number }>("SELECT id FROM inbox WHERE event_id = 'p'");
        expect(await s.complete(Number(row!.id), 'w1', T0)).toBe(false);
      });
    });

    describe('leases and the reaper', () => {
      it('returns expired leases to pending; the old holder can no longer complete', async () => {
        const id = await leased('w1');
        expect(await s.reapExpired(T0 + LEASE - 1)).toEqual({
          requeued: 0,
          deadLettered: 0,
          deadLetters: [],
        });
        expect(await s.reapExpired(T0 + LEASE)).toEqual({
          requeued: 1,
          deadLettered: 0,
          deadLetters: [],
        });
        expect(await s.getInboxItem(A, id)).toMatchObject({
          state: 'pending',
          lastError: 'lease expired: w1',
        });
        const [again] = await s.claim({ workerId: 'w2', limit: 1, leaseMs: LEASE, now: T0 + LEASE });
        expect(again).toMatchObject({ id, attempts: 2 });
        expect(await s.complete(id, 'w1', T0 + LEASE)).toBe(false);
        expect(await s.complete(id, 'w2', T0 + LEASE)).toBe(true);
      });

      it('renews the leases of rows the caller still holds, never one taken over or settled', async () => {
        const id = await leased('w1');
        const other = await leased('w1');
        expect(await s.complete(other, 'w1', T0)).toBe(true);
        expect(await s.renewLeases([id, other], 'w2', T0 + 2 * LEASE, T0 + 1)).toBe(0);
        expect(await s.renewLeases([id, other], 'w1', T0 + 2 * LEASE, T0 + 1)).toBe(1);
        expect(await s.reapExpired(T0 + LEASE)).toMatchObject({ requeued: 0 });
        expect(await s.getInboxItem(A, id)).toMatchObject({ state: 'leased', leaseUntil: T0 + 2 * LEASE });
        // A lease is only ever extended.
        expect(await s.renewLeases([id], 'w1', T0 + LEASE, T0 + 2)).toBe(0);
        expect(await s.reapExpired(T0 + 2 * LEASE)).toMatchObject({ requeued: 1 });
        expect(await s.renewLeases([id], 'w1', T0 + 3 * LEASE, T0 + 2 * LEASE)).toBe(0);
      });

      it('dead-letters a row whose lease expired maxAttempts times', async () => {
        const id = await leased('w1');
        let now = T0;
        for (let i = 2; i <= 3; i += 1) {
          now += LEASE;
          await s.reapExpired(now);
          await s.claim({ workerId: `w${i}`, limit: 1, leaseMs: LEASE, now });
        }
        now += LEASE;
        const leadId = (await s.getInboxItem(A, id))!.event.objectId;
        expect(await s.reapExpired(now, { maxAttempts: 3 })).toEqual({
          requeued: 0,
          deadLettered: 1,
          deadLetters: [{ tenantId: A, id, leadId, reason: 'lease expired after 3 attempts' }],
        });
        expect(await s.getInboxItem(A, id)).toMatchObject({ state: 'failed', attempts: 3 });
      });
    });

    describe('dead letters and replay', () => {
      it('lists dead letters per tenant and replays one so it routes exactly once', async () => {
        await s.enqueue([{ tenantId: A, event: makeEvent({ eventId: 'd1', objectId: 'lead-9' }) }], T0);
        const [item] = await s.claim({ workerId: 'w1', limit: 1, leaseMs: LEASE, now: T0 });
        expect(await s.claimEffect(A, 'lead-9', 'route', item!.id, T0)).toBe('claimed');
        expect(await s.deadLetter(item!.id, 'w1', 'auth: token revoked', T0 + 1)).toBe(true);

        expect((await s.deadLetters(A)).map((d) => [d.id, d.lastError])).toEqual([
          [item!.id, 'auth: token revoked'],
        ]);
        expect(await s.deadLetters(B)).toEqual([]);
        expect(await s.replay(B, item!.id, T0 + 2)).toEqual({ status: 'unknown' });

        expect(await s.replay(A, item!.id, T0 + 2)).toEqual({ status: 'replayed' });
        expect(await s.replay(A, item!.id, T0 + 2)).toEqual({ status: 'unknown' });
        expect(await s.getInboxItem(A, item!.id)).toMatchObject({
          state: 'pending',
          attempts: 0,
          lastError: null,
        });

        // A later event for the same lead arrived meanwhile: only one of the two may route.
        await s.enqueue([{ tenantId: A, event: makeEvent({ eventId: 'd2', objectId: 'lead-9' }) }], T0 + 3);
        const rows = await s.claim({ workerId: 'w2', limit: 5, leaseMs: LEASE, now: T0 + 3 });
        expect(rows).toHaveLength(2);
        const outcomes = [];
        for (const r of rows) outcomes.push(await s.claimEffect(A, 'lead-9', 'route', r.id, T0 + 3));
        expect(outcomes.sort()).toEqual(['claimed', 'taken']);
      });

      it('a lead routed again closes its open dead letters, whose replay is then refused and changes nothing', async () => {
        const leadId = 'lead-248';
        const NONE = { pools: {}, reps: {} };
        await s.enqueue([{ tenantId: A, event: makeEvent({ eventId: 'c248', objectId: leadId }) }], T0);
        const [item] = await s.claim({ workerId: 'w1', limit: 1, leaseMs: LEASE, now: T0 });
        expect(await s.claimEffect(A, leadId, 'route', item!.id, T0)).toBe('claimed');
        const first = await s.commitDecision(
          A,
          {
            decisionKey: `${leadId}:route`,
            decision: makeDecision({ leadId, sla: undefined }),
            summary: 'ada',
          },
          NONE,
          T0,
        );
        if (first.status !== 'committed') throw new Error('not committed');
        const refused = 'set owner of contact lead-248 to ada@acme.io: HubSpot refused: INVALID_OWNER_ID';
        for (const a of first.actions) expect(await s.markActionFailed(A, a.id, refused, T0 + 1)).toBe(true);
        expect(await s.deadLetter(item!.id, 'w1', refused, T0 + 1)).toBe(true);
        expect((await s.deadLetters(A)).map((d) => d.id)).toEqual([item!.id]);

        // The admin re-routes the lead (a one-lead bulk job): the decision's commit closes the dead letter.
        const reroute = `${leadId}:bulk:reroute-${first.decisionId}`;
        const again = await s.commitDecision(
          A,
          {
            decisionKey: reroute,
            decision: makeDecision({
              leadId,
              destination: { kind: 'rep', email: 'bo@acme.io' },
              actions: [{ kind: 'set_owner', email: 'bo@acme.io' }],
              stateChanges: NONE,
              sla: undefined,
            }),
            summary: 'bo',
          },
          NONE,
          T0 + 5,
        );
        expect(again.status).toBe('committed');
        expect(await s.deadLetters(A)).toEqual([]);
        expect(await s.inboxStats(A)).toMatchObject({ failed: 0, done: 1 });
        const closed = `superseded: routed again by decision ${reroute} (to bo@acme.io)`;
        expect(await s.getInboxItem(A, item!.id)).toMatchObject({
          state: 'done',
          lastError: `${closed}; it had failed: ${refused}`,
          updatedAt: T0 + 5,
        });
        // Its effect key is done: a redelivered creation event routes nothing.
        await s.enqueue(
          [{ tenantId: A, event: makeEvent({ eventId: 'c248-again', objectId: leadId }) }],
          T0 + 6,
        );
        const [redelivered] = await s.claim({ workerId: 'w2', limit: 1, leaseMs: LEASE, now: T0 + 6 });
        expect(await s.claimEffect(A, leadId, 'route', redelivered!.id, T0 + 6)).toBe('taken');

        // An API client replays the old id: refused, saying why, and the old owner write stays failed.
        const actionsBefore = await s.actionsForDecision(A, `${leadId}:route`);
        expect(await s.replay(A, item!.id, T0 + 7)).toEqual({ status: 'superseded', leadId, reason: closed });
        expect(await s.getInboxItem(A, item!.id)).toMatchObject({ state: 'done', updatedAt: T0 + 5 });
        expect(await s.actionsForDecision(A, `${leadId}:route`)).toEqual(actionsBefore);
        expect((await s.pendingActions(A, leadId)).map((a) => a.decisionKey)).toEqual([reroute]);
      });

      it('a dead letter whose lead another worker routed again while it was worked is closed as it fails; one routed before it decided stays open', async () => {
        const NONE = { pools: {}, reps: {} };
        const route = async (leadId: string, key: string, email: string, now: number) => {
          const r = await s.commitDecision(
            A,
            {
              decisionKey: key,
              decision: makeDecision({
                leadId,
                destination: { kind: 'rep', email },
                actions: [{ kind: 'set_owner', email }],
                stateChanges: NONE,
                sla: undefined,
              }),
              summary: email,
            },
            NONE,
            now,
          );
          expect(r.status).toBe('committed');
        };
        await s.enqueue(
          [
            { tenantId: A, event: makeEvent({ eventId: 'late', objectId: 'lead-1' }) },
            { tenantId: A, event: makeEvent({ eventId: 'early', objectId: 'lead-2' }) },
          ],
          T0,
        );
        const items = await s.claim({ workerId: 'w1', limit: 2, leaseMs: LEASE, now: T0 });
        const late = items.find((i) => i.event.objectId === 'lead-1')!;
        const early = items.find((i) => i.event.objectId === 'lead-2')!;
        // lead-1: decided by its row, then re-routed by a bulk job while the row still writes.
        expect(await s.claimEffect(A, 'lead-1', 'route', late.id, T0)).toBe('claimed');
        await route('lead-1', 'lead-1:route', 'ada@acme.io', T0);
        await route('lead-1', 'lead-1:bulk:job-1', 'bo@acme.io', T0 + 1);
        // lead-2: a backfill decided it before its creation's row did.
        await route('lead-2', 'lead-2:bulk:job-1', 'bo@acme.io', T0 + 1);
        expect(await s.claimEffect(A, 'lead-2', 'route', early.id, T0)).toBe('claimed');
        await route('lead-2', 'lead-2:route', 'ada@acme.io', T0 + 2);

        expect(await s.deadLetter(late.id, 'w1', 'refused', T0 + 3)).toBe(true);
        expect(await s.deadLetter(early.id, 'w1', 'refused', T0 + 3)).toBe(true);
        expect((await s.deadLetters(A)).map((d) => d.id)).toEqual([early.id]);
        expect(await s.getInboxItem(A, late.id)).toMatchObject({
          state: 'done',
          lastError:
            'superseded: routed again by decision lead-1:bulk:job-1 (to bo@acme.io); it had failed: refused',
        });
        expect(await s.replay(A, late.id, T0 + 4)).toMatchObject({ status: 'superseded', leadId: 'lead-1' });
        expect(await s.replay(A, early.id, T0 + 4)).toEqual({ status: 'replayed' });
      });

      it('a lead decided again after its owner was refused as inactive: the decision before is failed in the same commit, and a replay resumes only the one made again', async () => {
        const leadId = 'lead-7';
        await s.enqueue([{ tenantId: A, event: makeEvent({ eventId: 'd7', objectId: leadId }) }], T0);
        const [item] = await s.claim({ workerId: 'w1', limit: 1, leaseMs: LEASE, now: T0 });
        const NONE = { pools: {}, reps: {} };
        const first = await s.commitDecision(
          A,
          {
            decisionKey: `${leadId}:route`,
            decision: makeDecision({ leadId, sla: undefined }),
            summary: 'ada',
          },
          NONE,
          T0,
        );
        if (first.status !== 'committed') throw new Error('not committed');
        // The task was written before the owner write came back refused; the owner write stays planned.
        const task = first.actions.find((a) => a.kind === 'create_task')!;
        expect(await s.markActionsDone(A, [{ id: task.id, crmId: 'task-1' }], T0 + 1)).toBe(1);

        const bo = { kind: 'set_owner', email: 'bo@acme.io' } as const;
        const reason = 'not written: the CRM refused ada@acme.io as inactive; the lead was decided again';
        const again = await s.commitDecision(
          A,
          {
            decisionKey: decidedAgainKey(`${leadId}:route`),
            decision: makeDecision({
              leadId,
              destination: { kind: 'rep', email: 'bo@acme.io' },
              actions: [bo],
              stateChanges: NONE,
              sla: undefined,
            }),
            summary: 'bo',
            decidedAgain: { reason },
          },
          (await s.loadRoutingState(A)).versions,
          T0 + 2,
        );
        if (again.status !== 'committed') throw new Error('not committed');
        const statuses = async () =>
          (await s.decisionsFor(A, { leadId })).length === 2
            ? [
                ...(await s.actionsForDecision(A, `${leadId}:route`)),
                ...(await s.actionsForDecision(A, decidedAgainKey(`${leadId}:route`))),
              ].map((a) => [a.decisionKey.slice(leadId.length + 1), a.kind, a.status, a.reason])
            : [];
        expect(await statuses()).toEqual([
          ['route', 'set_owner', 'failed', reason],
          ['route', 'create_task', 'done', null],
          ['route~owner-inactive', 'set_owner', 'planned', null],
        ]);
        // A key that does not say it is decided again is refused, and nothing is written.
        await expect(
          s.commitDecision(
            A,
            { decisionKey: 'lead-8:route', decision: makeDecision(), summary: 'x', decidedAgain: { reason } },
            NONE,
            T0,
          ),
        ).rejects.toThrow(StorageError);

        // The owner chosen again is refused too: a dead letter, replayed once the cause is fixed.
        expect(await s.markActionFailed(A, again.actions[0]!.id, 'refused', T0 + 3)).toBe(true);
        expect(await s.deadLetter(item!.id, 'w1', 'refused', T0 + 3)).toBe(true);
        expect(await s.replay(A, item!.id, T0 + 4)).toEqual({ status: 'replayed' });
        expect(await statuses()).toEqual([
          ['route', 'set_owner', 'failed', reason],
          ['route', 'create_task', 'done', null],
          ['route~owner-inactive', 'set_owner', 'planned', null],
        ]);
        expect((await s.pendingActions(A, leadId)).map((a) => a.decisionKey)).toEqual([
          decidedAgainKey(`${leadId}:route`),
        ]);
      });

      it('a lead decided again: the assignment notification of the decision before is withdrawn in the same commit, unless a sender holds it already', async () => {
        const NONE = { pools: {}, reps: {} };
        const delivery = (leadId: string, channel: string, messageId: string) => ({
          tenantId: A,
          channel,
          messageId,
          event: 'lead.assignment',
          leadId,
          payload: `{"owner":"ada@acme.io","lead":"${leadId}"}`,
        });
        // Two leads assigned to ada: lead-9's notification on two channels, lead-10's on one.
        for (const [leadId, channels] of [
          ['lead-9', ['ops:webhook', 'sales:slack']],
          ['lead-10', ['ops:webhook']],
        ] as const)
          expect(
            await s.commitDecision(
              A,
              {
                decisionKey: `${leadId}:route`,
                decision: makeDecision({ leadId, sla: undefined }),
                summary: 'ada',
                notifications: channels.map((c) => delivery(leadId, c, `msg_${leadId}`)),
              },
              (await s.loadRoutingState(A)).versions,
              T0,
            ),
          ).toMatchObject({ status: 'committed' });
        // A sender holds lead-9's Slack delivery (it may be on its way): it is left to the sender.
        const held = await s.notifications.claimDue('sender', T0 + 1, T0 + 60_000, 10);
        const slack = held.find((d) => d.channel === 'sales:slack')!;
        for (const d of held.filter((x) => x !== slack))
          await s.db.run('UPDATE notifications SET lease_owner = NULL, lease_until = NULL WHERE id = ?', [
            d.id,
          ]);

        const reason = 'not written: the CRM refused ada@acme.io as inactive; the lead was decided again';
        for (const leadId of ['lead-9', 'lead-10'])
          expect(
            await s.commitDecision(
              A,
              {
                decisionKey: decidedAgainKey(`${leadId}:route`),
                decision: makeDecision({
                  leadId,
                  destination: { kind: 'rep', email: 'bo@acme.io' },
                  actions: [{ kind: 'set_owner', email: 'bo@acme.io' }],
                  stateChanges: NONE,
                  sla: undefined,
                }),
                summary: 'bo',
                decidedAgain: { reason, withdrawNotifications: leadId === 'lead-9' ? ['msg_lead-9'] : [] },
                notifications: [delivery(leadId, 'ops:webhook', `msg_${leadId}_again`)],
              },
              (await s.loadRoutingState(A)).versions,
              T0 + 2,
            ),
          ).toMatchObject({ status: 'committed' });

        const states = (await s.notifications.deliveries(A)).map((d) => [
          d.messageId,
          d.channel,
          d.state,
          d.lastError,
        ]);
        expect(states).toEqual([
          ['msg_lead-9', 'ops:webhook', 'failed', `withdrawn: ${reason}`],
          ['msg_lead-9', 'sales:slack', 'pending', null],
          ['msg_lead-10', 'ops:webhook', 'pending', null],
          ['msg_lead-9_again', 'ops:webhook', 'pending', null],
          ['msg_lead-10_again', 'ops:webhook', 'pending', null],
        ]);
        // The sender still finishes its delivery.
        expect(await s.notifications.delivered(slack, 'sender', T0 + 3)).toBe(true);
      });

      it('a completed row keeps its effect key: replaying another row for the lead does not route again', async () => {
        const id = await leased('w1');
        const leadId = (await s.getInboxItem(A, id))!.event.objectId;
        expect(await s.claimEffect(A, leadId, 'route', id, T0)).toBe('claimed');
        expect(await s.complete(id, 'w1', T0)).toBe(true);
        const effect = await s.db.get<{ state: string }>('SELECT state FROM effects WHERE inbox_id = ?', [
          id,
        ]);
        expect(effect?.state).toBe('done');
        expect(await s.claimEffect(A, leadId, 'route', id + 1000, T0)).toBe('taken');
      });
    });

    describe('rotation state', () => {
      const NONE = { pools: {}, reps: {} };

      it('starts empty; each entry is saved with compare-and-set on its own version', async () => {
        expect(await s.loadRoutingState(A)).toEqual({ state: { pools: {}, reps: {} }, versions: NONE });
        expect(await s.saveRoutingState(A, makeState(1), NONE, T0)).toBe(true);
        // A second worker that loaded the empty state too must not overwrite: it re-decides.
        expect(await s.saveRoutingState(A, makeState(9), NONE, T0)).toBe(false);
        const v1 = { pools: { 'emea-ae': 1 }, reps: { 'ada@acme.io': 1 } };
        expect(await s.loadRoutingState(A)).toEqual({ state: makeState(1), versions: v1 });
        expect(await s.saveRoutingState(A, makeState(2), v1, T0)).toBe(true);
        expect(await s.saveRoutingState(A, makeState(9), v1, T0)).toBe(false);
        expect(await s.loadRoutingState(A)).toEqual({
          state: makeState(2),
          versions: { pools: { 'emea-ae': 2 }, reps: { 'ada@acme.io': 2 } },
        });
        expect(await s.loadRoutingState(B)).toEqual({ state: { pools: {}, reps: {} }, versions: NONE });
      });

      it('one stale entry refuses the whole save; entries not named are not checked', async () => {
        await s.saveRoutingState(A, makeState(1), NONE, T0);
        const loaded = await s.loadRoutingState(A);
        // Another worker moves the rep's counters only.
        const rep = { 'ada@acme.io': makeState(5).reps['ada@acme.io']! };
        expect(await s.saveRoutingState(A, { pools: {}, reps: rep }, loaded.versions, T0)).toBe(true);
        // The pool alone still has the version we loaded: writable. Pool and rep together: not.
        const pool = { 'emea-ae': makeState(2).pools['emea-ae']! };
        expect(await s.saveRoutingState(A, makeState(2), loaded.versions, T0)).toBe(false);
        expect(await s.saveRoutingState(A, { pools: pool, reps: {} }, loaded.versions, T0)).toBe(true);
        expect((await s.loadRoutingState(A)).state).toEqual({ pools: pool, reps: rep });
      });

      it('reads a weighted rotation stored in the old per-epoch shape as what each rep is owed', async () => {
        // Before shares were carried: 7 leads since {ada, bo} (2:1) became the eligible set; ada had 5.
        const legacy = {
          turn: 40,
          lastTurn: { 'ada@acme.io': 40 },
          weighted: {
            members: 'ada@acme.io|bo@acme.io#2:1',
            counts: { 'ada@acme.io': 5, 'bo@acme.io': 2 },
            total: 7,
          },
        };
        await s.db.run(
          `INSERT INTO rotation_state (tenant_id, kind, name, state, version, updated_at) VALUES (?, 'pool', 'emea-ae', ?, 3, ?)`,
          [A, JSON.stringify(legacy), T0],
        );
        const { state, versions } = await s.loadRoutingState(A);
        expect(versions.pools).toEqual({ 'emea-ae': 3 });
        const owed = state.pools['emea-ae']!.weighted!.owed;
        expect(owed['ada@acme.io']).toBeCloseTo(14 / 3 - 5, 12);
        expect(owed['bo@acme.io']).toBeCloseTo(7 / 3 - 2, 12);
      });

      it('rejects a malformed state', async () => {
        const bad = { pools: { p: { turn: 'one' } }, reps: {} } as never;
        await expect(s.saveRoutingState(A, bad, NONE, T0)).rejects.toMatchObject({ kind: 'invalid' });
      });
    });

    describe('commitDecision', () => {
      const NONE = { pools: {}, reps: {} };
      const V1 = { pools: { 'emea-ae': 1 }, reps: { 'ada@acme.io': 1 } };

      it('writes state, decision, actions and SLA timer together', async () => {
        const r = await s.commitDecision(
          A,
          { decisionKey: 'lead-1:route', decision: makeDecision(), email: 'Lea@Example.com', summary: 'ada' },
          NONE,
          T0,
        );
        expect(r).toMatchObject({ status: 'committed' });
        if (r.status !== 'committed') throw new Error('not committed');
        expect(r.actions.map((a) => [a.kind, a.status])).toEqual([
          ['set_owner', 'planned'],
          ['create_task', 'planned'],
        ]);
        expect(await s.loadRoutingState(A)).toEqual({ state: makeState(1), versions: V1 });
        const [timer] = await s.slaTimersFor(A, 'lead-1');
        expect(timer).toMatchObject({
          owner: 'ada@acme.io',
          dueAt: T0 + 600_000,
          state: 'armed',
          onBreach: { kind: 'reroute' },
        });
      });

      it('writes only the changed entries and keeps the others', async () => {
        const other = { turn: 7, lastTurn: { 'bo@acme.io': 7 } };
        await s.saveRoutingState(A, { pools: { 'us-ae': other }, reps: {} }, NONE, T0);
        const r = await s.commitDecision(
          A,
          { decisionKey: 'k', decision: makeDecision(), summary: 'x' },
          { pools: { 'us-ae': 1 }, reps: {} },
          T0,
        );
        expect(r).toMatchObject({ status: 'committed' });
        const { state, versions } = await s.loadRoutingState(A);
        expect(state.pools).toEqual({ 'us-ae': other, ...makeState(1).pools });
        expect(state.reps).toEqual(makeState(1).reps);
        expect(versions).toEqual({ pools: { 'us-ae': 1, 'emea-ae': 1 }, reps: { 'ada@acme.io': 1 } });
      });

      it('a decision without state changes commits from any versions and leaves the state alone', async () => {
        await s.saveRoutingState(A, makeState(3), NONE, T0);
        const queued = makeDecision({
          destination: { kind: 'queue', name: 'inbound-triage' },
          stateChanges: { pools: {}, reps: {} },
          sla: undefined,
        });
        const r = await s.commitDecision(A, { decisionKey: 'q', decision: queued, summary: 'q' }, NONE, T0);
        expect(r).toMatchObject({ status: 'committed' });
        expect(await s.loadRoutingState(A)).toEqual({ state: makeState(3), versions: V1 });
        expect((await s.findDecision(A, 'q'))?.owner).toBeNull();
      });

      it('on a state conflict writes nothing', async () => {
        await s.saveRoutingState(A, makeState(5), NONE, T0);
        const r = await s.commitDecision(
          A,
          { decisionKey: 'k', decision: makeDecision(), summary: 'x' },
          NONE,
          T0,
        );
        expect(r).toEqual({ status: 'conflict' });
        expect(await s.findDecision(A, 'k')).toBeNull();
        expect(await s.pendingActions(A, 'lead-1')).toEqual([]);
        expect(await s.slaTimersFor(A, 'lead-1')).toEqual([]);
        expect(await s.loadRoutingState(A)).toEqual({ state: makeState(5), versions: V1 });
      });

      it('a retry of a committed key returns it without advancing the rotation again', async () => {
        const input = { decisionKey: 'k', decision: makeDecision(), summary: 'x' };
        await s.commitDecision(A, input, NONE, T0);
        const again = await s.commitDecision(
          A,
          { ...input, decision: makeDecision({ stateChanges: makeState(2) }) },
          V1,
          T0,
        );
        expect(again.status).toBe('already_decided');
        if (again.status !== 'already_decided') throw new Error('unexpected');
        expect(again.decision.owner).toBe('ada@acme.io');
        expect(again.actions).toHaveLength(2);
        expect(await s.loadRoutingState(A)).toEqual({ state: makeState(1), versions: V1 });
      });

      it('places a hold for a hold decision and releases it on the next decision', async () => {
        const hold = makeDecision({
          destination: { kind: 'hold', fields: ['country'], until: T0 + 3_600_000 },
          actions: [],
          sla: undefined,
        });
        await s.commitDecision(A, { decisionKey: 'k1', decision: hold, summary: 'held' }, NONE, T0);
        expect(await s.activeHold(A, 'lead-1')).toMatchObject({
          fields: ['country'],
          since: T0,
          until: T0 + 3_600_000,
        });
        await s.commitDecision(
          A,
          { decisionKey: 'k2', decision: makeDecision({ stateChanges: makeState(2) }), summary: 'ada' },
          V1,
          T0 + 5,
        );
        expect(await s.activeHold(A, 'lead-1')).toBeNull();
      });
    });

    describe('commitDecisions (a batch in one transaction)', () => {
      const NONE = { pools: {}, reps: {} };
      const routed = (n: number, turn: number) => ({
        decisionKey: `lead-${n}:route`,
        decision: makeDecision({ leadId: `lead-${n}`, stateChanges: makeState(turn) }),
        summary: `turn ${turn}`,
      });
      const queued = (n: number) => ({
        decisionKey: `lead-${n}:route`,
        decision: makeDecision({
          leadId: `lead-${n}`,
          destination: { kind: 'queue', name: 'triage' },
          stateChanges: { pools: {}, reps: {} },
        }),
        summary: 'queued',
      });

      it('decisions made on top of each other from one load commit together, in order', async () => {
        const results = await s.commitDecisions(
          A,
          [routed(1, 1), queued(2), routed(3, 2), routed(4, 3)],
          NONE,
          T0,
        );
        expect(results.map((r) => r.status)).toEqual(['committed', 'committed', 'committed', 'committed']);
        expect(await s.loadRoutingState(A)).toEqual({
          state: makeState(3),
          versions: { pools: { 'emea-ae': 3 }, reps: { 'ada@acme.io': 3 } },
        });
        const actions = results.map((r) => (r.status === 'committed' ? r.actions.map((a) => a.leadId) : []));
        expect(actions).toEqual([
          ['lead-1', 'lead-1'],
          ['lead-2', 'lead-2'],
          ['lead-3', 'lead-3'],
          ['lead-4', 'lead-4'],
        ]);
        expect((await s.recentDecisions(A)).map((d) => d.summary).sort()).toEqual(
          ['queued', 'turn 1', 'turn 2', 'turn 3'].sort(),
        );
        // Answered as inserted, not read back: the same as a later read finds them.
        const stored = await s.actionsForDecisions(A, [
          'lead-1:route',
          'lead-2:route',
          'lead-3:route',
          'lead-4:route',
        ]);
        for (const [k, r] of results.entries())
          expect(r.status === 'committed' ? r.actions : []).toEqual(stored.get(`lead-${k + 1}:route`));
      });

      it('an action already stored under its key is answered as stored, beside the ones inserted', async () => {
        await s.db.run(
          `INSERT INTO actions (tenant_id, lead_id, decision_key, kind, payload, status, crm_id, created_at, updated_at)
           VALUES (?, 'lead-1', 'lead-1:route', 'create_task', ?, 'done', 'task-7', ?, ?)`,
          [A, JSON.stringify(taskAction), T0 - 1, T0 - 1],
        );
        const [result] = await s.commitDecisions(A, [routed(1, 1)], NONE, T0);
        expect(result?.status).toBe('committed');
        const actions = result?.status === 'committed' ? result.actions : [];
        expect(actions.map((a) => [a.kind, a.status, a.crmId])).toEqual([
          ['create_task', 'done', 'task-7'],
          ['set_owner', 'planned', null],
        ]);
        expect(actions).toEqual((await s.actionsForDecisions(A, ['lead-1:route'])).get('lead-1:route'));
      });

      it('from the first decision whose entry moved, nothing more is written', async () => {
        // Another worker takes turn 1 of a second pool; our batch starts on the first pool (unmoved),
        // then touches the second one, then goes on.
        const moved = { turn: 1, lastTurn: { 'bo@acme.io': 1 } };
        await s.saveRoutingState(A, { pools: { 'us-ae': moved }, reps: {} }, NONE, T0);
        const onSecond = {
          decisionKey: 'lead-2:route',
          decision: makeDecision({
            leadId: 'lead-2',
            stateChanges: { pools: { 'us-ae': { turn: 1, lastTurn: { 'cy@acme.io': 1 } } }, reps: {} },
          }),
          summary: 'stale',
        };
        const results = await s.commitDecisions(
          A,
          [routed(1, 1), onSecond, routed(3, 2), queued(4)],
          NONE,
          T0,
        );
        expect(results.map((r) => r.status)).toEqual(['committed', 'conflict', 'conflict', 'conflict']);
        expect((await s.loadRoutingState(A)).state).toEqual({
          pools: { ...makeState(1).pools, 'us-ae': moved },
          reps: makeState(1).reps,
        });
        for (const lead of ['lead-2', 'lead-3', 'lead-4']) {
          expect(await s.findDecision(A, `${lead}:route`)).toBeNull();
          expect(await s.pendingActions(A, lead)).toEqual([]);
          expect(await s.slaTimersFor(A, lead)).toEqual([]);
        }
        expect(await s.pendingActions(A, 'lead-1')).toHaveLength(2);
      });

      it('a key decided before answers already_decided; the batch goes on when it changed no rotation', async () => {
        await s.commitDecisions(A, [queued(1)], NONE, T0);
        const results = await s.commitDecisions(A, [routed(0, 1), queued(1), routed(2, 2)], NONE, T0);
        expect(results.map((r) => r.status)).toEqual(['committed', 'already_decided', 'committed']);
        // One that changed rotation was decided before: what follows was decided on top of it.
        const again = await s.commitDecisions(
          A,
          [routed(2, 3), routed(5, 4)],
          { pools: { 'emea-ae': 2 }, reps: { 'ada@acme.io': 2 } },
          T0,
        );
        expect(again.map((r) => r.status)).toEqual(['already_decided', 'conflict']);
        expect((await s.loadRoutingState(A)).versions.pools).toEqual({ 'emea-ae': 2 });
      });

      it('rejects a malformed change before writing anything', async () => {
        const bad = makeDecision({
          leadId: 'lead-9',
          stateChanges: { pools: { p: { turn: 'x' } }, reps: {} } as never,
        });
        await expect(
          s.commitDecisions(A, [routed(1, 1), { decisionKey: 'bad', decision: bad, summary: 'x' }], NONE, T0),
        ).rejects.toMatchObject({ kind: 'invalid' });
        expect(await s.findDecision(A, 'lead-1:route')).toBeNull();
      });

      it("rejects a rep's recent assignment times that are not all numbers", async () => {
        for (const recent of [[T0, 'x'], [T0, Number.NaN], T0]) {
          const state = makeState(1);
          const bad = makeDecision({
            leadId: 'lead-9',
            stateChanges: {
              ...state,
              reps: { 'ada@acme.io': { ...state.reps['ada@acme.io']!, recent } },
            } as never,
          });
          await expect(
            s.commitDecisions(A, [{ decisionKey: 'bad', decision: bad, summary: 'x' }], NONE, T0),
          ).rejects.toMatchObject({ kind: 'invalid', message: expect.stringContaining('a list of numbers') });
        }
        expect(await s.findDecision(A, 'bad')).toBeNull();
      });
    });

    describe('decisions for explain', () => {
      it('finds by lead id or email (case-insensitive), latest first, only in the tenant', async () => {
        const none = { pools: {}, reps: {} };
        await s.commitDecision(
          A,
          {
            decisionKey: 'k1',
            decision: makeDecision({ decidedAt: T0 }),
            email: 'lea@example.com',
            summary: 'first',
          },
          none,
          T0,
        );
        await s.commitDecision(
          A,
          {
            decisionKey: 'k2',
            decision: makeDecision({ decidedAt: T0 + 1000, stateChanges: makeState(2) }),
            email: 'lea@example.com',
            summary: 'second',
          },
          { pools: { 'emea-ae': 1 }, reps: { 'ada@acme.io': 1 } },
          T0,
        );
        await s.commitDecision(
          B,
          { decisionKey: 'k1', decision: makeDecision(), email: 'lea@example.com', summary: 'other tenant' },
          none,
          T0,
        );
        expect((await s.decisionsFor(A, { leadId: 'lead-1' })).map((d) => d.summary)).toEqual([
          'second',
          'first',
        ]);
        expect((await s.decisionsFor(A, { email: 'LEA@example.com' })).map((d) => d.summary)).toEqual([
          'second',
          'first',
        ]);
        expect((await s.recentDecisions(A)).map((d) => d.summary)).toEqual(['second', 'first']);
        expect((await s.decisionsFor(B, { leadId: 'lead-1' })).map((d) => d.summary)).toEqual([
          'other tenant',
        ]);
        const [latest] = await s.decisionsFor(A, { leadId: 'lead-1' }, 1);
        expect(latest).toMatchObject({
          route: { index: 1, name: 'Enterprise demo requests in DACH' },
          ruleSet: { version: 'v1hash' },
          trace: { steps: ['pool emea-ae → ada@acme.io'] },
        });
      });
    });

    describe('actions', () => {
      it('planning the same decision twice never creates a second action', async () => {
        const first = await s.planActions(A, 'lead-1', 'k', [ownerAction, taskAction], T0);
        expect(await s.markActionDone(A, first[1]!.id, 'task-123', T0 + 1)).toBe(true);
        const again = await s.planActions(A, 'lead-1', 'k', [ownerAction, taskAction], T0 + 2);
        expect(again.map((a) => [a.id, a.status, a.crmId])).toEqual([
          [first[0]!.id, 'planned', null],
          [first[1]!.id, 'done', 'task-123'],
        ]);
        expect((await s.pendingActions(A, 'lead-1')).map((a) => a.kind)).toEqual(['set_owner']);
        expect(new Set(again.map((a) => a.key)).size).toBe(2);
        expect((await s.planActions(B, 'lead-1', 'k', [ownerAction], T0))[0]!.key).not.toBe(first[0]!.key);
      });

      it('done and failed are compare-and-set from planned, and tenant-scoped', async () => {
        const [owner, task] = await s.planActions(A, 'lead-1', 'k', [ownerAction, taskAction], T0);
        expect(await s.markActionDone(B, owner!.id, null, T0)).toBe(false);
        expect(await s.markActionFailed(A, task!.id, 'invalid: no such owner', T0)).toBe(true);
        expect(await s.markActionDone(A, task!.id, 'x', T0)).toBe(false);
        expect(await s.markActionDone(A, owner!.id, null, T0)).toBe(true);
        expect(await s.markActionFailed(A, owner!.id, 'late', T0)).toBe(false);
        expect((await s.actionsForDecision(A, 'k')).map((a) => [a.status, a.reason])).toEqual([
          ['done', null],
          ['failed', 'invalid: no such owner'],
        ]);
        expect(await s.pendingActions(A, 'lead-1')).toEqual([]);
      });

      it("marks a batch call's results done together, each only from planned and in its tenant", async () => {
        const [owner, task] = await s.planActions(A, 'lead-1', 'k', [ownerAction, taskAction], T0);
        const [other] = await s.planActions(B, 'lead-1', 'k', [ownerAction], T0);
        expect(await s.markActionFailed(A, task!.id, 'invalid', T0)).toBe(true);
        const done = [owner!, task!, other!].map((a) => ({ id: a.id, crmId: `crm-${a.id}` }));
        expect(await s.markActionsDone(A, done, T0 + 1)).toBe(1);
        expect((await s.actionsForDecision(A, 'k')).map((a) => [a.status, a.crmId])).toEqual([
          ['done', `crm-${owner!.id}`],
          ['failed', null],
        ]);
        expect((await s.actionsForDecisions(B, ['k', 'none'])).get('k')?.map((a) => a.status)).toEqual([
          'planned',
        ]);
      });

      it('gives each action marked done in one call its own CRM id (or none), an id listed twice its first', async () => {
        const [owner, task] = await s.planActions(A, 'lead-2', 'k2', [ownerAction, taskAction], T0);
        const done = [
          { id: task!.id, crmId: 'task-1' },
          { id: owner!.id, crmId: null },
          { id: task!.id, crmId: 'task-2' },
        ];
        expect(await s.markActionsDone(A, done, T0 + 1)).toBe(2);
        expect((await s.actionsForDecision(A, 'k2')).map((a) => [a.status, a.crmId])).toEqual([
          ['done', null],
          ['done', 'task-1'],
        ]);
      });

      it('keeps why an action done in one call wrote nothing, and no reason for the others', async () => {
        const [owner, task] = await s.planActions(A, 'lead-3', 'k3', [ownerAction, taskAction], T0);
        const done = [
          { id: owner!.id, crmId: 'lead-3' },
          { id: task!.id, crmId: null, reason: 'skipped: a queue cannot own a task' },
        ];
        expect(await s.markActionsDone(A, done, T0 + 1)).toBe(2);
        expect((await s.actionsForDecision(A, 'k3')).map((a) => [a.status, a.crmId, a.reason])).toEqual([
          ['done', 'lead-3', null],
          ['done', null, 'skipped: a queue cannot own a task'],
        ]);
      });
    });

    describe('action claims and sends', () => {
      const note = (text: string) => ({ kind: 'write_note' as const, text });
      const claimOf = (workerId: string, now: number, sentBefore = now - 5_000) => ({
        workerId,
        leaseUntil: now + LEASE,
        now,
        sentBefore,
      });

      it('claims planned actions of a kind once each, oldest first, across tenants, until the lease lapses', async () => {
        const [n1] = await s.planActions(A, 'lead-1', 'k1', [note('one')], T0);
        const [n2] = await s.planActions(B, 'lead-2', 'k2', [note('two')], T0 + 1);
        await s.planActions(A, 'lead-3', 'k3', [ownerAction], T0 + 2);
        const [n3] = await s.planActions(A, 'lead-4', 'k4', [note('four')], T0 + 3);

        const first = await s.claimActionsOfKind('write_note', { ...claimOf('w1', T0 + 10), limit: 2 });
        expect(first.map((a) => [a.id, a.tenantId, a.leaseOwner, a.leaseUntil])).toEqual([
          [n1!.id, A, 'w1', T0 + 10 + LEASE],
          [n2!.id, B, 'w1', T0 + 10 + LEASE],
        ]);
        // Held actions are skipped; `ripe` leaves out a tenant whose claimable ones came later.
        expect(
          await s.claimActionsOfKind('write_note', {
            ...claimOf('w2', T0 + 10),
            limit: 5,
            ripe: { fullBatch: 5, overdueBefore: T0 + 2, quietBefore: T0 + 2 },
          }),
        ).toEqual([]);
        expect(
          (await s.claimActionsOfKind('write_note', { ...claimOf('w2', T0 + 10), limit: 5 })).map(
            (a) => a.id,
          ),
        ).toEqual([n3!.id]);
        // Still planned (work to do) while held.
        expect((await s.plannedActionsOfKind('write_note', 10)).map((a) => a.id)).toEqual([
          n1!.id,
          n2!.id,
          n3!.id,
        ]);
        // The leases lapse: their actions can be taken over; a finished one never is.
        expect(await s.markActionsDone(A, [{ id: n1!.id, crmId: 'note-1' }], T0 + 11)).toBe(1);
        const later = T0 + 10 + LEASE;
        const over = await s.claimActionsOfKind('write_note', { ...claimOf('w3', later), limit: 5 });
        expect(over.map((a) => [a.id, a.leaseOwner])).toEqual([
          [n2!.id, 'w3'],
          [n3!.id, 'w3'],
        ]);
        const [done] = await s.actionsForDecision(A, 'k1');
        expect(done).toMatchObject({ status: 'done', crmId: 'note-1', leaseOwner: null, leaseUntil: null });
      });

      it("a tenant's notes are claimed together once its inbox is quiet, a full batch waits, or the oldest is overdue", async () => {
        const ripe = { fullBatch: 3, overdueBefore: T0, quietBefore: T0 + 1_000 };
        const claim = async (worker: string) =>
          (await s.claimActionsOfKind('write_note', { ...claimOf(worker, T0 + 5_000), limit: 10, ripe })).map(
            (a) => a.id,
          );
        const [a1] = await s.planActions(A, 'lead-1', 'k1', [note('old')], T0 + 500);
        const [a2] = await s.planActions(A, 'lead-2', 'k2', [note('new')], T0 + 4_000);
        const [b1] = await s.planActions(B, 'lead-3', 'k3', [note('old in B')], T0 + 500);
        const [b2] = await s.planActions(B, 'lead-4', 'k4', [note('new in B')], T0 + 4_500);
        // B is still routing (an event is due in its inbox): its notes wait to be gathered; A is quiet.
        await s.enqueue([{ tenantId: B, event: makeEvent() }], T0 + 4_600);
        expect(await claim('w1')).toEqual([a1!.id, a2!.id]);
        expect(await claim('w1')).toEqual([]);
        // A full batch for B goes out although it is still routing.
        const [b3] = await s.planActions(B, 'lead-5', 'k5', [note('third in B')], T0 + 4_700);
        expect(await claim('w2')).toEqual([b1!.id, b2!.id, b3!.id]);
        // So does an overdue note.
        const [b4] = await s.planActions(B, 'lead-6', 'k6', [note('overdue in B')], T0);
        expect(await claim('w3')).toEqual([b4!.id]);
      });

      it('a create marked sent is claimed again only once a search can see it; release keeps or forgets the send', async () => {
        const [owner, task] = await s.planActions(A, 'lead-1', 'k', [ownerAction, taskAction], T0);
        const ids = [owner!.id, task!.id];
        // Another tenant's ids claim nothing.
        expect(await s.claimActions(B, ids, claimOf('w1', T0))).toEqual([]);
        expect((await s.claimActions(A, ids, claimOf('w1', T0))).map((a) => a.sentAt)).toEqual([null, null]);
        expect(await s.claimActions(A, ids, claimOf('w2', T0))).toEqual([]);
        // Only the holder records a send.
        expect(await s.markActionsSent(A, [task!.id], 'w2', T0 + 1)).toEqual([]);
        expect(await s.markActionsSent(A, [task!.id], 'w1', T0 + 1)).toEqual([task!.id]);

        // The send's outcome is unknown: given back with its send kept.
        expect(await s.releaseActions(A, ids, 'w2', T0 + 2, { notApplied: false })).toBe(0);
        expect(await s.releaseActions(A, ids, 'w1', T0 + 2, { notApplied: false })).toBe(2);
        // Too soon after the send for a search to show it: only the owner write can be claimed.
        expect((await s.claimActions(A, ids, claimOf('w3', T0 + 3, T0))).map((a) => a.id)).toEqual([
          owner!.id,
        ]);
        const [again] = await s.claimActions(A, [task!.id], claimOf('w4', T0 + 6_000, T0 + 1));
        expect(again).toMatchObject({ id: task!.id, sentAt: T0 + 1, leaseOwner: 'w4' });

        // A refusal shows it was not applied: the send is forgotten.
        expect(await s.releaseActions(A, [task!.id], 'w4', T0 + 6_001, { notApplied: true })).toBe(1);
        const [forgotten] = await s.claimActions(A, [task!.id], claimOf('w5', T0 + 6_002));
        expect(forgotten).toMatchObject({ sentAt: null, leaseOwner: 'w5' });
        expect(await s.markActionFailed(A, task!.id, 'invalid', T0 + 6_003)).toBe(true);
        expect(await s.claimActions(A, ids, claimOf('w6', T0 + 10 * LEASE))).toMatchObject([
          { id: owner!.id },
        ]);
      });
    });

    describe('holds', () => {
      it('one open hold per lead; due holds by time; release is compare-and-set', async () => {
        const hold = { leadId: 'lead-1', route: 'r', fields: ['country'], since: T0, until: T0 + 1000 };
        expect(await s.placeHold(A, hold)).toBe(true);
        expect(await s.placeHold(A, { ...hold, since: T0 + 500 })).toBe(false);
        expect(await s.placeHold(B, hold)).toBe(true);
        expect(await s.dueHolds(T0 + 999)).toEqual([]);
        const due = await s.dueHolds(T0 + 1000, { tenantId: A });
        expect(due.map((h) => [h.tenantId, h.leadId, h.since])).toEqual([[A, 'lead-1', T0]]);
        expect(await s.dueHolds(T0 + 1000)).toHaveLength(2);
        expect(await s.releaseHold(B, due[0]!.id, 'timed_out', T0 + 1000)).toBe(false);
        expect(await s.releaseHold(A, due[0]!.id, 'timed_out', T0 + 1000)).toBe(true);
        expect(await s.releaseHold(A, due[0]!.id, 'released', T0 + 1000)).toBe(false);
        expect(await s.activeHold(A, 'lead-1')).toBeNull();
        // After release, a new hold may be placed for the same lead.
        expect(await s.placeHold(A, { ...hold, since: T0 + 2000 })).toBe(true);
      });
    });

    describe('sla timers', () => {
      it('due timers by time, state moves by compare-and-set', async () => {
        await s.commitDecision(
          A,
          { decisionKey: 'k', decision: makeDecision(), summary: 'x' },
          { pools: {}, reps: {} },
          T0,
        );
        expect(await s.dueSlaTimers(T0 + 599_999)).toEqual([]);
        const [timer] = await s.dueSlaTimers(T0 + 600_000, { tenantId: A });
        expect(await s.dueSlaTimers(T0 + 600_000, { tenantId: B })).toEqual([]);
        expect(await s.setSlaState(A, timer!.id, 'armed', 'breached', T0 + 600_000)).toBe(true);
        expect(await s.setSlaState(A, timer!.id, 'armed', 'met', T0 + 600_001)).toBe(false);
        expect(await s.dueSlaTimers(T0 + 600_000)).toEqual([]);
      });
    });

    describe('directory cache', () => {
      it('upserts per tenant', async () => {
        const dir = {
          owners: [{ id: '1', email: 'ada@acme.io', name: 'Ada', active: true, teams: [] }],
          queues: {},
          fetchedAt: T0,
        };
        expect(await s.loadDirectory(A)).toBeNull();
        await s.saveDirectory(A, dir);
        await s.saveDirectory(A, { ...dir, fetchedAt: T0 + 1 });
        expect(await s.loadDirectory(A)).toEqual({ ...dir, fetchedAt: T0 + 1 });
        expect(await s.loadDirectory(B)).toBeNull();
      });
    });
  });
}
