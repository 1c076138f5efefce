// `npm start` keeps the sandbox CRM in DATA_DIR, and with it the app the sandbox registered for
// lead-router: the settings tab opened before a restart (its link, its session) still opens after it.
// The link and the session are signed with the app's secret, which was new at every start.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/app/config.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';

const logger = createLogger({ level: 'error', stream: new Writable({ write: (_c, _e, done) => done() }) });

async function started(dataDir: string, crm: 'hubspot' | 'salesforce'): Promise<RunningApp> {
  const config = loadConfig({
    PORT: '0',
    SANDBOX_PORT: '0',
    DATA_DIR: dataDir,
    DEMO_RATE: '0',
    CRM: crm,
    ...(crm === 'salesforce' ? { RULES: 'rules/salesforce-demo/rules.yaml' } : {}),
  });
  return startApp(config, { logger, generate: false, keepSandboxData: true });
}

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
    const first = await started(dataDir, crm);
    let link: string;
    let session: Opened;
    try {
      link = first.settingsUrl!;
      session = await open(link);
      expect([session.status, await rulesPage(first, session)]).toEqual([303, 200]);
    } finally {
      await first.stop();
    }

    const second = await started(dataDir, crm);
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
