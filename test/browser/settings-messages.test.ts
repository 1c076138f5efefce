// The settings tab's answers where the admin looks, in a real browser (Debian's Chromium) against the
// whole app over the sandbox CRM: a publication's and a rollback's outcome beside the Publish button and
// above the history; a refused team edit's reasons under its Save button, by field, read out as an
// alert; the impact preview's bars with a legend; a dead-lettered lead in Activity said to be one.
// Each message is checked to be in the window without scrolling (the page's status line is far below).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { RunningApp } from '../../src/app/start.js';
import { ruleSetVersion } from '../../src/rules/index.js';
import { TenantConfigRepository, type Tenant } from '../../src/storage/index.js';
import { chromiumHere, launchChromium, until } from './chromium.js';
import { startHubSpotTab, STORES } from './stores.js';

for (const store of STORES) {
  const suite = chromiumHere ? store.suite : describe.skip;
  suite(`the settings tab's messages in Chromium on ${store.name}`, () => {
    jest.setTimeout(180_000);
    let cleanup: (() => Promise<void>) | undefined;
    let app: RunningApp;
    let browser: Browser;
    let page: Page;
    let tenant: Tenant;

    beforeAll(async () => {
      const where = await store.env();
      cleanup = where.cleanup;
      app = await startHubSpotTab(where.env, randomBytes(32).toString('hex'));
      tenant = (await app.storage.findTenant('hubspot', app.sandbox!.portalId))!;
      browser = await launchChromium();
      page = await browser.newPage();
      await page.goto(app.settingsUrl!);
      await page.waitForSelector('.cm-content');
    });
    afterAll(async () => {
      await browser?.close();
      await app?.stop();
      await cleanup?.();
    });

    /**
     * The element is (or, once the page settles, comes) in the window as it is: seen without scrolling.
     * Evaluated as text: this suite's TypeScript has no DOM library.
     */
    const inView = async (id: string): Promise<boolean> => {
      const seen = () =>
        page.evaluate<boolean>(
          `(() => { const r = document.getElementById(${JSON.stringify(id)}).getBoundingClientRect();
            return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight + 0.5; })()`,
        );
      return until(`#${id} in view`, seen, 2000).then(
        () => true,
        () => false,
      );
    };
    const typeDraft = async (source: string) => {
      await page.click('.cm-content');
      await page.keyboard.press('Control+A');
      await page.keyboard.insertText(source);
    };

    it("rules: a publication's and a rollback's outcome are said beside Publish and above the history", async () => {
      const published = (await app.storage.activeRuleset(tenant.id))!;
      const publishMessage = page.locator('#publish-message');

      // No note: the API's reason, beside the note it is about (marked invalid).
      await page.getByRole('button', { name: 'Publish' }).click();
      await publishMessage.filter({ hasText: 'note: say why (a note is required)' }).waitFor();
      expect(await inView('publish-message')).toBe(true);
      expect(await page.getByLabel('Note for this publication').getAttribute('aria-invalid')).toBe('true');

      // A draft with errors: said there too, its errors listed just above.
      await typeDraft(published.source.replace('assign: { pool: emea-ae }', 'assign: { pool: emea-aee }'));
      await page.getByLabel('Note for this publication').fill('a typo');
      await page.getByRole('button', { name: 'Publish' }).click();
      await publishMessage.filter({ hasText: 'the rule set has errors' }).waitFor();
      expect(await inView('publish-message')).toBe(true);
      expect(await page.getByLabel('Note for this publication').getAttribute('aria-invalid')).toBeNull();

      const draft = published.source.replace('due: 15m', 'due: 20m');
      await typeDraft(draft);
      await page.locator('#problems .ok').waitFor({ timeout: 30_000 });
      await page.getByLabel('Note for this publication').fill('slower demo tasks');
      await page.getByRole('button', { name: 'Publish' }).click();
      await publishMessage.filter({ hasText: `Published ${ruleSetVersion(draft)}` }).waitFor();
      expect(await inView('publish-message')).toBe(true);

      const rollBack = page
        .getByRole('button', { name: new RegExp(`^Roll back to ${published.version}`) })
        .first();
      await rollBack.click();
      await page.locator('#history-message', { hasText: `Rolled back to ${published.version}` }).waitFor();
      expect(await inView('history-message')).toBe(true);
      expect((await app.storage.activeRuleset(tenant.id))?.version).toBe(published.version);
    });

    it("team: a refused edit's reasons are said under Save, by field, as an alert; a saved one names what changed", async () => {
      await page.getByRole('link', { name: 'Team' }).click();
      await page.getByLabel('Rep', { exact: true }).selectOption('mei@acme.io');
      const before = (await new TenantConfigRepository(app.storage.db).activeVersions(tenant.id))?.team;
      const alert = page.getByRole('alert').filter({ hasText: 'Not saved: the team would be invalid' });
      const ooo = page.getByLabel('Out of office (comma separated, e.g. 2026-12-23..2027-01-02)');
      const hours = page.getByLabel('Hours (comma separated, e.g. Mon-Fri 09:00-17:30)');
      const zone = page.getByLabel('Time zone');
      for (const [field, value, reason] of [
        [
          ooo,
          '2026-12-24..2026-12-20',
          'Out of office: date range "2026-12-24..2026-12-20" ends before it starts',
        ],
        [hours, 'weekdays 9-5', 'Hours: unknown day "weekdays"'],
        [zone, 'Europe/Londn', 'Time zone: unknown time zone'],
      ] as const) {
        await page.getByLabel('Rep', { exact: true }).selectOption('mei@acme.io');
        await field.fill(value);
        await page.getByRole('button', { name: 'Save and publish' }).click();
        await alert.filter({ hasText: reason }).waitFor();
        expect(await inView('rep-problems')).toBe(true);
        expect(await field.getAttribute('aria-invalid')).toBe('true');
      }
      // Nothing was published.
      expect((await new TenantConfigRepository(app.storage.db).activeVersions(tenant.id))?.team).toBe(before);

      // A valid edit: the form sends every field, the history's note names the two that changed, and the
      // warnings said with it name their file.
      await page.getByLabel('Rep', { exact: true }).selectOption('mei@acme.io');
      await ooo.fill('2026-12-24..2026-12-31');
      await page.getByLabel('Cap per day').fill('7');
      await page.getByRole('button', { name: 'Save and publish' }).click();
      const saved = page.locator('#rep-message', { hasText: 'Saved mei@acme.io' });
      await saved.waitFor();
      expect(await inView('rep-message')).toBe(true);
      expect(await page.locator('#rep-problems').textContent()).toBe('');
      expect(await ooo.getAttribute('aria-invalid')).toBeNull();
      expect(await saved.textContent()).toContain('Warning: team.yaml, line ');
      const [latest] = await new TenantConfigRepository(app.storage.db).publications(tenant.id);
      expect(latest?.note).toBe('team: mei@acme.io edited (outOfOffice, capPerDay)');
    });

    it("simulate: the impact preview's bars per rep have a legend saying which is Published and which Draft", async () => {
      await page.getByRole('link', { name: 'Simulate' }).click();
      await page.getByRole('button', { name: 'Impact preview' }).click();
      const legend = page.locator('#impact-legend');
      await legend.waitFor();
      expect(await legend.textContent()).toBe(
        'Bars per rep:  top, Published (the version routing uses now);  bottom, Draft.',
      );
      expect(await legend.locator('.bar.published').count()).toBe(1);
      expect(await legend.locator('.bar.draft').count()).toBe(1);
      expect(await legend.isVisible()).toBe(true);
    });

    it('activity: a lead whose work was dead-lettered is said to be, not just routed', async () => {
      const email = 'dora@dead-letter.de';
      const contact = app.sandbox!.crm.portal(Number(app.sandbox!.portalId)).createObject(
        'contacts',
        {
          email,
          firstname: 'Dora',
          lastname: 'Dead',
          country: 'FR',
          numemployees: '120',
          company: 'Dead Letter SA',
          demo_requested: 'false',
        },
        'generator',
      );
      await until(
        `${email} to be routed`,
        async () => (await app.storage.decisionsFor(tenant.id, { email })).length > 0,
      );
      // Its next event's work dead-lettered, as the worker does when the CRM refuses the owner write
      // (the worker stopped first, so it is this test's claim).
      await app.worker!.stop();
      const now = Date.now();
      await app.storage.enqueue(
        [
          {
            tenantId: tenant.id,
            event: {
              eventId: 'dead-letter-browser',
              subscription: 'contact.creation',
              kind: 'created',
              objectId: contact.id,
              occurredAt: now,
            },
          },
        ],
        now,
      );
      const [item] = await app.storage.claim({
        workerId: 'test',
        limit: 1,
        leaseMs: 60_000,
        now,
        tenantId: tenant.id,
      });
      const reason = `set owner of contact ${contact.id} to chloe@acme.io: HubSpot refused: owner is inactive`;
      expect(await app.storage.deadLetter(item!.id, 'test', reason, now + 1)).toBe(true);

      await page.getByRole('link', { name: 'Activity' }).click();
      await page.getByLabel('Email, name or CRM id').fill(email);
      await page.getByRole('button', { name: 'Search' }).click();
      const table = page.getByRole('table', { name: '1 routed lead, 1 of them dead-lettered' });
      await table.waitFor();
      expect(await table.locator('tbody tr').count()).toBe(1);
      expect(await table.locator('tbody tr td').nth(4).textContent()).toBe(
        `dead-lettered (see Health): ${reason}`,
      );
    });
  });
}
