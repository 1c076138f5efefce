// The real PostgreSQL and Redis that CI provides (127.0.0.1:5432 database `test`, 127.0.0.1:6379).
// Tests of those modes probe them once and, when one cannot be reached, are skipped with a printed
// reason — never silently.
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

/**
 * Why a test needing PostgreSQL and Redis cannot run here (printed once per suite), or null.
 * Use as `const d = needsPgAndRedis('many workers') === null ? describe : describe.skip`.
 */
export function pgAndRedisMissing(suite: string): string | null {
  const missing = [
    pgUnavailable === null ? null : `PostgreSQL at ${PG_URL} unreachable (${pgUnavailable})`,
    redisUnavailable === null ? null : `Redis at ${REDIS_URL} unreachable (${redisUnavailable})`,
  ].filter((m): m is string => m !== null);
  if (missing.length === 0) return null;
  const reason = missing.join('; ');
  console.warn(`${suite} skipped: ${reason}`);
  return reason;
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
