import nock from 'nock';
import {
  authorizeUrl,
  HubSpotOAuth,
  OPTIONAL_SCOPES,
  REQUIRED_SCOPES,
  TokenManager,
  type TokenSet,
  type TokenStore,
} from '../../../connectors/hubspot/oauth.js';

const API = 'https://api.hubapi.com';
const NOW = 1_700_000_000_000;
const opts = {
  clientId: 'cid',
  clientSecret: 'csecret',
  redirectUri: 'https://app.example.com/oauth/hubspot/callback',
  now: () => NOW,
};
const TOKEN_RESPONSE = {
  token_type: 'bearer',
  refresh_token: '1e8f-refresh',
  access_token: 'CIrT-access',
  expires_in: 1800,
};

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1|localhost/);
});
afterEach(() => nock.cleanAll());
afterAll(() => {
  nock.enableNetConnect();
  nock.restore();
});

describe('authorizeUrl', () => {
  it('lists required scopes in scope and sequence scopes in optional_scope', () => {
    const url = new URL(authorizeUrl({ clientId: 'cid', redirectUri: opts.redirectUri, state: 's1' }));
    expect(url.origin + url.pathname).toBe('https://app.hubspot.com/oauth/authorize');
    expect(url.searchParams.get('scope')?.split(' ')).toEqual([...REQUIRED_SCOPES]);
    expect(url.searchParams.get('optional_scope')?.split(' ')).toEqual([...OPTIONAL_SCOPES]);
    expect(url.searchParams.get('redirect_uri')).toBe(opts.redirectUri);
    expect(url.searchParams.get('state')).toBe('s1');
    expect(url.search).not.toContain('+');
  });

  it('pre-selects a portal', () => {
    expect(authorizeUrl({ clientId: 'c', redirectUri: 'https://r', state: 's', portalId: '62515' })).toMatch(
      /^https:\/\/app\.hubspot\.com\/oauth\/62515\/authorize\?/,
    );
  });
});

describe('HubSpotOAuth token endpoint', () => {
  // The default: HubSpot switches the v1 endpoints off on 2027-02-16.
  const path = '/oauth/2026-03/token';
  const oauth = new HubSpotOAuth(opts);

  it('exchanges a code (form body) and computes expiresAt', async () => {
    const scope = nock(API)
      .post(
        path,
        (body: Record<string, string>) =>
          body['grant_type'] === 'authorization_code' &&
          body['code'] === 'the-code' &&
          body['client_secret'] === 'csecret' &&
          body['redirect_uri'] === opts.redirectUri,
      )
      .matchHeader('content-type', 'application/x-www-form-urlencoded')
      .reply(200, TOKEN_RESPONSE);
    await expect(oauth.exchangeCode('the-code')).resolves.toMatchObject({
      accessToken: 'CIrT-access',
      refreshToken: '1e8f-refresh',
      expiresAt: NOW + 1_800_000,
    });
    scope.done();
  });

  it('maps invalid_grant on refresh to auth', async () => {
    const scope = nock(API)
      .post(
        path,
        (body: Record<string, string>) =>
          body['grant_type'] === 'refresh_token' && body['refresh_token'] === 'old',
      )
      .reply(400, {
        error: 'invalid_grant',
        error_description: 'refresh token is invalid, expired or revoked',
        status: 'BAD_REFRESH_TOKEN',
        message: 'missing or invalid refresh token',
      });
    await expect(oauth.refresh('old')).rejects.toMatchObject({ kind: 'auth' });
    scope.done();
  });

  it('maps a 5xx to transient', async () => {
    const scope = nock(API).post(path).reply(503, 'unavailable');
    await expect(oauth.refresh('r')).rejects.toMatchObject({ kind: 'transient' });
    scope.done();
  });
});

describe('tokenInfo', () => {
  // PublicAccessTokenInfoResponse of HubSpot's 2026-03 OAuth spec.
  const INTROSPECTION = {
    active: true,
    app_id: 54321,
    client_id: 'cid',
    expires_in: 1700,
    hub_domain: 'x.com',
    hub_id: 62515,
    is_private_distribution: false,
    scopes: ['oauth', 'crm.objects.contacts.read'],
    signed_access_token: { appId: 54321, hubId: 62515, userId: 123, expiresAt: NOW + 1_700_000 },
    token: 'CIrT-access',
    token_type: 'bearer',
    token_use: 'access_token',
    user: 'u@x.com',
    user_id: 123,
  };
  const introspects = (token: string) => (body: Record<string, string>) =>
    body['token'] === token &&
    body['token_type_hint'] === 'access_token' &&
    body['client_id'] === 'cid' &&
    body['client_secret'] === 'csecret';

  it('introspects (form body, token not in the URL) and reads hub id and scopes', async () => {
    const scope = nock(API)
      .post('/oauth/2026-03/token/introspect', introspects('CIrT-access'))
      .matchHeader('content-type', 'application/x-www-form-urlencoded')
      .reply(200, INTROSPECTION);
    await expect(new HubSpotOAuth(opts).tokenInfo('CIrT-access')).resolves.toEqual({
      hubId: 62515,
      userId: 123,
      appId: 54321,
      scopes: ['oauth', 'crm.objects.contacts.read'],
      expiresInS: 1700,
    });
    scope.done();
  });

  it('an inactive token is an auth error', async () => {
    const scope = nock(API)
      .post('/oauth/2026-03/token/introspect', introspects('t'))
      .reply(200, { active: false });
    await expect(new HubSpotOAuth(opts).tokenInfo('t')).rejects.toMatchObject({ kind: 'auth' });
    scope.done();
  });

  it.each([
    [
      'an RFC 7662 answer (space-separated scope, no hub_id)',
      { active: true, scope: 'oauth', exp: 1, client_id: 'cid' },
    ],
    ['no active field', { hub_id: 62515, app_id: 1, scopes: [] }],
    ['v1 metadata without active', { token: 't', hub_id: 62515, app_id: 1, scopes: ['oauth'] }],
  ])('rejects %s as invalid', async (_what, body) => {
    const scope = nock(API).post('/oauth/2026-03/token/introspect').reply(200, body);
    await expect(new HubSpotOAuth(opts).tokenInfo('t')).rejects.toMatchObject({ kind: 'invalid' });
    scope.done();
  });
});

describe('TokenManager', () => {
  function memoryStore(initial: TokenSet | null): TokenStore & { saved: TokenSet[] } {
    let current = initial;
    const saved: TokenSet[] = [];
    return {
      saved,
      load: () => Promise.resolve(current),
      save: (_p, t) => {
        saved.push(t);
        current = t;
        return Promise.resolve();
      },
    };
  }
  const fresh = (expiresAt: number): TokenSet => ({
    accessToken: `a-${expiresAt}`,
    refreshToken: 'r',
    expiresAt,
    hubId: 62515,
  });

  it('returns the stored token while it is fresh', async () => {
    let refreshed = 0;
    const tm = new TokenManager({
      oauth: { refresh: () => (refreshed++, Promise.resolve(fresh(0))) },
      store: memoryStore(fresh(NOW + 10 * 60_000)),
      now: () => NOW,
    });
    await expect(tm.accessToken('62515')).resolves.toBe(`a-${NOW + 600_000}`);
    expect(refreshed).toBe(0);
  });

  it('refreshes ahead of expiry, once for concurrent callers, and saves', async () => {
    let refreshed = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const store = memoryStore(fresh(NOW + 60_000));
    const tm = new TokenManager({
      oauth: {
        refresh: async (rt) => {
          refreshed++;
          expect(rt).toBe('r');
          await gate;
          return { accessToken: 'new', refreshToken: 'r2', expiresAt: NOW + 1_800_000 };
        },
      },
      store,
      now: () => NOW,
    });
    const all = Promise.all([tm.accessToken('62515'), tm.accessToken('62515'), tm.accessToken('62515')]);
    await new Promise((r) => setImmediate(r));
    release();
    await expect(all).resolves.toEqual(['new', 'new', 'new']);
    expect(refreshed).toBe(1);
    expect(store.saved).toEqual([
      { accessToken: 'new', refreshToken: 'r2', expiresAt: NOW + 1_800_000, hubId: 62515, scopes: undefined },
    ]);
  });

  it('lets the next call retry after a failed refresh', async () => {
    let n = 0;
    const tm = new TokenManager({
      oauth: {
        refresh: () => {
          n++;
          if (n === 1) return Promise.reject(new Error('boom'));
          return Promise.resolve({ accessToken: 'ok', refreshToken: 'r', expiresAt: NOW + 1_800_000 });
        },
      },
      store: memoryStore(fresh(NOW)),
      now: () => NOW,
    });
    await expect(tm.accessToken('1')).rejects.toThrow('boom');
    await expect(tm.accessToken('1')).resolves.toBe('ok');
  });

  it('auth error when nothing is stored', async () => {
    const tm = new TokenManager({
      oauth: { refresh: () => Promise.resolve(fresh(0)) },
      store: memoryStore(null),
    });
    await expect(tm.accessToken('1')).rejects.toMatchObject({ kind: 'auth' });
  });
});
