// The real PostgreSQL and Redis that CI provides (127.0.0.1:5432 database `test`, 127.0.0.1:6379).
// Tests of those modes probe them once. When one cannot be reached, a developer's run skips them with a
// printed reason; a CI run (`CI` set) fails them with that reason, so CI can never pass by skipping.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';

export const PG_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

async function probePg(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function probeRedis(): Promise<string | null> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    client.disconnect();
  }
}

export const pgUnavailable = await probePg();
export const redisUnavailable = await probeRedis();

export type Service = 'postgres' | 'redis';

/** CI systems set `CI` (GitHub Actions, GitLab, `.ci/run`: `true`); `CI=false` or `0` means a developer's run. */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = (env['CI'] ?? '').trim().toLowerCase();
  return ci !== '' && ci !== 'false' && ci !== '0';
}

/** Why these services cannot be used here (each one unreachable, with the error), or null. */
export function servicesMissing(services: readonly Service[]): string | null {
  const missing = [
    services.includes('postgres') && pgUnavailable !== null
      ? `PostgreSQL at ${PG_URL} unreachable (${pgUnavailable})`
      : null,
    services.includes('redis') && redisUnavailable !== null
      ? `Redis at ${REDIS_URL} unreachable (${redisUnavailable})`
      : null,
  ].filter((m): m is string => m !== null);
  return missing.length === 0 ? null : missing.join('; ');
}

/** Why a run needing PostgreSQL and Redis cannot go ahead here (printed), or null (`bench:scale`). */
export function pgAndRedisMissing(what: string): string | null {
  const reason = servicesMissing(['postgres', 'redis']);
  if (reason !== null) console.warn(`${what} cannot run: ${reason}`);
  return reason;
}

export type SuiteFn = (name: string, body: () => void) => void;

/**
 * The `describe` of a suite that needs these services. When they answer: `describe`. When one does not:
 * under CI, a suite whose one test fails with the reason (a missing service is a broken CI, never a
 * green one); on a developer's machine, `describe.skip` with the reason printed.
 */
export function describeNeeding(services: readonly Service[]): SuiteFn {
  const reason = servicesMissing(services);
  if (reason === null) return describe;
  if (isCi()) {
    return (name) =>
      describe(name, () => {
        it(`needs ${services.join(' and ')}`, () => {
          throw new Error(`CI is set, so a missing service fails the run instead of skipping: ${reason}`);
        });
      });
  }
  return (name, body) => {
    console.warn(`"${name}" skipped: ${reason} (under CI=true this fails the run)`);
    describe.skip(name, body);
  };
}

export interface PgSchema {
  name: string;
  drop(): Promise<void>;
}

/** A fresh schema in the test database; `drop` removes it with everything in it. */
export async function createPgSchema(): Promise<PgSchema> {
  const name = `lr_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${name}`);
  await admin.end();
  return {
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${name} CASCADE`);
      await c.end();
    },
  };
}

/** A Redis key prefix of its own, so runs never share a rate budget left over from another. */
export function uniqueRedisPrefix(): string {
  return `lr-test-${randomBytes(6).toString('hex')}`;
}
