// A Salesforce change-event stream that stays subscribed but goes silent, end to end: the app
// (CRM=salesforce) against the Salesforce sandbox over real HTTP and CometD, through jsforce, its
// catch-up poll every half second. With Lead taken out of the org's Change Data Capture selection under a
// live subscription, the leads created meanwhile are routed by the poll, and the log, /metrics, /readyz
// and the settings tab's Health say how many the stream missed; while Lead is selected, nothing is.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { healthResponseSchema } from '../../src/settings/schemas.js';
import {
  admin,
  createLeads,
  duplicated,
  effects,
  openSettingsInSalesforce,
  routed,
  salesforceConfig,
  startSalesforceApp,
  until,
  type SalesforceE2e,
} from './salesforce-support.js';

const LEADS = '/data/LeadChangeEvent';
const SILENT = 'change-event stream missed records: its catch-up poll found them';
/** How long a change event may take before a poll counts a new record as missed (the app's option). */
const SETTLE_MS = 3_000;

describe('Salesforce: a change-event stream that goes silent under a live subscription', () => {
  let e: SalesforceE2e;
  let session: { cookie: string };
  beforeAll(async () => {
    e = await startSalesforceApp(
      await salesforceConfig({ SETTINGS_SECRET: randomBytes(32).toString('hex') }),
      { streamPoll: { everyMs: 500, settleMs: SETTLE_MS } },
    );
    session = await openSettingsInSalesforce(e, 'ada@acme.io');
    // Subscribed for longer than the settle time: from here on, a record the poll finds first is missed.
    await sleep(SETTLE_MS + 500);
  }, 90_000);
  afterAll(() => e.app.stop());

  const warnings = () =>
    e.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['message'] === SILENT);
  const missedMetric = async () => {
    const text = await (await fetch(`${e.app.url}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`lead_router_stream_missed_total{channel="${LEADS}"}`));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  const readyz = async () => (await (await fetch(`${e.app.url}/readyz`)).json()) as Record<string, unknown>;
  const leadsHealth = async () => {
    const res = await fetch(`${e.app.url}/api/tenants/${e.tenantId}/health`, {
      headers: { cookie: session.cookie },
    });
    expect(res.status).toBe(200);
    return healthResponseSchema.parse(await res.json()).stream?.channels.find((c) => c.channel === LEADS);
  };

  it('reports nothing missed while the stream delivers', async () => {
    const ids = await createLeads(e, { count: 5 });
    await until('the streamed leads to be routed', () => routed(e, ids));
    // Polls past the settle time find them in the inbox already.
    await sleep(SETTLE_MS + 1_500);
    expect(warnings()).toEqual([]);
    expect(await missedMetric()).toBe(0);
    expect(await readyz()).not.toHaveProperty('intake');
    expect((await leadsHealth())?.missed).toBeNull();
  }, 60_000);

  it('routes by the poll the leads created while Lead is out of the selection, and says the stream missed them', async () => {
    const { selected } = await admin<{ selected: string[] }>(e.sandboxUrl, `/orgs/${e.orgId}/cdc`, {
      selected: ['Contact'],
    });
    expect(selected).toEqual(['Contact']);
    try {
      const ids = await createLeads(e, { count: 4 });
      await until('the leads to be routed by the catch-up poll', () => routed(e, ids));
      expect(duplicated(effects(e), ids)).toEqual([]);
      await until(
        'the stream to be said to have missed them',
        () => warnings().reduce((n, w) => n + Number(w['missed']), 0) >= ids.length,
      );
      const said = warnings();
      expect(said.reduce((n, w) => n + Number(w['missed']), 0)).toBe(ids.length);
      for (const w of said)
        expect(w).toMatchObject({
          level: 'warn',
          tenantId: e.tenantId,
          channel: LEADS,
          oldestCreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
        });
      expect(JSON.stringify(said)).not.toMatch(/00D\w+!/);
      expect(await missedMetric()).toBe(ids.length);
      const last = said.at(-1)!;
      expect(await readyz()).toMatchObject({
        ok: true,
        intake: 'degraded',
        streams: [
          {
            tenantId: e.tenantId,
            channel: LEADS,
            why: expect.stringContaining(`found ${String(last['missed'])} new record`) as unknown,
          },
        ],
      });
      expect((await leadsHealth())?.missed).toMatchObject({ count: last['missed'], recent: true });
    } finally {
      await admin(e.sandboxUrl, `/orgs/${e.orgId}/cdc`, { selected: ['Lead', 'Contact'] });
    }
  }, 60_000);
});
