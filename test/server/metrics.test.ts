// /metrics and /readyz over real HTTP: the app routes demo contacts through the sandbox CRM, then the
// Prometheus text shows what arrived, what was decided by which route, the CRM calls per portal and the
// queue; readiness turns 503 when a portal's calls keep failing.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/app/config.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';
import { CrmError } from '../../connectors/connector.js';
import { countStreams, crmCallKind, crmCallOutcome, Metrics } from '../../src/metrics.js';
import { STREAM_FAILING_GRACE_MS } from '../../src/storage/index.js';

const logger = createLogger({ silent: true });

/** The value of one sample line (`name{labels} value`) whose labels include all of `labels`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('Metrics', () => {
  it('classifies CRM call outcomes from what a call threw', () => {
    expect(crmCallOutcome(undefined)).toBe('ok');
    expect(crmCallOutcome({ code: 429 })).toBe('rate_limited');
    expect(crmCallOutcome({ kind: 'rate_limited' })).toBe('rate_limited');
    expect(crmCallOutcome({ details: { status: 429 } })).toBe('rate_limited');
    expect(crmCallOutcome(new Error('socket hang up'))).toBe('error');
  });

  it.each([
    [undefined, 'ok'],
    [new CrmError('rate_limited', 'HubSpot 429', { status: 429 }), 'rate_limited'],
    [{ details: { status: 429 } }, 'rate_limited'],
    [new CrmError('transient', 'HubSpot 502', { status: 502 }), 'transient'],
    [new CrmError('auth', 'token revoked', { status: 401 }), 'auth'],
    [new CrmError('not_found', 'no such contact', { status: 404 }), 'not_found'],
    [new CrmError('invalid', 'no such property', { status: 400 }), 'invalid'],
    [new Error('socket hang up'), 'other'],
    [{ kind: 'something new' }, 'other'],
  ])('keeps the kind of a failed CRM call for the Health page: %p is %s', (error, kind) => {
    expect(crmCallKind(error)).toBe(kind);
  });

  it("counts the installed orgs' streams as held, unheld, failing or paused, one gauge per state", async () => {
    const T0 = Date.UTC(2026, 0, 5, 9);
    const now = T0 + 10 * 60_000;
    const lease = {
      holder: 'intake-1',
      takenAt: T0,
      subscribedAt: T0,
      failingSince: null,
      lastError: null,
      missed: null,
    };
    const failing = (since: number) => ({
      ...lease,
      failingSince: since,
      lastError: 'subscribe failed: 400::The channel you requested to subscribe to does not exist',
    });
    const counts = countStreams(
      [
        { paused: false, lease },
        { paused: false, lease },
        // Not subscribed for longer than the grace: failing, not held.
        { paused: false, lease: failing(now - STREAM_FAILING_GRACE_MS - 1) },
        // Within it (a client rebuilt after an expired session): still held.
        { paused: false, lease: failing(now - STREAM_FAILING_GRACE_MS) },
        { paused: false, lease: null },
        { paused: true, lease: failing(T0) },
        { paused: true, lease: null },
      ],
      now,
    );
    expect(counts).toEqual({ held: 3, unheld: 1, failing: 1, paused: 2 });
    const m = new Metrics({ defaultMetrics: false, streams: () => Promise.resolve(counts) });
    const text = await m.render();
    expect(sample(text, 'lead_router_streams', { state: 'held' })).toBe(3);
    expect(sample(text, 'lead_router_streams', { state: 'unheld' })).toBe(1);
    expect(sample(text, 'lead_router_streams', { state: 'failing' })).toBe(1);
    expect(sample(text, 'lead_router_streams', { state: 'paused' })).toBe(2);
    // No label names a tenant: the series do not grow with them.
    expect(text.split('\n').filter((l) => l.startsWith('lead_router_streams{'))).toHaveLength(4);
  });

  it('counts the records subscribed streams missed by channel, not by tenant', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.streamMissed('/data/LeadChangeEvent', 3);
    m.streamMissed('/data/LeadChangeEvent', 2);
    const text = await m.render();
    expect(sample(text, 'lead_router_stream_missed_total', { channel: '/data/LeadChangeEvent' })).toBe(5);
    expect(text.split('\n').filter((l) => l.startsWith('lead_router_stream_missed_total{'))).toHaveLength(1);
  });

  it('reports a portal failing after five failed calls in a row, and recovered after a success', () => {
    const m = new Metrics({ defaultMetrics: false });
    for (let i = 0; i < 4; i++) m.crmCall('62515', 'general', 'error');
    m.crmCall('62515', 'general', 'rate_limited');
    expect(m.failingPortals()).toEqual([]);
    m.crmCall('62515', 'general', 'error');
    expect(m.failingPortals()).toEqual(['62515']);
    m.crmCall('62515', 'search', 'ok');
    expect(m.failingPortals()).toEqual([]);
  });
});

describe('/metrics and /readyz of a running app', () => {
  let app: RunningApp;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-metrics-'));
    app = await startApp(loadConfig({ PORT: '0', SANDBOX_PORT: '0', DATA_DIR: dir, DEMO_RATE: '0' }), {
      logger,
      generate: false,
      sandbox: { webhookTiming: { batchWindowMs: 20 } },
    });
  });
  afterAll(() => app.stop());

  it('counts decisions by route, fallbacks by reason, CRM calls by portal and the queue', async () => {
    const sandbox = app.sandbox!;
    // The SMB desk's reps have left: their leads fall back to the SMB queue, a HubSpot team.
    for (const o of sandbox.demo.owners)
      if (o.email === 'sam@acme.io' || o.email === 'tess@acme.io')
        sandbox.demo.portal.setOwnerActive(o.id, false);
    const ids = sandbox.demo.createContacts(30).map((c) => c.id);
    const portalId = Number(sandbox.portalId);
    const deadline = Date.now() + 60_000;
    let queued: string[] = [];
    for (;;) {
      const owners = new Set(
        sandbox.crm.writes.list({ portalId, kind: 'owner.set', source: 'api' }).map((w) => w.objectId),
      );
      queued = sandbox.crm.writes.list({ portalId, kind: 'team.set', source: 'api' }).map((w) => w.objectId);
      // A queued lead is done once its team's task is associated with it too.
      const tasked = new Set(
        sandbox.crm.writes
          .list({ portalId, kind: 'association.created', source: 'api' })
          .filter((w) => w.details['toType'] === 'contacts' && w.details['typeId'] === '204')
          .map((w) => w.details['toId']),
      );
      if (ids.every((id) => owners.has(id) || (queued.includes(id) && tasked.has(id)))) break;
      if (Date.now() > deadline) throw new Error('contacts were not routed');
      await new Promise((r) => setTimeout(r, 100));
    }
    const forged = await fetch(`${app.url}/webhooks/hubspot`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hubspot-signature-v3': 'forged' },
      body: '[]',
    });
    expect(forged.status).toBe(401);
    const res = await fetch(`${app.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const decisions = text
      .split('\n')
      .filter((l) => l.startsWith('lead_router_decisions_total{'))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    expect(decisions).toBeGreaterThanOrEqual(ids.length);
    // Every lead that fell back to the SMB queue (team and task, waited for above) is counted by reason.
    expect(queued.length).toBeGreaterThan(0);
    const tenantId = (await app.storage.listTenants())[0]!.id;
    const fellBack =
      (sample(text, 'lead_router_fallbacks_total', { tenant: tenantId, reason: 'pool_nobody_eligible' }) ??
        0) +
      (sample(text, 'lead_router_fallbacks_total', { tenant: tenantId, reason: 'no_route_matched' }) ?? 0);
    expect(fellBack).toBeGreaterThanOrEqual(queued.length);
    expect(
      sample(text, 'lead_router_crm_calls_total', { portal: sandbox.portalId, outcome: 'ok' }),
    ).toBeGreaterThan(0);
    const [tenant] = await app.storage.listTenants();
    expect(sample(text, 'lead_router_queue_depth', { tenant: tenant!.id, state: 'failed' })).toBe(0);
    expect(sample(text, 'lead_router_webhook_requests_total', { status: '401' })).toBe(1);
    expect(sample(text, 'lead_router_webhook_requests_total', { status: '200' })).toBeGreaterThan(0);
    // One contact.creation per new contact (the app subscribes to nothing else that a new contact fires).
    expect(sample(text, 'lead_router_webhook_events_total', { outcome: 'enqueued' })).toBeGreaterThanOrEqual(
      ids.length,
    );
    expect(text).toContain('# TYPE lead_router_routing_latency_seconds histogram');
    // Observed once the owner write is confirmed and stored, just after the CRM shows it.
    let observed = sample(text, 'lead_router_routing_latency_seconds_count') ?? 0;
    for (let i = 0; i < 50 && observed < ids.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const again = await (await fetch(`${app.url}/metrics`)).text();
      observed = sample(again, 'lead_router_routing_latency_seconds_count') ?? 0;
    }
    expect(observed).toBeGreaterThanOrEqual(ids.length - queued.length);
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('is ready while the database answers and the CRM calls succeed', async () => {
    const res = await fetch(`${app.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, database: 'ok', crm: 'ok' });
  });
});
