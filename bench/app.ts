// The app as the end-to-end benches run it: sandbox mode on SQLite in a temporary DATA_DIR, installed
// through OAuth, with the sandbox's write log and call counts as the witness. bench:e2e and
// bench:backfill share it.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  contactEffects,
  type ContactEffects,
  type PortalCallStats,
  type SandboxOptions,
} from '../connectors/sandbox/index.js';
import { loadConfig } from '../src/app/config.js';
import { startApp, type RunningApp } from '../src/app/start.js';
import { createLogger } from '../src/log.js';

const logger = createLogger({ silent: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How often a bench looks at the write log. The app runs in this process, and every look scans the
 * whole log: looking more often would take CPU from the app under test.
 */
export const POLL_MS = 1000;

export async function start(
  sandbox: SandboxOptions,
  env: Record<string, string> = {},
): Promise<{ app: RunningApp; tenantId: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-bench-'));
  const config = loadConfig({
    PORT: '0',
    SANDBOX_PORT: '0',
    DATA_DIR: dir,
    DEMO_RATE: '0',
    HOST: '127.0.0.1',
    ...env,
  });
  const app = await startApp(config, { logger, generate: false, sandbox });
  const [tenant] = await app.storage.listTenants();
  if (tenant === undefined) throw new Error('the OAuth install created no tenant');
  return { app, tenantId: tenant.id, dir };
}

/** The sandbox's write log per contact (owner writes, tasks, enrollments, notes): the witness. */
export function witness(app: RunningApp): ContactEffects {
  return contactEffects(app.sandbox!.crm.writes, Number(app.sandbox!.portalId));
}

/** The API calls the app made, counted by the sandbox. */
export function callStats(app: RunningApp): PortalCallStats {
  return app.sandbox!.crm.calls.forPortal(Number(app.sandbox!.portalId));
}

/** Polls until `check` says done; throws a clear error past the deadline. */
export async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`the bench gave up after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(POLL_MS);
  }
}
