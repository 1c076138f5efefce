// WAL checkpoints of a SQLite file, in a thread of their own. SQLite's automatic checkpoint runs inside
// the COMMIT that crosses its threshold: on this synchronous driver that is the event loop, stalled for
// the copy into the database file and its fsync (10–50 ms, every few hundred commits under a burst). A
// second connection in a worker thread checkpoints instead (PASSIVE: it never blocks the writer or the
// readers), and the app's connection checkpoints on its own only past a ten times higher mark: a
// checkpoint running beside the writes cannot finish while the writer keeps appending, and only a
// finished one lets the WAL start over, so without that mark a long burst grows it without bound.
// Should the thread fail, the app's connection goes back to SQLite's own mark.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How often the thread checkpoints what the WAL holds (ms). */
export const CHECKPOINT_EVERY_MS = 250;
/** SQLite's own default, restored when the thread is gone. */
export const AUTO_CHECKPOINT_PAGES = 1000;
/** While the thread runs: the writer checkpoints (and so lets the WAL start over) only past this. */
export const WRITER_CHECKPOINT_PAGES = 10 * AUTO_CHECKPOINT_PAGES;
/**
 * What a WAL file is cut back to when it starts over: a burst grows it to ~40 MB (the writer's mark),
 * and SQLite would otherwise keep that size on disk for good.
 */
export const WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024;

// Plain CommonJS, evaluated in the thread: no TypeScript loader is needed there.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const conn = new Database(workerData.file, { timeout: 0 });
let timer;
const checkpoint = (asked) => {
  let frames = 0;
  try {
    const [row] = conn.pragma('wal_checkpoint(PASSIVE)');
    frames = row ? row.checkpointed : 0;
  } catch (error) {
    // Another connection is checkpointing (SQLITE_BUSY): its work is done all the same.
    if (!String(error && error.code).startsWith('SQLITE_BUSY')) {
      // Said in words: a driver error loses its message on the way out of the thread.
      parentPort.postMessage({ kind: 'failed', message: String(error && error.code) + ': ' + String(error && error.message) });
      process.exit(1);
    }
  }
  if (asked || frames > 0) parentPort.postMessage({ kind: 'checkpointed', frames });
};
parentPort.on('message', (m) => {
  if (m === 'now') checkpoint(true);
  if (m === 'close') { clearInterval(timer); conn.close(); parentPort.close(); }
});
timer = setInterval(() => checkpoint(false), workerData.everyMs);
`;

export interface Checkpoints {
  /** WAL frames the thread's checkpoints found copied into the database file, summed. */
  readonly frames: number;
  /** Asks for a checkpoint now; resolves when the thread has answered (a busy checkpoint included). */
  now(): Promise<void>;
  /** Stops the thread and closes its connection (before the app's own closes, which checkpoints last). */
  close(): Promise<void>;
}

export interface CheckpointerOptions {
  file: string;
  /** Moves the app connection's own checkpoints to the higher mark (false), or back (true: thread gone). */
  autoCheckpoint(on: boolean): void;
  /** Told when the thread failed and the app's connection checkpoints again. */
  onFailure(error: Error): void;
  everyMs?: number | undefined;
}

export function startCheckpointer(options: CheckpointerOptions): Checkpoints {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const thread = new Worker(THREAD, {
    eval: true,
    // Plain CommonJS: none of the process's loader flags (tsx under `npm start`) is needed in the thread.
    execArgv: [],
    workerData: { file: options.file, driver, everyMs: options.everyMs ?? CHECKPOINT_EVERY_MS },
  });
  // The thread never keeps the process alive: an app that forgets to close still exits.
  thread.unref();
  let frames = 0;
  let closing = false;
  const waiting: (() => void)[] = [];
  const settleWaiting = (): void => {
    for (const done of waiting.splice(0)) done();
  };
  options.autoCheckpoint(false);
  const fail = (error: Error): void => {
    if (closing) return;
    closing = true;
    options.autoCheckpoint(true);
    settleWaiting();
    options.onFailure(error);
  };
  thread.on('message', (m: { kind: string; frames?: number; message?: string }) => {
    if (m.kind === 'failed') fail(new Error(m.message));
    if (m.kind !== 'checkpointed') return;
    frames += m.frames ?? 0;
    settleWaiting();
  });
  // An error thrown in the thread arrives cloned, a driver error with its code alone.
  thread.on('error', (error: Partial<Error> & { code?: unknown }) =>
    fail(new Error(`the checkpoint thread failed: ${error.message ?? String(error.code)}`)),
  );
  thread.on('exit', (code) => fail(new Error(`the checkpoint thread exited (code ${code})`)));
  return {
    get frames() {
      return frames;
    },
    now: () =>
      closing
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            waiting.push(resolve);
            thread.postMessage('now');
          }),
    close: async () => {
      if (closing) return;
      closing = true;
      const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
      // Held until the thread is gone: a caller awaiting close() at the end of a script keeps it alive.
      thread.ref();
      thread.postMessage('close');
      await exited;
      settleWaiting();
    },
  };
}
