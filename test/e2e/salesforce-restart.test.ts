// CDC replay after a restart: the app (CRM=salesforce, the sandbox's org kept in DATA_DIR) routes leads,
// stops; leads are created in the org while it is down; started again, it resubscribes from its stored
// replay id and routes every one of them once, and none of the earlier ones again. Down for longer than
// the org retains events (72 h), the catch-up poll on CreatedDate finds them instead.
import { join } from 'node:path';
import { createSalesforceSandbox } from '../../connectors/sandbox-salesforce/index.js';
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
