// A Salesforce org whose policy refuses our token refresh (the sandbox's refusal knob: invalid_grant "ip
// restricted or invalid login hours", as outside the integration user's login hours) pauses its routing:
// the leads that meet the refusal and those that arrive meanwhile wait in the inbox — no dead letter, no
// CRM write — the pause and its reason show in the tenants CLI, /readyz, /metrics and one log line, and
// once a later refresh succeeds (tried after a minute, then less and less often) the waiting leads are
// routed once each, with no replay; a pause costs a lead none of its attempts, however often it meets
// one. A revoked grant is not a pause but the uninstall: the lead waits. On SQLite and PostgreSQL.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { OAuth2 } from 'jsforce';
import type { CrmEvent } from '../../connectors/connector.js';
import { SALESFORCE_PROFILE } from '../../connectors/salesforce/profile.js';
import { Keyring } from '../../connectors/shared/crypto.js';
import { LimiterFactory } from '../../connectors/shared/limiter.js';
import {
  createSalesforceSandbox,
  DEFAULT_SF_APP,
  targetEffects,
  type DemoOrg,
  type SalesforceSandbox,
} from '../../connectors/sandbox-salesforce/index.js';
import { sandboxApp } from '../sandbox-salesforce/support.js';
import { listTenants } from '../../src/cli/operate.js';
import { CrmRegistry } from '../../src/app/crms.js';
import { salesforceTokenStore, salesforceWiring } from '../../src/app/salesforce.js';
import { nextPauseCheck, Tenants } from '../../src/app/tenants.js';
import { countTenants, Metrics } from '../../src/metrics.js';
import { Worker } from '../../src/pipeline/worker.js';
import { healthRouter } from '../../src/server/health.js';
import { openStorage, type Storage, type Tenant, type TenantPause } from '../../src/storage/index.js';
import { capturingLogger } from '../support/logs.js';
import { exampleTexts, publishConfig } from '../support/publish.js';
import { createPgSchema, describeNeeding, PG_URL, type PgSchema } from '../support/services.js';

const T0 = Date.parse('2026-12-07T22:00:00.000Z');
const MINUTE = 60_000;
const LOGIN_HOURS = 'ip restricted or invalid login hours';
/** Claims of a lead before a failure of its own dead-letters it: few, so pauses can outnumber them. */
const MAX_ATTEMPTS = 3;

it.each([
  // A minute after the refusal, then as long again as the pause so far (the checks' intervals double),
  // at most 15 minutes later.
  [0, MINUTE],
  [MINUTE, MINUTE],
  [4 * MINUTE, 4 * MINUTE],
  [14 * MINUTE, 14 * MINUTE],
  [6 * 60 * MINUTE, 15 * MINUTE],
])('a tenant paused for %i ms has its credentials tried again %i ms later', (pausedFor, wait) => {
  expect(nextPauseCheck(T0 - pausedFor, T0)).toBe(T0 + wait);
});

describe.each([
  ['SQLite', describe],
  ['PostgreSQL', describeNeeding(['postgres'])],
] as const)('an org whose policy refuses the token refresh (%s)', (engine, suite) => {
  suite('', () => {
    let sf: SalesforceSandbox;
    let demo: DemoOrg;
    let url: string;
    let storage: Storage;
    let tenant: Tenant;
    const limiters = new LimiterFactory({ provider: 'sf-policy', buckets: SALESFORCE_PROFILE.buckets });
    const clock = { now: T0 };
    const paused: TenantPause[] = [];
    const resumed: TenantPause[] = [];
    const uninstalled: string[] = [];
    let worker: Worker;
    let logs: ReturnType<typeof capturingLogger>;
    let schema: PgSchema | undefined;

    beforeAll(async () => {
      sf = createSalesforceSandbox({ seed: 11 });
      demo = sf.createDemoOrg({ accounts: 3 });
      ({ url } = await sf.start());
      const cipher = new Keyring(randomBytes(32));
      if (engine === 'PostgreSQL') {
        schema = await createPgSchema();
        storage = await openStorage({ url: PG_URL, schema: schema.name, cipher, now: () => T0 });
      } else storage = await openStorage({ file: ':memory:', cipher, now: () => T0 });
      tenant = await storage.createTenant(
        { provider: 'salesforce', externalId: demo.org.orgId, name: 'Demo' },
        T0,
      );
      const issued = sf.issueToken(demo.org.orgId, demo.integrationUserId);
      await salesforceTokenStore(storage, () => T0).save(demo.org.orgId, {
        accessToken: issued.token,
        refreshToken: issued.refreshToken ?? '',
        instanceUrl: url,
        orgId: demo.org.orgId,
        userId: demo.integrationUserId,
        issuedAt: T0,
      });
      await publishConfig(storage.db, tenant.id, exampleTexts('salesforce-demo'), T0);
      const wiring = salesforceWiring({
        storage,
        app: sandboxApp(url),
        limiters,
        clock: () => clock.now,
      });
      const tenants = new Tenants({
        storage,
        crms: new CrmRegistry([wiring]),
        team: undefined,
        clock: () => clock.now,
        onPaused: (_t, pause) => paused.push(pause),
        onResumed: (_t, pause) => resumed.push(pause),
        onUninstalled: (t) => uninstalled.push(t.id),
      });
      logs = capturingLogger();
      worker = new Worker({
        storage,
        registry: tenants,
        workerId: 'w1',
        clock: () => clock.now,
        logger: logs.logger,
        sla: false,
        backoff: { maxAttempts: MAX_ATTEMPTS },
      });
    });
    afterAll(async () => {
      await sf.stop();
      await storage.close();
      await schema?.drop();
      await limiters.disconnectAll();
    });

    /** New leads of the org, recorded in the inbox as its change-event stream records them. */
    async function leadsArrive(n: number): Promise<string[]> {
      const ids = demo.createLeads(n).map((l) => String(l['Id']));
      const events: CrmEvent[] = ids.map((id) => ({
        eventId: `created:${id}`,
        subscription: '/data/LeadChangeEvent',
        kind: 'created',
        objectId: id,
        occurredAt: clock.now,
      }));
      await storage.enqueue(
        events.map((event) => ({ tenantId: tenant.id, event })),
        clock.now,
      );
      return ids;
    }
    const drain = async (): Promise<void> => {
      while ((await worker.runOnce()) > 0);
    };
    const effects = () => targetEffects(sf.writes, demo.org.orgId);
    const stats = () => storage.inboxStats(tenant.id);

    it('pauses the org, keeps its leads waiting with no CRM write, and routes each once after a later refresh', async () => {
      sf.tokens.refuseRefreshes(demo.org.orgId, LOGIN_HOURS);
      sf.tokens.expire(demo.org.orgId);
      const first = await leadsArrive(3);
      await drain();

      expect(await stats()).toMatchObject({ pending: 3, leased: 0, failed: 0 });
      const pause = (await storage.getTenant(tenant.id))?.pause;
      expect(pause).toEqual({
        since: T0,
        reason: `the org's policy refuses the token refresh: ${LOGIN_HOURS}`,
        checkAt: T0 + MINUTE,
      });
      expect(paused).toHaveLength(1);
      expect(effects().owners.size).toBe(0);

      // Leads that arrive while the org is paused are not even claimed.
      clock.now = T0 + 30_000;
      const meanwhile = await leadsArrive(2);
      expect(await worker.runOnce()).toBe(0);

      // The check a minute on is refused again: the next one comes a minute later (the pause has lasted one).
      clock.now = T0 + MINUTE;
      await worker.housekeep(clock.now);
      expect((await storage.getTenant(tenant.id))?.pause?.checkAt).toBe(T0 + 2 * MINUTE);
      expect(await worker.runOnce()).toBe(0);
      expect(paused).toHaveLength(1);
      expect(resumed).toHaveLength(0);

      // The login hours begin: the next check's refresh succeeds and the org routes again.
      sf.tokens.refuseRefreshes(demo.org.orgId, null);
      clock.now = T0 + 2 * MINUTE;
      await worker.housekeep(clock.now);
      expect((await storage.getTenant(tenant.id))?.pause).toBeNull();
      expect(resumed).toEqual([{ ...pause, checkAt: T0 + 2 * MINUTE }]);
      await drain();

      expect(await stats()).toMatchObject({ pending: 0, leased: 0, failed: 0 });
      const written = effects();
      for (const id of [...first, ...meanwhile]) expect(written.owners.get(id)).toHaveLength(1);
      expect(uninstalled).toEqual([]);
      const perLead = logs.records().filter((r) => r['message'] === 'lead dead-lettered');
      expect(perLead).toEqual([]);
    }, 60_000);

    it('shows the pause and its reason in the tenants CLI, /readyz and /metrics', async () => {
      sf.tokens.refuseRefreshes(demo.org.orgId, LOGIN_HOURS);
      sf.tokens.expire(demo.org.orgId);
      clock.now = T0 + 60 * MINUTE;
      await leadsArrive(1);
      await drain();
      const pause = (await storage.getTenant(tenant.id))?.pause;
      expect(pause).toMatchObject({
        since: clock.now,
        reason: expect.stringContaining(LOGIN_HOURS) as unknown,
      });

      const [line] = await listTenants(storage);
      expect(line).toContain(
        `installed, routing paused since ${new Date(clock.now).toISOString()} (the org's policy refuses the token refresh: ${LOGIN_HOURS}; credentials tried again at ${new Date(clock.now + MINUTE).toISOString()})`,
      );
      expect(line).toContain('1 pending, 0 dead letters');

      const metrics = new Metrics({
        defaultMetrics: false,
        tenants: async () => countTenants(await storage.listTenants()),
      });
      const app = express().use(healthRouter({ storage, logger: logs.logger, metrics }));
      const server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      try {
        const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const ready = await fetch(`${base}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toEqual({
          ok: true,
          database: 'ok',
          crm: 'ok',
          routing: 'paused',
          paused: [{ tenantId: tenant.id, ...pause }],
        });
        const text = await (await fetch(`${base}/metrics`)).text();
        expect(text).toContain('lead_router_tenants{state="paused"} 1');
        expect(text).toContain('lead_router_tenants{state="installed"} 0');
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }

      sf.tokens.refuseRefreshes(demo.org.orgId, null);
      clock.now = pause!.checkAt;
      await worker.housekeep(clock.now);
      await drain();
      expect(await stats()).toMatchObject({ pending: 0, failed: 0 });
    }, 60_000);

    it('a lead that meets more pauses than it has attempts keeps them all, and is routed once the org resumes', async () => {
      clock.now = T0 + 90 * MINUTE;
      const [lead] = await leadsArrive(1);
      /** The lead's inbox row: its state, and the attempts counted against it. */
      const item = async (): Promise<{ state: string; attempts: number }> => {
        const row = await storage.db.get<{ state: string; attempts: number | string }>(
          'SELECT state, attempts FROM inbox WHERE tenant_id = ? AND object_id = ?',
          [tenant.id, lead!],
        );
        return { state: row?.state ?? 'none', attempts: Number(row?.attempts) };
      };
      for (let pause = 1; pause <= MAX_ATTEMPTS + 2; pause++) {
        // The login hours end while the lead is in hand: the org pauses, and the lead waits.
        sf.tokens.refuseRefreshes(demo.org.orgId, LOGIN_HOURS);
        sf.tokens.expire(demo.org.orgId);
        await drain();
        const checkAt = (await storage.getTenant(tenant.id))?.pause?.checkAt;
        expect(checkAt).toBeDefined();
        // Its claim was no attempt of its own: none is spent.
        expect(await item()).toEqual({ state: 'pending', attempts: 0 });
        // They begin again: the check resumes the org.
        sf.tokens.refuseRefreshes(demo.org.orgId, null);
        clock.now = checkAt!;
        await worker.housekeep(clock.now);
        expect((await storage.getTenant(tenant.id))?.pause).toBeNull();
      }
      // A worker that takes the lead then stops before finishing costs it one attempt, no more: the reaper
      // gives it back to the queue instead of making it a dead letter.
      expect(
        await storage.claim({ workerId: 'stops', limit: 1, leaseMs: 1, now: clock.now, tenantId: tenant.id }),
      ).toHaveLength(1);
      clock.now += 2;
      await worker.housekeep(clock.now);
      expect(await storage.deadLetters(tenant.id)).toEqual([]);
      await drain();

      expect(await item()).toEqual({ state: 'done', attempts: 2 });
      expect(await stats()).toMatchObject({ pending: 0, leased: 0, failed: 0 });
      expect(effects().owners.get(lead!)).toHaveLength(1);
    }, 60_000);

    it('a revoked grant is not a pause: it is the uninstall, met while routing, and the lead waits', async () => {
      const pausesBefore = paused.length;
      const tokens = await salesforceTokenStore(storage, () => clock.now).load(demo.org.orgId);
      await new OAuth2({ loginUrl: url, clientId: DEFAULT_SF_APP.clientId }).revokeToken(
        tokens!.refreshToken,
      );
      sf.tokens.expire(demo.org.orgId);
      clock.now = T0 + 120 * MINUTE;
      await leadsArrive(1);
      await drain();
      // The refused refresh (invalid_grant, no 401) is asked about, as a 401 is: the grant is gone.
      const after = await storage.getTenant(tenant.id);
      expect(after?.pause).toBeNull();
      expect(after?.uninstalledAt).toBe(clock.now);
      expect(paused).toHaveLength(pausesBefore);
      // The lead waits for a reinstall, as an uninstalled tenant's work does: no dead letter, and none
      // of its attempts spent (as the log says).
      expect(await stats()).toMatchObject({ pending: 1, leased: 0, failed: 0 });
      expect(await storage.deadLetters(tenant.id)).toEqual([]);
      const waits = logs.records().filter((r) => r['message'] === 'lead waits for a reinstall');
      expect(waits).toEqual([expect.objectContaining({ tenantId: tenant.id, attempts: 0 })]);
      const inboxId = Number(waits[0]!['inboxId']);
      expect((await storage.getInboxItem(tenant.id, inboxId))?.attempts).toBe(0);
    }, 60_000);
  });
});
