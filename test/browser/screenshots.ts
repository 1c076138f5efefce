// `npm run screenshots`: the README's picture of each settings page (Rules, Simulate, Team, Activity,
// Reports, Health), taken in Debian's Chromium against the sandbox demo after it has routed some demo
// leads, at 1000 px wide, written to docs/screenshots/<page>.png and made small with pngquant when it is
// installed (`apt-get install pngquant`). Prints one JSON line with each file's size.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import { loadConfig } from '../../src/app/config.js';
import { CRM_CALLS_FLUSH_MS } from '../../src/pipeline/crm-call-tally.js';
import { startApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';
import { DecisionInputRepository } from '../../src/storage/index.js';

const CHROMIUM = '/usr/bin/chromium';
const PNGQUANT = '/usr/bin/pngquant';
const OUT = join('docs', 'screenshots');
const LEADS = 40;

if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
await mkdir(OUT, { recursive: true });
const dataDir = await mkdtemp(join(tmpdir(), 'lead-router-screenshots-'));
const app = await startApp(
  loadConfig({
    PORT: '0',
    SANDBOX_PORT: '0',
    DATA_DIR: dataDir,
    DEMO_RATE: '10',
    SETTINGS_SECRET: randomBytes(32).toString('hex'),
  }),
  { logger: createLogger({ silent: true }), sandbox: { webhookTiming: { batchWindowMs: 20 } } },
);
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const tenant = (await app.storage.findTenant('hubspot', app.sandbox!.portalId))!;
  const deadline = Date.now() + 60_000;
  const inputs = new DecisionInputRepository(app.storage.db);
  while ((await inputs.recent(tenant.id, LEADS)).length < LEADS) {
    if (Date.now() > deadline) throw new Error(`the demo routed fewer than ${LEADS} leads in 60 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const page = await browser.newPage({ viewport: { width: 1000, height: 760 }, deviceScaleFactor: 1 });
  const shoot = async (name: string, p: Page = page): Promise<string> => {
    const path = join(OUT, `${name}.png`);
    await p.screenshot({ path });
    if (existsSync(PNGQUANT))
      await promisify(execFile)(PNGQUANT, ['--quality=60-85', '--strip', '--force', '--output', path, path]);
    return path;
  };
  const go = async (name: string) => {
    await page.getByRole('link', { name, exact: true }).click();
    await page.waitForLoadState('networkidle');
  };

  await page.goto(app.settingsUrl!);
  await page.locator('#problems .ok').waitFor({ timeout: 30_000 });
  const shots = [await shoot('rules')];

  await go('Simulate');
  await page.getByLabel('How many recent leads').fill(String(LEADS));
  await page.getByRole('button', { name: 'Impact preview' }).click();
  await page.locator('#impact-summary').waitFor();
  await page.getByRole('button', { name: 'Simulate' }).click();
  await page.locator('#decisions table').waitFor();
  shots.push(await shoot('simulate'));

  await go('Team');
  await page.locator('#pools svg').first().waitFor();
  await page.locator('#pools-h').scrollIntoViewIfNeeded();
  shots.push(await shoot('team'));

  await go('Activity');
  await page.locator('#results table').waitFor();
  await page.locator('#results button').first().click();
  await page.locator('pre.trace').first().waitFor();
  shots.push(await shoot('activity'));

  await go('Reports');
  await page.locator('#status', { hasText: 'Reports for' }).waitFor();
  shots.push(await shoot('reports'));

  await go('Health');
  // Processes add their CRM call counts to the database every CRM_CALLS_FLUSH_MS: until the first
  // flush the page honestly shows none, which is not the picture of a working deployment.
  const calls = page.locator('#crm p', { hasText: 'CRM calls in the last' });
  const flushed = Date.now() + CRM_CALLS_FLUSH_MS * 3;
  while (/: 0 ok/.test(await calls.innerText())) {
    if (Date.now() > flushed) throw new Error('no CRM call counts reached the Health page');
    await new Promise((r) => setTimeout(r, 1_000));
    await page.reload();
    await page.waitForLoadState('networkidle');
  }
  shots.push(await shoot('health'));

  const sizes = Object.fromEntries(
    await Promise.all(shots.map(async (s) => [s, (await stat(s)).size] as const)),
  );
  console.log(JSON.stringify({ screenshots: sizes, width: 1000, optimized: existsSync(PNGQUANT) }));
} finally {
  await browser.close();
  await app.stop();
  await rm(dataDir, { recursive: true, force: true });
}
