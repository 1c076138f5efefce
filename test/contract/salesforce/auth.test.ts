// The Salesforce install through jsforce's OAuth2: the web-server flow with PKCE (S256 challenge in the
// authorize URL, the same verifier on the code exchange), the org id from the identity URL, and the
// token set as it is stored.
import { createHash } from 'node:crypto';
import nock from 'nock';
import {
  decodeSalesforceTokens,
  encodeSalesforceTokens,
  exchangeSalesforceCode,
  parseIdentityUrl,
  readOrganizationName,
  salesforceAuthorizeUrl,
} from '../../../connectors/salesforce/auth.js';
import {
  API,
  APP,
  errorBody,
  INSTANCE,
  INSTALLER_ID,
  JSON_TYPE,
  LOGIN,
  ORG_ID,
  query,
  record,
  useNock,
} from './support.js';

useNock();

const base64url = (b: Buffer): string =>
  b.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

describe('salesforceAuthorizeUrl', () => {
  it('asks for api, refresh_token and id with an S256 challenge of the verifier it returns', () => {
    const { url, codeVerifier } = salesforceAuthorizeUrl(APP, 'state-123');
    const u = new URL(url);
    expect(`${u.origin}${u.pathname}`).toBe(`${LOGIN}/services/oauth2/authorize`);
    expect(u.searchParams.get('response_type')).toBe('code');
    expect(u.searchParams.get('client_id')).toBe('client-id');
    expect(u.searchParams.get('redirect_uri')).toBe(APP.redirectUri);
    expect(u.searchParams.get('scope')).toBe('api refresh_token id');
    expect(u.searchParams.get('state')).toBe('state-123');
    expect(u.searchParams.get('code_challenge')).toBe(
      base64url(createHash('sha256').update(codeVerifier).digest()),
    );
    expect(codeVerifier.length).toBeGreaterThanOrEqual(43);
    // A new verifier per install.
    expect(salesforceAuthorizeUrl(APP, 's').codeVerifier).not.toBe(codeVerifier);
  });
});

describe('exchangeSalesforceCode', () => {
  const answer = {
    access_token: 'access-1',
    refresh_token: 'refresh-1',
    signature: 'sig',
    scope: 'api refresh_token id',
    instance_url: INSTANCE,
    id: `${LOGIN}/id/${ORG_ID}/${INSTALLER_ID}`,
    token_type: 'Bearer',
    issued_at: '1767225600000',
  };

  it('sends the code with the kept verifier and returns the org and its tokens', async () => {
    let form = new URLSearchParams();
    const scope = nock(LOGIN)
      .post('/services/oauth2/token', (b: Record<string, string>) => {
        form = new URLSearchParams(b);
        return true;
      })
      .reply(200, answer, JSON_TYPE);
    const tokens = await exchangeSalesforceCode(APP, 'code-1', 'verifier-1');
    scope.done();
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'authorization_code',
      code: 'code-1',
      client_id: 'client-id',
      client_secret: 'client-secret',
      redirect_uri: APP.redirectUri,
      code_verifier: 'verifier-1',
    });
    expect(tokens).toEqual({
      accessToken: 'access-1',
      refreshToken: 'refresh-1',
      instanceUrl: INSTANCE,
      orgId: ORG_ID,
      userId: INSTALLER_ID,
      issuedAt: 1767225600000,
    });
    expect(decodeSalesforceTokens(encodeSalesforceTokens(tokens))).toEqual(tokens);
  });

  it('refuses an install without a refresh token (scope or policy missing) as auth', async () => {
    const { refresh_token: _dropped, ...withoutRefresh } = answer;
    const scope = nock(LOGIN).post('/services/oauth2/token').reply(200, withoutRefresh, JSON_TYPE);
    await expect(exchangeSalesforceCode(APP, 'code-1', 'v')).rejects.toMatchObject({
      kind: 'auth',
      message: expect.stringContaining('refresh_token scope'),
    });
    scope.done();
  });

  it('answers auth for a reused or expired code', async () => {
    const scope = nock(LOGIN)
      .post('/services/oauth2/token')
      .reply(400, { error: 'invalid_grant', error_description: 'expired authorization code' }, JSON_TYPE);
    await expect(exchangeSalesforceCode(APP, 'old', 'v')).rejects.toMatchObject({
      kind: 'auth',
      details: { code: 'invalid_grant' },
    });
    scope.done();
  });
});

describe('readOrganizationName', () => {
  const tokens = { accessToken: 'access-1', instanceUrl: INSTANCE };

  it('reads the one Organization record with the new access token, as our client', async () => {
    const scope = nock(INSTANCE, {
      reqheaders: { authorization: 'Bearer access-1', 'sforce-call-options': 'client=lead-router' },
    });
    query(scope, (q) => q === 'SELECT Name FROM Organization', [
      record('Organization', { Name: '  Acme Corporation ' }),
    ]);
    expect(await readOrganizationName(tokens)).toBe('Acme Corporation');
    scope.done();
  });

  it('answers no name, never an error, for a refusal, an empty or a malformed answer', async () => {
    const scope = nock(INSTANCE);
    scope
      .get(`${API}/query`)
      .query(true)
      .reply(400, errorBody('INVALID_TYPE', "sObject type 'Organization' is not supported."), JSON_TYPE);
    query(scope, () => true, []);
    query(scope, () => true, [record('Organization', { Name: 42 })]);
    for (let i = 0; i < 3; i++) expect(await readOrganizationName(tokens)).toBeUndefined();
    scope.done();
  });
});

describe('parseIdentityUrl', () => {
  it('reads org and user ids, and refuses anything else', () => {
    expect(parseIdentityUrl(`https://test.salesforce.com/id/${ORG_ID}/${INSTALLER_ID}`)).toEqual({
      orgId: ORG_ID,
      userId: INSTALLER_ID,
    });
    expect(() => parseIdentityUrl('https://evil.example/id/x/y')).toThrow(/identity URL/);
  });
});
