// Shared by the browser tests of the settings tab: Debian's Chromium driven by playwright-core (never a
// downloaded browser), waiting on state rather than on time, and the Activity page's way to a lead.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { isCi } from '../support/services.js';

export const CHROMIUM = '/usr/bin/chromium';
// CI installs Chromium (.ci/run); elsewhere a machine without it skips with the reason.
export const chromiumHere = existsSync(CHROMIUM) || isCi();

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** Searches Activity for a lead by email and opens it: its (latest) decision's trace, shown. */
export async function openInActivity(page: Page, email: string): Promise<Locator> {
  await page.getByRole('link', { name: 'Activity' }).click();
  await page.getByLabel('Email, name or CRM id').fill(email);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('button', { name: `Open ${email}` }).click();
  const trace = page.locator('pre.trace').first();
  await trace.waitFor();
  return trace;
}
