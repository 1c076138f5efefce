// Shared by the end-to-end suites that run the app on PostgreSQL and Redis: the environment the app
// would get (fresh schema, own Redis prefix, own encryption key), the real CLI as a child process, and
// the sandbox write-log counts that witness "exactly once".
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { HubSpotSandbox } from '../../connectors/sandbox/index.js';
import { loadConfig, type AppConfig } from '../../src/app/config.js';
import { createPgSchema, PG_URL, REDIS_URL, uniqueRedisPrefix } from '../support/services.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface PgAppEnv {
  env: Record<string, string>;
  config: AppConfig;
  /** TOKEN_ENCRYPTION_KEY as given (64 hex characters). */
  key: string;
  schema: string;
  cleanup(): Promise<void>;
}

/** The environment of one app instance on a fresh PostgreSQL schema and its own Redis key prefix. */
export async function pgAppEnv(extra: Record<string, string> = {}): Promise<PgAppEnv> {
  const schema = await createPgSchema();
  const dataDir = await mkdtemp(join(tmpdir(), 'lead-router-e2e-pg-'));
  const key = randomBytes(32).toString('hex');
  const env: Record<string, string> = {
    DATABASE_URL: PG_URL,
    DATABASE_SCHEMA: schema.name,
    REDIS_URL,
    REDIS_KEY_PREFIX: uniqueRedisPrefix(),
    PORT: '0',
    SANDBOX_PORT: '0',
    DATA_DIR: dataDir,
    DEMO_RATE: '0',
    TOKEN_ENCRYPTION_KEY: key,
    ...extra,
  };
  return {
    env,
    config: loadConfig(env),
    key,
    schema: schema.name,
    cleanup: async () => {
      await schema.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs `lead-router <args>` as an operator would, against the same database; resolves with stdout. */
export async function cli(env: Record<string, string>, args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [join(REPO, 'bin/lead-router.js'), ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
  });
  return stdout;
}

export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 150_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function countBy(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

export interface PortalWrites {
  /** Owner writes per contact id, and the owner ids written. */
  owners: Map<string, number>;
  ownerIds: Map<string, string[]>;
  /** Tasks associated with each contact id. */
  tasks: Map<string, number>;
  taskSubjects: string[];
  enrollments: Map<string, number>;
  notes: Map<string, number>;
  total: number;
}

/** What the app wrote into one portal through the API, counted per contact. */
export function portalWrites(crm: HubSpotSandbox, portalId: number): PortalWrites {
  const writes = crm.writes.list({ portalId, source: 'api' });
  const taskIds = new Set(writes.filter((w) => w.kind === 'task.created').map((w) => w.objectId));
  const noteIds = new Set(writes.filter((w) => w.kind === 'note.created').map((w) => w.objectId));
  const associatedTo = (ids: Set<string>) =>
    countBy(
      writes
        .filter(
          (w) =>
            w.kind === 'association.created' && ids.has(w.objectId) && w.details['toType'] === 'contacts',
        )
        .map((w) => w.details['toId'] ?? ''),
    );
  const ownerWrites = writes.filter((w) => w.kind === 'owner.set');
  const ownerIds = new Map<string, string[]>();
  for (const w of ownerWrites)
    ownerIds.set(w.objectId, [...(ownerIds.get(w.objectId) ?? []), w.details['to'] ?? '']);
  return {
    owners: countBy(ownerWrites.map((w) => w.objectId)),
    ownerIds,
    tasks: associatedTo(taskIds),
    taskSubjects: writes
      .filter((w) => w.kind === 'task.created')
      .map((w) => w.details['hs_task_subject'] ?? ''),
    enrollments: countBy(writes.filter((w) => w.kind === 'enrollment.created').map((w) => w.objectId)),
    notes: associatedTo(noteIds),
    total: writes.length,
  };
}
