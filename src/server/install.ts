// What every CRM's install callback does once the CRM has answered: find or create the tenant of the
// portal or org, and run the app's first setup for it.
import type { Response } from 'express';
import type { Tenant } from '../storage/index.js';
import { page } from './html.js';
import type { ServerDeps } from './types.js';

/** The tenant of an installed account, created on its first install. */
export async function upsertTenant(
  deps: Pick<ServerDeps, 'storage'>,
  account: { provider: string; externalId: string; name: string },
  now: number,
): Promise<Tenant> {
  const existing = await deps.storage.findTenant(account.provider, account.externalId);
  if (existing !== null) return existing;
  try {
    return await deps.storage.createTenant(account, now);
  } catch (error) {
    // Two installs of the same account at once: the other one created it first.
    const raced = await deps.storage.findTenant(account.provider, account.externalId);
    if (raced !== null) return raced;
    throw error;
  }
}

/**
 * Runs the app's first setup of a newly installed tenant; when it fails, answers a page saying the
 * account (`what`: "Portal 62515", "Org 00D…") is connected but not set up, and returns false.
 */
export async function setUpInstalled(
  deps: Pick<ServerDeps, 'logger' | 'onInstalled'>,
  tenant: Tenant,
  res: Response,
  what: string,
): Promise<boolean> {
  if (deps.onInstalled === undefined) return true;
  try {
    await deps.onInstalled(tenant);
    return true;
  } catch (error) {
    deps.logger.error('onInstalled hook failed', {
      tenantId: tenant.id,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    res
      .status(500)
      .type('html')
      .send(
        page(
          'lead-router is installed, but setup did not finish',
          `${what} is connected, but its first setup failed. Installing again retries it.`,
        ),
      );
    return false;
  }
}
