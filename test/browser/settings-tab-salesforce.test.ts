// The settings tab of a Salesforce org in a real browser (Debian's Chromium through playwright-core)
// against the whole app in CRM=salesforce sandbox mode: opened as Salesforce opens a canvas app (its
// signed request posted into the frame), the Rules page shows the org's published rules, and a lead
// created in the org is found in Activity with the trace of its routing; on SQLite and on PostgreSQL + Redis.
// Screenshots land in test-results/settings/salesforce-<store>/.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { DEMO_ORG_NAME } from '../../connectors/sandbox-salesforce/index.js';
import { CRM_OPEN_PATH } from '../../src/settings/index.js';
import {
  canvasSignedRequest,
  createLeads,
  routed,
  salesforceConfig,
  startSalesforceApp,
  type SalesforceE2e,
} from '../e2e/salesforce-support.js';
import { chromiumHere, launchChromium, openInActivity, until } from './chromium.js';
import { STORES } from './stores.js';

for (const store of STORES) {
  const SHOTS = join('test-results', 'settings', `salesforce-${store.dir}`);
  const suite = chromiumHere ? store.suite : describe.skip;

  suite(`the settings tab of a Salesforce org in Chromium on ${store.name}`, () => {
    jest.setTimeout(180_000);
    let cleanup: (() => Promise<void>) | undefined;
    let e: SalesforceE2e;
    let browser: Browser;
    let page: Page;
    const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

    beforeAll(async () => {
      await mkdir(SHOTS, { recursive: true });
      const where = await store.env();
      cleanup = where.cleanup;
      e = await startSalesforceApp(
        await salesforceConfig({ ...where.env, SETTINGS_SECRET: randomBytes(32).toString('hex') }),
      );
      browser = await launchChromium();
      page = await browser.newPage();
    });
    afterAll(async () => {
      await browser?.close();
      await e?.app.stop();
      await cleanup?.();
    });

    it("opened from Salesforce, shows the org's published rules and a lead routed in the org with its trace", async () => {
      // What Salesforce does when a user opens the canvas app: posts the signed request into the frame.
      // (A signed request is base64 and dots: nothing to escape in the attribute.)
      await page.setContent(
        `<form method="post" action="${e.app.url}${CRM_OPEN_PATH}"><input type="hidden" name="signed_request" value="${canvasSignedRequest(e, 'ada@acme.io')}"><button>Open lead-router</button></form>`,
      );
      await page.getByRole('button', { name: 'Open lead-router' }).click();
      await page.waitForSelector('.cm-content');
      expect(page.url()).toBe(`${e.app.url}/settings/${e.tenantId}/rules`);
      // The org by its name (read at install), not by its id.
      expect(await page.title()).toBe(`Rules · ${DEMO_ORG_NAME} · lead-router`);
      expect(await page.locator('header strong').textContent()).toBe(`lead-router · ${DEMO_ORG_NAME}`);
      const active = (await e.app.storage.activeRuleset(e.tenantId))!;
      expect(await page.locator('.cm-content').textContent()).toContain('name: Salesforce demo org');
      await page.locator('#history', { hasText: 'installed with' }).waitFor();
      expect(await page.locator('#history').textContent()).toContain(active.version);
      await shot('rules');

      const email = 'greta@grossbau-salesforce.de';
      const [id] = await createLeads(e, {
        leads: [
          {
            FirstName: 'Greta',
            LastName: 'Gross',
            Company: 'Grossbau',
            Email: email,
            Country: 'DE',
            NumberOfEmployees: 1200,
            Demo_Requested__c: true,
          },
        ],
      });
      await until('the lead to be routed', () => routed(e, [id!]));
      const [decision] = await e.app.storage.decisionsFor(e.tenantId, { email });
      const trace = (await (await openInActivity(page, email)).textContent()) ?? '';
      expect(trace).toContain('Enterprise demo requests in DACH');
      expect(trace).toContain(active.version);
      expect(trace).toContain(`<${decision!.owner!}>`);
      expect(trace).toContain('emea-ae');
      // The condition as the rules name it: the org's custom field, read from the lead in Salesforce.
      expect(trace).toContain('Demo_Requested__c = true [Demo_Requested__c=true]');
      await shot('activity');
    });
  });
}
