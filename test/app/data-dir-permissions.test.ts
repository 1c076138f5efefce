// DATA_DIR holds leads' personal data (the SQLite database, the sandbox CRM's records) and the sandbox's
// secrets: on a shared machine only its owner may read any of it.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoOn } from '../support/demo-start.js';

describe.each(['hubspot', 'salesforce'] as const)('CRM=%s, DATA_DIR made by npm start', (crm) => {
  let parent: string;
  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'lead-router-perms-'));
  });
  afterAll(() => rm(parent, { recursive: true, force: true }));

  it('is readable by its owner only, and so is every file in it', async () => {
    const dataDir = join(parent, 'data');
    const app = await startDemoOn(dataDir, crm);
    let files: string[];
    let modes: Record<string, string>;
    // While it runs: the write-ahead log and the pid file are gone after the stop.
    try {
      files = await readdir(dataDir);
      modes = Object.fromEntries(
        await Promise.all(
          [dataDir, ...files.map((f) => join(dataDir, f))].map(
            async (path) => [path, ((await stat(path)).mode & 0o777).toString(8)] as const,
          ),
        ),
      );
    } finally {
      await app.stop();
    }
    // The database, its write-ahead log, the sandbox's records and its app's secret at least.
    expect(files).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/\.sqlite$/),
        expect.stringMatching(/\.sqlite-wal$/),
        expect.stringMatching(/^sandbox-.*\.jsonl$/),
        'sandbox-apps.json',
      ]),
    );
    const open = Object.entries(modes).filter(([, mode]) => !mode.endsWith('00'));
    expect(open).toEqual([]);
  });
});
