import { createHubSpotSandbox, type HubSpotSandbox } from '../../connectors/sandbox/index.js';
import { HubSpotOAuth } from '../../connectors/hubspot/oauth.js';
import { CALLBACK_PATH, hubspotRedirectUri } from '../../src/server/index.js';
import {
  APP_ID,
  CLIENT_ID,
  CLIENT_SECRET,
  PORTAL,
  PUBLIC_URL,
  startServer,
  T0,
  type Harness,
} from './helpers.js';

const NEW_PORTAL = 4711;

let sandbox: HubSpotSandbox;
let sandboxUrl: string;
let h: Harness;

beforeAll(async () => {
  sandbox = createHubSpotSandbox({
    apps: [{ appId: APP_ID, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }],
  });
  sandbox.createPortal({ portalId: NEW_PORTAL });
  sandbox.createPortal({ portalId: PORTAL });
  sandboxUrl = (await sandbox.start(0)).url;
});
afterAll(async () => {
  await sandbox.stop();
});
afterEach(async () => {
  await h.close();
});

const start = (overrides: Parameters<typeof startServer>[0] = {}) =>
  startServer({ oauthBaseUrl: sandboxUrl, hubspot: { authorizeOrigin: sandboxUrl }, ...overrides });

/** /install → the sandbox's consent page → back to our callback; returns the callback URL on our server. */
async function consent(installQuery = ''): Promise<{ callback: string; authorize: URL }> {
  const install = await fetch(`${h.url}/oauth/hubspot/install${installQuery}`, { redirect: 'manual' });
  expect(install.status).toBe(302);
  const authorize = new URL(install.headers.get('location') ?? '');
  expect(authorize.origin).toBe(new URL(sandboxUrl).origin);
  const approved = await fetch(authorize, { redirect: 'manual' });
  expect(approved.status).toBe(302);
  const back = new URL(approved.headers.get('location') ?? '');
  // The sandbox redirects to the registered public URI; we call the same path on the test server.
  expect(back.origin + back.pathname).toBe(PUBLIC_URL + CALLBACK_PATH);
  return { callback: h.url + back.pathname + back.search, authorize };
}

describe('GET /oauth/hubspot/install', () => {
  it('redirects to the authorize page with our client id, redirect URI, scopes and a fresh state', async () => {
    h = await start();
    const a = await fetch(`${h.url}/oauth/hubspot/install`, { redirect: 'manual' });
    const b = await fetch(`${h.url}/oauth/hubspot/install`, { redirect: 'manual' });
    const url = new URL(a.headers.get('location') ?? '');
    expect(url.pathname).toBe('/oauth/authorize');
    expect(url.searchParams.get('client_id')).toBe(CLIENT_ID);
    expect(url.searchParams.get('redirect_uri')).toBe(PUBLIC_URL + CALLBACK_PATH);
    expect(url.searchParams.get('scope')).toContain('crm.objects.contacts.read');
    const stateA = url.searchParams.get('state');
    const stateB = new URL(b.headers.get('location') ?? '').searchParams.get('state');
    expect(stateA).toMatch(/^[A-Za-z0-9_.-]{40,}$/);
    expect(stateB).not.toBe(stateA);
  });

  it('pre-selects an account with ?portalId and rejects a non-numeric one', async () => {
    h = await start();
    const ok = await fetch(`${h.url}/oauth/hubspot/install?portalId=${NEW_PORTAL}`, { redirect: 'manual' });
    expect(new URL(ok.headers.get('location') ?? '').pathname).toBe(`/oauth/${NEW_PORTAL}/authorize`);
    const bad = await fetch(`${h.url}/oauth/hubspot/install?portalId=abc`, { redirect: 'manual' });
    expect(bad.status).toBe(400);
  });
});

describe('GET /oauth/hubspot/callback', () => {
  it('installs end to end: a new tenant with an encrypted token, onInstalled called, a small page', async () => {
    h = await start();
    const { callback } = await consent(`?portalId=${NEW_PORTAL}`);
    const res = await fetch(callback);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain(`lead-router is installed for portal ${NEW_PORTAL}`);

    const tenant = await h.storage.findTenant('hubspot', String(NEW_PORTAL));
    expect(tenant).toMatchObject({ provider: 'hubspot', externalId: String(NEW_PORTAL), hasToken: true });
    expect(h.installed.map((t) => t.id)).toEqual([tenant!.id]);
    expect(h.installed[0]?.hasToken).toBe(true);

    const stored = JSON.parse((await h.storage.getTenantToken(tenant!.id)) ?? '{}') as Record<
      string,
      unknown
    >;
    expect(stored).toMatchObject({ hubId: NEW_PORTAL });
    const access = stored['accessToken'] as string;
    const refresh = stored['refreshToken'] as string;
    expect(sandbox.tokens.lookup(access)?.portalId).toBe(NEW_PORTAL);
    expect(stored['expiresAt']).toEqual(expect.any(Number));

    const row = await h.storage.db.get<Record<string, unknown>>('SELECT * FROM tenants WHERE id = ?', [
      tenant!.id,
    ]);
    const raw = JSON.stringify(row);
    expect(raw).not.toContain(access);
    expect(raw).not.toContain(refresh);
    const logs = h.logs.join('');
    expect(logs).not.toContain(access);
    expect(logs).not.toContain(refresh);
  });

  it('updates the existing tenant on reinstall instead of creating a second one', async () => {
    h = await start();
    expect(h.tenant.hasToken).toBe(false);
    const { callback } = await consent(`?portalId=${PORTAL}`);
    expect((await fetch(callback)).status).toBe(200);
    const tenants = (await h.storage.listTenants()).filter((t) => t.externalId === String(PORTAL));
    expect(tenants).toHaveLength(1);
    expect(tenants[0]).toMatchObject({ id: h.tenant.id, hasToken: true });
  });

  it('accepts a state only once', async () => {
    h = await start();
    const { callback } = await consent(`?portalId=${NEW_PORTAL}`);
    expect((await fetch(callback)).status).toBe(200);
    const replay = await fetch(callback);
    expect(replay.status).toBe(400);
  });

  it.each([
    ['an unknown state', (cb: URL) => cb.searchParams.set('state', 'made-up-state')],
    ['no state', (cb: URL) => cb.searchParams.delete('state')],
    ['no code', (cb: URL) => cb.searchParams.delete('code')],
    ['a repeated state', (cb: URL) => cb.searchParams.append('state', 'x')],
  ])('rejects %s with 400 and installs nothing', async (_name, tamper) => {
    h = await start();
    const { callback } = await consent(`?portalId=${NEW_PORTAL}`);
    const url = new URL(callback);
    tamper(url);
    const res = await fetch(url);
    expect(res.status).toBe(400);
    expect(await h.storage.findTenant('hubspot', String(NEW_PORTAL))).toBeNull();
    expect(h.installed).toEqual([]);
  });

  it('rejects an expired state with 400', async () => {
    h = await start();
    const { callback } = await consent(`?portalId=${NEW_PORTAL}`);
    h.clock.now = T0 + 10 * 60_000 + 1;
    const res = await fetch(callback);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('expired');
    expect(await h.storage.findTenant('hubspot', String(NEW_PORTAL))).toBeNull();
  });

  it('shows HubSpot’s error when the user declined', async () => {
    h = await start();
    const res = await fetch(
      `${h.url}${CALLBACK_PATH}?error=access_denied&error_description=User%20said%20%3Cno%3E`,
    );
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toContain('User said &lt;no&gt;');
    expect(text).not.toContain('<no>');
  });

  it('answers a readable 400 when HubSpot refuses the code exchange (wrong client secret), no tokens logged', async () => {
    // The server's OAuth client holds a wrong secret: the sandbox answers invalid_client.
    h = await start({
      hubspot: {
        authorizeOrigin: sandboxUrl,
        oauth: new HubSpotOAuth({
          clientId: CLIENT_ID,
          clientSecret: 'wrong',
          redirectUri: hubspotRedirectUri(PUBLIC_URL),
          baseUrl: sandboxUrl,
        }),
      },
    });
    const { callback } = await consent(`?portalId=${NEW_PORTAL}`);
    const code = new URL(callback).searchParams.get('code') ?? '';
    const res = await fetch(callback);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('install again');
    expect(await h.storage.findTenant('hubspot', String(NEW_PORTAL))).toBeNull();
    expect(h.logs.join('')).toContain('hubspot install failed');
    expect(h.logs.join('')).not.toContain(code);
  });

  it('answers 502 when HubSpot cannot be reached', async () => {
    h = await start({ oauthBaseUrl: 'http://127.0.0.1:9' });
    const { callback } = await consent(`?portalId=${NEW_PORTAL}`);
    const res = await fetch(callback);
    expect(res.status).toBe(502);
    expect(await h.storage.findTenant('hubspot', String(NEW_PORTAL))).toBeNull();
  });
});

describe('an install started on the HubSpot Marketplace (code + returnUrl, no state of ours)', () => {
  /** The listing's Install button: the sandbox calls our install URL (the callback) with code + returnUrl. */
  async function marketplaceInstall(portalId: number): Promise<URL> {
    const install = new URL(`${sandboxUrl}/_sandbox/marketplace/install`);
    install.searchParams.set('client_id', CLIENT_ID);
    install.searchParams.set('portalId', String(portalId));
    install.searchParams.set('install_url', PUBLIC_URL + CALLBACK_PATH);
    const res = await fetch(install, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const back = new URL(res.headers.get('location') ?? '');
    expect(back.origin + back.pathname).toBe(PUBLIC_URL + CALLBACK_PATH);
    expect(back.searchParams.get('state')).toBeNull();
    return new URL(h.url + back.pathname + back.search);
  }

  it('exchanges the code, stores the install and lands back on returnUrl', async () => {
    h = await start();
    const callback = await marketplaceInstall(NEW_PORTAL);
    const returnUrl = callback.searchParams.get('returnUrl') ?? '';
    const res = await fetch(callback, { redirect: 'follow' });
    expect(res.status).toBe(200);
    expect(res.url).toBe(returnUrl);
    expect(await res.json()).toEqual({ installed: true, portalId: NEW_PORTAL });
    const tenant = await h.storage.findTenant('hubspot', String(NEW_PORTAL));
    expect(tenant).toMatchObject({ hasToken: true });
    expect(h.installed.map((t) => t.id)).toEqual([tenant!.id]);
  });

  it('redirects to a HubSpot returnUrl exactly as given (normalized)', async () => {
    h = await start();
    const callback = await marketplaceInstall(NEW_PORTAL);
    const returnUrl = `https://app-eu1.hubspot.com/marketplace/install-complete/${NEW_PORTAL}?x=1`;
    callback.searchParams.set('returnUrl', returnUrl);
    const res = await fetch(callback, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(returnUrl);
  });

  it.each([
    ['a look-alike domain', 'https://app.hubspot.com.evil.io/done'],
    ['a suffix look-alike', 'https://evilhubspot.com/done'],
    ['user info before the host', 'https://app.hubspot.com@evil.io/done'],
    ['user info on a HubSpot host', 'https://user:pw@app.hubspot.com/done'],
    ['plain http', 'http://app.hubspot.com/done'],
    ['an explicit port', 'https://app.hubspot.com:8443/done'],
    ['a trailing-dot host', 'https://app.hubspot.com./done'],
    ['a javascript: URL', 'javascript:alert(1)'],
    ['a scheme-relative URL', '//evil.io/done'],
    ['HubSpot only in the query', 'https://evil.io/?next=https://app.hubspot.com'],
    ['a backslash trick', 'https://evil.io\\@app.hubspot.com/'],
  ])('refuses %s as returnUrl with 400, before redeeming the code', async (_name, returnUrl) => {
    h = await start();
    const callback = await marketplaceInstall(NEW_PORTAL);
    callback.searchParams.set('returnUrl', returnUrl);
    const res = await fetch(callback, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await h.storage.findTenant('hubspot', String(NEW_PORTAL))).toBeNull();
    expect(h.installed).toEqual([]);
    // The code was not spent: the same install with HubSpot's own returnUrl still completes.
    callback.searchParams.set('returnUrl', 'https://app.hubspot.com/done');
    expect((await fetch(callback, { redirect: 'manual' })).status).toBe(302);
  });

  it('still rejects a code with neither our state nor a returnUrl', async () => {
    h = await start();
    const callback = await marketplaceInstall(NEW_PORTAL);
    callback.searchParams.delete('returnUrl');
    expect((await fetch(callback, { redirect: 'manual' })).status).toBe(400);
    expect(await h.storage.findTenant('hubspot', String(NEW_PORTAL))).toBeNull();
  });
});
