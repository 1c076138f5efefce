// What every CRM's install callback does once the CRM has answered: find or create the tenant of the
// portal or org, and run the app's first setup for it.
import type { Response } from 'express';
import type { z } from 'zod';
import type { Logger } from '../log.js';
import type { Tenant } from '../storage/index.js';
import { page } from './html.js';
import type { ServerDeps } from './types.js';

export function htmlPage(res: Response, status: number, title: string, message: string): void {
  res.status(status).type('html').send(page(title, message));
}

/** The CRM's answer when the admin declined (or the CRM refused) the install. */
export interface DeclinedCallback {
  error: string;
  error_description?: string | undefined;
  state?: string | undefined;
}

/**
 * The granted callback's query; a malformed or declined one is answered here with a page (a declined
 * one uses its state up, so it cannot be replayed) and gives undefined.
 */
export function grantedCallback<Granted extends object>(
  parsed: z.SafeParseReturnType<unknown, DeclinedCallback | Granted>,
  res: Response,
  context: {
    crm: string;
    states: { consume(state: string, now: number): boolean };
    now: number;
    logger: Logger;
  },
): Granted | undefined {
  if (!parsed.success) {
    htmlPage(
      res,
      400,
      'Invalid install callback',
      'The link is missing its code or state. Please install again.',
    );
    return undefined;
  }
  const query = parsed.data;
  if (!isDeclined(query)) return query;
  if (query.state !== undefined) context.states.consume(query.state, context.now);
  context.logger.warn(`${context.crm.toLowerCase()} install declined`, { error: query.error });
  htmlPage(
    res,
    400,
    'lead-router was not installed',
    `${context.crm} reported: ${query.error_description ?? query.error}`,
  );
  return undefined;
}

function isDeclined(query: object): query is DeclinedCallback {
  return 'error' in query;
}

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
    htmlPage(
      res,
      500,
      'lead-router is installed, but setup did not finish',
      `${what} is connected, but its first setup failed. Installing again retries it.`,
    );
    return false;
  }
}
