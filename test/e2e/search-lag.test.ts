// The worker against two HubSpot behaviours, end to end: a task create HubSpot applied but whose answer
// was lost must be found (through the contact's associations, or a search, which lags creates, for a
// contact they leave out), so the worker looks only after its verify delay (longer than the lag here)
// and adopts the task instead of creating it twice; and batch answers come in no promised order, so each
// result is tied to its lead by the objectWriteTraceId HubSpot echoes.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/app/config.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';

const logger = createLogger({ silent: true });
/** Shorter than the worker's 5 s verify delay: a worker that searched sooner would miss the task. */
const SEARCH_LAG_MS = 2_000;
/** Routed first, their tasks created in batches whose answers come shuffled. */
const LEADS = 8;
/** Routed next, their first task batch applied by HubSpot but its answer lost. */
const LOST = 4;

describe('search lag and objectWriteTraceId, end to end', () => {
  let app: RunningApp | undefined;
  afterAll(() => app?.stop());

  it('a lost task create is adopted once search shows it; every task is recorded against its own lead', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'lead-router-lag-'));
    const running = await startApp(
      loadConfig({ PORT: '0', SANDBOX_PORT: '0', DATA_DIR: dataDir, DEMO_RATE: '0' }),
      {
        logger,
        generate: false,
        sandbox: { api: { searchLagMs: SEARCH_LAG_MS, shuffleBatchResults: true } },
      },
    );
    app = running;
    const { storage } = running;
    const sandbox = running.sandbox!;
    const crm = sandbox.crm;
    const portalId = Number(sandbox.portalId);
    const [tenant] = await storage.listTenants();
    const tenantId = tenant!.id;
    const routed = async (n: number): Promise<void> => {
      const deadline = Date.now() + 90_000;
      for (;;) {
        const stats = await storage.inboxStats(tenantId);
        if (stats.done >= n && stats.pending === 0 && stats.leased === 0) return;
        if (Date.now() > deadline) throw new Error(`not routed: ${JSON.stringify(stats)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    const leads = sandbox.demo.createContacts(LEADS).map((c) => c.id);
    await routed(LEADS);
    // HubSpot applies the next batch of tasks, and its answer never arrives.
    crm.faults.failNext('lost', 1, '/crm/v3/objects/tasks/batch/create');
    leads.push(...sandbox.demo.createContacts(LOST).map((c) => c.id));
    await routed(LEADS + LOST);
    expect(crm.calls.forPortal(portalId).injected).toEqual({ lost: 1 });

    // Exactly one task per lead: the lost ones were adopted, not made again.
    const writes = crm.writes.list({ portalId, source: 'api' });
    const taskIds = new Set(writes.filter((w) => w.kind === 'task.created').map((w) => w.objectId));
    const leadOfTask = new Map(
      writes
        .filter((w) => w.kind === 'association.created' && taskIds.has(w.objectId))
        .filter((w) => w.details['toType'] === 'contacts')
        .map((w) => [w.objectId, w.details['toId']]),
    );
    expect(taskIds.size).toBe(LEADS + LOST);
    expect([...leadOfTask.values()].sort()).toEqual([...leads].sort());

    // Each lead's task action records that lead's task, though answers came shuffled.
    const decisions = await storage.recentDecisions(tenantId, 100);
    expect(decisions).toHaveLength(LEADS + LOST);
    for (const d of decisions) {
      const actions = await storage.actionsForDecision(tenantId, d.decisionKey);
      const task = actions.find((a) => a.kind === 'create_task');
      expect([d.leadId, task?.status]).toEqual([d.leadId, 'done']);
      expect([d.leadId, leadOfTask.get(task!.crmId!)]).toEqual([d.leadId, d.leadId]);
    }
  });
});
