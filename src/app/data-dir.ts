// The data directory (DATA_DIR) belongs to one running app at a time: it holds the SQLite database and
// the sandbox CRM's data, which only one process may write. A pid file says which process holds it, so
// a second start on the same directory fails with a clear line, and a start after a crash (the pid is
// gone) knows it is the only worker and may take back the leases its predecessor left.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from './config.js';

export const PID_FILE = 'lead-router.pid';

/** Files `npm start` keeps in DATA_DIR (besides the pid file): what `npm run demo:reset` removes. */
export const DEMO_DATA_FILES = [
  'sandbox-crm.jsonl',
  'sandbox-salesforce.jsonl',
  'lead-router.sqlite',
  'lead-router.sqlite-wal',
  'lead-router.sqlite-shm',
] as const;

export interface DataDirLock {
  /** The pid of a process that held the directory and is gone (it crashed or was killed), if any. */
  previousPid: number | undefined;
  release(): Promise<void>;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of the live process that holds `dir`, if one does. */
export async function dataDirHolder(dir: string): Promise<number | undefined> {
  const pid = await readPid(join(dir, PID_FILE));
  return pid !== undefined && pid !== process.pid && isRunning(pid) ? pid : undefined;
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(file, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Takes the directory for this process, or fails naming the process that has it. */
export async function lockDataDir(dir: string): Promise<DataDirLock> {
  const file = join(dir, PID_FILE);
  try {
    await writeFile(file, `${process.pid}\n`, { flag: 'wx' });
    return { previousPid: undefined, release: () => releaseIfOurs(file) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const holder = await readPid(file);
  if (holder !== undefined && holder !== process.pid && isRunning(holder)) {
    throw new ConfigError(
      `DATA_DIR=${dir} is in use by another lead-router (pid ${holder}): stop it, or set DATA_DIR to another directory`,
    );
  }
  // The holder is gone (it crashed or was killed): the directory is ours now.
  await writeFile(file, `${process.pid}\n`);
  return { previousPid: holder, release: () => releaseIfOurs(file) };
}

async function releaseIfOurs(file: string): Promise<void> {
  if ((await readPid(file)) === process.pid) await rm(file, { force: true });
}
