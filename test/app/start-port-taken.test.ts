// `npm start` on a port another server holds fails with one line naming the port and the variable that
// picks another, before DATA_DIR is made or written: no database, sandbox data or demo install is left
// behind for the next start to "continue from DATA_DIR".
import { createHash } from 'node:crypto';
import { access, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ConfigError, loadConfig } from '../../src/app/config.js';
import { startApp } from '../../src/app/start.js';
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
