// What a listed HubSpot app owes its customers, end to end over the sandbox CRM: a privacy deletion
// leaves nothing about the contact in the raw database (SQLite and PostgreSQL); an uninstall stops the
// portal's work and deletes its tokens, and a reinstall started on the Marketplace resumes it.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type AppConfig } from '../../src/app/config.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { listTenants } from '../../src/cli/operate.js';
import { createLogger } from '../../src/log.js';
import { CALLBACK_PATH } from '../../src/server/index.js';
import type { Db } from '../../src/storage/index.js';
import { describeNeeding, type SuiteFn } from '../support/services.js';
import { pgAppEnv, until, type PgAppEnv } from './pg-support.js';

const logger = createLogger({ silent: true });

async function sqliteConfig(): Promise<{ config: AppConfig; cleanup(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lead-router-e2e-market-'));
  return {
    config: loadConfig({ PORT: '0', SANDBOX_PORT: '0', DATA_DIR: dataDir, DEMO_RATE: '0' }),
    cleanup: () => Promise.resolve(),
  };
}

async function pgConfig(): Promise<{ config: AppConfig; cleanup(): Promise<void> }> {
  const env: PgAppEnv = await pgAppEnv();
  return { config: env.config, cleanup: () => env.cleanup() };
}

async function start(config: AppConfig): Promise<RunningApp> {
  return startApp(config, {
    logger,
    generate: false,
    sandbox: { webhookTiming: { retryScale: 0.001, batchWindowMs: 20 } },
  });
}

/** Every row of every table of the app, as text (the encrypted token blob aside: it is ciphertext). */
async function rawDatabase(db: Db): Promise<string[]> {
  const tables =
    db.dialect.name === 'sqlite'
      ? await db.all<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
      : await db.all<{ name: string }>(
          'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()',
        );
  expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['decisions', 'inbox', 'actions']));
  const cells: string[] = [];
  for (const { name } of tables) {
    for (const row of await db.all<Record<string, unknown>>(`SELECT * FROM ${name}`)) {
      for (const [column, value] of Object.entries(row)) {
        if (name === 'tenants' && column === 'token_blob') continue;
        if (value === null) continue;
        cells.push(`${name}.${column}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
      }
    }
  }
  return cells;
}

const PERSON = {
  firstname: 'Zephyrine',
  lastname: 'Quillfeather',
  email: 'zephyrine.quillfeather@umbral-widgets.example',
  company: 'Umbral Widgets Zq',
  country: 'DE',
  numemployees: '1000',
  demo_requested: 'true',
  jobtitle: 'Head of Nowhere',
};

function privacyDeletionSuite(
  suite: SuiteFn,
  engine: string,
  makeConfig: () => Promise<{ config: AppConfig; cleanup(): Promise<void> }>,
): void {
  suite(`a privacy deletion on ${engine}`, () => {
    let app: RunningApp;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      const made = await makeConfig();
      cleanup = made.cleanup;
      app = await start(made.config);
    });
    afterAll(async () => {
      await app.stop();
      await cleanup();
    });

    it('leaves nothing about the contact in any table, only counts', async () => {
      const sandbox = app.sandbox!;
      const portal = sandbox.crm.portal(Number(sandbox.portalId));
      const [tenant] = await app.storage.listTenants();
      const tenantId = tenant!.id;
      // Someone else routed too: their data must stay.
      const [other] = sandbox.demo.createContacts(1, 'generator');
      const contact = portal.createObject('contacts', PERSON, 'generator');
      const id = contact.id;

      await until('both contacts to be routed and their notes written', async () => {
        const decided = await app.storage.decisionsFor(tenantId, { leadId: id }, 5);
        const otherDecided = await app.storage.decisionsFor(tenantId, { leadId: other!.id }, 5);
        const notes = await app.storage.plannedActionsOfKind('write_note', 10);
        const stats = await app.storage.inboxStats(tenantId);
        return decided.length > 0 && otherDecided.length > 0 && notes.length === 0 && stats.pending === 0;
      });
      await sandbox.crm.webhooks.idle();
      // A hold of the same lead (rules with holds keep one while fields are missing).
      await app.storage.placeHold(tenantId, {
        leadId: id,
        route: 'wait for size',
        fields: ['employees'],
        since: Date.now(),
        until: Date.now() + 60_000,
      });

      const needles = [PERSON.email, PERSON.firstname, PERSON.lastname, PERSON.company, PERSON.jobtitle];
      const idPattern = new RegExp(`(?<![\\d.])${id}(?![\\d])`);
      const mentions = (cells: string[]) =>
        cells.filter(
          (c) => needles.some((n) => c.toLowerCase().includes(n.toLowerCase())) || idPattern.test(c),
        );
      // The witness works: before the deletion the contact is all over the database.
      const before = mentions(await rawDatabase(app.storage.db));
      expect(before.some((c) => c.startsWith('decisions.email='))).toBe(true);
      expect(before.some((c) => c.startsWith('inbox.payload='))).toBe(true);
      expect(before.some((c) => c.startsWith('actions.payload=') && c.includes(PERSON.company))).toBe(true);
      expect(before.some((c) => c.startsWith('holds.lead_id='))).toBe(true);

      const res = await fetch(
        `${sandbox.url}/_sandbox/portals/${sandbox.portalId}/contacts/${id}/privacy-deletion`,
        {
          method: 'POST',
        },
      );
      expect(await res.json()).toEqual({ events: 1 });
      await until('the deletion to be done', async () => {
        await sandbox.crm.webhooks.idle();
        return (await app.storage.privacyDeletionStats(tenantId)).requests >= 1;
      });

      expect(mentions(await rawDatabase(app.storage.db))).toEqual([]);
      const kept = await app.storage.privacyDeletionStats(tenantId);
      expect(kept.rows).toBeGreaterThan(0);
      // The other contact's routing is untouched.
      expect(await app.storage.decisionsFor(tenantId, { leadId: other!.id }, 5)).toHaveLength(1);
      // The webhook was answered 2xx: HubSpot has nothing to retry.
      expect(sandbox.crm.webhooks.deadLetters).toEqual([]);
    });
  });
}

privacyDeletionSuite(describe, 'SQLite', sqliteConfig);
privacyDeletionSuite(describeNeeding(['postgres', 'redis']), 'PostgreSQL', pgConfig);

describe('an uninstall, then a reinstall from the Marketplace', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await start((await sqliteConfig()).config);
  });
  afterAll(() => app.stop());

  it('stops the portal’s work, deletes its tokens, and resumes with its rules on reinstall', async () => {
    const sandbox = app.sandbox!;
    const portalId = Number(sandbox.portalId);
    const [tenant] = await app.storage.listTenants();
    const tenantId = tenant!.id;
    const rules = tenant!.activeRulesetVersion;
    const clientId = sandbox.crm.tokens.apps[0]!.clientId;
    const ownerWrites = () =>
      new Set(sandbox.crm.writes.list({ portalId, kind: 'owner.set', source: 'api' }).map((w) => w.objectId));

    const [first] = sandbox.demo.createContacts(1);
    await until('the first contact to be routed', () => Promise.resolve(ownerWrites().has(first!.id)));
    // Wait for its task and note too: a write of the first lead refused after the uninstall would reveal the
    // uninstall before the second contact's webhook arrives, and that webhook would then (rightly) not enqueue.
    await until('the first contact to be settled', async () => {
      const stats = await app.storage.inboxStats(tenantId);
      return stats.pending === 0 && stats.leased === 0 && stats.done > 0;
    });

    // Connected Apps → Uninstall: every token of the app for the portal stops working.
    const un = await fetch(`${sandbox.url}/_sandbox/portals/${portalId}/uninstall?client_id=${clientId}`, {
      method: 'POST',
    });
    expect(un.status).toBe(200);

    // The next lead's work meets a refused token; the refresh answers BAD_REFRESH_TOKEN: uninstalled.
    const [second] = sandbox.demo.createContacts(1);
    await until('the tenant to be marked uninstalled', async () => {
      return (await app.storage.getTenant(tenantId))?.uninstalledAt !== null;
    });
    const marked = (await app.storage.getTenant(tenantId))!;
    expect(marked.hasToken).toBe(false);
    expect(await app.storage.getTenantToken(tenantId)).toBeNull();
    const row = await app.storage.db.get<{ token_blob: string | null }>(
      'SELECT token_blob FROM tenants WHERE id = ?',
      [tenantId],
    );
    expect(row?.token_blob).toBeNull();
    // Its lead waits instead of dying.
    await until('the waiting lead to be released by the worker', async () => {
      const stats = await app.storage.inboxStats(tenantId);
      return stats.leased === 0 && stats.pending > 0;
    });
    expect(await app.storage.deadLetters(tenantId)).toEqual([]);
    expect(ownerWrites().has(second!.id)).toBe(false);

    // Webhooks for the portal are answered 2xx, and nothing more is enqueued.
    const inboxBefore = await app.storage.inboxStats(tenantId);
    const attemptsBefore = sandbox.crm.webhooks.attempts.length;
    const [third] = sandbox.demo.createContacts(1);
    await until('the webhook for the third contact to be answered', async () => {
      await sandbox.crm.webhooks.idle();
      return sandbox.crm.webhooks.attempts.length > attemptsBefore;
    });
    const answered = sandbox.crm.webhooks.attempts.slice(attemptsBefore);
    expect(answered.every((a) => a.outcome === 200)).toBe(true);
    expect(await app.storage.inboxStats(tenantId)).toEqual(inboxBefore);

    // /metrics and the CLI say so.
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/lead_router_tenants\{state="uninstalled"\} 1/);
    expect(metrics).toMatch(/lead_router_tenants\{state="installed"\} 0/);
    const listing = await listTenants(app.storage);
    expect(listing.join('\n')).toMatch(
      new RegExp(`${tenantId} hubspot portal ${portalId}: uninstalled since`),
    );

    // Reinstall from the Marketplace listing: code + returnUrl, back on the listing's return page.
    const install = new URL(`${sandbox.url}/_sandbox/marketplace/install`);
    install.searchParams.set('client_id', clientId);
    install.searchParams.set('portalId', String(portalId));
    install.searchParams.set('install_url', app.url + CALLBACK_PATH);
    const landed = await fetch(install, { redirect: 'follow' });
    expect(landed.status).toBe(200);
    expect(new URL(landed.url).pathname).toBe('/marketplace/installed');

    const back = (await app.storage.getTenant(tenantId))!;
    expect(back).toMatchObject({ uninstalledAt: null, hasToken: true, activeRulesetVersion: rules });
    expect(await app.storage.listTenants()).toHaveLength(1);
    // The waiting lead is routed now; the third was never enqueued (HubSpot had its 2xx).
    app.worker?.wake();
    await until('the waiting lead to be routed after the reinstall', () =>
      Promise.resolve(ownerWrites().has(second!.id)),
    );
    expect(ownerWrites().has(third!.id)).toBe(false);
    expect(await listTenants(app.storage)).toEqual([expect.stringContaining(': installed;')]);
  });
});
