// PostgreSQL engine on `pg`. Queries arrive with `?` placeholders and are numbered here; BIGINT (our
// epoch-millisecond columns, counts and ids) is parsed to a JS number, which is exact below 2^53.
import pg from 'pg';
import {
  bindable,
  classifyConstraint,
  toNumberedPlaceholders,
  type Db,
  type Dialect,
  type Row,
  type SqlParam,
} from './db.js';
import { StorageError } from './errors.js';

export const postgresDialect: Dialect = {
  name: 'postgres',
  autoId: 'BIGSERIAL PRIMARY KEY',
  claimLock: ' FOR UPDATE SKIP LOCKED',
  turnLock: ' FOR NO KEY UPDATE SKIP LOCKED',
  rowLock: ' FOR UPDATE',
  // Any constant key: concurrent openers of one database queue here instead of racing DDL.
  migrationLock: 'SELECT pg_advisory_xact_lock(727160001)',
  lookupBy: () => '',
};

const INT8_OID = 20;

function getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
  if (oid === INT8_OID) return (value: string) => Number(value);
  return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
}

const types: pg.CustomTypesConfig = { getTypeParser };

export interface PostgresOptions {
  /** Schema to use instead of `public` (tests use a fresh one each). Must be a plain identifier. */
  schema?: string | undefined;
  /** Pool size (default 10). */
  max?: number | undefined;
  /** Errors of idle pooled connections (server restart); the pool drops the connection itself. */
  onIdleError?: ((error: Error) => void) | undefined;
}

type Queryable = Pick<pg.PoolClient, 'query'>;

function handle(q: Queryable, transaction: Db['transaction'], close: Db['close']): Db {
  const query = async <T>(sql: string, params: readonly SqlParam[] = []) => {
    try {
      return (await q.query(toNumberedPlaceholders(sql), bindable(params))) as unknown as {
        rows: T[];
        rowCount: number | null;
      };
    } catch (error) {
      throw classifyConstraint(error);
    }
  };
  return {
    dialect: postgresDialect,
    all: async <T = Row>(sql: string, params?: readonly SqlParam[]) => (await query<T>(sql, params)).rows,
    get: async <T = Row>(sql: string, params?: readonly SqlParam[]) => (await query<T>(sql, params)).rows[0],
    run: async (sql, params) => ({ changes: (await query(sql, params)).rowCount ?? 0 }),
    transaction,
    close,
  };
}

export function openPgDb(url: string, options: PostgresOptions = {}): Db {
  if (options.schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(options.schema)) {
    throw new StorageError('invalid', `schema name must be a plain lower-case identifier`);
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    types,
    ...(options.schema !== undefined ? { options: `-c search_path=${options.schema}` } : {}),
  });
  const onIdleError =
    options.onIdleError ?? ((error: Error) => process.emitWarning(`postgres idle client: ${error.message}`));
  pool.on('error', onIdleError);

  const transaction = async <T>(fn: (tx: Db) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    const tx: Db = handle(
      client,
      (inner) => inner(tx),
      () => Promise.reject(new StorageError('invalid', 'close() called inside a transaction')),
    );
    try {
      await client.query('BEGIN');
      const result = await fn(tx);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
        client.release();
      } catch (rollbackError) {
        // A connection that cannot roll back is broken: destroy it rather than return it to the pool.
        client.release(rollbackError instanceof Error ? rollbackError : true);
      }
      throw error;
    }
  };
  return handle(pool, transaction, () => pool.end());
}
