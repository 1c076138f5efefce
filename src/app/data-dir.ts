// The data directory (DATA_DIR) belongs to one running app at a time: it holds the SQLite database and
// the sandbox CRM's data, which only one process may write. A pid file says which process holds it, so
// a second start on the same directory fails with a clear line, and a start after a crash (the pid is
// gone) knows it is the only worker and may take back the leases its predecessor left.
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from './config.js';

export const PID_FILE = 'lead-router.pid';

/** Files `npm start` keeps in DATA_DIR (besides the pid file): what `npm run demo:reset` removes. */
export const DEMO_DATA_FILES = [
  'sandbox-apps.json',
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
    await writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
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
  await writeFile(file, `${process.pid}\n`, { mode: 0o600 });
  return { previousPid: holder, release: () => releaseIfOurs(file) };
}

async function releaseIfOurs(file: string): Promise<void> {
  if ((await readPid(file)) === process.pid) await rm(file, { force: true });
}

/** The app a sandbox CRM registers for lead-router: its OAuth client. */
export interface SandboxAppCredentials {
  clientId: string;
  clientSecret: string;
}

/**
 * The sandbox CRM's app for `provider`, new each time, or, with `dir` (`npm start`: DATA_DIR), the one
 * an earlier start registered there. Settings links and the settings tab's sessions are signed with the
 * app's secret (the secret every instance of a real deployment shares), so a new one at each start
 * turned away a settings tab opened before a restart.
 */
export async function sandboxAppCredentials(
  dir: string | undefined,
  provider: 'hubspot' | 'salesforce',
  clientIdPrefix: string,
): Promise<SandboxAppCredentials> {
  const fresh = (): SandboxAppCredentials => ({
    clientId: `${clientIdPrefix}${randomBytes(6).toString('hex')}`,
    clientSecret: randomBytes(24).toString('hex'),
  });
  if (dir === undefined) return fresh();
  const file = join(dir, 'sandbox-apps.json');
  let kept: Partial<Record<string, SandboxAppCredentials>> = {};
  try {
    kept = JSON.parse(await readFile(file, 'utf8')) as typeof kept;
  } catch (err) {
    // A missing or unreadable file only costs the old settings links: register a new app.
    if (!(err instanceof SyntaxError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const app = kept[provider];
  if (typeof app?.clientId === 'string' && typeof app.clientSecret === 'string') return app;
  const made = fresh();
  await writeFile(file, `${JSON.stringify({ ...kept, [provider]: made }, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return made;
}
