// SQLite checkpoints in a thread of their own: what the app's connection writes reaches the database
// file without that connection checkpointing (read from a copy of the file without its WAL), the app's
// connection keeps only the higher mark while the thread runs, a failed thread hands checkpoints back
// to it, and closing leaves every row in the file and no WAL behind. Real files, threads and driver.
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  AUTO_CHECKPOINT_PAGES,
  startCheckpointer,
  WAL_SIZE_LIMIT_BYTES,
  WRITER_CHECKPOINT_PAGES,
} from '../../src/storage/sqlite-checkpointer.js';
import { openSqliteDb } from '../../src/storage/sqlite-db.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lead-router-checkpoint-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Rows as the database file holds them, the WAL left out: read from a copy of the file alone. */
function rowsInFile(file: string): number {
  const copy = `${file}.copy`;
  copyFileSync(file, copy);
  const reader = new Database(copy, { readonly: true, fileMustExist: true });
  try {
    return (reader.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n;
  } finally {
    reader.close();
    rmSync(copy);
  }
}

describe('startCheckpointer', () => {
  it('copies what another connection wrote into the database file', async () => {
    const file = join(dir, 'a.sqlite');
    const writer = new Database(file);
    writer.pragma('journal_mode = WAL');
    writer.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    writer.pragma('wal_checkpoint(TRUNCATE)');
    const marks: boolean[] = [];
    const checkpoints = startCheckpointer({
      file,
      autoCheckpoint: (on) => {
        marks.push(on);
        writer.pragma('wal_autocheckpoint = 0');
      },
      onFailure: (error) => {
        throw error;
      },
      everyMs: 60_000,
    });
    const insert = writer.prepare('INSERT INTO t (v) VALUES (?)');
    writer.transaction(() => {
      for (let i = 0; i < 500; i++) insert.run('x'.repeat(200));
    })();
    // In the WAL only: the writer does not checkpoint.
    expect(rowsInFile(file)).toBe(0);
    await checkpoints.now();
    expect(rowsInFile(file)).toBe(500);
    expect(checkpoints.frames).toBeGreaterThan(0);
    expect(marks).toEqual([false]);
    await checkpoints.close();
    writer.close();
  });

  it('hands checkpoints back to the app’s connection when the thread fails', async () => {
    const file = join(dir, 'not-a-database.sqlite');
    writeFileSync(file, 'this is not a SQLite database, and its checkpoint fails '.repeat(100));
    const marks: boolean[] = [];
    const failed = new Promise<Error>((resolve) =>
      startCheckpointer({ file, autoCheckpoint: (on) => marks.push(on), onFailure: resolve, everyMs: 10 }),
    );
    expect((await failed).message).toMatch(/not a database|file is not a database/);
    expect(marks).toEqual([false, true]);
  });
});

describe('openSqliteDb with the checkpoint thread', () => {
  it('keeps the writer’s own checkpoints at the higher mark, and leaves no WAL once closed', async () => {
    const file = join(dir, 'app.sqlite');
    const db = openSqliteDb(file);
    expect(await db.all('PRAGMA wal_autocheckpoint')).toEqual([
      { wal_autocheckpoint: WRITER_CHECKPOINT_PAGES },
    ]);
    await db.run('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    await db.transaction(async (tx) => {
      for (let i = 0; i < 200; i++) await tx.run('INSERT INTO t (v) VALUES (?)', ['y'.repeat(200)]);
    });
    expect(existsSync(`${file}-wal`)).toBe(true);
    await db.close();
    // Closed, the last connection checkpointed what was left and removed the WAL.
    expect(existsSync(`${file}-wal`)).toBe(false);
    expect(rowsInFile(file)).toBe(200);
  });

  it('cuts a WAL grown by a burst back to its size limit once the thread has checkpointed it', async () => {
    const file = join(dir, 'burst.sqlite');
    const db = openSqliteDb(file);
    try {
      await db.run('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const burst = async (rows: number): Promise<void> =>
        db.transaction(async (tx) => {
          for (let i = 0; i < rows; i++) await tx.run('INSERT INTO t (v) VALUES (?)', ['z'.repeat(1000)]);
        });
      // Many commits, as a burst makes them, to ~3 times the limit.
      for (let i = 0; i < 60; i++) await burst(200);
      const walSize = (): number => statSync(`${file}-wal`).size;
      expect(walSize()).toBeGreaterThan(2 * WAL_SIZE_LIMIT_BYTES);
      // Once the thread has copied the WAL into the file, the next commit starts the WAL over: cut back.
      const deadline = Date.now() + 20_000;
      while (walSize() > WAL_SIZE_LIMIT_BYTES && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        await burst(1);
      }
      expect(walSize()).toBeLessThanOrEqual(WAL_SIZE_LIMIT_BYTES);
      expect(rowsInFile(file)).toBeGreaterThanOrEqual(12_000);
    } finally {
      await db.close();
    }
  });

  it('checkpoints inside commits as SQLite does when the thread is turned off', async () => {
    const db = openSqliteDb(join(dir, 'inline.sqlite'), { checkpointThread: false });
    expect(await db.all('PRAGMA wal_autocheckpoint')).toEqual([
      { wal_autocheckpoint: AUTO_CHECKPOINT_PAGES },
    ]);
    await db.close();
  });
});
