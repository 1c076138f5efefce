// createSalesforceSandbox: a local Salesforce org server that jsforce talks to unchanged (loginUrl and
// instanceUrl both point here). Runs in-process in tests and inside `npm start`.
import type { Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { CallStats } from '../sandbox-kit/call-stats.js';
import { type Clock, Prng, systemClock } from '../sandbox-kit/clock.js';
import {
  DEFAULT_FAULTS,
  FaultInjector,
  hangUp,
  loseAnswer,
  sleep,
  type FaultOptions,
} from '../sandbox-kit/faults.js';
import { listenLocally, type SandboxPort } from '../sandbox-kit/listen.js';
import { sfCallKind } from './call-kinds.js';
import { SalesforceHttpError, sendSalesforceError } from './errors.js';
import { IdFactory } from './ids.js';
import { ApiAllocation } from './limits.js';
import {
  bearerToken,
  DEFAULT_SF_APP,
  oauthRouter,
  SfTokenStore,
  type ConnectedApp,
  type SfSession,
} from './oauth.js';
import { DEFAULT_TASK_STATUSES, Org } from './org.js';
import {
  readSfJournal,
  replaySfJournal,
  SfSandboxJournal,
  type OrgSnapshot,
  type SfSandboxState,
} from './persist.js';
import { adminRouter } from './routes/admin.js';
import { restRouter } from './routes/rest.js';
import { DEMO_ORG_NAME, demoOrgOver, seedDemoOrg, type DemoOrg } from './seed.js';
import { ChangeEventStream } from './streaming.js';
import { SfWriteLog } from './write-log.js';

export interface SalesforceSandboxOptions {
  clock?: Clock;
  seed?: number;
  apps?: ConnectedApp[];
  faults?: Partial<FaultOptions>;
  /** API requests per org per rolling 24 hours (default 100,000). */
  dailyApiLimit?: number;
  /** How long a CometD /meta/connect is held open when there is nothing to send (default 25 s). */
  longPollTimeoutSec?: number;
  /**
   * Keep the orgs' data in this file (persist.ts) and continue from it: `CRM=salesforce npm start` does,
   * so a restarted demo goes on with the same org and no record id used twice. Tests keep it in memory.
   */
  dataFile?: string | undefined;
}

export interface SalesforceSandbox {
  app: express.Express;
  start(port?: SandboxPort): Promise<{ url: string }>;
  stop(): Promise<void>;
  /** A new empty org (no users; its Organization record named `name`); see createDemoOrg for a seeded one. */
  createOrg(name?: string): Org;
  /** A new org seeded with the demo users, queues, accounts, territories, cadences and assignment rule. */
  createDemoOrg(options?: { accounts?: number }): DemoOrg;
  org(orgId: string): Org;
  demo(orgId: string): DemoOrg;
  /** The seeded demo orgs, oldest first (one kept from an earlier run comes first). */
  demoOrgs(): DemoOrg[];
  /** A session for a user without the OAuth dance. */
  issueToken(orgId: string, userId: string): SfSession;
  readonly orgs: Map<string, Org>;
  readonly writes: SfWriteLog;
  readonly calls: CallStats<string>;
  readonly faults: FaultInjector;
  readonly allocation: ApiAllocation;
  readonly tokens: SfTokenStore;
  /** Change Data Capture over CometD at /cometd/<version>. */
  readonly streaming: ChangeEventStream;
  readonly clock: Clock;
  /**
   * Resets faults, allocations, call counts, the write log and the orgs' Setup knobs (duplicate rule,
   * CDC selection, Task statuses and their access); records stay.
   */
  reset(): void;
}

const invalidSession = () => new SalesforceHttpError(401, 'INVALID_SESSION_ID', 'Session expired or invalid');

export function createSalesforceSandbox(options: SalesforceSandboxOptions = {}): SalesforceSandbox {
  const clock = options.clock ?? systemClock;
  const seed = options.seed ?? 42;
  const orgs = new Map<string, Org>();
  const demos = new Map<string, DemoOrg>();
  const writes = new SfWriteLog();
  const calls = new CallStats<string>();
  const tokens = new SfTokenStore(options.apps ?? [DEFAULT_SF_APP], clock);
  const faults = new FaultInjector({ ...DEFAULT_FAULTS, ...options.faults }, new Prng(seed + 2));
  const allocation = new ApiAllocation(clock, options.dailyApiLimit ?? 100_000);
  const orgIds = new IdFactory('8d');
  const streaming = new ChangeEventStream(tokens, clock, new Prng(seed + 3), {
    ...(options.longPollTimeoutSec === undefined ? {} : { longPollTimeoutSec: options.longPollTimeoutSec }),
  });
  let server: Server | undefined;

  const journal = options.dataFile === undefined ? undefined : new SfSandboxJournal(options.dataFile);
  const snapshotOf = (org: Org): OrgSnapshot => {
    const demo = demos.get(org.orgId);
    return {
      orgId: org.orgId,
      records: Object.fromEntries([...org.records].map(([obj, table]) => [obj, [...table.values()]])),
      counters: org.ids.counters(),
      assignmentRule: org.assignmentRule,
      demo:
        demo === undefined
          ? undefined
          : { integrationUserId: demo.integrationUserId, queues: Object.fromEntries(demo.queues) },
      stream: streaming.state(org.orgId),
    };
  };
  const addOrg = (org: Org): Org => {
    orgs.set(org.orgId, org);
    streaming.watch(org);
    // Every save, as the record now stands (events and writes are journaled by their own hooks).
    if (journal !== undefined)
      org.onChange((change) => {
        const record = org.get(change.recordId);
        if (record !== undefined)
          journal.append({ t: 'record', orgId: org.orgId, sobject: change.entityName, record });
      });
    return org;
  };
  const createOrg = (name = 'Sandbox Org'): Org => {
    const org = addOrg(new Org(orgIds.make('00D'), new IdFactory('8d'), clock, writes));
    org.table('Organization').set(org.orgId, { Id: org.orgId, Name: name, IsDeleted: false });
    org.setTaskStatuses(DEFAULT_TASK_STATUSES);
    journal?.append({ t: 'org', org: snapshotOf(org) });
    return org;
  };

  if (journal !== undefined && options.dataFile !== undefined) {
    restore(replaySfJournal(readSfJournal(options.dataFile)));
    journal.compact({
      orgs: [...orgs.values()].map(snapshotOf),
      orgCounters: orgIds.counters(),
      writes: writes.list(),
    });
    streaming.journal = (orgId, event) => journal.append({ t: 'event', orgId, event });
    writes.journal = (change) =>
      journal.append('record' in change ? { t: 'write', record: change.record } : { t: 'writesCleared' });
  }

  /** The orgs, events and writes of an earlier run: ids and replay ids go on after theirs. */
  function restore(state: SfSandboxState): void {
    for (const [prefix, n] of Object.entries(state.orgCounters)) orgIds.advance(prefix, n - 1);
    for (const kept of state.orgs) {
      const ids = new IdFactory('8d');
      const org = addOrg(new Org(kept.orgId, ids, clock, writes));
      const parsed = IdFactory.parse(kept.orgId);
      if (parsed !== undefined) orgIds.advance(parsed.prefix, parsed.n);
      for (const [prefix, n] of Object.entries(kept.counters)) ids.advance(prefix, n - 1);
      for (const [obj, records] of Object.entries(kept.records)) {
        const table = org.table(obj);
        for (const record of records) {
          const id = String(record['Id']);
          table.set(id, record);
          const at = IdFactory.parse(id);
          if (at !== undefined) ids.advance(at.prefix, at.n);
        }
      }
      // An org kept before the sandbox had TaskStatus rows gets Salesforce's defaults.
      if (org.table('TaskStatus').size === 0) org.setTaskStatuses(DEFAULT_TASK_STATUSES);
      org.assignmentRule = kept.assignmentRule;
      if (kept.stream !== undefined) streaming.restore(org.orgId, kept.stream);
      if (kept.demo !== undefined) {
        // Drawn from a seed moved on by the leads made so far: new names, not the first run's again.
        const prng = new Prng(seed + org.table('Lead').size);
        demos.set(
          org.orgId,
          demoOrgOver(org, prng, {
            integrationUserId: kept.demo.integrationUserId,
            queues: new Map(Object.entries(kept.demo.queues)),
          }),
        );
      }
    }
    writes.restore(state.writes);
  }

  const reset = () => {
    faults.reset();
    streaming.resetSelection();
    for (const org of orgs.values()) {
      org.duplicateRule = undefined;
      org.hiddenObjects.clear();
      org.setTaskStatuses(DEFAULT_TASK_STATUSES);
    }
    allocation.reset();
    writes.clear();
    calls.reset();
  };

  const bearer = (req: Request): SfSession => {
    const token = bearerToken(req.header('authorization'));
    const session = token === undefined ? undefined : tokens.valid(token);
    if (session === undefined || !orgs.has(session.orgId)) throw invalidSession();
    return session;
  };

  const app = express();
  app.disable('x-powered-by');
  // CometD reads its own request bodies: mounted before the body parsers.
  app.use('/cometd', (req, res) => streaming.handle(req, res));
  app.use(express.json({ limit: '10mb' }));
  app.use(express.urlencoded({ extended: false }));
  app.use(
    oauthRouter({
      tokens,
      orgs,
      clock,
      defaultLogin: () => {
        const demo = demos.values().next().value;
        if (demo !== undefined) return { orgId: demo.org.orgId, userId: demo.integrationUserId };
        const org = orgs.values().next().value;
        const user = org?.all('User')[0];
        return org === undefined || user === undefined
          ? undefined
          : { orgId: org.orgId, userId: String(user['Id']) };
      },
      bearer: (req) => bearer(req),
    }),
  );
  app.use(adminRouter({ orgs, demos, writes, calls, faults, allocation, tokens, streaming, reset }));

  // The API pipeline: latency, session, daily allocation (reported on every answer), injected faults.
  const api = express.Router({ mergeParams: true });
  api.use(async (req: Request, res: Response, next: NextFunction) => {
    const latency = faults.current.latencyMs;
    if (latency > 0) await sleep(latency);
    const session = bearer(req);
    const org = orgs.get(session.orgId);
    if (org === undefined) throw invalidSession();
    const usage = allocation.consume(org.orgId);
    res.set('Sforce-Limit-Info', `api-usage=${usage.used}/${usage.limit}`);
    if (!usage.allowed) {
      calls.rateLimited(org.orgId, 'TotalRequests');
      throw new SalesforceHttpError(403, 'REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.');
    }
    const fault = faults.decide(req.originalUrl.split('?')[0] ?? '');
    if (fault !== undefined) calls.injected(org.orgId, fault);
    else calls.accepted(org.orgId, sfCallKind(req.method, req.originalUrl.split('?')[0] ?? ''));
    switch (fault) {
      case '429':
        // Salesforce has no 429 for API calls: a transient limit is REQUEST_LIMIT_EXCEEDED too.
        throw new SalesforceHttpError(
          403,
          'REQUEST_LIMIT_EXCEEDED',
          'ConcurrentRequests (Concurrent API Requests) Limit exceeded.',
        );
      case '500':
        throw new SalesforceHttpError(
          500,
          'UNKNOWN_EXCEPTION',
          'An unexpected error occurred. Please include this ErrorId if you contact support: 0000-sandbox (injected)',
        );
      case 'timeout':
        await hangUp(req, faults.current.timeoutHangMs);
        return;
      case 'lost':
        loseAnswer(req, res);
        break;
      case undefined:
        break;
      default: {
        const never: never = fault;
        throw new Error(`unknown fault ${String(never)}`);
      }
    }
    res.locals['org'] = org;
    res.locals['session'] = session;
    next();
  });
  api.use(restRouter(clock));
  app.get('/services/data', (req, res) => {
    const base = `${req.protocol}://${req.get('host') ?? 'localhost'}`;
    res.json(
      ['58.0', '59.0', '60.0', '61.0', '62.0', '63.0', '64.0'].map((v) => ({
        label: `v${v}`,
        url: `/services/data/v${v}`,
        version: v,
        base,
      })),
    );
  });
  app.use('/services/data/:version', api);

  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(
      new SalesforceHttpError(
        404,
        'NOT_FOUND',
        `The requested resource does not exist: ${req.method} ${req.path}`,
      ),
    );
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof SalesforceHttpError) return sendSalesforceError(res, err);
    if ((err as { status?: unknown }).status === 400 && err instanceof SyntaxError)
      return sendSalesforceError(
        res,
        new SalesforceHttpError(400, 'JSON_PARSER_ERROR', `Unexpected character: ${err.message}`),
      );
    return sendSalesforceError(
      res,
      new SalesforceHttpError(500, 'UNKNOWN_EXCEPTION', err instanceof Error ? err.message : String(err)),
    );
  });

  return {
    app,
    orgs,
    writes,
    calls,
    faults,
    allocation,
    tokens,
    streaming,
    clock,
    reset,
    createOrg,
    createDemoOrg(opts = {}) {
      const org = createOrg(DEMO_ORG_NAME);
      const demo = seedDemoOrg(org, seed, opts);
      demos.set(org.orgId, demo);
      // Seeding sets some records directly (the integration user, the active territory model).
      journal?.append({ t: 'org', org: snapshotOf(org) });
      return demo;
    },
    demoOrgs: () => [...demos.values()],
    org(orgId) {
      const org = orgs.get(orgId);
      if (org === undefined) throw new Error(`no org ${orgId}`);
      return org;
    },
    demo(orgId) {
      const demo = demos.get(orgId);
      if (demo === undefined) throw new Error(`no demo org ${orgId}`);
      return demo;
    },
    issueToken: (orgId, userId) => tokens.issue(orgId, userId),
    async start(port = 0) {
      const listening = await listenLocally(app, port);
      server = listening.server;
      return { url: listening.url };
    },
    async stop() {
      streaming.close();
      journal?.close();
      const s = server;
      server = undefined;
      if (s === undefined) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}
