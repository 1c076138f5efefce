// The sandbox's OAuth contract as HubSpot documents it for 2026-03: introspection answers in HubSpot's
// own shape (PublicAccessTokenInfoResponse / PublicRefreshTokenInfoResponse), and with the v1 switch off
// the v1 endpoints answer as after the 2027-02-16 cut-off, while the app's OAuth client keeps working.
import { HubSpotOAuth } from '../../connectors/hubspot/oauth.js';
import { createHubSpotSandbox, type HubSpotSandbox } from '../../connectors/sandbox/index.js';

const REDIRECT = 'http://localhost:3000/cb';
const CLIENT = { clientId: 'sandbox-client-id', clientSecret: 'sandbox-client-secret' };

describe('sandbox OAuth 2026-03', () => {
  let sandbox: HubSpotSandbox;
  let url: string;
  let portalId: number;

  beforeAll(async () => {
    sandbox = createHubSpotSandbox({ seed: 11, oauthV1: false });
    portalId = sandbox.createPortal().portalId;
    ({ url } = await sandbox.start());
  });
  afterAll(() => sandbox.stop());

  const post = (path: string, form: Record<string, string>) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
  const introspect = (token: string, secret = CLIENT.clientSecret) =>
    post('/oauth/2026-03/token/introspect', { client_id: CLIENT.clientId, client_secret: secret, token });

  /** Authorize (auto-approved) and return the code the redirect carries. */
  async function authorize(): Promise<string> {
    const res = await fetch(
      `${url}/oauth/${portalId}/authorize?client_id=${CLIENT.clientId}&redirect_uri=${encodeURIComponent(REDIRECT)}&scope=oauth`,
      { redirect: 'manual' },
    );
    return new URL(res.headers.get('location')!).searchParams.get('code')!;
  }

  it('introspects an access token in HubSpot’s shape, not RFC 7662’s', async () => {
    const t = sandbox.issueToken(portalId, ['oauth', 'crm.objects.owners.read']);
    const res = await introspect(t.token);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      active: true,
      app_id: t.appId,
      client_id: CLIENT.clientId,
      expires_in: 1800,
      hub_id: portalId,
      is_private_distribution: false,
      scopes: ['oauth', 'crm.objects.owners.read'],
      token: t.token,
      token_use: 'access_token',
      user_id: t.userId,
    });
    expect(body['signed_access_token']).toMatchObject({ hubId: portalId, appId: t.appId });
    for (const rfc7662Only of ['scope', 'exp', 'sub', 'iat']) expect(body).not.toHaveProperty(rfc7662Only);
  });

  it('introspects a refresh token, and says inactive for an unknown one', async () => {
    const t = sandbox.issueToken(portalId);
    expect(await (await introspect(t.refreshToken)).json()).toMatchObject({
      active: true,
      hub_id: portalId,
      token: t.refreshToken,
      token_use: 'refresh_token',
    });
    expect(await (await introspect('no-such-token')).json()).toEqual({ active: false });
  });

  it('refuses introspection without the app’s secret', async () => {
    const res = await introspect(sandbox.issueToken(portalId).token, 'wrong');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_client', status: 'BAD_CLIENT_SECRET' });
  });

  it('with v1 off: the v1 endpoints are gone, and the app’s OAuth client installs and refreshes', async () => {
    const oauth = new HubSpotOAuth({ ...CLIENT, redirectUri: REDIRECT, baseUrl: url });
    const tokens = await oauth.exchangeCode(await authorize());
    const info = await oauth.tokenInfo(tokens.accessToken);
    expect(info).toMatchObject({ hubId: portalId, scopes: ['oauth'], expiresInS: 1800 });
    const refreshed = await oauth.refresh(tokens.refreshToken);
    expect(refreshed.accessToken).not.toBe(tokens.accessToken);
    expect((await oauth.tokenInfo(refreshed.accessToken)).hubId).toBe(portalId);
    // The client never knocked on a v1 door.
    expect(sandbox.oauth.v1Refused).toBe(0);

    const v1Token = await post('/oauth/v1/token', {
      client_id: CLIENT.clientId,
      client_secret: CLIENT.clientSecret,
      grant_type: 'refresh_token',
      refresh_token: tokens.refreshToken,
    });
    expect(v1Token.status).toBe(404);
    expect(await v1Token.json()).toMatchObject({ status: 'error', category: 'OBJECT_NOT_FOUND' });
    expect((await fetch(`${url}/oauth/v1/access-tokens/${refreshed.accessToken}`)).status).toBe(404);
    expect(sandbox.oauth.v1Refused).toBe(2);
  });

  it('the admin knob turns v1 back on (before the cut-off) and off again', async () => {
    const knob = (v1Enabled: boolean) =>
      fetch(`${url}/_sandbox/oauth`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ v1Enabled }),
      });
    const t = sandbox.issueToken(portalId);
    expect((await knob(true)).status).toBe(200);
    expect((await fetch(`${url}/oauth/v1/access-tokens/${t.token}`)).status).toBe(200);
    expect((await knob(false)).status).toBe(200);
    expect((await fetch(`${url}/oauth/v1/access-tokens/${t.token}`)).status).toBe(404);
    const bad = await fetch(`${url}/_sandbox/oauth`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ v1Enabled: 'no' }),
    });
    expect(bad.status).toBe(400);
    expect(sandbox.oauth.v1Enabled).toBe(false);
  });
});
