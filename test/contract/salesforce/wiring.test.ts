// The app's Salesforce wiring over the sandbox: a tenant's connector on the tokens stored (encrypted) in
// its row; with refresh-token rotation on, each rotated refresh token is stored, so a new process can
// refresh again with it; a revoked grant is told apart from other failures, and from a refusal by the
// org's policy, which pauses the org and has its stream wait.
import { randomBytes } from 'node:crypto';
import { OAuth2 } from 'jsforce';
import type { SalesforceApp } from '../../../connectors/salesforce/auth.js';
import { SALESFORCE_PROFILE } from '../../../connectors/salesforce/profile.js';
import { Keyring } from '../../../connectors/shared/crypto.js';
import { LimiterFactory } from '../../../connectors/shared/limiter.js';
import {
  createSalesforceSandbox,
  type SalesforceSandbox,
} from '../../../connectors/sandbox-salesforce/index.js';
import { sandboxApp } from '../../sandbox-salesforce/support.js';
import { crmErrorFromJsforce } from '../../../connectors/salesforce/errors.js';
import {
  isRevokedSalesforceGrant,
  salesforcePolicyRefusal,
  salesforceTokenStore,
  salesforceWiring,
} from '../../../src/app/salesforce.js';
import { openStorage, type Storage, type Tenant } from '../../../src/storage/index.js';

let sf: SalesforceSandbox;
let url: string;
let storage: Storage;
let tenant: Tenant;
let app: SalesforceApp;
const limiters = new LimiterFactory({ provider: 'salesforce-wiring', buckets: SALESFORCE_PROFILE.buckets });

beforeAll(async () => {
  sf = createSalesforceSandbox({ seed: 9 });
  const demo = sf.createDemoOrg({ accounts: 3 });
  ({ url } = await sf.start());
  app = sandboxApp(url);
  storage = await openStorage({ file: ':memory:', cipher: new Keyring(randomBytes(32)), now: () => 1 });
  tenant = await storage.createTenant(
    { provider: 'salesforce', externalId: demo.org.orgId, name: 'Demo' },
    1,
  );
  const issued = sf.issueToken(demo.org.orgId, demo.integrationUserId);
  await salesforceTokenStore(storage, () => 1).save(demo.org.orgId, {
    accessToken: issued.token,
    refreshToken: issued.refreshToken ?? '',
    instanceUrl: url,
    orgId: demo.org.orgId,
    userId: demo.integrationUserId,
    issuedAt: 1,
  });
  await fetch(`${url}/_sandbox/oauth`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rotateRefreshTokens: true }),
  });
});
afterAll(async () => {
  await sf.stop();
  await storage.close();
  await limiters.disconnectAll();
});

const wiring = () => salesforceWiring({ storage, app, limiters, clock: () => 5 });
const failed: { error: unknown; revoked: boolean }[] = [];
const hooks = {
  failed: (error: unknown, revoked: boolean): Promise<never> => {
    failed.push({ error, revoked });
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  },
};
const stored = async () => (await salesforceTokenStore(storage, () => 1).load(tenant.externalId))!;
const expire = () => fetch(`${url}/_sandbox/orgs/${tenant.externalId}/tokens/expire`, { method: 'POST' });

it('stores each rotated refresh token, so the next process refreshes with it', async () => {
  const first = await stored();
  expect(await wiring().connect(tenant, hooks).connector.checkConnection()).toEqual({ ok: true });
  await expire();
  expect(await wiring().connect(tenant, hooks).connector.checkConnection()).toEqual({ ok: true });
  const second = await stored();
  expect(second.refreshToken).not.toBe(first.refreshToken);
  // A new process (a fresh wiring) on the stored set: the old refresh token is dead, the rotated one works.
  await expire();
  expect(await wiring().connect(tenant, hooks).connector.checkConnection()).toEqual({ ok: true });
  expect((await stored()).refreshToken).not.toBe(second.refreshToken);
  expect(failed).toEqual([]);
});

it('two processes on one org with rotation on: each goes on after the other refreshed, and after both refreshed at once', async () => {
  const a = wiring().connect(tenant, hooks).connector;
  const b = wiring().connect(tenant, hooks).connector;
  expect([await a.checkConnection(), await b.checkConnection()]).toEqual([{ ok: true }, { ok: true }]);
  // A refreshes (rotating the refresh token both held); B then meets the expired session: it takes the
  // set A stored instead of refreshing with the retired token.
  await expire();
  expect(await a.checkConnection()).toEqual({ ok: true });
  expect(await b.checkConnection()).toEqual({ ok: true });
  // Now B refreshes first, and A follows.
  await expire();
  expect(await b.checkConnection()).toEqual({ ok: true });
  expect(await a.checkConnection()).toEqual({ ok: true });
  // Both at once, several calls each: one refresh wins, the loser takes the winner's stored set.
  await expire();
  const answers = await Promise.all([a, b, a, b, a].map((c) => c.checkConnection()));
  expect(answers).toEqual(answers.map(() => ({ ok: true })));
  // Whoever comes next (a new process on the stored set) still holds a live grant.
  await expire();
  expect(await wiring().connect(tenant, hooks).connector.checkConnection()).toEqual({ ok: true });
  expect(failed).toEqual([]);
});

it("pauses the org when its stream's refresh is refused by the org's policy, and has the stream wait for the org's next check", async () => {
  const orgId = tenant.externalId;
  await fetch(`${url}/_sandbox/orgs/${orgId}/tokens/refuse`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ description: 'ip restricted or invalid login hours' }),
  });
  await expire();
  const reasons: string[] = [];
  const intake = await wiring().pulledIntake(tenant, {
    paused: (reason) => {
      reasons.push(reason);
      return Promise.resolve(5 + 60_000);
    },
  });
  const warnings: { message: string; meta: Record<string, unknown> | undefined }[] = [];
  const stream = intake.open(
    '/data/LeadChangeEvent',
    null,
    { deliver: () => Promise.resolve(true) },
    { info: () => undefined, warn: (message, meta) => warnings.push({ message, meta }) },
  );
  try {
    const deadline = Date.now() + 20_000;
    while (reasons.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(reasons).toEqual([
      "the org's policy refuses the token refresh: ip restricted or invalid login hours",
    ]);
    expect(warnings).toContainEqual({
      message: 'session refresh refused: the change-event stream waits',
      meta: expect.objectContaining({ waitMs: 60_000 }) as unknown,
    });
  } finally {
    await stream.close();
    await fetch(`${url}/_sandbox/orgs/${orgId}/tokens/refuse`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ description: null }),
    });
  }
});

it('tells a revoked grant from a live one', async () => {
  expect(await wiring().grantRevoked(tenant)).toBe(false);
  const oauth2 = new OAuth2({ loginUrl: url, clientId: app.clientId });
  await oauth2.revokeToken((await stored()).refreshToken);
  expect(await wiring().grantRevoked(tenant)).toBe(true);
});

it.each([
  ['expired access/refresh token', true],
  ['inactive user', true],
  ['IP restricted or invalid login hours', false],
  ["user hasn't approved this consumer", false],
])('a refresh refused with invalid_grant "%s": revoked (tokens deleted) %s', (description, revoked) => {
  // As jsforce's OAuth2 throws a token endpoint's error: its name is `error`, its message the description.
  const refused = Object.assign(new Error(description), { name: 'invalid_grant' });
  const error = crmErrorFromJsforce(refused, { call: 'token refresh', write: false });
  expect(error?.kind).toBe('auth');
  expect(isRevokedSalesforceGrant(error)).toBe(revoked);
  // Either the grant is gone (the uninstall) or the org's policy refuses it for now (the org pauses).
  expect(salesforcePolicyRefusal(error) === undefined).toBe(revoked);
});

it('hands a tenant without tokens to the credential hooks', async () => {
  const other = await storage.createTenant(
    { provider: 'salesforce', externalId: '00D8d0000000099AAA', name: 'X' },
    1,
  );
  const result = await wiring().connect(other, hooks).connector.checkConnection();
  expect(result).toMatchObject({ ok: false, error: { kind: 'auth' } });
  expect(failed.at(-1)).toMatchObject({ revoked: false });
});
