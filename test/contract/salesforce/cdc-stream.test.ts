// The Salesforce intake's CdcStream against the sandbox's Bayeux (faye) server, through jsforce's own
// streaming client: a first install subscribes with -1 and routes what is created from then on, a stored
// replay id resumes right after it, -2 replays everything retained, and a handshake refused for an
// expired token makes the stream refresh the session and rebuild its client, which then receives again,
// and a refresh refused with a time to try again (the org's policy) is waited out, not retried at once.
// A subscribe refused (Change Data Capture taken off Lead in the org's Setup) is told to the sink and
// tried again with the backoff; the intake records it with the lease, and the recovery once Lead is
// selected again, saying the recovery once. A subscription left up while Lead is taken out of the
// selection delivers nothing: the intake counts what its catch-up polls find that the inbox lacked, once,
// and nothing of what the stream delivered or an overflow event said was lost. Each stream is closed at the end and nothing is left holding the process (jest exits on its own).
import type { Connection } from 'jsforce';
import { CrmError, type CrmEvent } from '../../../connectors/connector.js';
import type { StreamDelivery, StreamResume, StreamStatus } from '../../../connectors/pulled-intake.js';
import { CdcStream } from '../../../connectors/salesforce/intake/cdc-stream.js';
import { SalesforceCdcIntake } from '../../../connectors/salesforce/intake/index.js';
import { ManualClock } from '../../../connectors/sandbox-kit/clock.js';
import { capturingLogger } from '../../support/logs.js';
import { StreamIntake } from '../../../src/pipeline/stream-intake.js';
import { StreamRepository } from '../../../src/storage/index.js';
import { startSandbox, type Running } from '../../sandbox-salesforce/support.js';
import { addTenant, sqliteMemory } from '../../storage/helpers.js';

const CHANNEL = '/data/LeadChangeEvent';
const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
let env: Running;
const streams: CdcStream[] = [];

beforeAll(async () => {
  env = await startSandbox({ clock, longPollTimeoutSec: 2 }, 5);
});
afterEach(async () => {
  await Promise.all(streams.splice(0).map((s) => s.close()));
});
afterAll(() => env.stop());

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Opened {
  stream: CdcStream;
  deliveries: StreamDelivery[];
  /** What the stream told its sink of its subscription, in order. */
  statuses: StreamStatus[];
  /** Records whose creation was delivered, by the stream or by its catch-up poll. */
  created(): string[];
  /** Records whose creation came through the subscription itself (a delivery with a replay position). */
  streamed(): string[];
  warnings: string[];
}

function open(
  conn: Connection,
  resume: StreamResume | null,
  over: { refresh?: () => Promise<void> } = {},
): Opened {
  const deliveries: StreamDelivery[] = [];
  const statuses: StreamStatus[] = [];
  const warnings: string[] = [];
  const stream = new CdcStream({
    conn,
    channel: CHANNEL,
    selfClient: 'lead-router',
    resume,
    sink: {
      deliver: (d) => {
        deliveries.push(d);
        return Promise.resolve(true);
      },
      status: (st) => statuses.push(st),
    },
    log: { info: () => undefined, warn: (message) => warnings.push(message) },
    now: () => clock.now(),
    maxBackoffMs: 50,
    refresh: over.refresh,
  }).start();
  streams.push(stream);
  const created = (): string[] =>
    deliveries.flatMap((d) => d.events.filter((e: CrmEvent) => e.kind === 'created').map((e) => e.objectId));
  const streamed = (): string[] =>
    deliveries
      .filter((d) => d.position !== undefined)
      .flatMap((d) => d.events.filter((e: CrmEvent) => e.kind === 'created').map((e) => e.objectId));
  return { stream, deliveries, statuses, created, streamed, warnings };
}

/** The replay id of each retained Lead event, by the record it is about (the first event wins). */
function retained(): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of env.sandbox.streaming.state(env.orgId).events) {
    if (e.entity !== 'Lead') continue;
    const payload = e.data['payload'] as { ChangeEventHeader?: { recordIds?: string[] } } | undefined;
    const header = payload?.ChangeEventHeader ?? {};
    for (const id of header.recordIds ?? []) if (!out.has(id)) out.set(id, String(e.replayId));
  }
  return out;
}

it('a first install subscribes for new events (-1): what is created from then on comes through it', async () => {
  env.demo.createLeads(2); // before the install: not routed
  const s = open(env.connect(), null);
  // The install's coverage is recorded first: nothing before it is ever looked for.
  await until(() => s.deliveries.length > 0, 'the first coverage');
  expect(s.deliveries[0]).toEqual({ events: [], coveredUntil: clock.now() });
  await new Promise((r) => setTimeout(r, 300));
  const [lead] = env.demo.createLeads(1).map((l) => String(l['Id']));
  await until(() => s.streamed().length > 0, 'the creation');
  // Through the subscription: only what was created after it (the catch-up poll that follows a -1
  // subscription may find the earlier ones too, within its overlap).
  expect(s.streamed()).toEqual([lead]);
  expect(s.created()).toContain(lead);
  expect(s.deliveries.at(-1)?.position?.replayId).toBeDefined();
});

it('resumes after a stored replay id, and replays everything retained with -2', async () => {
  const ids = env.demo.createLeads(3).map((l) => String(l['Id']));
  const replay = retained();
  const stored = replay.get(ids[0]!);
  expect(stored).toBeDefined();
  const after = open(env.connect(), { replayId: stored!, replayAt: clock.now(), coveredUntil: clock.now() });
  await until(
    () => ids.slice(1).every((id) => after.streamed().includes(id)),
    'the events after the stored id',
  );
  expect(after.streamed()).not.toContain(ids[0]);

  const all = open(env.connect(), { replayId: '-2', replayAt: clock.now(), coveredUntil: clock.now() });
  await until(() => ids.every((id) => all.streamed().includes(id)), 'every retained event');
});

it('rebuilds its client when the handshake is refused for an expired token, after refreshing the session', async () => {
  const conn = env.connect();
  await env.admin(`/_sandbox/orgs/${env.orgId}/tokens/expire`, {});
  let refreshed = 0;
  // A first install (no stored position) runs no start-up poll: a poll racing the handshake would meet
  // the expired token first, and jsforce would refresh it on its own before the handshake is refused.
  const s = open(conn, null, {
    refresh: async () => {
      refreshed += 1;
      const issued = env.sandbox.issueToken(env.orgId, env.demo.integrationUserId);
      conn.accessToken = issued.token;
      return Promise.resolve();
    },
  });
  await until(() => refreshed > 0, 'the session refresh');
  expect(s.warnings).toContain('rebuilding the change-event client');
  // The rebuilt client, on the new token, receives what is created next.
  await new Promise((r) => setTimeout(r, 500));
  const [lead] = env.demo.createLeads(1).map((l) => String(l['Id']));
  await until(() => s.streamed().includes(lead!), 'the creation after the rebuild');
});

it('waits out a refresh refused with a time to try again (the org paused), then refreshes and receives again', async () => {
  const conn = env.connect();
  await env.admin(`/_sandbox/orgs/${env.orgId}/tokens/expire`, {});
  let refreshes = 0;
  const s = open(conn, null, {
    refresh: () => {
      refreshes += 1;
      if (refreshes === 1)
        return Promise.reject(
          new CrmError('auth', "the org's policy refuses the token refresh", { retryAfterMs: 1_500 }),
        );
      conn.accessToken = env.sandbox.issueToken(env.orgId, env.demo.integrationUserId).token;
      return Promise.resolve();
    },
  });
  await until(() => refreshes === 1, 'the refused refresh');
  // Its own backoff is 50 ms: without the wait it would have reconnected, been refused and refreshed again.
  await new Promise((r) => setTimeout(r, 700));
  expect(refreshes).toBe(1);
  expect(
    s.warnings.filter((w) => w === 'session refresh refused: the change-event stream waits'),
  ).toHaveLength(1);
  expect(s.warnings).not.toContain('catch-up poll failed');
  await until(() => refreshes === 2, 'the refresh after the wait');
  await new Promise((r) => setTimeout(r, 500));
  const [lead] = env.demo.createLeads(1).map((l) => String(l['Id']));
  await until(() => s.streamed().includes(lead!), 'the creation after the wait');
});

describe("Change Data Capture taken off Lead in the org's Setup", () => {
  const REFUSED = `subscribe failed: 400::The channel you requested to subscribe to does not exist {${CHANNEL}}`;
  const select = (selected: string[]) => env.admin(`/_sandbox/orgs/${env.orgId}/cdc`, { selected });
  afterEach(async () => {
    await select(['Lead', 'Contact']);
  });

  it('tells the sink the subscribe was refused, tries again with the backoff, and tells it once subscribed again', async () => {
    await select(['Contact']);
    const s = open(env.connect(), null);
    await until(() => s.statuses.length > 0, 'the refusal');
    expect(s.statuses[0]).toEqual({ subscribed: false, error: REFUSED });
    // Tried again, not at once: with a 50 ms backoff cap, a handful of attempts in half a second.
    await new Promise((r) => setTimeout(r, 500));
    expect(s.statuses.length).toBeLessThan(15);
    expect(s.statuses.every((st) => !st.subscribed)).toBe(true);
    // No token in what the sink is told.
    expect(JSON.stringify(s.statuses)).not.toMatch(/00D\w+!/);

    await select(['Lead', 'Contact']);
    await until(() => s.statuses.at(-1)?.subscribed === true, 'the subscription');
    await new Promise((r) => setTimeout(r, 300));
    const [lead] = env.demo.createLeads(1).map((l) => String(l['Id']));
    await until(() => s.streamed().includes(lead!), 'the creation after the subscription');
  });

  it('is recorded by the intake with the lease, and the recovery once Lead is selected again', async () => {
    const { storage, close } = await sqliteMemory.open();
    const streams = new StreamRepository(storage.db);
    await addTenant(storage, 'sf-1', 'salesforce');
    const { logger, records } = capturingLogger();
    const intake = new StreamIntake({
      storage,
      streams,
      holder: 'intake-1',
      logger,
      clock: () => clock.now(),
    });
    const lease = async () =>
      (await streams.states([{ provider: 'salesforce', channel: CHANNEL }], clock.now()))[0]?.lease;
    try {
      await select(['Contact']);
      const conn = env.connect();
      intake.add(
        'sf-1',
        {},
        new SalesforceCdcIntake({
          conn,
          selfClient: 'lead-router',
          channels: [CHANNEL],
          now: () => clock.now(),
          maxBackoffMs: 50,
        }),
      );
      const failing = await waitFor(lease, (l) => l?.failingSince != null, 'the failure recorded');
      // The lease is held and renewed all the same: the row says why its stream brings nothing.
      expect(failing).toEqual({
        holder: 'intake-1',
        takenAt: clock.now(),
        subscribedAt: null,
        failingSince: clock.now(),
        lastError: REFUSED,
        missed: null,
      });
      expect(JSON.stringify(failing)).not.toContain(conn.accessToken ?? 'no token');

      await select(['Lead', 'Contact']);
      const recovered = await waitFor(lease, (l) => l?.subscribedAt != null, 'the recovery recorded');
      expect(recovered).toMatchObject({ failingSince: null, lastError: null, subscribedAt: clock.now() });
      // Said once, with since when it failed.
      await new Promise((r) => setTimeout(r, 200));
      expect(records().filter((r) => r['message'] === 'change-event stream recovered')).toEqual([
        expect.objectContaining({
          tenantId: 'sf-1',
          channel: CHANNEL,
          failingSince: new Date(failing?.failingSince ?? 0).toISOString(),
        }),
      ]);
    } finally {
      await intake.stop();
      await close();
    }
  });

  describe('while a subscription stays up (the selection changed under it)', () => {
    const SILENT = 'change-event stream missed records: its catch-up poll found them';
    const TENANT = 'sf-1';

    /** The intake reading the org's Lead stream, its catch-up poll every 100 ms (of real time). */
    async function reading() {
      const { storage, close } = await sqliteMemory.open();
      const streams = new StreamRepository(storage.db);
      await addTenant(storage, TENANT, 'salesforce');
      const { logger, records } = capturingLogger();
      const missed: number[] = [];
      const intake = new StreamIntake({
        storage,
        streams,
        holder: 'intake-1',
        logger,
        clock: () => clock.now(),
        // The manual clock is moved by minutes: a 30 s lease would lapse under the stream.
        leaseMs: 3_600_000,
        onMissed: (tenantId, channel, count) => {
          expect([tenantId, channel]).toEqual([TENANT, CHANNEL]);
          missed.push(count);
        },
      });
      intake.add(
        TENANT,
        {},
        new SalesforceCdcIntake({
          conn: env.connect(),
          selfClient: 'lead-router',
          channels: [CHANNEL],
          now: () => clock.now(),
          maxBackoffMs: 50,
          pollEveryMs: 100,
        }),
      );
      const lease = async () =>
        (await streams.states([{ provider: 'salesforce', channel: CHANNEL }], clock.now()))[0]?.lease;
      await waitFor(lease, (l) => l?.subscribedAt != null, 'the subscription');
      /** How many of these records' creations the inbox holds. */
      const inboxed = async (ids: readonly string[]) =>
        (
          await storage.db.all<{ object_id: string }>('SELECT object_id FROM inbox WHERE tenant_id = ?', [
            TENANT,
          ])
        ).filter((row) => ids.includes(row.object_id)).length;
      return {
        lease,
        inboxed,
        missed,
        warned: () => records().filter((r) => r['message'] === SILENT),
        polled: () => records().filter((r) => r['message'] === 'catch-up poll').length,
        stop: async () => {
          await intake.stop();
          await close();
        },
      };
    }

    it('counts what its polls find that the stream never delivered, once, with the oldest CreatedDate', async () => {
      const r = await reading();
      try {
        // Subscribed for longer than the settle time (60 s), then Lead is taken out of the selection.
        clock.advance(120_000);
        await select(['Contact']);
        const createdAt = clock.now();
        const leads = env.demo.createLeads(3).map((l) => String(l['Id']));
        // Younger than the settle time, they are left to the stream: nothing routed, nothing counted.
        await new Promise((res) => setTimeout(res, 400));
        expect(await r.inboxed(leads)).toBe(0);
        clock.advance(120_000);
        const found = await waitFor(r.lease, (l) => l?.missed != null, 'the missed records recorded');
        expect(found?.missed).toEqual({ at: clock.now(), count: 3 });
        expect(await r.inboxed(leads)).toBe(leads.length);
        // Later polls find them in the inbox: said once.
        const polls = r.polled();
        await until(() => r.polled() > polls + 2, 'more polls');
        expect(r.missed).toEqual([3]);
        expect(r.warned()).toEqual([
          expect.objectContaining({
            level: 'warn',
            tenantId: TENANT,
            channel: CHANNEL,
            missed: 3,
            oldestCreatedAt: new Date(createdAt).toISOString(),
          }),
        ]);
        expect(JSON.stringify(r.warned())).not.toMatch(/00D\w+!/);
      } finally {
        await r.stop();
      }
    });

    it('counts nothing when the stream delivers, nor what an overflow event said was lost', async () => {
      const r = await reading();
      try {
        clock.advance(120_000);
        const streamed = env.demo.createLeads(2).map((l) => String(l['Id']));
        await waitFor(
          () => r.inboxed(streamed),
          (n) => n === 2,
          'the streamed creations',
        );
        // Events lost, and the org says so with an overflow event naming no record: its poll finds them.
        await select(['Contact']);
        const lost = env.demo.createLeads(2).map((l) => String(l['Id']));
        await select(['Lead', 'Contact']);
        await env.admin(`/_sandbox/orgs/${env.orgId}/cdc`, {
          gap: { entity: 'Lead', changeType: 'GAP_OVERFLOW' },
        });
        await waitFor(
          () => r.inboxed(lost),
          (n) => n === 2,
          'the creations behind the overflow, polled',
        );
        clock.advance(120_000);
        const polls = r.polled();
        await until(() => r.polled() > polls + 2, 'polls past the settle time');
        expect(r.missed).toEqual([]);
        expect(r.warned()).toEqual([]);
        expect(await r.lease()).toMatchObject({ missed: null });
      } finally {
        await r.stop();
      }
    });
  });
});

async function waitFor<T>(read: () => Promise<T>, done: (v: T) => boolean, what: string): Promise<T> {
  const end = Date.now() + 20_000;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
