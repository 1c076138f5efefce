// The connector contract suite against the Salesforce connector over the Salesforce sandbox (real HTTP,
// the real jsforce client), installed through the OAuth web-server flow with PKCE like a real org.
import { Connection } from 'jsforce';
import {
  exchangeSalesforceCode,
  salesforceAuthorizeUrl,
  SalesforceSession,
  type SalesforceTokenSet,
} from '../../connectors/salesforce/auth.js';
import { SalesforceConnector } from '../../connectors/salesforce/connector.js';
import { SALESFORCE_PROFILE } from '../../connectors/salesforce/profile.js';
import { idChecksum } from '../../connectors/salesforce/soql.js';
import {
  createSalesforceSandbox,
  type SalesforceSandbox,
} from '../../connectors/sandbox-salesforce/index.js';
import { sandboxApp } from '../sandbox-salesforce/support.js';
import { LimiterFactory } from '../../connectors/shared/limiter.js';
import { connectorContract } from './connector-suite.js';

const limiters = new LimiterFactory({
  provider: 'salesforce-contract-suite',
  buckets: SALESFORCE_PROFILE.buckets,
});
let sandbox: SalesforceSandbox | undefined;

afterAll(async () => {
  await sandbox?.stop();
  await limiters.disconnectAll();
});

/** A well-formed id of `prefix` that the org does not hold. */
const absent = (prefix: string): string => {
  const id15 = `${prefix}zz0ZZZZZZZZZ`;
  return id15 + idChecksum(id15);
};

connectorContract('Salesforce', async () => {
  const sf = createSalesforceSandbox({ seed: 21 });
  sandbox = sf;
  const demo = sf.createDemoOrg({ accounts: 12 });
  const { url } = await sf.start();
  const app = sandboxApp(url);
  // Install: authorize (the sandbox logs in its integration user), then exchange with the verifier.
  const { url: authorize, codeVerifier } = salesforceAuthorizeUrl(app, 'state-1');
  const redirect = await fetch(authorize, { redirect: 'manual' });
  const code = new URL(redirect.headers.get('location') ?? '').searchParams.get('code');
  if (code === null) throw new Error(`the sandbox gave no code: ${redirect.status}`);
  const saved: SalesforceTokenSet[] = [];
  const tokens = await exchangeSalesforceCode(app, code, codeVerifier);
  if (tokens.orgId !== demo.org.orgId) throw new Error('installed into the wrong org');
  const session = new SalesforceSession({
    app,
    tokens,
    store: {
      load: () => Promise.resolve(saved.at(-1) ?? null),
      save: (_o, t) => (saved.push(t), Promise.resolve()),
    },
  });
  const record = (id: string) => demo.org.get(id);
  const account = demo.accounts.find(
    (a) => typeof a['Website'] === 'string' && typeof a['OwnerId'] === 'string',
  );
  if (account === undefined) throw new Error('the demo org has no owned account with a website');
  const accountOwner = demo.org.get(String(account['OwnerId']));
  return {
    connector: new SalesforceConnector({
      session,
      limiter: limiters.forPortal(demo.org.orgId),
      retry: { baseDelayMs: 10, maxAttempts: 3 },
    }),
    createLeads: (n) => Promise.resolve(demo.createLeads(n).map((l) => String(l['Id']))),
    emailOf: (id) => Promise.resolve(String(record(id)?.['Email'] ?? '')),
    ownerIdOf: (id) => Promise.resolve(record(id)?.['OwnerId'] as string | undefined),
    missingId: absent('00Q'),
    unknownOwnerId: absent('005'),
    knownAccount: {
      domain: new URL(String(account['Website']).replace(/^(?!https?:)/, 'https://')).hostname.replace(
        /^www\./,
        '',
      ),
      ownerEmail: String(accountOwner?.['Email'] ?? '').toLowerCase(),
    },
    ownerEmail: 'ada@acme.io',
    sequenceName: 'Enterprise demo follow-up',
    touch: async (id, owner) => {
      // The rep logs a completed call on the lead, as themselves.
      const rep = sf.issueToken(demo.org.orgId, owner.id);
      const conn = new Connection({ instanceUrl: url, accessToken: rep.token, version: '62.0' });
      await conn
        .sobject('Task')
        .create({ WhoId: id, Subject: 'Call', Status: 'Completed', OwnerId: owner.id });
    },
    failNext: (kind, count) => sf.faults.failNext(kind, count),
    now: Date.now(),
  };
});
