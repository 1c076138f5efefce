// `npm run demo:reset` starts the demo afresh: it removes the sandbox CRM's data and the SQLite
// database from DATA_DIR, and refuses while an app holds the directory.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function demoReset(dataDir: string, extra: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/app/demo-reset.ts'], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', DATA_DIR: dataDir, ...extra },
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('npm run demo:reset', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lead-router-reset-'));
    await mkdir(join(dir, 'data'));
    for (const f of [
      'sandbox-crm.jsonl',
      'lead-router.sqlite',
      'lead-router.sqlite-wal',
      'sandbox-encryption.key',
    ])
      await writeFile(join(dir, 'data', f), 'x');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('removes the sandbox data and the database, keeps the key', async () => {
    const r = demoReset(join(dir, 'data'));
    expect(r).toEqual({
      code: 0,
      out: expect.stringMatching(
        /^reset: removed sandbox-crm\.jsonl, lead-router\.sqlite, lead-router\.sqlite-wal from DATA_DIR=/,
      ),
      err: '',
    });
    expect(await readdir(join(dir, 'data'))).toEqual(['sandbox-encryption.key']);
  }, 30_000);

  it('refuses while a running app holds DATA_DIR, and removes nothing', async () => {
    // This test's own process stands in for the running app.
    await writeFile(join(dir, 'data', 'lead-router.pid'), `${process.pid}\n`);
    const r = demoReset(join(dir, 'data'));
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `lead-router: lead-router (pid ${process.pid}) is running with DATA_DIR=${join(dir, 'data')}: stop it first\n`,
    );
    expect((await readdir(join(dir, 'data'))).sort()).toEqual([
      'lead-router.pid',
      'lead-router.sqlite',
      'lead-router.sqlite-wal',
      'sandbox-crm.jsonl',
      'sandbox-encryption.key',
    ]);
  }, 30_000);

  it('refuses with DATABASE_URL set', () => {
    const r = demoReset(join(dir, 'data'), { DATABASE_URL: 'postgres://x@127.0.0.1/y' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/DATABASE_URL is set: .*nothing removed/);
  }, 30_000);
});
