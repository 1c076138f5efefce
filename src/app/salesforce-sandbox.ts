// Sandbox mode with CRM=salesforce: the bundled Salesforce sandbox in-process, with a demo org (the
// same reps as the HubSpot demo portal) and a connected app registered for our callback URL. The app
// then installs the org through the real OAuth web-server flow with PKCE, as an admin's browser would.
import type { Server as NetServer } from 'node:net';
import {
  createSalesforceSandbox,
  type DemoOrg,
  type SalesforceSandbox,
  type SalesforceSandboxOptions,
} from '../../connectors/sandbox-salesforce/index.js';
import type { SalesforceApp } from './salesforce.js';
import { ConfigError } from './config.js';
import type { SandboxAppCredentials } from './data-dir.js';

export type { SalesforceSandboxOptions } from '../../connectors/sandbox-salesforce/index.js';

/** How long a sandbox access token lives: the sandbox's default session timeout. */
const SESSION_TTL_MS = 2 * 3_600_000;

export interface RunningSalesforceSandbox {
  crm: SalesforceSandbox;
  url: string;
  demo: DemoOrg;
  orgId: string;
  /** The connected app the sandbox registered for this app's callback URL. */
  app: SalesforceApp;
  /** The demo org was kept from an earlier run (`dataFile`), not created now. */
  resumed: boolean;
}

/**
 * Creates the sandbox with its demo org and a connected app whose callback is `redirectUri`, and starts
 * it on `port` (a port number, or a socket bound already).
 */
export async function startSalesforceSandbox(args: {
  port: number | NetServer;
  redirectUri: string;
  options?: SalesforceSandboxOptions | undefined;
  /** The connected app registered for lead-router (`sandboxAppCredentials`). */
  credentials: SandboxAppCredentials;
  /** Keep the sandbox's data in this file and continue from it (`npm start`: DATA_DIR). */
  dataFile?: string | undefined;
}): Promise<RunningSalesforceSandbox> {
  const { clientId, clientSecret } = args.credentials;
  const crm = createSalesforceSandbox({
    seed: 7,
    ...(args.dataFile === undefined ? {} : { dataFile: args.dataFile }),
    ...args.options,
    apps: [
      {
        clientId,
        clientSecret,
        redirectUris: [args.redirectUri],
        rotateRefreshTokens: false,
        accessTokenTtlMs: SESSION_TTL_MS,
      },
      ...(args.options?.apps ?? []),
    ],
  });
  const kept = crm.demoOrgs()[0];
  const demo = kept ?? crm.createDemoOrg();
  let url: string;
  try {
    ({ url } = await crm.start(args.port));
  } catch (error) {
    await crm.stop();
    throw error;
  }
  return {
    crm,
    url,
    demo,
    orgId: demo.org.orgId,
    resumed: kept !== undefined,
    app: { clientId, clientSecret, redirectUri: args.redirectUri, loginUrl: url },
  };
}

/**
 * Walks the install as the admin's browser would: our install route (which sets the state cookie) →
 * the sandbox's consent page (approved at once as the org's integration user) → our callback, with the
 * cookie. fetch keeps no cookies, so the redirects are followed here.
 */
export async function installSalesforceThroughOAuth(installUrl: string): Promise<void> {
  const step = async (url: string, cookie?: string): Promise<Response> =>
    fetch(url, { redirect: 'manual', ...(cookie === undefined ? {} : { headers: { cookie } }) });
  const started = await step(installUrl);
  const cookie = (started.headers.get('set-cookie') ?? '').split(';')[0];
  const consent = started.headers.get('location');
  if (started.status !== 302 || consent === null || cookie === undefined || cookie === '')
    throw new ConfigError(`Salesforce sandbox install failed to start: ${started.status}`);
  const approved = await step(consent);
  const callback = approved.headers.get('location');
  if (approved.status !== 302 || callback === null)
    throw new ConfigError(
      `Salesforce sandbox consent failed: ${approved.status} ${(await approved.text()).slice(0, 200)}`,
    );
  const done = await step(callback, cookie);
  const text = await done.text();
  if (!done.ok)
    throw new ConfigError(`Salesforce sandbox install failed: ${done.status} ${text.slice(0, 200)}`);
}
