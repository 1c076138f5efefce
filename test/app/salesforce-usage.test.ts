// A Salesforce org's daily API usage (Sforce-Limit-Info on every answer of the sandbox, set with its
// limits knob): above SALESFORCE_API_USAGE_SLOWDOWN the org's calls are spaced out, /metrics shows the
// usage, /readyz says the org is slowed, and a log line says so; back under it, full speed again.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SALESFORCE_PROFILE } from '../../connectors/salesforce/profile.js';
import { Keyring } from '../../connectors/shared/crypto.js';
import { LimiterFactory } from '../../connectors/shared/limiter.js';
import {
  createSalesforceSandbox,
  type SalesforceSandbox,
} from '../../connectors/sandbox-salesforce/index.js';
import { sandboxApp } from '../sandbox-salesforce/support.js';
import { loadConfig } from '../../src/app/config.js';
import { CrmRegistry } from '../../src/app/crms.js';
import { salesforceTokenStore, salesforceWiring, type OrgUsage } from '../../src/app/salesforce.js';
import { freePort, startApp, type RunningApp } from '../../src/app/start.js';
import { Tenants } from '../../src/app/tenants.js';
import { createLogger } from '../../src/log.js';
import { openStorage, type Storage, type Tenant } from '../../src/storage/index.js';
import { exampleTexts, publishConfig } from '../support/publish.js';

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the wiring paces an org by its daily API usage', () => {
  let sf: SalesforceSandbox;
  let storage: Storage;
  let tenant: Tenant;
  let orgId: string;
  let url: string;
  const limiters = new LimiterFactory({ provider: 'sf-usage', buckets: SALESFORCE_PROFILE.buckets });

  beforeAll(async () => {
    sf = createSalesforceSandbox({ seed: 7, dailyApiLimit: 1000 });
    const demo = sf.createDemoOrg({ accounts: 3 });
    orgId = demo.org.orgId;
    ({ url } = await sf.start());
    storage = await openStorage({ file: ':memory:', cipher: new Keyring(randomBytes(32)), now: () => 1 });
    tenant = await storage.createTenant({ provider: 'salesforce', externalId: orgId, name: 'Demo' }, 1);
    const issued = sf.issueToken(orgId, demo.integrationUserId);
    await salesforceTokenStore(storage, () => 1).save(orgId, {
      accessToken: issued.token,
      refreshToken: issued.refreshToken ?? '',
      instanceUrl: url,
      orgId,
      userId: demo.integrationUserId,
      issuedAt: 1,
    });
  });
  /** The org's wiring over the sandbox at a 0.5 usage threshold, with the test's own sleep and hooks. */
  function wiringOver(
    hooks: Pick<Parameters<typeof salesforceWiring>[0], 'sleep' | 'onUsage' | 'onPaceChange'>,
  ) {
    return salesforceWiring({
      storage,
      app: sandboxApp(url),
      limiters,
      clock: Date.now,
      usageSlowdown: 0.5,
      // Far longer than any call: every wait a slowed call asks for is seen, none is mistaken for zero.
      slowDelayMs: 60_000,
      ...hooks,
    });
  }
  afterAll(async () => {
    await sf.stop();
    await storage.close();
    await limiters.disconnectAll();
  });

  it('spaces the calls out above the threshold, says so once per change, and goes back to full speed', async () => {
    const waits: number[] = [];
    const usages: OrgUsage[] = [];
    const changes: string[] = [];
    const wiring = wiringOver({
      sleep: (ms) => {
        waits.push(ms);
        return Promise.resolve();
      },
      onUsage: (_t, usage) => usages.push(usage),
      onPaceChange: (_t, usage, previous) => changes.push(`${previous} → ${usage.pace.level}`),
    });
    const { connector } = wiring.connect(tenant, {
      failed: (e) => Promise.reject(e instanceof Error ? e : new Error(String(e))),
    });
    const call = async () => expect(await connector.checkConnection()).toEqual({ ok: true });

    sf.allocation.setUsed(orgId, 100);
    await call();
    await call();
    expect(waits).toEqual([]);
    expect(usages.at(-1)).toMatchObject({ limit: 1000, pace: { level: 'normal' } });

    // 60% used: slowed. The call that reads it runs at once; each one after waits its turn.
    sf.allocation.setUsed(orgId, 600);
    await call();
    expect(usages.at(-1)?.pace).toMatchObject({ level: 'slow' });
    await call();
    await call();
    expect(waits).toHaveLength(2);
    for (const w of waits) expect(w).toBeGreaterThan(30_000);

    // Near the whole allocation: four times the spacing.
    sf.allocation.setUsed(orgId, 950);
    await call();
    waits.length = 0;
    await call();
    expect(usages.at(-1)?.pace).toMatchObject({ level: 'paused' });
    expect(waits[0]).toBeGreaterThan(120_000);

    // Back under the threshold: the next answer says so, and the calls after it do not wait.
    sf.allocation.setUsed(orgId, 10);
    await call();
    waits.length = 0;
    await call();
    await call();
    expect(waits).toEqual([]);
    expect(changes).toEqual(['normal → slow', 'slow → paused', 'paused → normal']);
  });

  it("lets go of an idle org's session and pace with its connection, and builds them again on its next use", async () => {
    await publishConfig(storage.db, tenant.id, exampleTexts('salesforce-demo'), 1);
    const wiring = wiringOver({ sleep: () => Promise.resolve() });
    const clock = { now: 0 };
    const tenants = new Tenants({
      storage,
      crms: new CrmRegistry([wiring]),
      team: undefined,
      clock: () => clock.now,
      idleMs: 1_000,
    });
    const use = async () => {
      const { connector } = await tenants.runtime(tenant.id);
      expect(await connector.checkConnection()).toEqual({ ok: true });
    };
    sf.allocation.setUsed(orgId, 600);
    await use();
    expect(wiring.holds(tenant)).toEqual({ session: true, pace: true });

    clock.now = 1_000;
    expect(tenants.evictIdle()).toBeGreaterThan(0);
    expect(tenants.cached).toBe(0);
    expect(wiring.holds(tenant)).toEqual({ session: false, pace: false });

    await use();
    expect(wiring.holds(tenant)).toEqual({ session: true, pace: true });

    // Once its stream reads on the session in this process, the session outlives the connection.
    await wiring.pulledIntake(tenant, { paused: () => Promise.resolve(null) });
    clock.now = 2_000;
    tenants.evictIdle();
    expect(wiring.holds(tenant)).toEqual({ session: true, pace: false });
    wiring.forget(tenant);
    expect(wiring.holds(tenant)).toEqual({ session: false, pace: false });
    sf.allocation.setUsed(orgId, 0);
  });
});

describe('CRM=salesforce: an org above the threshold in /metrics, /readyz and the log', () => {
  let dir: string;
  let app: RunningApp;
  const logs: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lead-router-sf-usage-'));
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    });
    const config = loadConfig({
      CRM: 'salesforce',
      DATA_DIR: join(dir, 'data'),
      PORT: String(await freePort('127.0.0.1')),
      SANDBOX_PORT: String(await freePort('127.0.0.1')),
      SALESFORCE_API_USAGE_SLOWDOWN: '0.5',
    });
    app = await startApp(config, {
      logger: createLogger({ level: 'info', stream }),
      generate: false,
      salesforceSandbox: { dailyApiLimit: 1000 },
    });
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('shows the usage, reports the org slowed (still ready), logs it, and clears it once back under', async () => {
    const sf = app.salesforceSandbox!;
    const knob = (body: unknown) =>
      fetch(`${sf.url}/_sandbox/limits`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await knob({ orgId: sf.orgId, used: 700 })).status).toBe(200);
    const tenant = (await app.storage.findTenant('salesforce', sf.orgId))!;
    sf.demo.createLeads(1, 'admin');

    const readiness = await until('the org reported slowed', async () => {
      const res = await fetch(`${app.url}/readyz`);
      const body = (await res.json()) as { slowed?: { tenantId: string; used: number; limit: number }[] };
      return res.status === 200 && body.slowed !== undefined ? body : undefined;
    });
    expect(readiness).toMatchObject({ ok: true, apiUsage: 'degraded' });
    // Its change-event stream is read (the lead came through it): nothing to say about the intake.
    expect(readiness).not.toHaveProperty('intake');
    expect(readiness.slowed).toEqual([
      expect.objectContaining({ tenantId: tenant.id, limit: 1000 }) as unknown,
    ]);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    const ratio = new RegExp(`lead_router_crm_api_usage_ratio\\{tenant="${tenant.id}"\\} (0\\.\\d+)`).exec(
      metrics,
    );
    expect(Number(ratio?.[1])).toBeGreaterThan(0.7);
    // Both of its channels, Leads and Contacts, held by this app.
    expect(metrics).toContain('lead_router_streams{state="held"} 2');
    expect(metrics).toContain('lead_router_streams{state="unheld"} 0');
    const slowed = logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['message'] === 'Salesforce org above its API usage threshold: its work is slowed down');
    expect(slowed).toMatchObject({ level: 'warn', tenantId: tenant.id, orgId: sf.orgId, limit: 1000 });

    // The allocation rolls over (the knob): the next answers bring the org back to full speed.
    await knob({ orgId: sf.orgId, used: 0 });
    sf.demo.createLeads(1, 'admin');
    await until(
      'the org no longer slowed',
      async () => {
        const body = (await (await fetch(`${app.url}/readyz`)).json()) as { apiUsage?: string };
        return body.apiUsage === undefined ? true : undefined;
      },
      60_000,
    );
    expect(logs.join('')).toContain('Salesforce org back under its API usage threshold: full speed');
  }, 120_000);
});
