// What the repositories share: JSON columns parsed through a schema, input validated before a write,
// chunked `IN (…)` lists and multi-row inserts, and compare-and-set transactions that report a lost race.
import type { z } from 'zod';
import type { Decision } from '../core/types.js';
import { isWriteRace, type Db, type SqlParam } from './db.js';
import { StorageError } from './errors.js';

/** Rows per multi-row INSERT (≤ 20 parameters each) and keys per `IN (…)` list: far below both engines' limits. */
export const ROW_CHUNK = 200;
export const KEY_CHUNK = 500;

/** `?, ?, …` for an `IN (…)` list of `n` values. */
export const marks = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Work of a tenant whose portal uninstalled the app waits, unclaimed, until it installs again; work of a
 * paused tenant (its CRM account refuses our credentials for a policy reason), until the refusal lifts.
 */
export const WORKING_TENANT =
  'tenant_id NOT IN (SELECT id FROM tenants WHERE uninstalled_at IS NOT NULL OR paused_at IS NOT NULL)';

/**
 * Parses and validates a JSON column; `where` names the table, column and row (`actions.payload of row
 * 17`). A failure means the row was not written by us (edited by hand, or by another version).
 */
export function readJson<T>(text: string, where: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StorageError('corrupt', `${where} holds invalid JSON`, { cause: error });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(the value)'}: ${i.message}`);
    throw new StorageError('corrupt', `${where} is not what lead-router writes: ${issues.join('; ')}`);
  }
  return parsed.data;
}

/** Validates input before it is written: a bad value is a clear error and changes nothing. */
export function validate<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new StorageError('invalid', `${what}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

/** Thrown inside a transaction to roll it back when a compare-and-set finds a row moved. */
export class Rollback extends Error {}

/**
 * Runs a compare-and-set transaction. When it loses a race — a `Rollback` thrown inside, or a write
 * that collided with a concurrent transaction (the same unique key, a deadlock) — nothing was written
 * and `lost()` is the answer.
 */
export async function casTransaction<T>(db: Db, fn: (tx: Db) => Promise<T>, lost: () => T): Promise<T> {
  try {
    return await db.transaction(fn);
  } catch (error) {
    if (error instanceof Rollback || isWriteRace(error)) return lost();
    throw error;
  }
}

/**
 * Rows whose time has come, oldest first, across tenants unless one is given. `from` is a fixed
 * table-and-state fragment ending in the time column; only `now`, the tenant and the limit are values.
 */
export async function dueRows<R>(
  db: Db,
  from: string,
  timeColumn: string,
  now: number,
  options: { tenantId?: string | undefined; limit?: number | undefined },
): Promise<R[]> {
  const byTenant = options.tenantId === undefined ? '' : ' AND tenant_id = ?';
  const params: SqlParam[] = [now];
  if (options.tenantId !== undefined) params.push(options.tenantId);
  params.push(options.limit ?? 100);
  return db.all<R>(`SELECT * FROM ${from} <= ?${byTenant} ORDER BY ${timeColumn}, id LIMIT ?`, params);
}

/** The `owner` column of a decision or SLA timer: the rep email for a rep destination, else null. */
export const ownerOf = (decision: Decision): string | null =>
  decision.destination.kind === 'rep' ? decision.destination.email : null;

/** The `pool` column of a decision: the pool that assigned it (the last one asked, after fallbacks). */
export const poolOf = (decision: Decision): string | null => decision.trace.assignments.at(-1)?.pool ?? null;
