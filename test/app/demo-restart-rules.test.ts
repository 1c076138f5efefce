// The sandbox's demo portal routes with the rules npm start is given, and with what the settings tab
// published since: a restart with the same files keeps a version published in the tab; a restart with
// another rule file installs that one.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { bannerLines } from '../../src/app/banner.js';
import { loadConfig } from '../../src/app/config.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';
import { ruleSetVersion } from '../../src/rules/index.js';
import { TenantConfigRepository } from '../../src/storage/index.js';

const logger = createLogger({ level: 'error', stream: new Writable({ write: (_c, _e, done) => done() }) });

async function started(dataDir: string, rules: string): Promise<RunningApp> {
  const config = loadConfig({
    PORT: '0',
    SANDBOX_PORT: '0',
    DATA_DIR: dataDir,
    DEMO_RATE: '0',
    RULES: rules,
  });
  return startApp(config, { logger, generate: false });
}

/** Runs `check` on an app started on `dataDir`, then stops it, whatever the check does. */
async function withApp(
  dataDir: string,
  rules: string,
  check: (app: RunningApp) => Promise<void>,
): Promise<void> {
  const app = await started(dataDir, rules);
  try {
    await check(app);
  } finally {
    await app.stop();
  }
}

async function activeOf(app: RunningApp): Promise<{ version: string; by: string }> {
  const tenant = (await app.storage.findTenant('hubspot', app.sandbox!.portalId))!;
  const [latest] = await new TenantConfigRepository(app.storage.db).publications(tenant.id, 1);
  return { version: tenant.activeRulesetVersion!, by: latest!.publishedBy };
}

it('a restart keeps the rules the settings tab published, and installs a changed rule file', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'lead-router-demo-restart-'));
  const files = await mkdtemp(join(tmpdir(), 'lead-router-demo-rules-'));
  const rulesPath = join(files, 'rules.yaml');
  const source = await readFile('rules/hubspot-demo/rules.yaml', 'utf8');
  await writeFile(rulesPath, source);
  await writeFile(join(files, 'team.yaml'), await readFile('rules/hubspot-demo/team.yaml', 'utf8'));

  const edited = source.replace('name: HubSpot demo portal', 'name: HubSpot demo portal (edited in the tab)');
  await withApp(dataDir, rulesPath, async (app) => {
    expect(await activeOf(app)).toEqual({ version: ruleSetVersion(source), by: 'install' });
    expect(app.rules.publishedInTab).toBeUndefined();
    // An admin publishes an edit in the settings tab.
    const tenant = (await app.storage.findTenant('hubspot', app.sandbox!.portalId))!;
    const published = await new TenantConfigRepository(app.storage.db).publish(
      tenant.id,
      {
        rules: { version: ruleSetVersion(edited), name: 'edited', source: edited },
        publishedBy: 'ada@acme.io',
        note: 'edited in the tab',
      },
      Date.now(),
    );
    expect(published.status).toBe('published');
  });
  // Same files: the tab's version stays, and the banner says it routes with that, not with the file.
  await withApp(dataDir, rulesPath, async (app) => {
    expect(await activeOf(app)).toEqual({ version: ruleSetVersion(edited), by: 'ada@acme.io' });
    expect(app.rules.publishedInTab).toEqual({
      ruleSet: { version: ruleSetVersion(edited), name: 'edited' },
    });
    expect(bannerLines({ role: 'all', demoRate: 0 }, app, 1)).toContain(
      `  rules rule set ${ruleSetVersion(edited)} ("edited") with team ${join(files, 'team.yaml')}, as published in the settings tab: RULES=${rulesPath} unchanged since the install (a changed file is routed with at the next start)`,
    );
  });
  // A changed rule file is what the demo portal is started with now.
  const changed = source.replace('name: HubSpot demo portal', 'name: HubSpot demo portal (new file)');
  await writeFile(rulesPath, changed);
  await withApp(dataDir, rulesPath, async (app) => {
    expect(await activeOf(app)).toEqual({ version: ruleSetVersion(changed), by: 'install' });
    expect(app.rules.publishedInTab).toBeUndefined();
  });
}, 120_000);
