// The stores the settings tab's browser tests run the app on: SQLite in a temporary DATA_DIR, and
// PostgreSQL + Redis (a fresh schema and key prefix; mandatory under CI, skipped with the reason elsewhere).
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from '@jest/globals';
import { loadConfig } from '../../src/app/config.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';
import { pgAppEnv } from '../e2e/pg-support.js';
import { describeNeeding, type SuiteFn } from '../support/services.js';

export interface Store {
  name: string;
  dir: string;
  suite: SuiteFn;
  /** The app's environment on this store, and what removes it afterwards. */
  env(): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }>;
}

export const STORES: Store[] = [
  {
    name: 'SQLite',
    dir: 'sqlite',
    suite: describe,
    env: async () => ({
      env: { DATA_DIR: await mkdtemp(join(tmpdir(), 'lead-router-browser-')) },
      cleanup: () => Promise.resolve(),
    }),
  },
  {
    name: 'PostgreSQL + Redis',
    dir: 'postgres',
    suite: describeNeeding(['postgres', 'redis']),
    env: async () => {
      const pg = await pgAppEnv();
      return { env: pg.env, cleanup: pg.cleanup };
    },
  },
];

/** The app over the HubSpot sandbox on `env` (a store's), quiet, no demo contacts, webhooks sent at once. */
export function startHubSpotTab(env: Record<string, string>, settingsSecret: string): Promise<RunningApp> {
  return startApp(
    loadConfig({ ...env, PORT: '0', SANDBOX_PORT: '0', DEMO_RATE: '0', SETTINGS_SECRET: settingsSecret }),
    {
      logger: createLogger({ silent: true }),
      generate: false,
      sandbox: { webhookTiming: { batchWindowMs: 20 } },
    },
  );
}
