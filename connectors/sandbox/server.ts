// createHubSpotSandbox: a local HTTP server that @hubspot/api-client can talk to unchanged (basePath).
import type { Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { CallStats, callKind } from './call-stats.js';
import { type Clock, Prng, systemClock } from '../sandbox-kit/clock.js';
import { DEFAULT_API_BEHAVIOUR, type ApiBehaviour, type SandboxContext } from './context.js';
import { SandboxHttpError, sendError } from './errors.js';
import {
  DEFAULT_FAULTS,
  FaultInjector,
  hangUp,
  loseAnswer,
  sleep,
  type FaultOptions,
} from '../sandbox-kit/faults.js';
import { listenLocally, type SandboxPort } from '../sandbox-kit/listen.js';
import { oauthRouter, type OAuthSwitches } from './oauth.js';
import { readJournal, SandboxJournal, type SandboxState } from './persist.js';
import {
  DEFAULT_RATE_LIMITS,
  RATE_LIMIT_MESSAGES,
  RateLimiter,
  type RateLimitOptions,
} from './rate-limit.js';
import { adminRouter } from './routes/admin.js';
import { associationsRouter } from './routes/associations.js';
import { crmObjectsRouter } from './routes/crm-objects.js';
import { marketplaceRouter } from './routes/marketplace.js';
import { ownersRouter } from './routes/owners.js';
import { propertiesRouter } from './routes/properties.js';
import { sequencesRouter } from './routes/sequences.js';
import { Portal } from './store.js';
import { DEFAULT_APP, TokenStore, type AccessToken, type SandboxApp } from './tokens.js';
import {
  DEFAULT_WEBHOOK_TIMING,
  WebhookDispatcher,
  type WebhookConfig,
  type WebhookTiming,
} from './webhooks.js';
import { WriteLog } from './write-log.js';

export interface SandboxOptions {
  seed?: number;
  clock?: Clock;
  apps?: SandboxApp[];
  rateLimits?: Partial<RateLimitOptions>;
  faults?: Partial<FaultOptions>;
  webhookTiming?: Partial<WebhookTiming>;
  /** false: the v1 OAuth endpoints answer as after HubSpot's 2027-02-16 cut-off (default true). */
  oauthV1?: boolean;
  /** Search lag and batch answer order (also `POST /_sandbox/api`). */
  api?: Partial<ApiBehaviour>;
  /**
   * Keep the portals' data in this file (persist.ts) and continue from it: `npm start` does, so a
   * restarted demo keeps its contacts and ids. Without it (tests, benchmarks) the sandbox is in memory.
   */
  dataFile?: string | undefined;
}

export interface CreatePortalInput {
  portalId?: number;
  webhooks?: WebhookConfig;
}

export interface HubSpotSandbox {
  app: express.Express;
  start(port?: SandboxPort): Promise<{ url: string }>;
  stop(): Promise<void>;
  createPortal(input?: CreatePortalInput): Portal;
  portal(portalId: number): Portal;
  /** Portals that exist (created now, or kept in the data file from an earlier run). */
  portalIds(): number[];
  /** An access token for a portal without the OAuth dance (all scopes unless given). */
  issueToken(portalId: number, scopes?: string[]): AccessToken;
  configureWebhooks(portalId: number, config: WebhookConfig | undefined): void;
  readonly writes: WriteLog;
  /** API calls per portal by kind, and 429s by cause (budget spent vs. injected). */
  readonly calls: CallStats;
  readonly webhooks: WebhookDispatcher;
  readonly faults: FaultInjector;
  readonly rateLimiter: RateLimiter;
  readonly tokens: TokenStore;
  /** Search lag and batch answer order, changeable while running. */
  readonly behaviour: ApiBehaviour;
  /** The v1 OAuth switch (also `POST /_sandbox/oauth`) and how many v1 calls it refused. */
  readonly oauth: OAuthSwitches;
  readonly clock: Clock;
  /** Resets faults, rate windows and the write log (data stays). */
  reset(): void;
}

export function createHubSpotSandbox(options: SandboxOptions = {}): HubSpotSandbox {
  const seed = options.seed ?? 42;
  const clock = options.clock ?? systemClock;
  const ctxPrng = new Prng(seed);
  const portals = new Map<number, Portal>();
  const writes = new WriteLog();
  const calls = new CallStats();
  const ctx: SandboxContext = {
    clock,
    prng: ctxPrng,
    portals,
    correlationId: () => ctxPrng.uuid(),
    behaviour: { ...DEFAULT_API_BEHAVIOUR, ...options.api },
    shuffler: new Prng(seed + 4),
  };
  const tokens = new TokenStore(options.apps ?? [DEFAULT_APP], clock, new Prng(seed + 1));
  const limiter = new RateLimiter({ ...DEFAULT_RATE_LIMITS, ...options.rateLimits }, clock);
  const faults = new FaultInjector({ ...DEFAULT_FAULTS, ...options.faults }, new Prng(seed + 2));
  const webhooks = new WebhookDispatcher(
    { ...DEFAULT_WEBHOOK_TIMING, ...options.webhookTiming },
    clock,
    new Prng(seed + 3),
  );
  const oauth: OAuthSwitches = { v1Enabled: options.oauthV1 ?? true, v1Refused: 0 };
  let nextPortalId = 62515;
  let server: Server | undefined;
  const journal = options.dataFile === undefined ? undefined : new SandboxJournal(options.dataFile);

  const addPortal = (portalId: number): Portal => {
    const portal = new Portal(portalId, clock, writes);
    portal.onChange((e) => webhooks.handle(portalId, e));
    portals.set(portalId, portal);
    nextPortalId = Math.max(nextPortalId, portalId + 1);
    return portal;
  };

  const createPortal = (input: CreatePortalInput = {}): Portal => {
    const portalId = input.portalId ?? nextPortalId++;
    if (portals.has(portalId)) throw new Error(`portal ${portalId} exists`);
    const portal = addPortal(portalId);
    if (journal !== undefined) {
      journal.append({ t: 'portal', portalId });
      portal.journal = (change) => journal.append({ t: 'change', portalId, change });
    }
    if (input.webhooks !== undefined) webhooks.configure(portalId, input.webhooks);
    return portal;
  };

  if (journal !== undefined && options.dataFile !== undefined) {
    const state = replay(readJournal(options.dataFile), addPortal, writes);
    webhooks.restore(state);
    journal.compact(state);
    for (const portal of portals.values()) {
      portal.journal = (change) => journal.append({ t: 'change', portalId: portal.portalId, change });
    }
    writes.journal = (change) =>
      journal.append('record' in change ? { t: 'write', record: change.record } : { t: 'writesCleared' });
    webhooks.journal = (change) =>
      journal.append(
        'queued' in change
          ? { t: 'queued', event: change.queued }
          : { t: 'settled', eventIds: change.settled },
      );
  }

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '5mb' }));
  app.use(express.urlencoded({ extended: false }));
  app.use(oauthRouter(ctx, tokens, () => portals.keys().next().value, oauth));
  app.use(adminRouter({ ctx, writes, faults, limiter, webhooks, oauth }));
  app.use(marketplaceRouter(ctx, tokens, webhooks));

  // API pipeline: latency, bearer auth, rate limits, injected faults; then the routes.
  const api = express.Router();
  api.use(async (req: Request, res: Response, next: NextFunction) => {
    if (!req.path.startsWith('/crm/') && !req.path.startsWith('/automation/')) {
      next('router');
      return;
    }
    const latency = faults.current.latencyMs;
    if (latency > 0) await sleep(latency);
    const header = req.header('authorization') ?? '';
    const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1];
    if (bearer === undefined) {
      throw new SandboxHttpError(
        401,
        'INVALID_AUTHENTICATION',
        'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview',
      );
    }
    const token = tokens.lookup(bearer);
    const portal = token === undefined ? undefined : portals.get(token.portalId);
    if (token === undefined || portal === undefined) {
      throw new SandboxHttpError(
        401,
        'INVALID_AUTHENTICATION',
        'The OAuth token used to make this call is invalid.',
      );
    }
    const now = clock.now();
    if (token.expiresAt <= now) {
      const mins = Math.max(1, Math.floor((now - token.expiresAt) / 60_000));
      throw new SandboxHttpError(
        401,
        'EXPIRED_AUTHENTICATION',
        `The OAuth token used to make this call expired ${mins} minute(s) ago.`,
      );
    }
    const isSearch = req.method === 'POST' && req.path.endsWith('/search');
    const decision = limiter.check(portal.portalId, isSearch);
    res.set(decision.headers);
    if (!decision.allowed && decision.policy !== undefined) {
      calls.rateLimited(portal.portalId, decision.policy);
      res.status(429).json({
        status: 'error',
        message: RATE_LIMIT_MESSAGES[decision.policy],
        errorType: 'RATE_LIMIT',
        correlationId: ctx.correlationId(),
        policyName: decision.policy,
        requestId: ctx.correlationId(),
      });
      return;
    }
    const fault = faults.decide(req.path);
    if (fault !== undefined) calls.injected(portal.portalId, fault);
    else calls.accepted(portal.portalId, callKind(req.method, req.path));
    if (fault === '429') {
      const retryAfter = faults.current.retryAfterSec;
      if (retryAfter !== undefined) res.set('Retry-After', String(retryAfter));
      res.status(429).json({
        status: 'error',
        message: RATE_LIMIT_MESSAGES.TEN_SECONDLY_ROLLING,
        errorType: 'RATE_LIMIT',
        correlationId: ctx.correlationId(),
        policyName: 'TEN_SECONDLY_ROLLING',
        requestId: ctx.correlationId(),
      });
      return;
    }
    if (fault === '500')
      throw new SandboxHttpError(500, 'INTERNAL_ERROR', 'internal error (injected by the sandbox)');
    if (fault === 'timeout') {
      await hangUp(req, faults.current.timeoutHangMs);
      return;
    }
    if (fault === 'lost') loseAnswer(req, res);
    res.locals['portal'] = portal;
    res.locals['token'] = token;
    next();
  });
  api.use(ownersRouter());
  api.use(crmObjectsRouter(ctx));
  api.use(associationsRouter(ctx));
  api.use(sequencesRouter());
  api.use(propertiesRouter());
  app.use(api);

  app.use((req: Request, res: Response) => {
    sendError(
      res,
      new SandboxHttpError(404, 'OBJECT_NOT_FOUND', `No route for ${req.method} ${req.path}`),
      ctx.correlationId(),
    );
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof SandboxHttpError) return sendError(res, err, ctx.correlationId());
    const status = (err as { status?: unknown }).status;
    if (status === 400 && err instanceof SyntaxError) {
      return sendError(
        res,
        new SandboxHttpError(400, 'VALIDATION_ERROR', `Invalid input JSON: ${err.message}`),
        ctx.correlationId(),
      );
    }
    return sendError(
      res,
      new SandboxHttpError(500, 'INTERNAL_ERROR', err instanceof Error ? err.message : String(err)),
      ctx.correlationId(),
    );
  });

  return {
    app,
    writes,
    calls,
    webhooks,
    faults,
    rateLimiter: limiter,
    tokens,
    oauth,
    behaviour: ctx.behaviour,
    clock,
    createPortal,
    portalIds: () => [...portals.keys()],
    portal(portalId) {
      const p = portals.get(portalId);
      if (p === undefined) throw new Error(`no portal ${portalId}`);
      return p;
    },
    issueToken: (portalId, scopes) =>
      tokens.issue(scopes === undefined ? { portalId } : { portalId, scopes }),
    configureWebhooks: (portalId, config) => webhooks.configure(portalId, config),
    reset() {
      faults.reset();
      limiter.reset();
      writes.clear();
      calls.reset();
    },
    async start(port = 0) {
      const listening = await listenLocally(app, port);
      server = listening.server;
      return { url: listening.url };
    },
    async stop() {
      webhooks.stop();
      journal?.close();
      const s = server;
      server = undefined;
      if (s === undefined) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}

/** Rebuilds the portals, write log and webhook state from a journal's lines; returns the state as a snapshot. */
function replay(
  lines: ReturnType<typeof readJournal>,
  addPortal: (portalId: number) => Portal,
  writes: WriteLog,
): SandboxState {
  const portals = new Map<number, Portal>();
  const portalOf = (portalId: number): Portal => {
    let portal = portals.get(portalId);
    if (portal === undefined) {
      portal = addPortal(portalId);
      portals.set(portalId, portal);
    }
    return portal;
  };
  let records: SandboxState['writes'] = [];
  let nextEventId = 1;
  const undelivered = new Map<number, SandboxState['undelivered'][number]>();
  for (const line of lines) {
    switch (line.t) {
      case 'snapshot':
        for (const p of line.state.portals) portalOf(p.portalId).restore(p);
        records = [...line.state.writes];
        nextEventId = Math.max(nextEventId, line.state.nextEventId);
        for (const e of line.state.undelivered) undelivered.set(e.eventId, e);
        break;
      case 'portal':
        portalOf(line.portalId);
        break;
      case 'change':
        portalOf(line.portalId).apply(line.change);
        break;
      case 'write':
        records.push(line.record);
        break;
      case 'writesCleared':
        records = [];
        break;
      case 'queued':
        undelivered.set(line.event.eventId, line.event);
        nextEventId = Math.max(nextEventId, line.event.eventId + 1);
        break;
      case 'settled':
        for (const id of line.eventIds) undelivered.delete(id);
        break;
      default: {
        const never: never = line;
        throw new Error(`unknown journal line ${JSON.stringify(never)}`);
      }
    }
  }
  writes.restore(records);
  return {
    portals: [...portals.values()].map((p) => p.snapshot()),
    writes: records,
    nextEventId,
    undelivered: [...undelivered.values()],
  };
}
