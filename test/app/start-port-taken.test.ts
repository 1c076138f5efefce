// `npm start` on a port another server holds fails with one line naming the port and the variable that
// picks another, before DATA_DIR is made or written: no database, sandbox data or demo install is left
// behind for the next start to "continue from DATA_DIR". And once it has the ports it keeps them: no one
// can take one while it opens DATA_DIR and fail it there.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdtemp, open, readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { ConfigError, loadConfig } from '../../src/app/config.js';
import { freePort, startApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';
import { startDemoOn } from '../support/demo-start.js';

const logger = createLogger({ level: 'error', stream: new Writable({ write: (_c, _e, done) => done() }) });

let held: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (held === undefined ? resolve() : held.close(() => resolve())));
  held = undefined;
});

/** Another server on a port of this machine; its number. */
async function holdPort(): Promise<number> {
  held = createServer();
  const server = held;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** The start's error message (it must fail with a ConfigError: one line, no stack). */
async function startError(env: Record<string, string>): Promise<string> {
  const config = loadConfig({ PORT: '0', SANDBOX_PORT: '0', DEMO_RATE: '0', ...env });
  const error = await startApp(config, { logger, generate: false, keepSandboxData: true }).then(
    async (app) => {
      await app.stop();
      return new Error('started');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).message;
}

/** Every file in `dir` with a hash of its bytes. */
async function contents(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort())
    files[name] = createHash('sha256')
      .update(await readFile(join(dir, name)))
      .digest('hex');
  return files;
}

it.each([
  ['hubspot', {}],
  ['salesforce', { RULES: 'rules/salesforce-demo/rules.yaml' }],
])('CRM=%s, PORT taken: one line naming it, and DATA_DIR not created', async (crm, env) => {
  const port = await holdPort();
  const dataDir = join(await mkdtemp(join(tmpdir(), 'lead-router-port-taken-')), 'data');
  expect(await startError({ ...env, CRM: crm, PORT: String(port), DATA_DIR: dataDir })).toBe(
    `port ${port} is in use (PORT=${port}): set PORT to a free port`,
  );
  await expect(access(dataDir)).rejects.toThrow(/ENOENT/);
});

it("SANDBOX_PORT taken: one line naming it, and an earlier run's DATA_DIR left byte for byte as it was", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'lead-router-port-taken-'));
  await (await startDemoOn(dataDir, 'hubspot')).stop();
  const before = await contents(dataDir);
  expect(Object.keys(before)).toEqual(expect.arrayContaining(['lead-router.sqlite', 'sandbox-crm.jsonl']));

  const port = await holdPort();
  expect(await startError({ SANDBOX_PORT: String(port), DATA_DIR: dataDir })).toBe(
    `port ${port} is in use (SANDBOX_PORT=${port}): set SANDBOX_PORT to a free port`,
  );
  expect(await contents(dataDir)).toEqual(before);
});

it('PORT and SANDBOX_PORT the same: one line saying so, and DATA_DIR not created', async () => {
  const dataDir = join(await mkdtemp(join(tmpdir(), 'lead-router-port-taken-')), 'data');
  expect(await startError({ PORT: '39517', SANDBOX_PORT: '39517', DATA_DIR: dataDir })).toBe(
    'PORT and SANDBOX_PORT are both 39517: set one of them to another free port',
  );
  await expect(access(dataDir)).rejects.toThrow(/ENOENT/);
});

/** What binding `port` on this machine does now: 'bound' (let go at once), or the error code. */
function tryToBind(port: number): Promise<string> {
  return new Promise((resolve) => {
    const other = createServer();
    other.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    other.listen(port, '127.0.0.1', () => other.close(() => resolve('bound')));
  });
}

it('PORT and SANDBOX_PORT are held from the start on: another program cannot take them while the start reads DATA_DIR', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'lead-router-port-held-'));
  // The sandbox's app file as a FIFO: the start reads it after taking its ports and before its servers
  // listen, and waits there until the test has tried the ports and writes it.
  const appsFile = join(dataDir, 'sandbox-apps.json');
  await promisify(execFile)('mkfifo', [appsFile]);
  const [port, sandboxPort] = [await freePort('127.0.0.1'), await freePort('127.0.0.1')];
  const config = loadConfig({
    PORT: String(port),
    SANDBOX_PORT: String(sandboxPort),
    DATA_DIR: dataDir,
    DEMO_RATE: '0',
  });
  const starting = startApp(config, { logger, generate: false, keepSandboxData: true });
  // Opening a FIFO to write waits for its reader: the start is reading it now.
  const apps = await open(appsFile, 'w');
  const tried = [await tryToBind(port), await tryToBind(sandboxPort)];
  await apps.writeFile(
    JSON.stringify({ hubspot: { clientId: 'sandbox-held', clientSecret: 'a'.repeat(48) } }),
  );
  await apps.close();
  const app = await starting;
  try {
    expect(tried).toEqual(['EADDRINUSE', 'EADDRINUSE']);
    expect(app.url).toBe(`http://127.0.0.1:${port}`);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    expect(app.sandbox?.url).toBe(`http://127.0.0.1:${sandboxPort}`);
  } finally {
    await app.stop();
  }
});
