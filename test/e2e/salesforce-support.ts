// Shared by the Salesforce end-to-end tests: the app in CRM=salesforce sandbox mode (the Salesforce
// sandbox over real HTTP and CometD, installed through the real OAuth flow, jsforce as the client), and
// the sandbox's admin API (/_sandbox) and write log as the witness of "exactly once".
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from 'jsforce';
import { SALESFORCE_API_VERSION } from '../../connectors/salesforce/auth.js';
import { signCanvasRequest } from '../../connectors/salesforce/canvas.js';
import { targetEffects, type TargetEffects } from '../../connectors/sandbox-salesforce/index.js';
import { loadConfig, type AppConfig } from '../../src/app/config.js';
import { startApp, type RunningApp, type StartOptions } from '../../src/app/start.js';
import { capturingLogger } from '../support/logs.js';
import { CRM_OPEN_PATH } from '../../src/settings/crm-open.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function salesforceConfig(over: Record<string, string> = {}): Promise<AppConfig> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lead-router-sf-e2e-'));
  return loadConfig({
    CRM: 'salesforce',
    PORT: '0',
    SANDBOX_PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    DEMO_RATE: '0',
    ...over,
  });
}

export interface SalesforceE2e {
  app: RunningApp;
  /** The app's log lines. */
  logs: string[];
  tenantId: string;
  orgId: string;
  /** The sandbox's base URL (its REST API, CometD and /_sandbox admin API). */
  sandboxUrl: string;
}

/** Starts the app against a fresh Salesforce sandbox with its demo org installed and its stream read. */
export async function startSalesforceApp(
  config: AppConfig,
  options: Partial<StartOptions> = {},
): Promise<SalesforceE2e> {
  const { logger, lines } = capturingLogger();
  const app = await startApp(config, { logger, generate: false, ...options });
  const sf = app.salesforceSandbox;
  if (sf === undefined) throw new Error('CRM=salesforce started no Salesforce sandbox');
  const tenant = await app.storage.findTenant('salesforce', sf.orgId);
  if (tenant === null) throw new Error('the OAuth install created no tenant');
  const e = { app, logs: lines, tenantId: tenant.id, orgId: sf.orgId, sandboxUrl: sf.url };
  await subscribed(e, 1);
  return e;
}

/**
 * Starts the app as `startSalesforceApp` does, with a rule file and its team.yaml of the test's own (and
 * more of the environment, `env`, or start options).
 */
export async function startSalesforceAppWith(
  files: { rules: string; team: string },
  options: Partial<StartOptions> = {},
  env: Record<string, string> = {},
): Promise<SalesforceE2e> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-sf-rules-'));
  await writeFile(join(dir, 'rules.yaml'), files.rules);
  await writeFile(join(dir, 'team.yaml'), files.team);
  return startSalesforceApp(await salesforceConfig({ ...env, RULES: join(dir, 'rules.yaml') }), options);
}

/** How often the app logged a subscription to the tenant's `channel`. */
export function subscriptions(e: Pick<SalesforceE2e, 'logs' | 'tenantId'>, channel: string): number {
  return e.logs.filter(
    (l) =>
      l.includes('"subscribed to change events"') &&
      l.includes(`"channel":"${channel}"`) &&
      l.includes(e.tenantId),
  ).length;
}

/**
 * Waits for the `n`th subscription of the org's Lead and Contact streams: a stream subscribed for new
 * events only does not see what was created before, so a test creates its leads after this.
 */
export async function subscribed(e: Pick<SalesforceE2e, 'logs' | 'tenantId'>, n: number): Promise<void> {
  const count = (channel: string) => subscriptions(e, channel);
  await until(
    `subscription ${n} of the change-event streams`,
    () => count('/data/LeadChangeEvent') >= n && count('/data/ContactChangeEvent') >= n,
    60_000,
  );
}

/** Calls the sandbox's admin API; a refusal fails the test with the sandbox's answer. */
export async function admin<T = unknown>(sandboxUrl: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sandboxUrl}/_sandbox${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`/_sandbox${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Leads created as the org's web forms would (`count` demo leads) or with these fields. */
export async function createLeads(
  e: Pick<SalesforceE2e, 'sandboxUrl' | 'orgId'>,
  body: { count: number } | { leads: Record<string, unknown>[] },
): Promise<string[]> {
  return (await admin<{ ids: string[] }>(e.sandboxUrl, `/orgs/${e.orgId}/leads`, body)).ids;
}

/** The write log's witness per lead: owners set by request, tasks, cadence enrollments (by the app). */
export function effects(e: SalesforceE2e): TargetEffects {
  return targetEffects(e.app.salesforceSandbox!.crm.writes, e.orgId);
}

/** Every lead has an owner and a task written by the app, and the inbox is settled. */
export async function routed(e: SalesforceE2e, ids: readonly string[]): Promise<boolean> {
  const w = effects(e);
  if (!ids.every((id) => w.owners.has(id) && w.tasks.has(id))) return false;
  const s = await e.app.storage.inboxStats(e.tenantId);
  return s.pending === 0 && s.leased === 0;
}

/** Polls until `check` holds; fails naming `what` past the (generous) deadline. */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Leads with more than one owner write, task or enrollment by the app. */
export function duplicated(w: TargetEffects, ids: readonly string[]): string[] {
  return ids.filter(
    (id) =>
      (w.owners.get(id)?.length ?? 0) > 1 ||
      (w.tasks.get(id)?.length ?? 0) > 1 ||
      (w.cadences.get(id)?.length ?? 0) > 1,
  );
}

/** A REST session on the org as one of its users (jsforce, as any API client). */
export function restAs(e: SalesforceE2e, userId: string): Connection {
  const sf = e.app.salesforceSandbox!;
  const session = sf.crm.issueToken(e.orgId, userId);
  return new Connection({ instanceUrl: sf.url, accessToken: session.token, version: SALESFORCE_API_VERSION });
}

/** The org's connected app as the sandbox registered it for this app (its consumer secret signs canvas). */
function connectedApp(e: Pick<SalesforceE2e, 'app'>) {
  const apps = [...e.app.salesforceSandbox!.crm.tokens.apps.values()];
  const ours = apps.find((a) => a.redirectUris.some((uri) => uri.startsWith(e.app.url)));
  if (ours?.clientSecret === undefined)
    throw new Error('the sandbox registered no connected app for the app');
  return { ...ours, clientSecret: ours.clientSecret };
}

/**
 * What Salesforce posts (form field `signed_request`) into the canvas app's frame when one of the org's
 * users opens it: the org and user, signed with the connected app's consumer secret.
 */
export function canvasSignedRequest(e: Pick<SalesforceE2e, 'app' | 'orgId'>, email: string): string {
  return signCanvasRequest(
    {
      algorithm: 'HMACSHA256',
      issuedAt: null,
      userId: '005000000000001AAA',
      client: { oauthToken: 'not-kept', instanceUrl: e.app.salesforceSandbox!.url },
      context: {
        user: { userName: `${email}.sandbox`, email },
        organization: { organizationId: e.orgId, name: 'Demo org' },
      },
    },
    connectedApp(e).clientSecret,
  );
}

/**
 * Opens the org's settings tab as one of its users does inside Salesforce: the canvas request posted to
 * the tab's URL, and the signed link it answers followed. The tenant's session cookie and CSRF token.
 */
export async function openSettingsInSalesforce(
  e: Pick<SalesforceE2e, 'app' | 'orgId' | 'tenantId'>,
  email = 'admin@acme.io',
): Promise<{ cookie: string; csrf: string; link: string }> {
  const canvas = await fetch(`${e.app.url}${CRM_OPEN_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ signed_request: canvasSignedRequest(e, email) }).toString(),
    redirect: 'manual',
  });
  const link = canvas.headers.get('location') ?? '';
  if (canvas.status !== 303 || link === '')
    throw new Error(`the canvas request was refused: ${canvas.status}`);
  const opened = await fetch(`${e.app.url}${link}`, { redirect: 'manual' });
  const cookie = (opened.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const page = await (
    await fetch(`${e.app.url}/settings/${e.tenantId}/rules`, { headers: { cookie } })
  ).text();
  return { cookie, csrf: /name="csrf-token" content="([^"]+)"/.exec(page)?.[1] ?? '', link };
}
