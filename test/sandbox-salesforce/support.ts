// Starts a Salesforce sandbox with a seeded demo org and connects the real jsforce client to it.
import { Connection } from 'jsforce';
import type { SalesforceApp, SalesforceTokenSet } from '../../connectors/salesforce/auth.js';
import {
  createSalesforceSandbox,
  DEFAULT_SF_APP,
  type DemoOrg,
  type SalesforceSandbox,
  type SalesforceSandboxOptions,
} from '../../connectors/sandbox-salesforce/index.js';

export const API_VERSION = '62.0';

export interface Running {
  sandbox: SalesforceSandbox;
  url: string;
  demo: DemoOrg;
  orgId: string;
  /** A jsforce connection as the integration user, with refresh through the sandbox's connected app. */
  connect(options?: { callOptions?: Record<string, string> }): Connection;
  admin(path: string, body: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

export async function startSandbox(options: SalesforceSandboxOptions = {}, accounts = 40): Promise<Running> {
  const sandbox = createSalesforceSandbox(options);
  const demo = sandbox.createDemoOrg({ accounts });
  const { url } = await sandbox.start();
  const orgId = demo.org.orgId;
  return {
    sandbox,
    url,
    demo,
    orgId,
    connect(opts = {}) {
      const session = sandbox.issueToken(orgId, demo.integrationUserId);
      return new Connection({
        oauth2: {
          loginUrl: url,
          clientId: DEFAULT_SF_APP.clientId,
          clientSecret: DEFAULT_SF_APP.clientSecret ?? '',
          redirectUri: DEFAULT_SF_APP.redirectUris[0] ?? '',
        },
        instanceUrl: url,
        accessToken: session.token,
        ...(session.refreshToken === undefined ? {} : { refreshToken: session.refreshToken }),
        version: API_VERSION,
        ...(opts.callOptions === undefined ? {} : { callOptions: opts.callOptions }),
      });
    },
    async admin(path, body) {
      const res = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.json();
    },
    stop: () => sandbox.stop(),
  };
}

/** The sandbox's connected app as lead-router's Salesforce session takes it. */
export function sandboxApp(url: string): SalesforceApp {
  return {
    clientId: DEFAULT_SF_APP.clientId,
    clientSecret: DEFAULT_SF_APP.clientSecret,
    redirectUri: DEFAULT_SF_APP.redirectUris[0] ?? '',
    loginUrl: url,
  };
}

/** Fresh tokens of the demo org's integration user, as an install stores them. */
export function integrationTokens(
  sandbox: SalesforceSandbox,
  demo: DemoOrg,
  url: string,
): SalesforceTokenSet {
  const issued = sandbox.issueToken(demo.org.orgId, demo.integrationUserId);
  return {
    accessToken: issued.token,
    refreshToken: issued.refreshToken ?? '',
    instanceUrl: url,
    orgId: demo.org.orgId,
    userId: demo.integrationUserId,
    issuedAt: 1,
  };
}
