// SQLite engine on better-sqlite3. better-sqlite3 is synchronous, so two things need care:
// - a transaction spans awaits, so one connection is serialized by a mutex (no statement from another
//   async caller may slip into the open transaction);
// - a busy database must not block the event loop (a second connection in the same process could then
//   never finish the transaction it waits for), so the busy timeout is 0 and we retry asynchronously.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { Database as Connection, Statement } from 'better-sqlite3';
import {
  bindable,
  classifyConstraint,
  PRIMARY_KEY,
  type Db,
  type Dialect,
  type Row,
  type SqlParam,
} from './db.js';
import { StorageError } from './errors.js';
import {
  AUTO_CHECKPOINT_PAGES,
  startCheckpointer,
  WAL_SIZE_LIMIT_BYTES,
  WRITER_CHECKPOINT_PAGES,
} from './sqlite-checkpointer.js';

export const sqliteDialect: Dialect = {
  name: 'sqlite',
  autoId: 'INTEGER PRIMARY KEY AUTOINCREMENT',
  claimLock: '',
  turnLock: '',
  rowLock: '',
  migrationLock: null,
  // NOT INDEXED still looks rows up by rowid.
  lookupBy: (index) => (index === PRIMARY_KEY ? ' NOT INDEXED' : ` INDEXED BY ${index}`),
};

export interface SqliteOptions {
  /** How long to keep retrying when another connection holds the write lock (ms, default 10 s). */
  busyWaitMs?: number | undefined;
  /** Checkpoints in a thread of their own (default, for a file); false: inside commits, as SQLite does. */
  checkpointThread?: boolean | undefined;
  /** Told when the checkpoint thread failed (the connection checkpoints itself again). */
  onCheckpointFailure?: ((error: Error) => void) | undefined;
}

class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    // The next caller waits for this one to settle, whatever its outcome; the outcome goes to our caller.
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

// Matched by code, not `instanceof SqliteError`: the native addon keeps the error class of the first
// module instance that loaded it, so under several module registries (jest) instanceof is unreliable.
function isBusy(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

export function openSqliteDb(file: string, options: SqliteOptions = {}): Db {
  const inFile = file !== ':memory:' && !file.startsWith('file:');
  if (inFile) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // Owner-only, as leads' personal data should be; SQLite gives its -wal and -shm files the same mode.
    try {
      closeSync(openSync(file, 'wx', 0o600));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  // A blocking busy wait is acceptable only here, once, at open (converting the file to WAL).
  const conn: Connection = new Database(file, { timeout: 5_000 });
  const busyWaitMs = options.busyWaitMs ?? 10_000;
  const statements = new Map<string, Statement>();
  const mutex = new Mutex();

  async function retryBusy<T>(op: () => T): Promise<T> {
    const deadline = Date.now() + busyWaitMs;
    for (let attempt = 0; ; attempt += 1) {
      try {
        return op();
      } catch (error) {
        if (!isBusy(error)) throw error;
        if (Date.now() > deadline) {
          throw new StorageError('busy', `SQLite database ${file} stayed locked for ${busyWaitMs} ms`, {
            cause: error,
          });
        }
        await sleep(Math.min(25, 1 + attempt));
      }
    }
  }

  // WAL lets readers run while one connection writes and makes COMMIT independent of readers.
  conn.pragma('journal_mode = WAL');
  conn.pragma('busy_timeout = 0');
  conn.pragma('foreign_keys = ON');
  conn.pragma('synchronous = NORMAL');
  conn.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
  const checkpoints =
    inFile && options.checkpointThread !== false
      ? startCheckpointer({
          file,
          autoCheckpoint: (on) =>
            conn.pragma(`wal_autocheckpoint = ${on ? AUTO_CHECKPOINT_PAGES : WRITER_CHECKPOINT_PAGES}`),
          onFailure:
            options.onCheckpointFailure ??
            ((error) =>
              process.emitWarning(`SQLite checkpoints back on the app's connection: ${error.message}`)),
        })
      : undefined;

  function prepare(sql: string): Statement {
    let stmt = statements.get(sql);
    if (stmt === undefined) {
      stmt = conn.prepare(sql);
      statements.set(sql, stmt);
    }
    return stmt;
  }

  const direct = {
    all<T>(sql: string, params: readonly SqlParam[] = []): T[] {
      try {
        return prepare(sql).all(...bindable(params)) as T[];
      } catch (error) {
        throw classifyConstraint(error);
      }
    },
    run(sql: string, params: readonly SqlParam[] = []): { changes: number } {
      try {
        return { changes: prepare(sql).run(...bindable(params)).changes };
      } catch (error) {
        throw classifyConstraint(error);
      }
    },
  };

  const tx: Db = {
    dialect: sqliteDialect,
    all: <T = Row>(sql: string, params?: readonly SqlParam[]) => retryBusy(() => direct.all<T>(sql, params)),
    get: <T = Row>(sql: string, params?: readonly SqlParam[]) =>
      retryBusy(() => direct.all<T>(sql, params)[0]),
    run: (sql, params) => retryBusy(() => direct.run(sql, params)),
    transaction: (fn) => fn(tx),
    close: () => Promise.reject(new StorageError('invalid', 'close() called inside a transaction')),
  };

  const db: Db = {
    dialect: sqliteDialect,
    all: (sql, params) => mutex.run(() => tx.all(sql, params)),
    get: (sql, params) => mutex.run(() => tx.get(sql, params)),
    run: (sql, params) => mutex.run(() => tx.run(sql, params)),
    transaction: (fn) =>
      mutex.run(async () => {
        // IMMEDIATE takes the write lock up front: a read-then-write transaction can then never be
        // overtaken by another connection between its read and its write.
        await retryBusy(() => conn.exec('BEGIN IMMEDIATE'));
        try {
          const result = await fn(tx);
          await retryBusy(() => conn.exec('COMMIT'));
          return result;
        } catch (error) {
          if (conn.inTransaction) conn.exec('ROLLBACK');
          throw error;
        }
      }),
    close: () =>
      mutex.run(async () => {
        // The thread's connection first: the last connection to close checkpoints the rest of the WAL.
        await checkpoints?.close();
        conn.close();
      }),
  };
  return db;
}
