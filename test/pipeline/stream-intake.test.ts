// The pulled intake's lease and sink, on every engine, with two app processes sharing one database:
// exactly one reads a tenant's channel; when it dies (no more renewals) the other takes the channel over
// and resumes where the first one's recorded events end — once the lease lapses, or at once for the only
// process on its database. Creations are recorded; changes only when they bring a field a held lead
// waits for. A catch-up poll's creations that the inbox lacked, made after the time the stream says it
// delivers from, are said to be missed by the stream: logged, counted and kept with the lease.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CrmEvent } from '../../connectors/connector.js';
import type { OpenedStream, PulledIntake, StreamResume, StreamSink } from '../../connectors/pulled-intake.js';
import { createLogger } from '../../src/log.js';
import { StreamIntake, type StreamIntakeOptions } from '../../src/pipeline/stream-intake.js';
import { openStorage, StreamRepository, type Storage } from '../../src/storage/index.js';
import { addTenant, createPgSchema, describeNeeding, PG_URL, T0 } from '../storage/helpers.js';
import { capturingLogger } from '../support/logs.js';

const A = 'tenant-a';
const CHANNEL = '/data/LeadChangeEvent';
const LEASE = 400;
/** No standard lead field mapped: held fields are matched by their own (custom property) names. */
const CUSTOM_FIELDS_ONLY = {};
const logger = createLogger({ silent: true });

/** A stream that delivers what the test hands it: the source under the intake, not the intake. */
class ScriptedIntake implements PulledIntake {
  readonly channels = [CHANNEL];
  readonly opened: { resume: StreamResume | null; sink: StreamSink; closed: boolean }[] = [];
  open(_channel: string, resume: StreamResume | null, sink: StreamSink): OpenedStream {
    const entry = { resume, sink, closed: false };
    this.opened.push(entry);
    return {
      close: () => {
        entry.closed = true;
        return Promise.resolve();
      },
    };
  }
  get live(): { resume: StreamResume | null; sink: StreamSink } | undefined {
    return this.opened.find((o) => !o.closed);
  }
}

function created(replayId: string, id: string): CrmEvent {
  return {
    eventId: `${replayId}:${id}`,
    subscription: CHANNEL,
    kind: 'created',
    objectId: id,
    occurredAt: T0,
  };
}

async function until<T>(what: string, probe: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Shared {
  open(): Promise<Storage>;
  cleanup(): Promise<void>;
}

const engines: [string, () => Promise<Shared>, typeof describe][] = [
  [
    'sqlite',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'stream-intake-'));
      const file = join(dir, 'db.sqlite');
      return Promise.resolve({
        open: () => openStorage({ file }),
        cleanup: () => {
          rmSync(dir, { recursive: true, force: true });
          return Promise.resolve();
        },
      });
    },
    describe,
  ],
  [
    'postgres',
    async () => {
      const schema = await createPgSchema();
      return { open: () => openStorage({ url: PG_URL, schema: schema.name }), cleanup: () => schema.drop() };
    },
    describeNeeding(['postgres']) as typeof describe,
  ],
];

for (const [name, makeShared, suite] of engines) {
  suite(`stream intake on ${name}`, () => {
    let shared: Shared;
    let stores: Storage[];
    let intakes: StreamIntake[];

    beforeEach(async () => {
      shared = await makeShared();
      stores = [await shared.open(), await shared.open()];
      await addTenant(stores[0]!, A);
      intakes = [];
    });
    afterEach(async () => {
      await Promise.all(intakes.map((i) => i.stop()));
      await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
      await shared.cleanup();
    });

    function intake(
      storage: Storage,
      holder: string,
      over: Partial<Pick<StreamIntakeOptions, 'onEnqueued' | 'onMissed' | 'sole' | 'logger'>> = {},
    ): StreamIntake {
      const i = new StreamIntake({
        storage,
        streams: new StreamRepository(storage.db),
        holder,
        logger,
        leaseMs: LEASE,
        ...over,
      });
      intakes.push(i);
      return i;
    }

    it('one of two processes reads the channel; the other takes over when it dies, from the stored position', async () => {
      const [s1, s2] = stores as [Storage, Storage];
      const src1 = new ScriptedIntake();
      const src2 = new ScriptedIntake();
      const p1 = intake(s1, 'p1');
      p1.add(A, CUSTOM_FIELDS_ONLY, src1);
      const first = await until('p1 reading', () => src1.live);
      const p2 = intake(s2, 'p2');
      p2.add(A, CUSTOM_FIELDS_ONLY, src2);
      expect(first.resume).toBeNull(); // first install: nothing stored

      expect(
        await first.sink.deliver({
          events: [created('11', '00Q1'), created('12', '00Q2')],
          position: { replayId: '12', at: T0 },
        }),
      ).toBe(true);
      // p2 keeps trying for the lease through several lease periods and never gets it while p1 renews.
      await new Promise((r) => setTimeout(r, LEASE * 3));
      expect(src2.opened).toHaveLength(0);
      expect(p1.reading(A, CHANNEL)).toBe(true);

      // p1 dies: its database is gone, so it renews nothing and stops reading once its lease has ended.
      await s1.close();
      const second = await until('p2 reading', () => src2.live);
      expect(second.resume).toMatchObject({ replayId: '12', replayAt: T0 });
      await until('p1 stopped', () => !p1.reading(A, CHANNEL));
      expect(src1.opened.every((o) => o.closed)).toBe(true);

      // Redelivered events (from the stored position on) are recorded once.
      expect(
        await second.sink.deliver({
          events: [created('12', '00Q2'), created('13', '00Q3')],
          position: { replayId: '13', at: T0 + 1 },
        }),
      ).toBe(true);
      const rows = await s2.db.all<{ object_id: string }>('SELECT object_id FROM inbox ORDER BY object_id');
      expect(rows.map((r) => r.object_id)).toEqual(['00Q1', '00Q2', '00Q3']);
      expect((await new StreamRepository(s2.db).cursor(A, CHANNEL))?.replayId).toBe('13');
    });

    /** What a process killed while reading leaves: its lease, ending `leaseMs` from now, and its position. */
    async function leftByDeadHolder(storage: Storage, leaseMs: number): Promise<void> {
      const streams = new StreamRepository(storage.db);
      expect(await streams.takeLease(A, CHANNEL, 'intake-dead', leaseMs, Date.now())).toBe(true);
      expect(
        await streams.advance(A, CHANNEL, 'intake-dead', { replayId: '12', replayAt: T0 }, Date.now()),
      ).toBe(true);
    }

    it('the only process on its database takes a dead predecessor’s lease at once, from the stored position', async () => {
      const [s1] = stores as [Storage];
      await leftByDeadHolder(s1, 60_000);
      const { logger: captured, records } = capturingLogger();
      const src = new ScriptedIntake();
      intake(s1, 'restarted', { sole: true, logger: captured }).add(A, CUSTOM_FIELDS_ONLY, src);
      // Long before the predecessor's lease ends: only a takeover opens the stream.
      const live = await until('the restarted process reading', () => src.live);
      expect(live.resume).toMatchObject({ replayId: '12', replayAt: T0 });
      expect(await new StreamRepository(s1.db).leaseHolder(A, CHANNEL, Date.now())).toBe('restarted');
      expect(
        records().filter((l) => l['message'] === 'took over the stream lease of a previous run'),
      ).toEqual([expect.objectContaining({ tenantId: A, channel: CHANNEL, previousHolder: 'intake-dead' })]);
    });

    it('a process sharing its database waits for another holder’s lease to lapse', async () => {
      const [s1, s2] = stores as [Storage, Storage];
      const lapses = Date.now() + LEASE * 3;
      await leftByDeadHolder(s1, LEASE * 3);
      const src = new ScriptedIntake();
      intake(s2, 'p2').add(A, CUSTOM_FIELDS_ONLY, src);
      await new Promise((r) => setTimeout(r, LEASE * 2));
      expect(src.opened).toHaveLength(0);
      const live = await until('p2 reading', () => src.live);
      expect(Date.now()).toBeGreaterThanOrEqual(lapses);
      expect(live.resume).toMatchObject({ replayId: '12' });
    });

    it('a process that lost the lease records its events but moves nothing', async () => {
      const [s1, s2] = stores as [Storage, Storage];
      const src = new ScriptedIntake();
      const p1 = intake(s1, 'p1');
      p1.add(A, CUSTOM_FIELDS_ONLY, src);
      const live = await until('p1 reading', () => src.live);
      await live.sink.deliver({ events: [], position: { replayId: '5', at: T0 } });
      // Another process holds the lease now (p1's expired without renewal, as after a long pause).
      await p1.stop();
      const streams2 = new StreamRepository(s2.db);
      expect(await streams2.takeLease(A, CHANNEL, 'p2', 60_000, Date.now())).toBe(true);
      expect(
        await live.sink.deliver({ events: [created('6', '00Q6')], position: { replayId: '6', at: T0 } }),
      ).toBe(false);
      expect((await streams2.cursor(A, CHANNEL))?.replayId).toBe('5');
      expect((await s2.db.all('SELECT id FROM inbox')).length).toBe(1);
    });

    it('tells the worker once a delivery has put events in the inbox, not after one with nothing to route', async () => {
      const [s1] = stores as [Storage];
      // What the inbox held each time the intake said events were there.
      const seen: Promise<number>[] = [];
      const inboxRows = async (): Promise<number> => (await s1.db.all('SELECT id FROM inbox')).length;
      const src = new ScriptedIntake();
      intake(s1, 'p1', { onEnqueued: () => seen.push(inboxRows()) }).add(A, CUSTOM_FIELDS_ONLY, src);
      const live = await until('reading', () => src.live);
      const unheldChange: CrmEvent = {
        eventId: '30:00QX',
        subscription: CHANNEL,
        kind: 'changed',
        objectId: '00QX',
        property: 'Country',
        value: 'DE',
        occurredAt: T0,
      };
      await live.sink.deliver({ events: [], position: { replayId: '29', at: T0 } });
      await live.sink.deliver({ events: [unheldChange], position: { replayId: '30', at: T0 } });
      expect(seen).toHaveLength(0);
      await live.sink.deliver({
        events: [created('31', '00Q1'), created('32', '00Q2')],
        position: { replayId: '32', at: T0 },
      });
      expect(seen).toHaveLength(1);
      expect(await seen[0]).toBe(2);
    });

    it('says once what a catch-up poll found that the subscribed stream never delivered, and only that', async () => {
      const [s1] = stores as [Storage];
      const { logger: captured, records } = capturingLogger();
      const missed: [string, string, number][] = [];
      const src = new ScriptedIntake();
      intake(s1, 'p1', { logger: captured, onMissed: (...m) => missed.push(m) }).add(
        A,
        CUSTOM_FIELDS_ONLY,
        src,
      );
      const live = await until('reading', () => src.live);
      const creation = (id: string, at: number): CrmEvent => ({
        eventId: `created:${id}`,
        subscription: CHANNEL,
        kind: 'created',
        objectId: id,
        occurredAt: at,
      });
      // The stream delivered 00Q1; the poll finds it too, 00Q2 that it never delivered, and 00Q0 created
      // before the time the stream says it delivers from (a gap, its subscription).
      await live.sink.deliver({
        events: [creation('00Q1', T0 + 5)],
        position: { replayId: '31', at: T0 + 5 },
      });
      const poll = [creation('00Q0', T0 - 1), creation('00Q1', T0 + 5), creation('00Q2', T0 + 7)];
      await live.sink.deliver({ events: poll, coveredUntil: T0 + 10, missedAfter: T0 });
      expect(missed).toEqual([[A, CHANNEL, 1]]);
      const said = records().filter(
        (r) => r['message'] === 'change-event stream missed records: its catch-up poll found them',
      );
      expect(said).toEqual([
        expect.objectContaining({
          level: 'warn',
          tenantId: A,
          channel: CHANNEL,
          missed: 1,
          oldestCreatedAt: new Date(T0 + 7).toISOString(),
        }),
      ]);
      const streams = new StreamRepository(s1.db);
      const [state] = await streams.states([{ provider: 'sandbox', channel: CHANNEL }], Date.now(), A);
      expect(state?.lease?.missed).toMatchObject({ count: 1 });
      // The next poll finds them all held: nothing more. A poll without the stream's word counts nothing.
      await live.sink.deliver({ events: poll, coveredUntil: T0 + 20, missedAfter: T0 });
      await live.sink.deliver({ events: [creation('00Q3', T0 + 30)], coveredUntil: T0 + 40 });
      expect(missed).toHaveLength(1);
      expect(records().filter((r) => r['level'] === 'warn')).toHaveLength(1);
      expect((await s1.inboxStats(A)).pending).toBe(4);
    });

    it('records creations, and changes only when they bring a field a held lead waits for', async () => {
      const [s1] = stores as [Storage];
      await s1.placeHold(A, {
        leadId: '00QH',
        route: 'Enterprise',
        fields: ['country'],
        since: T0,
        until: T0 + 3_600_000,
      });
      const src = new ScriptedIntake();
      intake(s1, 'p1').add(A, CUSTOM_FIELDS_ONLY, src);
      const live = await until('reading', () => src.live);
      const change = (id: string, property: string): CrmEvent => ({
        eventId: `20:${id}`,
        subscription: CHANNEL,
        kind: 'changed',
        objectId: id,
        property,
        value: 'x',
        occurredAt: T0,
      });
      await live.sink.deliver({
        events: [
          change('00QH', 'Title'), // held, but not for this field
          change('00QH', 'Country'), // the field the hold waits for
          change('00QH', 'Industry'),
          change('00QX', 'Country'), // not held
          created('20', '00QN'),
        ],
        position: { replayId: '20', at: T0 },
      });
      const rows = await s1.db.all<{ object_id: string; kind: string; payload: string }>(
        'SELECT object_id, kind, payload FROM inbox ORDER BY object_id',
      );
      const property = (payload: string): unknown => (JSON.parse(payload) as CrmEvent).property;
      expect(rows.map((r) => [r.object_id, r.kind, property(r.payload)])).toEqual([
        ['00QH', 'changed', 'Country'],
        ['00QN', 'created', undefined],
      ]);
    });
  });
}
