// The stores the settings tab's browser tests run the app on: SQLite in a temporary DATA_DIR, and
// PostgreSQL + Redis (a fresh schema and key prefix; mandatory under CI, skipped with the reason elsewhere).
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from '@jest/globals';
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
