// Stream leases and cursors, on every engine: one holder per tenant and channel, taken over only once
// the holder's lease expires (or at once by the only process on its database); the cursor moves only for
// the lease's holder, and coverage never back. The health checks read every installed tenant's streams
// in one query, a stream no process ever leased included.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  STREAM_MISSED_RECENT_MS,
  StorageError,
  StreamRepository,
  streamSilence,
  type Storage,
} from '../../src/storage/index.js';
import { ENGINES, T0, addTenant } from './helpers.js';

const A = 'tenant-a';
const B = 'tenant-b';
const LEADS = '/data/LeadChangeEvent';
const CONTACTS = '/data/ContactChangeEvent';
const TTL = 30_000;

for (const [name, engine, suite] of ENGINES) {
  suite(`stream leases and cursors on ${name}`, () => {
    let storage: Storage;
    let streams: StreamRepository;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ storage, close } = await engine.open());
      streams = new StreamRepository(storage.db);
      await addTenant(storage, A);
      await addTenant(storage, B);
    });
    afterEach(async () => {
      await close();
    });

    describe('lease', () => {
      it('has one holder per tenant and channel until it expires', async () => {
        expect(await streams.takeLease(A, LEADS, 'p1', TTL, T0)).toBe(true);
        expect(await streams.takeLease(A, LEADS, 'p2', TTL, T0 + 1)).toBe(false);
        expect(await streams.takeLease(A, LEADS, 'p2', TTL, T0 + TTL - 1)).toBe(false);
        expect(await streams.leaseHolder(A, LEADS, T0 + 1)).toBe('p1');
        // Another channel and another tenant are leased apart.
        expect(await streams.takeLease(A, CONTACTS, 'p2', TTL, T0)).toBe(true);
        expect(await streams.takeLease(B, LEADS, 'p2', TTL, T0)).toBe(true);
      });

      it('is renewed by its holder and taken over once it expires', async () => {
        expect(await streams.takeLease(A, LEADS, 'p1', TTL, T0)).toBe(true);
        expect(await streams.takeLease(A, LEADS, 'p1', TTL, T0 + 20_000)).toBe(true); // renewed to T0+50s
        expect(await streams.takeLease(A, LEADS, 'p2', TTL, T0 + 40_000)).toBe(false);
        expect(await streams.takeLease(A, LEADS, 'p2', TTL, T0 + 50_000)).toBe(true); // expired: taken over
        expect(await streams.leaseHolder(A, LEADS, T0 + 50_001)).toBe('p2');
        // The old holder cannot renew what it lost.
        expect(await streams.takeLease(A, LEADS, 'p1', TTL, T0 + 50_002)).toBe(false);
        expect(await streams.leaseHolder(A, LEADS, T0 + 80_000)).toBeNull();
      });

      it('released by its holder is free at once; another cannot release it', async () => {
        await streams.takeLease(A, LEADS, 'p1', TTL, T0);
        expect(await streams.releaseLease(A, LEADS, 'p2')).toBe(false);
        expect(await streams.releaseLease(A, LEADS, 'p1')).toBe(true);
        expect(await streams.takeLease(A, LEADS, 'p2', TTL, T0 + 1)).toBe(true);
      });

      it('is taken over from a holder whose lease has not expired, naming that holder', async () => {
        expect(await streams.takeLease(A, LEADS, 'dead', TTL, T0)).toBe(true);
        expect(await streams.advance(A, LEADS, 'dead', { replayId: '7', replayAt: T0 }, T0)).toBe(true);
        expect(await streams.takeOverLease(A, LEADS, 'p1', TTL, T0 + 1)).toBe('dead');
        expect(await streams.leaseHolder(A, LEADS, T0 + 2)).toBe('p1');
        // Its holder now, the cursor where the predecessor left it, which moves it no more.
        expect(await streams.takeLease(A, LEADS, 'p1', TTL, T0 + 10_000)).toBe(true);
        expect(await streams.advance(A, LEADS, 'dead', { replayId: '8' }, T0 + 3)).toBe(false);
        expect(await streams.cursor(A, LEADS)).toMatchObject({ replayId: '7', replayAt: T0 });
        // Free, expired or its own: taken (or renewed) with no predecessor named.
        expect(await streams.takeOverLease(A, LEADS, 'p1', TTL, T0 + 20_000)).toBeNull();
        expect(await streams.leaseHolder(A, LEADS, T0 + 20_000 + TTL - 1)).toBe('p1');
        expect(await streams.takeOverLease(A, CONTACTS, 'p1', TTL, T0)).toBeNull();
        await streams.takeLease(B, LEADS, 'dead', TTL, T0);
        expect(await streams.takeOverLease(B, LEADS, 'p1', TTL, T0 + TTL)).toBeNull();
        expect(await streams.leaseHolder(B, LEADS, T0 + TTL)).toBe('p1');
      });

      it('of racing takers goes to exactly one', async () => {
        const won = await Promise.all(
          ['p1', 'p2', 'p3', 'p4', 'p5'].map((p) => streams.takeLease(A, LEADS, p, TTL, T0)),
        );
        expect(won.filter(Boolean)).toHaveLength(1);
      });

      it('refuses an unknown tenant, an empty holder or a bad ttl and records nothing', async () => {
        await expect(streams.takeLease('nobody', LEADS, 'p1', TTL, T0)).rejects.toMatchObject({
          kind: 'invalid',
        });
        await expect(streams.takeLease(A, LEADS, '', TTL, T0)).rejects.toBeInstanceOf(StorageError);
        await expect(streams.takeLease(A, LEADS, 'p1', 0, T0)).rejects.toBeInstanceOf(StorageError);
        expect(await streams.leaseHolder(A, LEADS, T0)).toBeNull();
      });
    });

    describe('states', () => {
      const PULLED = [
        { provider: 'salesforce', channel: LEADS },
        { provider: 'salesforce', channel: CONTACTS },
      ];

      it("are every installed tenant's streams on its provider's channels: read or not, and how far", async () => {
        for (const id of ['sf-1', 'sf-2', 'sf-gone']) await addTenant(storage, id, 'salesforce');
        await addTenant(storage, 'hs-1', 'hubspot');
        // sf-1 reads its Leads since T0 (renewed since: still read since T0); its Contacts never were.
        expect(await streams.takeLease('sf-1', LEADS, 'p1', TTL, T0)).toBe(true);
        await streams.advance(
          'sf-1',
          LEADS,
          'p1',
          { replayId: '7', replayAt: T0 + 10, coveredUntil: T0 },
          T0 + 20,
        );
        expect(await streams.takeLease('sf-1', LEADS, 'p1', TTL, T0 + 20_000)).toBe(true);
        // sf-2's reader died: its lease ran out at T0 + TTL. It is paused as well.
        await streams.takeLease('sf-2', CONTACTS, 'dead', TTL, T0);
        await streams.advance('sf-2', CONTACTS, 'dead', { coveredUntil: T0 - 5 }, T0 + 1);
        expect(await storage.pauseTenant('sf-2', { reason: 'login hours', checkAt: T0 + 60_000 }, T0)).toBe(
          'began',
        );
        // Uninstalled: its stream is not expected any more.
        await streams.takeLease('sf-gone', LEADS, 'p1', TTL, T0);
        expect(await storage.markTenantUninstalled('sf-gone', T0)).toBe(true);
        // A channel of the other provider's tenant is leased apart, and none of HubSpot's are asked for.
        await streams.takeLease('hs-1', LEADS, 'p1', TTL, T0);

        const now = T0 + 40_000;
        const read = { tenantId: 'sf-1', paused: false, lapsedAt: null };
        const sf2 = { tenantId: 'sf-2', paused: true };
        expect(await storage.streamStates(PULLED, now)).toEqual([
          { ...read, channel: CONTACTS, lease: null, cursor: null },
          {
            ...read,
            channel: LEADS,
            lease: {
              holder: 'p1',
              takenAt: T0,
              subscribedAt: null,
              failingSince: null,
              lastError: null,
              missed: null,
            },
            cursor: { replayId: '7', replayAt: T0 + 10, coveredUntil: T0, updatedAt: T0 + 20 },
          },
          {
            ...sf2,
            channel: CONTACTS,
            lease: null,
            lapsedAt: T0 + TTL,
            cursor: { replayId: null, replayAt: null, coveredUntil: T0 - 5, updatedAt: T0 + 1 },
          },
          { ...sf2, channel: LEADS, lease: null, lapsedAt: null, cursor: null },
        ]);
        // One tenant's only.
        expect((await streams.states(PULLED, now, 'sf-1')).map((s) => [s.tenantId, s.channel])).toEqual([
          ['sf-1', CONTACTS],
          ['sf-1', LEADS],
        ]);
        // sf-1's lease, renewed at T0 + 20 s, runs out at T0 + 50 s.
        expect(await streams.states(PULLED.slice(0, 1), T0 + 50_000, 'sf-1')).toEqual([
          expect.objectContaining({ channel: LEADS, lease: null, lapsedAt: T0 + 50_000 }),
        ]);
        // No CRM pulls: nothing to read, nothing asked.
        expect(await streams.states([], now)).toEqual([]);
      });
    });

    describe('subscription status', () => {
      const PULLED = [{ provider: 'salesforce', channel: LEADS }];
      const leaseOf = async (now: number) => (await streams.states(PULLED, now, 'sf-1'))[0]?.lease;

      it("is written by the lease's holder only, keeps since when it fails, and is returned by states", async () => {
        await addTenant(storage, 'sf-1', 'salesforce');
        expect(await streams.takeLease('sf-1', LEADS, 'p1', TTL, T0)).toBe(true);
        // Not known yet: the holder's stream has said nothing.
        expect(await leaseOf(T0)).toEqual({
          holder: 'p1',
          takenAt: T0,
          subscribedAt: null,
          failingSince: null,
          lastError: null,
          missed: null,
        });
        // Another process (a former holder's stream closing late) writes nothing.
        expect(
          await streams.recordSubscription('sf-1', LEADS, 'p2', { subscribed: false, error: 'nope' }, T0 + 1),
        ).toBe(false);
        expect(await streams.recordSubscription('sf-1', LEADS, 'p2', { subscribed: true }, T0 + 1)).toBe(
          false,
        );
        expect(await leaseOf(T0 + 1)).toMatchObject({ subscribedAt: null, failingSince: null });

        const refused =
          '400::The channel you requested to subscribe to does not exist {/data/LeadChangeEvent}';
        expect(
          await streams.recordSubscription(
            'sf-1',
            LEADS,
            'p1',
            { subscribed: false, error: refused },
            T0 + 10,
          ),
        ).toBe(true);
        // Failing on: since the first failure, with the latest reason, cut to 300 characters.
        const long = `subscribe failed: ${'x'.repeat(500)}`;
        await streams.recordSubscription('sf-1', LEADS, 'p1', { subscribed: false, error: long }, T0 + 20);
        expect(await leaseOf(T0 + 20)).toMatchObject({
          subscribedAt: null,
          failingSince: T0 + 10,
          lastError: long.slice(0, 300),
        });
        // Subscribed: the failure is over; renewals keep what the holder said.
        await streams.recordSubscription('sf-1', LEADS, 'p1', { subscribed: true }, T0 + 30);
        expect(await streams.takeLease('sf-1', LEADS, 'p1', TTL, T0 + 10_000)).toBe(true);
        expect(await leaseOf(T0 + 10_000)).toEqual({
          holder: 'p1',
          takenAt: T0,
          subscribedAt: T0 + 30,
          failingSince: null,
          lastError: null,
          missed: null,
        });
        // Failing again after a subscription: the last one is kept, since when it fails too.
        await streams.recordSubscription('sf-1', LEADS, 'p1', { subscribed: false, error: refused }, T0 + 40);
        expect(await leaseOf(T0 + 10_000)).toMatchObject({
          subscribedAt: T0 + 30,
          failingSince: T0 + 40,
          lastError: refused,
        });
      });

      it('starts clean for a new holder, whether it takes a lapsed lease or takes one over', async () => {
        await addTenant(storage, 'sf-1', 'salesforce');
        await streams.takeLease('sf-1', LEADS, 'p1', TTL, T0);
        await streams.recordSubscription('sf-1', LEADS, 'p1', { subscribed: true }, T0 + 1);
        await streams.recordMissed('sf-1', LEADS, 'p1', 3, T0 + 2);
        await streams.recordSubscription(
          'sf-1',
          LEADS,
          'p1',
          { subscribed: false, error: 'refused' },
          T0 + 2,
        );
        // p1 died; p2 takes the lapsed lease: what p1 said is not p2's.
        expect(await streams.takeLease('sf-1', LEADS, 'p2', TTL, T0 + TTL)).toBe(true);
        const clean = { subscribedAt: null, failingSince: null, lastError: null, missed: null };
        expect(await leaseOf(T0 + TTL)).toMatchObject({ holder: 'p2', takenAt: T0 + TTL, ...clean });
        await streams.recordSubscription(
          'sf-1',
          LEADS,
          'p2',
          { subscribed: false, error: 'refused' },
          T0 + TTL,
        );
        // The only process on its database takes it over at once: clean too.
        expect(await streams.takeOverLease('sf-1', LEADS, 'p3', TTL, T0 + TTL + 1)).toBe('p2');
        expect(await leaseOf(T0 + TTL + 1)).toMatchObject({ holder: 'p3', ...clean });
      });
    });

    describe('missed records', () => {
      const PULLED = [{ provider: 'salesforce', channel: LEADS }];
      const leaseOf = async (now: number) => (await streams.states(PULLED, now, 'sf-1'))[0]?.lease;

      it("are written by the lease's holder only, the last finding kept, and returned by states", async () => {
        await addTenant(storage, 'sf-1', 'salesforce');
        await streams.takeLease('sf-1', LEADS, 'p1', TTL, T0);
        await streams.recordSubscription('sf-1', LEADS, 'p1', { subscribed: true }, T0);
        expect(await streams.recordMissed('sf-1', LEADS, 'p2', 4, T0 + 1)).toBe(false);
        expect(await leaseOf(T0 + 1)).toMatchObject({ missed: null });
        expect(await streams.recordMissed('sf-1', LEADS, 'p1', 4, T0 + 1)).toBe(true);
        expect(await streams.recordMissed('sf-1', LEADS, 'p1', 2, T0 + 2)).toBe(true);
        // Renewed: the holder's finding stays, beside its subscription.
        await streams.takeLease('sf-1', LEADS, 'p1', TTL, T0 + 10_000);
        expect(await leaseOf(T0 + 10_000)).toMatchObject({
          subscribedAt: T0,
          missed: { at: T0 + 2, count: 2 },
        });
        await expect(streams.recordMissed('sf-1', LEADS, 'p1', 0, T0 + 3)).rejects.toBeInstanceOf(
          StorageError,
        );
      });
    });

    describe('cursor', () => {
      it('is absent before the first advance', async () => {
        expect(await streams.cursor(A, LEADS)).toBeNull();
      });

      it('moves for the lease holder only', async () => {
        await streams.takeLease(A, LEADS, 'p1', TTL, T0);
        expect(await streams.advance(A, LEADS, 'p2', { replayId: '7', replayAt: T0 }, T0 + 1)).toBe(false);
        expect(await streams.cursor(A, LEADS)).toBeNull();
        expect(await streams.advance(A, LEADS, 'p1', { replayId: '7', replayAt: T0 }, T0 + 1)).toBe(true);
        expect(await streams.cursor(A, LEADS)).toEqual({
          replayId: '7',
          replayAt: T0,
          coveredUntil: null,
          updatedAt: T0 + 1,
        });
        // Once the lease has expired, its former holder moves nothing.
        expect(await streams.advance(A, LEADS, 'p1', { replayId: '9', replayAt: T0 + 5 }, T0 + TTL)).toBe(
          false,
        );
        expect((await streams.cursor(A, LEADS))?.replayId).toBe('7');
        // Nor after another took it over.
        await streams.takeLease(A, LEADS, 'p2', TTL, T0 + TTL);
        expect(await streams.advance(A, LEADS, 'p1', { replayId: '9' }, T0 + TTL + 1)).toBe(false);
        expect(await streams.advance(A, LEADS, 'p2', { replayId: '9', replayAt: T0 + 9 }, T0 + TTL + 1)).toBe(
          true,
        );
        expect((await streams.cursor(A, LEADS))?.replayId).toBe('9');
      });

      it('keeps what an advance leaves out, and coverage only moves forward', async () => {
        await streams.takeLease(A, LEADS, 'p1', TTL, T0);
        await streams.advance(A, LEADS, 'p1', { replayId: '7', replayAt: T0 - 10 }, T0);
        await streams.advance(A, LEADS, 'p1', { coveredUntil: T0 - 5 }, T0 + 1);
        expect(await streams.cursor(A, LEADS)).toMatchObject({
          replayId: '7',
          replayAt: T0 - 10,
          coveredUntil: T0 - 5,
        });
        await streams.advance(A, LEADS, 'p1', { coveredUntil: T0 - 50 }, T0 + 2);
        expect((await streams.cursor(A, LEADS))?.coveredUntil).toBe(T0 - 5);
        await streams.advance(A, LEADS, 'p1', { replayId: '8', replayAt: T0 - 1, coveredUntil: T0 }, T0 + 3);
        expect(await streams.cursor(A, LEADS)).toEqual({
          replayId: '8',
          replayAt: T0 - 1,
          coveredUntil: T0,
          updatedAt: T0 + 3,
        });
        // Cursors of other channels and tenants are their own.
        expect(await streams.cursor(A, CONTACTS)).toBeNull();
        expect(await streams.cursor(B, LEADS)).toBeNull();
      });

      it('refuses an empty replay id', async () => {
        await streams.takeLease(A, LEADS, 'p1', TTL, T0);
        await expect(streams.advance(A, LEADS, 'p1', { replayId: '' }, T0)).rejects.toBeInstanceOf(
          StorageError,
        );
      });

      it('goes with its tenant', async () => {
        await streams.takeLease(A, LEADS, 'p1', TTL, T0);
        await streams.advance(A, LEADS, 'p1', { replayId: '7' }, T0);
        await storage.db.run('DELETE FROM tenants WHERE id = ?', [A]);
        expect(await streams.cursor(A, LEADS)).toBeNull();
        expect(await streams.leaseHolder(A, LEADS, T0)).toBeNull();
      });
    });
  });
}

describe('streamSilence', () => {
  it('a finding of missed records reads as a silent stream while recent only', () => {
    const lease = (missed: { at: number; count: number } | null) => ({
      lease: {
        holder: 'p1',
        takenAt: T0,
        subscribedAt: T0,
        failingSince: null,
        lastError: null,
        missed,
      },
    });
    const at = T0 + 60_000;
    expect(streamSilence(lease({ at, count: 2 }), at + STREAM_MISSED_RECENT_MS)).toEqual({
      at,
      count: 2,
    });
    expect(streamSilence(lease({ at, count: 2 }), at + STREAM_MISSED_RECENT_MS + 1)).toBeNull();
    expect(streamSilence(lease(null), at)).toBeNull();
    expect(streamSilence({ lease: null }, at)).toBeNull();
  });
});
