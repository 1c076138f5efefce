// `npm start` keeps the sandbox CRM in DATA_DIR, and with it the app the sandbox registered for
// lead-router: the settings tab opened before a restart (its link, its session) still opens after it.
// The link and the session are signed with the app's secret, which was new at every start.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningApp } from '../../src/app/start.js';
import { startDemoOn } from '../support/demo-start.js';

interface Opened {
  status: number;
  /** Where the link sends the browser: the tenant's Rules page. */
  page: string;
  cookie: string;
}

async function open(link: string): Promise<Opened> {
  const res = await fetch(link, { redirect: 'manual' });
  return {
    status: res.status,
    page: res.headers.get('location') ?? '',
    cookie: (res.headers.get('set-cookie') ?? '').split(';')[0]!,
  };
}

/** The status of the tenant's Rules page, asked with the session `opened` holds. */
async function rulesPage(app: RunningApp, opened: Opened): Promise<number> {
  const res = await fetch(app.url + opened.page, { headers: { cookie: opened.cookie }, redirect: 'manual' });
  return res.status;
}

describe.each(['hubspot', 'salesforce'] as const)('CRM=%s, restarted on the same DATA_DIR', (crm) => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('opens the settings link and the session of the run before', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'lead-router-link-restart-'));
    dirs.push(dataDir);
    const first = await startDemoOn(dataDir, crm);
    let link: string;
    let session: Opened;
    try {
      link = first.settingsUrl!;
      session = await open(link);
      expect([session.status, await rulesPage(first, session)]).toEqual([303, 200]);
    } finally {
      await first.stop();
    }

    const second = await startDemoOn(dataDir, crm);
    try {
      expect(second.settingsUrl).toBeDefined();
      expect({
        link: (await open(link.replace(new URL(link).origin, second.url))).status,
        session: await rulesPage(second, session),
      }).toEqual({ link: 303, session: 200 });
    } finally {
      await second.stop();
    }
    // Only its owner reads the file that holds the app's secret.
    expect((await stat(join(dataDir, 'sandbox-apps.json'))).mode & 0o777).toBe(0o600);
  });
});
