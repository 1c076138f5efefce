// Installing a real Salesforce org: the app configured with a connected app (SALESFORCE_CLIENT_ID,
// SALESFORCE_CLIENT_SECRET, SALESFORCE_LOGIN_URL) against the Salesforce sandbox's OAuth server, over
// real HTTP and the real jsforce client. /oauth/salesforce/install sends the admin to the consent page
// with PKCE and a state bound to a cookie; /oauth/salesforce/callback accepts only that state from that
// browser, stores the org's tokens encrypted and starts the org's change-event stream without a
// restart, so a lead created next is routed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  createSalesforceSandbox,
  DEMO_ORG_NAME,
  targetEffects,
  type DemoOrg,
  type SalesforceSandbox,
} from '../../connectors/sandbox-salesforce/index.js';
import { loadConfig } from '../../src/app/config.js';
import { freePort, startApp, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';

const CLIENT_ID = 'lead-router-test-app';
const CLIENT_SECRET = 'connected-app-secret-0123456789';
const KEY = 'ab'.repeat(32);

let dir: string;
let sf: SalesforceSandbox;
let demo: DemoOrg;
let sfUrl: string;
let app: RunningApp;
let logs: string[];

async function until<T>(what: string, probe: () => T | undefined | false, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lead-router-sf-install-'));
  const port = await freePort('127.0.0.1');
  sf = createSalesforceSandbox({
    seed: 7,
    apps: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUris: [`http://127.0.0.1:${port}/oauth/salesforce/callback`],
        rotateRefreshTokens: false,
        accessTokenTtlMs: 3_600_000,
      },
    ],
  });
  demo = sf.createDemoOrg({ accounts: 30 });
  ({ url: sfUrl } = await sf.start());
  logs = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const config = loadConfig({
    // The sandbox org's demo rules, named as a real deployment must name its own.
    RULES: 'rules/salesforce-demo/rules.yaml',
    SALESFORCE_CLIENT_ID: CLIENT_ID,
    SALESFORCE_CLIENT_SECRET: CLIENT_SECRET,
    SALESFORCE_LOGIN_URL: sfUrl,
    TOKEN_ENCRYPTION_KEY: KEY,
    DATA_DIR: join(dir, 'data'),
    PORT: String(port),
  });
  app = await startApp(config, { logger: createLogger({ level: 'info', stream }) });
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await sf?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The install route's redirect and the state cookie it set. */
async function startInstall(): Promise<{ consent: URL; cookie: string; state: string }> {
  const res = await fetch(`${app.url}/oauth/salesforce/install`, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const setCookie = res.headers.get('set-cookie') ?? '';
  expect(setCookie).toMatch(/; Path=\/oauth\/salesforce; Max-Age=600; HttpOnly; SameSite=Lax$/);
  const consent = new URL(res.headers.get('location') ?? '');
  return { consent, cookie: setCookie.split(';')[0]!, state: consent.searchParams.get('state') ?? '' };
}

/** The consent page approves at once (as the org's integration user) and redirects to our callback. */
async function approve(consent: URL): Promise<URL> {
  const res = await fetch(consent, { redirect: 'manual' });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location') ?? '');
}

const callback = (url: URL | string, cookie?: string) =>
  fetch(url, { redirect: 'manual', ...(cookie === undefined ? {} : { headers: { cookie } }) });

const tenantCount = async () => (await app.storage.listTenants()).length;

it('sends the admin to the org’s consent page with PKCE, the scopes and a state bound to this browser', async () => {
  const { consent, cookie, state } = await startInstall();
  expect(consent.origin + consent.pathname).toBe(`${sfUrl}/services/oauth2/authorize`);
  expect(Object.fromEntries(consent.searchParams)).toMatchObject({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: `${app.url}/oauth/salesforce/callback`,
    scope: 'api refresh_token id',
  });
  expect(consent.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(cookie).toBe(`lr_sf_install=${state}`);
});

it('installs the org: tokens stored encrypted, and a lead created next is routed without a restart', async () => {
  const { consent, cookie } = await startInstall();
  const res = await callback(await approve(consent), cookie);
  expect(res.status).toBe(200);
  expect(await res.text()).toContain(`installed for Salesforce org ${demo.org.orgId}`);
  // The cookie is spent.
  expect(res.headers.get('set-cookie')).toMatch(/^lr_sf_install=; .*Max-Age=0/);

  const tenant = await app.storage.findTenant('salesforce', demo.org.orgId);
  expect(tenant).toMatchObject({ provider: 'salesforce', externalId: demo.org.orgId, hasToken: true });
  // Shown by the org's name (its Organization record, read with the new tokens), not by its id.
  expect(tenant?.name).toBe(DEMO_ORG_NAME);
  const stored = JSON.parse((await app.storage.getTenantToken(tenant!.id)) ?? '{}') as Record<
    string,
    unknown
  >;
  expect(stored).toMatchObject({ orgId: demo.org.orgId, instanceUrl: sfUrl, userId: demo.integrationUserId });
  // At rest the token set is ciphertext: no token appears in the tenant's row.
  const row = await app.storage.db.get<Record<string, unknown>>('SELECT * FROM tenants WHERE id = ?', [
    tenant!.id,
  ]);
  expect(JSON.stringify(row)).not.toContain(String(stored['refreshToken']));
  expect(JSON.stringify(row)).not.toContain(String(stored['accessToken']));
  expect(logs.join('')).not.toContain(String(stored['refreshToken']));

  // The org's stream started in this process, on the tokens of this install.
  await until('the Lead stream read', () => app.streams?.reading(tenant!.id, '/data/LeadChangeEvent'));
  // Created before the subscription or after it: found either way (the poll after subscribing).
  const [lead] = demo.createLeads(1, 'admin');
  const id = String(lead!['Id']);
  const effects = await until('an owner and a task written', () => {
    const e = targetEffects(sf.writes, demo.org.orgId);
    return (e.owners.get(id)?.length ?? 0) > 0 && (e.tasks.get(id)?.length ?? 0) > 0 ? e : undefined;
  });
  expect(effects.owners.get(id)).toHaveLength(1);
  expect(effects.tasks.get(id)).toHaveLength(1);
}, 60_000);

it('a reinstall after the org was renamed shows the new name; one whose name cannot be read keeps the last', async () => {
  const organization = demo.org.table('Organization');
  const record = organization.get(demo.org.orgId)!;
  const install = async (): Promise<void> => {
    const { consent, cookie } = await startInstall();
    expect((await callback(await approve(consent), cookie)).status).toBe(200);
  };
  try {
    organization.set(demo.org.orgId, { ...record, Name: 'Acme Holdings <EMEA>' });
    await install();
    expect((await app.storage.findTenant('salesforce', demo.org.orgId))?.name).toBe('Acme Holdings <EMEA>');
    // Unread (the query answers no record): the install goes on, and the name stays as it was.
    organization.delete(demo.org.orgId);
    await install();
    const tenant = await app.storage.findTenant('salesforce', demo.org.orgId);
    expect(tenant).toMatchObject({ name: 'Acme Holdings <EMEA>', hasToken: true });
  } finally {
    organization.set(demo.org.orgId, record);
  }
}, 60_000);

it('refuses a callback from another browser, with another install’s state, replayed, or forged — storing nothing', async () => {
  const before = await tenantCount();
  const a = await startInstall();
  const b = await startInstall();
  const back = await approve(a.consent);

  // No cookie: the install was not started in this browser.
  expect((await callback(back)).status).toBe(400);
  // The cookie of another install.
  expect((await callback(back, b.cookie)).status).toBe(400);
  // A state of ours with a code of another install: the PKCE verifier does not match its challenge.
  const crossed = new URL(back);
  crossed.searchParams.set('state', b.state);
  const refused = await callback(crossed, b.cookie);
  expect(refused.status).toBe(400);
  expect(await refused.text()).toContain('Salesforce refused the install');
  // A forged state, with its own cookie.
  const forged = new URL(back);
  forged.searchParams.set('state', `${a.state.slice(0, -4)}AAAA`);
  expect((await callback(forged, `lr_sf_install=${forged.searchParams.get('state')}`)).status).toBe(400);
  // The admin declined on the consent page.
  const declined = await callback(
    `${app.url}/oauth/salesforce/callback?error=access_denied&error_description=end-user+denied+authorization&state=${a.state}`,
    a.cookie,
  );
  expect(declined.status).toBe(400);
  expect(await declined.text()).toContain('end-user denied authorization');

  // None of that changed anything; a state is used once.
  expect(await tenantCount()).toBe(before);
  const c = await startInstall();
  const ok = await approve(c.consent);
  expect((await callback(ok, c.cookie)).status).toBe(200);
  const installed = await tenantCount();
  expect((await callback(ok, c.cookie)).status).toBe(400);
  expect(await tenantCount()).toBe(installed);
}, 60_000);

it('serves the Salesforce setup guide, with the callback URL this deployment was started with', async () => {
  const res = await fetch(`${app.url}/setup-guide`);
  expect(res.status).toBe(200);
  const html = await res.text();
  expect(html).toContain('<h1>lead-router for Salesforce: setup guide</h1>');
  expect(html).toContain(`${app.url}/oauth/salesforce/callback`);
  // A deployment that serves no HubSpot portal does not send its admins to HubSpot's install.
  expect(html).not.toContain('lead-router for HubSpot');
});
