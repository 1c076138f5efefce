// CDC replay after a restart: the app (CRM=salesforce, the sandbox's org kept in DATA_DIR) routes leads,
// stops; leads are created in the org while it is down; started again, it resubscribes from its stored
// replay id and routes every one of them once, and none of the earlier ones again. Down for longer than
// the org retains events (72 h), the catch-up poll on CreatedDate finds them instead. Killed with
// SIGKILL (a real process), its successor on the same DATA_DIR reads the streams at once.
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSalesforceSandbox } from '../../connectors/sandbox-salesforce/index.js';
import { sqliteFile } from '../../src/app/open-storage.js';
import { freePort } from '../../src/app/start.js';
import { openStorage } from '../../src/storage/index.js';
import {
  createLeads,
  duplicated,
  effects,
  routed,
  salesforceConfig,
  startSalesforceApp,
  until,
} from './salesforce-support.js';

it('routes the leads created while the app was down, once, from the stored replay id', async () => {
  const config = await salesforceConfig();
  const first = await startSalesforceApp(config, { keepSandboxData: true });
  let before: string[];
  try {
    before = await createLeads(first, { count: 20 });
    await until('the first leads to be routed', () => routed(first, before));
  } finally {
    await first.app.stop();
  }

  // The org goes on without the app: its web forms create leads, retained as change events.
  const org = createSalesforceSandbox({
    seed: 7,
    dataFile: join(config.dataDir, 'sandbox-salesforce.jsonl'),
  });
  const demo = org.demoOrgs()[0]!;
  expect(demo.org.orgId).toBe(first.orgId);
  const whileDown = demo.createLeads(25, 'admin').map((l) => String(l['Id']));
  await org.stop();

  const second = await startSalesforceApp(config, { keepSandboxData: true });
  try {
    expect(second.orgId).toBe(first.orgId);
    // Resumed from where the first run stopped, not from new events only.
    expect(
      second.logs.some(
        (l) =>
          l.includes('"subscribed to change events"') &&
          l.includes('"replayFrom":-1') &&
          l.includes('LeadChangeEvent'),
      ),
    ).toBe(false);
    await until('the leads created while down to be routed', () => routed(second, whileDown));
    const after = await createLeads(second, { count: 5 });
    await until('the leads created after the restart to be routed', () => routed(second, after));
    const w = effects(second);
    const all = [...before, ...whileDown, ...after];
    expect(all.filter((id) => !w.owners.has(id))).toEqual([]);
    expect(duplicated(w, all)).toEqual([]);
  } finally {
    await second.app.stop();
  }
}, 180_000);

it('down beyond the 72-hour retention: the catch-up poll finds the leads the stream no longer has', async () => {
  const config = await salesforceConfig();
  const first = await startSalesforceApp(config, { keepSandboxData: true });
  let before: string[];
  try {
    before = await createLeads(first, { count: 10 });
    await until('the first leads to be routed', () => routed(first, before));
  } finally {
    await first.app.stop();
  }
  const org = createSalesforceSandbox({
    seed: 7,
    dataFile: join(config.dataDir, 'sandbox-salesforce.jsonl'),
  });
  const whileDown = org
    .demoOrgs()[0]!
    .createLeads(15, 'admin')
    .map((l) => String(l['Id']));
  await org.stop();

  // The org's clock is 73 hours on when the app comes back: every retained event has expired.
  const later = { now: () => Date.now() + 73 * 3_600_000 };
  const second = await startSalesforceApp(config, {
    keepSandboxData: true,
    salesforceSandbox: { clock: later },
  });
  try {
    await until('the leads created while down to be routed', () => routed(second, whileDown));
    // The stored replay id had expired with the events: the org refused it, and the poll found the leads.
    expect(second.logs.some((l) => l.includes('replay id refused'))).toBe(true);
    const after = await createLeads(second, { count: 5 });
    await until('the leads created after the restart to be routed', () => routed(second, after));
    const w = effects(second);
    const all = [...before, ...whileDown, ...after];
    expect(all.filter((id) => !w.owners.has(id))).toEqual([]);
    expect(duplicated(w, all)).toEqual([]);
  } finally {
    await second.app.stop();
  }
}, 180_000);

it('killed with SIGKILL: started again on its DATA_DIR, it reads the streams at once, not once the dead one’s lease lapses', async () => {
  const config = await salesforceConfig();
  // `npm start` as a user runs it (DEMO_RATE=0: the test creates the leads), with its logs at info.
  const killed = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: resolve(dirname(fileURLToPath(import.meta.url)), '../..'),
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      CRM: 'salesforce',
      HOST: '127.0.0.1',
      PORT: String(await freePort('127.0.0.1')),
      SANDBOX_PORT: String(await freePort('127.0.0.1')),
      DATA_DIR: config.dataDir,
      DEMO_RATE: '0',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let logs = '';
  killed.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  killed.stderr.on('data', (c: Buffer) => (logs += c.toString('utf8')));
  const exited = new Promise((done) => killed.once('exit', done));
  let before: string[];
  try {
    await until(
      'the first run to read both streams',
      () => logs.split('\n').filter((l) => l.includes('"subscribed to change events"')).length >= 2,
      60_000,
    );
    const [, sandboxUrl, orgId] = /Salesforce sandbox at (\S+) \(org (\w+)/.exec(out) ?? [];
    before = await createLeads({ sandboxUrl: sandboxUrl!, orgId: orgId! }, { count: 10 });
    await until(
      'the first run to decide its leads',
      () => out.split('\n').filter((l) => l.includes(' → ')).length >= 10,
    );
  } finally {
    killed.kill('SIGKILL');
    await exited;
  }

  // What the dead process left: its leases of both streams, which lapse 20-30 s after the kill.
  const left = await openStorage({ file: sqliteFile(config) });
  let lapses: number;
  try {
    const leases = await left.db.all<{ holder: string; expires_at: number }>(
      'SELECT holder, expires_at FROM stream_leases',
    );
    expect(leases.map((l) => l.holder.startsWith(`intake-${killed.pid}-`))).toEqual([true, true]);
    lapses = Math.min(...leases.map((l) => Number(l.expires_at)));
  } finally {
    await left.close();
  }

  const second = await startSalesforceApp(config, { keepSandboxData: true });
  try {
    const after = await createLeads(second, { count: 5 });
    await until('every lead to be routed', () => routed(second, [...before, ...after]));
    // Seconds the dead process's leases still had to run: without a takeover, nothing is read before.
    expect((lapses - Date.now()) / 1000).toBeGreaterThan(0);
    const takenOver = second.logs.filter((l) => l.includes('"took over the stream lease of a previous run"'));
    expect(takenOver).toHaveLength(2);
    expect(takenOver.every((l) => l.includes(`"previousHolder":"intake-${killed.pid}-`))).toBe(true);
    expect(duplicated(effects(second), [...before, ...after])).toEqual([]);
  } finally {
    await second.app.stop();
  }
}, 180_000);
