// The housekeeping lane purges by retention, on a fixed clock, with the real worker over the sandbox
// CRM: a month after routing the inbox rows are gone but the leads are still never routed twice; a year
// after, the audit trail goes too, in batches. It also adds the process's CRM call tally to the database.
import { CrmError } from '../../connectors/connector.js';
import { CrmCallTally } from '../../src/pipeline/crm-call-tally.js';
import { CrmCallRepository } from '../../src/storage/index.js';
import { ENGINES, setup, T0, TENANT, useSandbox, type Env } from './support.js';

const sandbox = useSandbox();
const DAY = 24 * 60 * 60_000;
const retention = {
  policy: { inboxDoneMs: 30 * DAY, deadLetterMs: 90 * DAY, decisionMs: 365 * DAY },
  batchSize: 5,
};

for (const [engine, suite] of ENGINES) {
  suite(`retention by the housekeeping lane on ${engine}`, () => {
    let env: Env;
    afterEach(async () => {
      await env.close();
    });

    it('purges done inbox rows after 30 days and decisions after a year; redeliveries still route nothing twice', async () => {
      env = await setup(sandbox(), { engine });
      const purged = new Map<string, number>();
      const worker = env.worker('w1', {
        retention,
        onPurged: (kind, rows) => purged.set(kind, (purged.get(kind) ?? 0) + rows),
      });
      const contacts = env.demo.createContacts(12, 'import');
      await env.enqueueCreated(contacts);
      await env.drain(worker);
      const decisions = async () =>
        Number((await env.storage.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM decisions'))?.n);
      expect(await decisions()).toBe(12);

      // A month on: 12 done rows in batches of 5 (one pass runs batches until one comes back short).
      env.clock.now = T0 + 31 * DAY;
      await worker.housekeep(env.clock.now);
      expect(await env.storage.inboxStats(TENANT)).toEqual({ pending: 0, leased: 0, done: 0, failed: 0 });
      expect(purged.get('inbox')).toBe(12);
      expect(await decisions()).toBe(12);

      // The same creations redelivered under new event ids: the effect keys are kept, nothing is written.
      const writes = sandbox().crm.writes.list({ portalId: env.portalId, source: 'api' }).length;
      expect(await env.enqueueCreated(contacts, 'redelivered')).toBe(12);
      await env.drain(worker);
      expect(sandbox().crm.writes.list({ portalId: env.portalId, source: 'api' })).toHaveLength(writes);

      // A year on: the audit trail, the effect keys and the redelivered rows.
      env.clock.now = T0 + 366 * DAY;
      await worker.housekeep(env.clock.now);
      expect(await decisions()).toBe(0);
      expect(purged.get('decisions')).toBe(12);
      expect(purged.get('effects')).toBe(12);
      expect(await env.storage.inboxStats(TENANT)).toMatchObject({ done: 0 });
    });

    it('adds the CRM call tally to the database at most every 15 s', async () => {
      env = await setup(sandbox(), { engine });
      const tenant = (await env.storage.getTenant(TENANT))!;
      const counts = new CrmCallRepository(env.storage.db);
      const tally = new CrmCallTally({
        counts,
        findTenant: (provider, externalId) => env.storage.findTenant(provider, externalId),
        clock: () => env.clock.now,
      });
      const worker = env.worker('w1', { crmCalls: tally });
      const since = T0 - 60 * 60_000;
      tally.record(tenant.provider, tenant.externalId, new CrmError('rate_limited', '429', { status: 429 }));
      tally.record(tenant.provider, tenant.externalId, undefined);
      await worker.housekeep(env.clock.now);
      expect(await counts.totalsSince(TENANT, since)).toMatchObject({ rate_limited: 1, ok: 1 });
      // Within 15 s of the last flush: kept in memory.
      tally.record(tenant.provider, tenant.externalId, new CrmError('auth', 'revoked', { status: 401 }));
      await worker.housekeep(env.clock.now + 14_000);
      expect(await counts.totalsSince(TENANT, since)).toMatchObject({ auth: 0 });
      await worker.housekeep(env.clock.now + 15_000);
      expect(await counts.totalsSince(TENANT, since)).toMatchObject({ rate_limited: 1, ok: 1, auth: 1 });
    });
  });
}
