import { StorageError } from './errors.js';

// The one seam between the storage's queries and an engine. Every query is written once, with `?`
// placeholders, and runs unchanged on SQLite and PostgreSQL; what truly differs lives in `Dialect`.

/** Values we bind. `undefined` is bound as NULL so optional fields can be passed straight through. */
export type SqlParam = string | number | null | undefined;

export type Row = Record<string, unknown>;

export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** Column definition of an auto-increment integer primary key. */
  readonly autoId: string;
  /**
   * Appended to the SELECT that picks rows to claim. PostgreSQL: lock them and skip rows another
   * claimer holds. SQLite: empty, because a writing statement already holds the database's one write lock.
   */
  readonly claimLock: string;
  /**
   * Appended to the SELECT of the tenant row whose turn a claim takes. PostgreSQL: lock it, skipping a
   * tenant another claimer is claiming for, without blocking inserts that reference the tenant (a
   * key-share lock, taken by every foreign key check, does not conflict with it). SQLite: empty.
   */
  readonly turnLock: string;
  /**
   * Appended to a SELECT that reads rows the transaction will compare-and-set. PostgreSQL: lock them, so
   * a concurrent commit of the same rows waits for ours and then sees the new version. SQLite: empty,
   * the transaction holds the write lock from its start.
   */
  readonly rowLock: string;
  /** Run first in the migration transaction so concurrent openers migrate one at a time. */
  readonly migrationLock: string | null;
  /**
   * Placed after the table name of a statement whose selective term is a list of keys: the index that
   * serves that list (`PRIMARY_KEY`: the row ids). SQLite keeps no statistics here (nothing runs
   * ANALYZE), so it takes an equality on any indexed column (a tenant, a status) for more selective than
   * a list of 50 keys, and visits every row behind that value: a cost that grew with the tenant's history.
   * PostgreSQL: empty, its planner has statistics.
   */
  lookupBy(index: string): string;
}

/** `Dialect.lookupBy`'s name for the table's primary key. */
export const PRIMARY_KEY = 'primary key';

export interface Db {
  readonly dialect: Dialect;
  all<T = Row>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
  get<T = Row>(sql: string, params?: readonly SqlParam[]): Promise<T | undefined>;
  /** Runs a statement without result rows; `changes` is the number of rows inserted/updated/deleted. */
  run(sql: string, params?: readonly SqlParam[]): Promise<{ changes: number }>;
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. Inside, use
   * ONLY the `tx` handle: on SQLite the connection is held for the whole transaction, so a call on the
   * outer handle would wait for the transaction it is part of. Nested calls join the outer transaction.
   */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Rewrites `?` placeholders to PostgreSQL's `$1, $2, …`, leaving quoted literals and identifiers alone. */
export function toNumberedPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | null = null;
  for (const ch of sql) {
    if (quote !== null) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      n += 1;
      out += `$${n}`;
    } else {
      out += ch;
    }
  }
  return out;
}

/**
 * Turns a constraint violation into a StorageError('invalid') (unknown tenant, value outside a CHECK):
 * bad input gets a clear error and, the statement having failed, changes nothing. Anything else is
 * returned as it was. Codes: SQLite extended result codes; PostgreSQL SQLSTATE.
 */
export function classifyConstraint(error: unknown): unknown {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503') {
    return new StorageError('invalid', 'refers to an unknown tenant or row', { cause: error });
  }
  if (
    code === 'SQLITE_CONSTRAINT_CHECK' ||
    code === '23514' ||
    code === 'SQLITE_CONSTRAINT_NOTNULL' ||
    code === '23502'
  ) {
    return new StorageError('invalid', 'a value is missing or outside its allowed set', { cause: error });
  }
  return error;
}

/**
 * True for a write that lost a race with a concurrent transaction rather than failed: the same unique key
 * inserted by another transaction first, or (PostgreSQL) a deadlock or serialization failure that rolled
 * ours back. Retrying from fresh data is the answer.
 */
export function isWriteRace(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  return (
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === '23505' ||
    code === '40P01' ||
    code === '40001'
  );
}

export function bindable(params: readonly SqlParam[]): (string | number | null)[] {
  return params.map((p) => (p === undefined ? null : p));
}
