// What the pipeline tests share: a started sandbox CRM, the real HubSpotConnector on it, storage on
// SQLite or PostgreSQL, a rule set loaded from YAML and a fixed clock. The sandbox's write log is the
// judge of "exactly once".
import { HUBSPOT_BUCKETS } from '../../connectors/hubspot/profile.js';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Clock } from '../../connectors/sandbox-kit/clock.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HubSpotConnector } from '../../connectors/hubspot/connector.js';
import { LimiterFactory } from '../../connectors/shared/limiter.js';
import {
  createHubSpotSandbox,
  seedDemoPortal,
  type CrmObject,
  type DemoPortal,
  type HubSpotSandbox,
  type WriteRecord,
} from '../../connectors/sandbox/index.js';
import type { CrmConnector, CrmEvent } from '../../connectors/connector.js';
import type { RuleSet } from '../../src/core/types.js';
import { createLogger } from '../../src/log.js';
import { Worker, type DecisionInfo, type WorkerOptions } from '../../src/pipeline/worker.js';
import type { TenantRegistry } from '../../src/pipeline/runtime.js';
import { loadRuleSet } from '../../src/rules/index.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import { createPgSchema, describeNeeding, PG_URL, type SuiteFn } from '../support/services.js';

export const TENANT = 't1';
export const T0 = Date.parse('2026-11-26T12:00:00.000Z');

export const RULES = `
name: Pipeline test
pools:
  na: { members: [nina@acme.io, omar@acme.io, paula@acme.io, sam@acme.io], strategy: round_robin, fallback: { queue: triage } }
routes:
  - name: Seatless sender
    when: { title: Seatless }
    assign: { rep: dev@acme.io }
    task: { subject: 'Call {{email}}', due: 15m, priority: high }
    sequence: Enterprise demo follow-up
  - name: Needs enrichment
    when: { title: Enrich me }
    assign: { hold: { fields: [industry], timeout: 1h, then: { pool: na } } }
    task: { subject: 'Enriched lead {{email}}', due: 1h, priority: medium }
  - name: Everyone else
    assign: { pool: na }
    task: { subject: 'New lead {{email}}', due: 1h, priority: medium }
    sequence: Inbound nurture
fallback: { queue: triage }
team:
  reps:
    dev@acme.io: { timezone: Europe/London }
    nina@acme.io: { timezone: America/New_York }
    omar@acme.io: { timezone: America/Chicago }
    paula@acme.io: { timezone: America/Los_Angeles }
    sam@acme.io: { timezone: America/New_York }
  queues: { triage: { team: SMB } }
`;

/** RULES with an explanation note on every lead routed to the pool. */
export const RULES_WITH_NOTES = RULES.replace(
  '    sequence: Inbound nurture\n',
  '    sequence: Inbound nurture\n    note: true\n',
);

export const NA = ['nina@acme.io', 'omar@acme.io', 'paula@acme.io', 'sam@acme.io'];

export const logger = createLogger({ silent: true });

function ruleSet(source: string): RuleSet {
  const loaded = loadRuleSet(source, 'pipeline-test.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.ruleSet;
}

export interface PipelineSandbox {
  crm: HubSpotSandbox;
  url: string;
  limiters: LimiterFactory;
  /** A temporary directory for SQLite files, removed after the suite. */
  dir: string;
}

/**
 * Starts one sandbox CRM for the suite (beforeAll) and stops it after (afterAll); on the wall clock
 * unless given one (to date CRM changes, such as property history, on the test's fixed clock).
 */
export function useSandbox(options: { clock?: Clock } = {}): () => PipelineSandbox {
  let ctx: PipelineSandbox | undefined;
  beforeAll(async () => {
    const crm = createHubSpotSandbox({ seed: 5, ...options });
    const { url } = await crm.start();
    ctx = {
      crm,
      url,
      limiters: new LimiterFactory({ provider: 'hubspot-pipeline-test', buckets: HUBSPOT_BUCKETS }),
      dir: mkdtempSync(join(tmpdir(), 'lead-router-worker-')),
    };
  });
  afterAll(async () => {
    if (ctx === undefined) return;
    await ctx.crm.stop();
    await ctx.limiters.disconnectAll();
    rmSync(ctx.dir, { recursive: true, force: true });
  });
  return () => {
    if (ctx === undefined) throw new Error('the sandbox is not started');
    return ctx;
  };
}

export type Engine = 'sqlite' | 'postgres';

/** The engines to run on, each with the `describe` its services allow. */
export const ENGINES: [Engine, SuiteFn][] = [
  ['sqlite', describe],
  ['postgres', describeNeeding(['postgres'])],
];

export interface Env {
  ctx: PipelineSandbox;
  storage: Storage;
  demo: DemoPortal;
  portalId: number;
  clock: { now: number };
  /** The real connector on the sandbox portal, one attempt per call. */
  connector: HubSpotConnector;
  registry: TenantRegistry;
  decisions: DecisionInfo[];
  /** A registry serving `connector` (a connector that fails or hangs on purpose). */
  registryWith(connector: CrmConnector): TenantRegistry;
  worker(id?: string, options?: Partial<WorkerOptions>): Worker;
  /** Another storage on the same database (a second worker process). */
  openStorage(): Promise<Storage>;
  writes(kind: WriteRecord['kind'], objectId?: string): WriteRecord[];
  tasksFor(contactId: string): WriteRecord[];
  notesFor(contactId: string): WriteRecord[];
  enqueueCreated(contacts: CrmObject[], prefix?: string): Promise<number>;
  drain(worker: Worker): Promise<void>;
  close(): Promise<void>;
}

export interface SetupOptions {
  engine?: Engine;
  /** A SQLite file instead of `:memory:` (several storages on one database). */
  file?: string;
  rules?: string;
}

export async function setup(ctx: PipelineSandbox, options: SetupOptions = {}): Promise<Env> {
  const opened: Storage[] = [];
  let open: () => Promise<Storage>;
  let drop = (): Promise<void> => Promise.resolve();
  if ((options.engine ?? 'sqlite') === 'postgres') {
    const schema = await createPgSchema();
    open = () => openStorage({ url: PG_URL, schema: schema.name, now: () => T0 });
    drop = () => schema.drop();
  } else {
    const file = options.file ?? ':memory:';
    open = () => openStorage({ file, now: () => T0 });
  }
  const openTracked = async (): Promise<Storage> => {
    const s = await open();
    opened.push(s);
    return s;
  };
  const storage = await openTracked();
  await storage.createTenant({ id: TENANT, provider: 'hubspot', externalId: 'x', name: 'Demo' }, T0);
  const portal = ctx.crm.createPortal();
  const demo = seedDemoPortal(portal, 11, { companies: 20 });
  const portalId = portal.portalId;
  const clock = { now: T0 };
  const connector = new HubSpotConnector({
    portalId: String(portalId),
    accessToken: ctx.crm.issueToken(portalId).token,
    basePath: ctx.url,
    limiter: ctx.limiters.forPortal(String(portalId)),
    // One attempt: CRM failures reach the worker, whose stored backoff is what is under test.
    retry: { maxAttempts: 1 },
    // A 429 pauses the portal for its window in real time: short, so the suite does not wait 10 s.
    windows: { tenSecondlyMs: 100, secondlyMs: 100 },
  });
  const rules = ruleSet(options.rules ?? RULES);
  const registryWith = (c: CrmConnector): TenantRegistry => ({
    runtime: (tenantId) =>
      Promise.resolve({
        tenantId,
        connector: c,
        ruleSet: rules,
        team: rules.team ?? { reps: {}, queues: {} },
      }),
  });
  const registry = registryWith(connector);
  const decisions: DecisionInfo[] = [];
  const associated = (contactId: string, typeId: string) =>
    ctx.crm.writes
      .list({ portalId, kind: 'association.created', source: 'api' })
      .filter((w) => w.details['toId'] === contactId && w.details['typeId'] === typeId);
  return {
    ctx,
    storage,
    demo,
    portalId,
    clock,
    connector,
    registry,
    decisions,
    registryWith,
    worker: (id = 'w1', over = {}) =>
      new Worker({
        storage,
        registry,
        workerId: id,
        clock: () => clock.now,
        logger,
        batchSize: 10,
        onDecision: (info) => decisions.push(info),
        ...over,
      }),
    openStorage: openTracked,
    writes: (kind, objectId) => ctx.crm.writes.list({ portalId, kind, objectId, source: 'api' }),
    tasksFor: (contactId) => associated(contactId, '204'),
    notesFor: (contactId) => associated(contactId, '202'),
    enqueueCreated: async (contacts, prefix = 'c') =>
      (
        await storage.enqueue(
          contacts.map((c) => ({ tenantId: TENANT, event: created(c.id, `${prefix}-${c.id}`) })),
          clock.now,
        )
      ).length,
    drain: async (worker) => {
      while ((await worker.runOnce()) > 0);
    },
    close: async () => {
      for (const s of opened.splice(0)) await s.close();
      await drop();
    },
  };
}

export function created(objectId: string, eventId: string): CrmEvent {
  return { eventId, subscription: 'contact.creation', kind: 'created', objectId, occurredAt: T0 };
}

export function changed(objectId: string, eventId: string, property: string, value: string): CrmEvent {
  return {
    eventId,
    subscription: 'contact.propertyChange',
    kind: 'changed',
    objectId,
    property,
    value,
    occurredAt: T0,
  };
}

/** A trigger that makes every insert into `notifications` fail (a database error mid-transaction). */
export async function refuseNotifications(env: Env, on: boolean): Promise<void> {
  const db = env.storage.db;
  if (db.dialect.name === 'sqlite') {
    await db.run(
      on
        ? `CREATE TRIGGER refuse_notifications BEFORE INSERT ON notifications
             BEGIN SELECT RAISE(ABORT, 'notifications refused'); END`
        : 'DROP TRIGGER refuse_notifications',
    );
    return;
  }
  if (on) {
    await db.run(
      `CREATE OR REPLACE FUNCTION refuse_notifications() RETURNS trigger LANGUAGE plpgsql
         AS $$ BEGIN RAISE EXCEPTION 'notifications refused'; END $$`,
    );
    await db.run(
      `CREATE TRIGGER refuse_notifications BEFORE INSERT ON notifications
         FOR EACH ROW EXECUTE FUNCTION refuse_notifications()`,
    );
  } else await db.run('DROP TRIGGER refuse_notifications ON notifications');
}
