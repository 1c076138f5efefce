// The composition root: wires config, storage, the CRMs (HubSpot, Salesforce, or the bundled sandbox of
// either), the HTTP server, the worker and the pulled intake. `npm start`, the end-to-end tests and the benchmarks all start the app here.
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { readFile } from 'node:fs/promises';
import { createHmac, randomBytes } from 'node:crypto';
import type { ConnectorProfile } from '../../connectors/connector.js';
import { hubspotProfile } from '../../connectors/hubspot/profile.js';
import { hubspotPushedIntake } from '../../connectors/hubspot/pushed-intake.js';
import { LimiterFactory } from '../../connectors/shared/limiter.js';
import { SALESFORCE_PROFILE } from '../../connectors/salesforce/profile.js';
import { countStreams, countTenants, crmCallOutcome, Metrics } from '../metrics.js';
import { Notifier } from '../notify/notifier.js';
import { listenOps } from '../server/ops.js';
import {
  createHubSpotSandbox,
  ensureOwners,
  ensureTeams,
  ensureSequences,
  seedDemoPortal,
  type HubSpotSandbox,
  type SandboxOptions,
  type WebhookConfig,
  type WebhookSubscription,
} from '../../connectors/sandbox/index.js';
import type { DemoPortal } from '../../connectors/sandbox/seed.js';
import type { RuleSet, Team } from '../core/types.js';
import type { Logger } from '../log.js';
import { Worker, type DecisionInfo, type LeadOutcome } from '../pipeline/worker.js';
import { CRM_CALLS_FLUSH_MS, CrmCallTally } from '../pipeline/crm-call-tally.js';
import {
  formatDiagnostic,
  hasInlineTeam,
  loadRuleSet,
  loadTeam,
  teamVersion,
  type Diagnostic,
  type LoadResult,
  type TeamLoadResult,
} from '../rules/index.js';
import {
  createServer,
  hubspotRedirectUri,
  salesforceRedirectUri,
  SALESFORCE_INSTALL_PATH,
  type HomeLink,
} from '../server/index.js';
import { StreamIntake } from '../pipeline/stream-intake.js';
import { reportRoutes } from '../server/reports.js';
import { BulkRunner } from '../pipeline/bulk/runner.js';
import {
  BulkJobRepository,
  CrmCallRepository,
  StreamRepository,
  TenantConfigRepository,
  type Storage,
} from '../storage/index.js';
import type { Tenant } from '../storage/model.js';
import { ConfigError, ensureDataDir, isHttpsOrLocal, teamFileBeside, type AppConfig } from './config.js';
import { CRM_PROFILES } from './crm-profiles.js';
import { lockDataDir, sandboxAppCredentials, type DataDirLock } from './data-dir.js';
import { holdPorts } from './held-ports.js';
import { openAppStorage } from './open-storage.js';
import { appWebhookSubscriptions, holdProperties } from './webhook-subscriptions.js';
import { CrmRegistry, type CrmWiring } from './crms.js';
import { hubspotFetchVerifier, hubspotOAuth, hubspotWiring } from './hubspot.js';
import {
  salesforceCanvasVerifier,
  salesforceInstallFlow,
  salesforceWiring,
  SALESFORCE_PROVIDER,
  type SalesforceApp,
} from './salesforce.js';
import {
  installSalesforceThroughOAuth,
  startSalesforceSandbox,
  type RunningSalesforceSandbox,
  type SalesforceSandboxOptions,
} from './salesforce-sandbox.js';
import { Tenants } from './tenants.js';
import { RuleFieldCheck } from './rule-fields.js';
import {
  DEFAULT_FRAME_ANCESTORS,
  SettingsAccess,
  SettingsService,
  settingsLink,
  type SettingsDeps,
} from '../settings/index.js';

/** How often an intake process looks for orgs installed elsewhere whose streams it should compete for. */
const STREAM_SYNC_MS = 30_000;

/**
 * SLA timers are leased for this many times `WORKER_LEASE_MS` (2 min by default): a batch of them may
 * send up to 500 reminders through the portal's budget; renewed while it runs, the lease is what a dead
 * worker's timers wait out before another worker takes them.
 */
const SLA_LEASE_FACTOR = 2;

/** How long the settings link `npm start` prints in sandbox mode stays valid. */
const SANDBOX_LINK_TTL_MS = 60 * 60_000;

/** What `onDecision` is told per committed decision (the worker's own record of it). */
export type DecisionEvent = DecisionInfo;
/** What `onSettled` is told once a lead's routing is done or a dead letter. */
export type { LeadOutcome };

/**
 * How the app is started (`npm start`, the end-to-end tests, the benchmarks). The sandbox CRM is the one
 * `config.sandboxCrm` names (CRM=hubspot, the default, or CRM=salesforce); each has its own options:
 * - HubSpot sandbox: `sandbox` (faults, rate limits), `webhooks` (delivery).
 * - Salesforce sandbox: `salesforceSandbox` (faults, `dailyApiLimit`, clock, long-poll timeout);
 *   `RunningApp.salesforceSandbox` gives the sandbox (write log `crm.writes`, limits `crm.allocation`),
 *   its demo org and org id.
 * - Either: `generate` (demo contacts or leads at DEMO_RATE), `keepSandboxData`, `onDecision`,
 *   `onSettled`, `storage`, `clock`.
 */
export interface StartOptions {
  logger: Logger;
  clock?: () => number;
  onDecision?: (event: DecisionEvent) => void;
  /**
   * A lead's routing settled: routed once the CRM took its writes (the owner's first), or a dead letter;
   * `npm start` prints a line for each. A decision is committed before its writes, so `onDecision` is
   * too early to say a lead was routed.
   */
  onSettled?: (outcome: LeadOutcome) => void;
  /** HubSpot sandbox mode only: options for the sandbox CRM (faults, rate limits, webhook timing). */
  sandbox?: SandboxOptions;
  /** Salesforce sandbox mode only (CRM=salesforce): options for the Salesforce sandbox. */
  salesforceSandbox?: SalesforceSandboxOptions;
  /** Sandbox mode only: create demo contacts (HubSpot) or leads (Salesforce) at DEMO_RATE (default true). */
  generate?: boolean;
  /**
   * An org's change-event stream's catch-up poll: how often it also runs (5 min), and how long a change
   * event may take to arrive before a poll takes a new record for one the stream missed (60 s). The
   * tests of a silent stream make both short.
   */
  streamPoll?: { everyMs?: number; settleMs?: number };
  /** Sandbox mode only: webhook delivery settings (duplicates, reordering, drops) for the demo portal. */
  webhooks?: Partial<Pick<WebhookConfig, 'duplicateRate' | 'outOfOrder' | 'dropRate' | 'maxConcurrent'>>;
  /** Use this storage instead of opening one from the config (tests). */
  storage?: Storage;
  /**
   * Sandbox mode only: keep the sandbox CRM's data in DATA_DIR (`sandbox-crm.jsonl`, or
   * `sandbox-salesforce.jsonl`) and continue from it, so a restarted demo goes on where it stopped. `npm start` does; tests and benchmarks keep the
   * sandbox in memory unless they ask.
   */
  keepSandboxData?: boolean;
}

/** Where the team the app routes with comes from: a file (TEAM, or beside the rules), inline, or none. */
export type TeamSource = { kind: 'file'; path: string } | { kind: 'inline' } | { kind: 'none' };

export interface RunningApp {
  /** The public URL of the HTTP intake (not listening in a `worker` process). */
  url: string;
  storage: Storage;
  /** Absent in a `web` process. */
  worker: Worker | undefined;
  /** Present in HubSpot sandbox mode. */
  sandbox?:
    | {
        crm: HubSpotSandbox;
        url: string;
        demo: DemoPortal;
        portalId: string;
        /** The portal was kept from an earlier run (DATA_DIR), not created now. */
        resumed: boolean;
      }
    | undefined;
  /** Present in Salesforce sandbox mode (CRM=salesforce). */
  salesforceSandbox?: Omit<RunningSalesforceSandbox, 'app'> | undefined;
  /** The pulled intake (Salesforce change-event streams), absent in a `worker` process. */
  streams?: StreamIntake | undefined;
  /**
   * Sandbox mode: a signed link that opens the demo portal's settings tab (valid for an hour, so the
   * person reading the banner has time to click it).
   */
  settingsUrl?: string | undefined;
  /** The rule file and where its team comes from (for the banner). */
  rules: {
    path: string;
    name: string;
    team: TeamSource;
    /**
     * Sandbox mode: what the demo account's settings tab published that it routes with instead of the
     * files (kept across restarts while the files are unchanged); the team by its version.
     */
    publishedInTab?: { ruleSet?: { version: string; name: string }; team?: string } | undefined;
  };
  stop(): Promise<void>;
}

/** What the tenant routes with that its settings tab published instead of the rule file and team file. */
async function routedInsteadOfFiles(
  storage: Storage,
  tenantId: string,
  fileRules: { version: string },
  fileTeam: string | undefined,
): Promise<RunningApp['rules']['publishedInTab']> {
  const active = await storage.activeRuleset(tenantId);
  const team = await new TenantConfigRepository(storage.db).activeTeam(tenantId);
  const rulesFromTab = active !== null && active.version !== fileRules.version;
  const teamFromTab =
    team !== null && team.version !== (fileTeam === undefined ? null : teamVersion(fileTeam));
  if (!rulesFromTab && !teamFromTab) return undefined;
  return {
    ...(rulesFromTab ? { ruleSet: { version: active.version, name: active.name } } : {}),
    ...(teamFromTab ? { team: team.version } : {}),
  };
}

/** Reads a file the configuration names; a missing one is a start-up error naming the variable. */
async function readConfigFile(variable: 'RULES' | 'TEAM', path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT'
        ? `${variable}=${path}: no such file`
        : `${variable}=${path} cannot be read: ${(err as Error).message}`,
    );
  }
}

/**
 * The rule set and the team it routes with: TEAM when set, else the rule set's own team — inline, or a
 * `team.yaml` beside the rule file. As validate does, the team is loaded first and the rules are checked
 * once against it and each CRM served, so a start refuses with every error the rules have.
 */
async function readRules(config: AppConfig): Promise<{
  source: string;
  ruleSet: RuleSet;
  team: Team | undefined;
  teamSource: TeamSource;
  /** The TEAM file's text: what a new install's stored team starts from. */
  teamText?: string | undefined;
}> {
  const source = await readConfigFile('RULES', config.rulesPath);
  const crms = servedCrms(config);
  // Routing needs every queue's CRM target.
  const load = (team: Team | undefined): RuleSet =>
    forEachCrm(crms, (crm) => loadRuleSet(source, config.rulesPath, { team, requireQueueTargets: true, crm }))
      .ruleSet;
  const teamPath = config.teamPath ?? (hasInlineTeam(source) ? undefined : teamFileBeside(config.rulesPath));
  if (teamPath === undefined) {
    const ruleSet = load(undefined);
    const teamSource: TeamSource = ruleSet.team === undefined ? { kind: 'none' } : { kind: 'inline' };
    return { source, ruleSet, team: undefined, teamSource };
  }
  const teamText = await readConfigFile('TEAM', teamPath);
  const { team } = forEachCrm(crms, (crm) => loadTeam(teamText, teamPath, { crm }));
  return { source, teamText, ruleSet: load(team), team, teamSource: { kind: 'file', path: teamPath } };
}

/** The CRMs a new install comes from (the sandbox's, or those whose apps are configured). */
function servedCrms(config: AppConfig): ConnectorProfile[] {
  if (config.sandboxCrm !== undefined) return [CRM_PROFILES[config.sandboxCrm]];
  return (['hubspot', 'salesforce'] as const)
    .filter((crm) => config[crm] !== undefined)
    .map((crm) => CRM_PROFILES[crm]);
}

/**
 * A rule set or team loaded as for each CRM given (as for none when none is): new installs of every CRM
 * served route with it, so it must suit each. Refused with the errors for all of them, each once, in file
 * order.
 */
function forEachCrm<R extends LoadResult | TeamLoadResult>(
  crms: readonly ConnectorProfile[],
  load: (crm: ConnectorProfile | undefined) => R,
): Extract<R, { ok: true }> {
  const results = crms.length === 0 ? [load(undefined)] : crms.map(load);
  const errors = new Map<string, Diagnostic>();
  for (const result of results)
    if (!result.ok) for (const d of result.errors) errors.set(formatDiagnostic(d), d);
  const loaded = results.filter((r): r is Extract<R, { ok: true }> => r.ok);
  const last = loaded[loaded.length - 1];
  if (errors.size > 0 || last === undefined)
    throw new ConfigError(
      [...errors.values()]
        .sort((a, b) => a.line - b.line || a.column - b.column)
        .map(formatDiagnostic)
        .join('\n'),
    );
  return last;
}

/** Opens the configured storage, or fails with one line naming what to fix. */
async function openStorageOrExplain(config: AppConfig): Promise<Storage> {
  try {
    return await openAppStorage(config);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (config.databaseUrl !== undefined)
      throw new ConfigError(
        `cannot open the database at DATABASE_URL (${redactUrl(config.databaseUrl)}): ${reason}`,
      );
    throw new ConfigError(`cannot open the SQLite database in DATA_DIR=${config.dataDir}: ${reason}`);
  }
}

/** A database URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

export async function startApp(config: AppConfig, options: StartOptions): Promise<RunningApp> {
  const clock = options.clock ?? Date.now;
  const { logger } = options;
  const { source: rulesSource, ruleSet, team, teamSource, teamText } = await readRules(config);
  // Bound before DATA_DIR is made or written, and held until the servers listen: a start refused for its
  // port leaves no database, sandbox data or demo install for the next start to "continue from".
  const ports = await holdPorts(config);
  const stops: (() => Promise<void> | void)[] = [];
  // SQLite and the sandbox's data live in DATA_DIR, which one app holds at a time. Holding it on SQLite
  // (which runs only as ROLE=all: one process) makes this process the only one on its database: its
  // worker and its stream intake take a crashed predecessor's leases at once.
  const usesDataDir = config.sandboxCrm !== undefined || config.databaseUrl === undefined;
  let lock: DataDirLock | undefined;
  let storage: Storage;
  try {
    if (usesDataDir) {
      await ensureDataDir(config.dataDir);
      lock = await lockDataDir(config.dataDir);
    }
    storage = options.storage ?? (await openStorageOrExplain(config));
  } catch (err) {
    await lock?.release();
    await ports.release();
    throw err;
  }
  const soleProcess = lock !== undefined && options.storage === undefined && config.databaseUrl === undefined;
  const stopAll = async (): Promise<void> => {
    for (const stop of stops) await stop();
    // A port no server took over yet (the start failed before listening on it).
    await ports.release();
    if (options.storage === undefined) await storage.close();
    await lock?.release();
  };
  /** A step that may fail at start (a port in use, say): what started so far is stopped first. */
  const orUndo = async <T>(step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (err) {
      await stopAll().catch(() => undefined);
      throw err;
    }
  };

  // The public URL must be known before listening: webhooks are signed over it and OAuth redirects to it.
  const publicUrl = config.publicUrl ?? `http://${config.host}:${ports.app.port}`;
  const realCrm = config.hubspot !== undefined || config.salesforce !== undefined;
  if (realCrm && config.publicUrl === undefined)
    logger.warn(
      `PUBLIC_URL is not set: install links and OAuth callbacks use ${publicUrl}, which the CRM cannot send admins back to; set it to the https address this app is reached at`,
    );
  // HubSpot sends webhooks, and both CRMs send an admin back from their consent page, to https only.
  else if (realCrm && !(URL.canParse(publicUrl) && isHttpsOrLocal(new URL(publicUrl))))
    logger.warn(
      `PUBLIC_URL ${publicUrl} is not https: HubSpot and Salesforce send events and admins back only to https addresses (http only to this machine); set it to the https address this app is reached at`,
    );

  // Sandbox mode: a local HubSpot with a demo portal and an app registered for us.
  const keptDataDir = options.keepSandboxData === true ? config.dataDir : undefined;
  let sandbox: RunningApp['sandbox'];
  let hubspot = config.hubspot;
  if (config.sandboxCrm === 'hubspot') {
    const app = {
      appId: 4242,
      ...(await sandboxAppCredentials(keptDataDir, 'hubspot', 'sandbox-')),
    };
    const crm = createHubSpotSandbox({
      seed: 7,
      apps: [app],
      ...(keptDataDir !== undefined ? { dataFile: join(keptDataDir, 'sandbox-crm.jsonl') } : {}),
      ...options.sandbox,
      rateLimits: { max: config.hubspotRequestsPer10s, ...options.sandbox?.rateLimits },
    });
    const { url } = await orUndo(() => crm.start(ports.takeSandbox()));
    stops.push(() => crm.stop());
    const kept = crm.portalIds()[0];
    const portal = kept === undefined ? crm.createPortal({}) : crm.portal(kept);
    const demo = seedDemoPortal(portal);
    // The portal's users and sequences include those the rules name, so any rule set can route here.
    const reps = team ?? ruleSet.team;
    if (reps !== undefined) {
      // Queue targets too: owners by email, and teams.
      const targets = Object.values(reps.queues).map((q) => q.target);
      ensureOwners(portal, [
        ...Object.values(reps.reps),
        ...targets.flatMap((t) => (t.kind === 'owner' && t.owner.includes('@') ? [{ email: t.owner }] : [])),
      ]);
      ensureTeams(
        portal,
        targets.flatMap((t) => (t.kind === 'team' ? [t.team] : [])),
      );
    }
    ensureSequences(
      portal,
      [...ruleSet.routes.map((r) => r.actions), ruleSet.fallbackActions].flatMap(
        (a) => a.sequence?.name ?? [],
      ),
    );
    sandbox = { crm, url, demo, portalId: String(portal.portalId), resumed: kept !== undefined };
    hubspot = {
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      appId: String(app.appId),
      apiBase: url,
    };
  }

  // Salesforce sandbox mode: a local Salesforce with a demo org and a connected app registered for us.
  let salesforceSandbox: RunningApp['salesforceSandbox'];
  let salesforceApp: SalesforceApp | undefined =
    config.salesforce === undefined
      ? undefined
      : { ...config.salesforce, redirectUri: salesforceRedirectUri(publicUrl) };
  if (config.sandboxCrm === 'salesforce') {
    const credentials = await sandboxAppCredentials(keptDataDir, 'salesforce', 'sandbox-sf-');
    const started = await orUndo(() =>
      startSalesforceSandbox({
        port: ports.takeSandbox(),
        redirectUri: salesforceRedirectUri(publicUrl),
        options: options.salesforceSandbox,
        credentials,
        ...(keptDataDir !== undefined ? { dataFile: join(keptDataDir, 'sandbox-salesforce.jsonl') } : {}),
      }),
    );
    stops.push(() => started.crm.stop());
    const { app: sandboxApp, ...rest } = started;
    salesforceSandbox = rest;
    salesforceApp = sandboxApp;
  }
  // The demo tenant of sandbox mode: its install publishes whatever RULES names at every start.
  const demoTenant =
    sandbox !== undefined
      ? { provider: 'hubspot', externalId: sandbox.portalId }
      : salesforceSandbox !== undefined
        ? { provider: SALESFORCE_PROVIDER, externalId: salesforceSandbox.orgId }
        : undefined;

  const oauth = hubspot === undefined ? undefined : hubspotOAuth(hubspot, hubspotRedirectUri(publicUrl));
  // Signs what needs a secret every instance shares (settings links, Salesforce install states): a CRM
  // app's client secret, else the token encryption key (a real deployment always has one).
  const deploymentSecret =
    hubspot?.clientSecret ??
    salesforceApp?.clientSecret ??
    config.encryptionKey ??
    randomBytes(32).toString('hex');
  const metrics = new Metrics({
    queue: async () => {
      const depth = await storage.queueDepth();
      return (await storage.listTenants()).map((t) => ({
        tenantId: t.id,
        ...(depth.get(t.id) ?? { pending: 0, leased: 0, failed: 0 }),
      }));
    },
    tenants: async () => countTenants(await storage.listTenants()),
    // Read at scrape time, once the CRMs are registered (below).
    streams: async () => countStreams(await streamStates(), clock()),
  });
  // How every CRM call ended, per tenant and minute, for the Health page: tallied here, added to the
  // shared database by the worker's housekeeping (or a web process's timer) and at stop.
  const crmCalls = new CrmCallTally({
    counts: new CrmCallRepository(storage.db),
    findTenant: (provider, externalId) => storage.findTenant(provider, externalId),
    clock,
  });
  // Each connector states its CRM's budgets; its limiters are built from them. With Redis, every
  // instance draws from one rate budget per portal or org (a client per factory: each closes its own).
  const limitersFor = (
    provider: string,
    buckets: ConstructorParameters<typeof LimiterFactory>[0]['buckets'],
  ) => {
    const limiters = new LimiterFactory({
      provider: `${config.redisKeyPrefix}:${provider}`,
      observe: (portal, bucket, error) => {
        metrics.crmCall(portal, bucket, crmCallOutcome(error));
        crmCalls.record(provider, portal, error);
      },
      onLateSlot: (portal, bucket) => metrics.lateSlot(portal, bucket),
      buckets,
      ...(config.redisUrl === undefined ? {} : { redis: new Redis(config.redisUrl) }),
    });
    stops.push(() => limiters.disconnectAll());
    return limiters;
  };
  // One wiring per CRM, by provider; a tenant's connector is built by the wiring of its provider.
  const wirings: CrmWiring[] = [];
  if (hubspot !== undefined && oauth !== undefined) {
    // HubSpot's budgets sized to the configured rate.
    const profile = hubspotProfile(config.hubspotRequestsPer10s);
    const limiters = limitersFor('hubspot', profile.buckets);
    wirings.push(
      hubspotWiring({
        storage,
        oauth,
        limiters,
        profile,
        basePath: hubspot.apiBase,
        clock,
        multiValueProperties: config.hubspotMultiValueProperties,
        log: logger,
      }),
    );
  }
  const salesforce =
    salesforceApp === undefined
      ? undefined
      : salesforceWiring({
          storage,
          app: salesforceApp,
          limiters: limitersFor(SALESFORCE_PROVIDER, SALESFORCE_PROFILE.buckets),
          clock,
          usageSlowdown: config.salesforceUsageSlowdown,
          onUsage: (tenant, usage) =>
            metrics.apiUsage(tenant.id, usage.used, usage.limit, usage.pace.level !== 'normal'),
          onPaceChange: (tenant, usage, previous) => {
            const meta = {
              tenantId: tenant.id,
              orgId: tenant.externalId,
              used: usage.used,
              limit: usage.limit,
            };
            if (usage.pace.level === 'normal')
              logger.info('Salesforce org back under its API usage threshold: full speed', {
                ...meta,
                previous,
              });
            else
              logger.warn('Salesforce org above its API usage threshold: its work is slowed down', {
                ...meta,
                level: usage.pace.level,
                reason: usage.pace.reason,
                delayMs: usage.pace.level === 'slow' ? usage.pace.delayMs : undefined,
              });
          },
          onStoreError: (tenant, error) =>
            logger.error('refreshed Salesforce tokens not stored', {
              tenantId: tenant.id,
              orgId: tenant.externalId,
              error: error instanceof Error ? error.message : String(error),
            }),
          log: logger,
          ...(options.streamPoll === undefined ? {} : { poll: options.streamPoll }),
        });
  if (salesforce !== undefined) wirings.push(salesforce);
  const crms = new CrmRegistry(wirings);
  /** Every installed tenant's pulled streams as the database has them (for /readyz and /metrics). */
  const streamStates = () => storage.streamStates(crms.pulledChannels(), clock());

  // The pulled intake: each org's change-event stream, read by one intake process at a time (a lease in
  // the database), recorded into the same inbox as webhooks.
  const pulls = wirings.some((w) => w.pulledIntake !== undefined);
  const streams =
    config.role === 'worker' || !pulls
      ? undefined
      : new StreamIntake({
          storage,
          streams: new StreamRepository(storage.db),
          holder: `intake-${process.pid}-${randomBytes(3).toString('hex')}`,
          logger,
          clock,
          sole: soleProcess,
          // A worker in this process starts on the events at once instead of at its next poll (it is
          // created below, before any stream is read).
          onEnqueued: () => worker?.wake(),
          onMissed: (_tenantId, channel, count) => metrics.streamMissed(channel, count),
        });
  const streaming = new Set<string>();
  // One change of the set of streams at a time: an install, an uninstall and the periodic look.
  let streamChanges: Promise<void> = Promise.resolve();
  const serially = (change: () => Promise<void>): Promise<void> =>
    (streamChanges = streamChanges.then(change, change));
  /** Starts the stream of every installed tenant whose CRM pulls, that this process does not read yet. */
  const syncStreams = (): Promise<void> =>
    serially(async () => {
      if (streams === undefined) return;
      let all: Tenant[];
      try {
        all = await storage.listTenants();
      } catch (error) {
        logger.warn('tenants not listed for their streams', { error: String(error) });
        return;
      }
      for (const tenant of all) {
        if (streaming.has(tenant.id) || tenant.uninstalledAt !== null || !tenant.hasToken) continue;
        const wiring = crms.find(tenant.provider);
        if (wiring?.pulledIntake === undefined) continue;
        try {
          // A stream refused by the org's policy pauses the tenant as its work would, and waits as long.
          const intake = await wiring.pulledIntake(tenant, {
            paused: async (reason) => (await tenants.pause(tenant, reason))?.checkAt ?? null,
          });
          streams.add(tenant.id, wiring.profile.leadFieldProperties, intake);
          streaming.add(tenant.id);
        } catch (error) {
          logger.warn('change-event stream not started; tried again shortly', {
            tenantId: tenant.id,
            error: String(error),
          });
        }
      }
    });
  /** Stops a tenant's stream and drops what its wiring kept (new tokens, or an uninstall). */
  const unstream = (tenant: Tenant): Promise<void> =>
    serially(async () => {
      crms.find(tenant.provider)?.forget?.(tenant);
      if (!streaming.delete(tenant.id)) return;
      await streams?.remove(tenant.id);
    });
  const tenants = new Tenants({
    storage,
    crms,
    team,
    clock,
    onUninstalled: (tenant) => {
      logger.warn('portal uninstalled the app: tokens deleted, its work paused until a reinstall', {
        tenantId: tenant.id,
        portalId: tenant.externalId,
      });
      void unstream(tenant);
    },
    onPaused: (tenant, pause) =>
      logger.warn("the CRM account's policy refuses our credentials: its routing is paused, its leads wait", {
        tenantId: tenant.id,
        provider: tenant.provider,
        account: tenant.externalId,
        reason: pause.reason,
        checkAt: new Date(pause.checkAt).toISOString(),
      }),
    onResumed: (tenant, pause) =>
      logger.info('the CRM account accepts our credentials again: its routing resumed', {
        tenantId: tenant.id,
        provider: tenant.provider,
        account: tenant.externalId,
        pausedSince: new Date(pause.since).toISOString(),
      }),
    idleMs: config.tenantIdleMs,
    maxTenants: config.tenantCacheMax,
  });

  // The rule file checked against each account routing with it, in the background (at the end of start).
  const ruleFields = new RuleFieldCheck({
    rules: {
      path: config.rulesPath,
      source: rulesSource,
      version: ruleSet.version,
      team,
      teamFile:
        teamSource.kind === 'file' && teamText !== undefined
          ? { path: teamSource.path, source: teamText }
          : undefined,
    },
    storage,
    // The team each tenant routes with: one the settings tab published since the install is checked.
    activeTeam: (tenantId) => new TenantConfigRepository(storage.db).activeTeam(tenantId),
    profile: (provider) => crms.find(provider)?.profile,
    connector: async (tenant) => (await tenants.runtime(tenant.id)).connector,
    logger,
  });
  stops.unshift(() => ruleFields.stop());

  const notifier = new Notifier({
    repository: storage.notifications,
    logger,
    giveUpAfterMs: config.notifyGiveUpMs,
    onGiveUp: (tenantId, channel) => metrics.notificationGivenUp(tenantId, channel),
  });
  const runsWorker = config.role !== 'web';
  const workerId = `worker-${process.pid}-${randomBytes(3).toString('hex')}`;
  const worker = runsWorker
    ? new Worker({
        storage,
        registry: tenants,
        workerId,
        leaseMs: config.workerLeaseMs,
        bulk: new BulkRunner({
          storage,
          jobs: new BulkJobRepository(storage.db),
          registry: tenants,
          logger,
          holder: workerId,
          leaseMs: config.workerLeaseMs,
        }),
        maxBatchesPerTenant: config.workerTenantBatches ?? ((provider) => batchesInFlight(crms, provider)),
        concurrency: workerLanes(crms),
        tenantIdleMs: config.tenantIdleMs,
        maxTenants: config.tenantCacheMax,
        accountCacheTtlMs: config.accountCacheTtlMs,
        soleWorker: soleProcess,
        clock,
        logger,
        onOwnerWritten: (tenantId, leadCreatedAt) =>
          metrics.ownerWritten(tenantId, (clock() - leadCreatedAt) / 1000),
        onDeadLetter: (tenantId) => metrics.deadLetter(tenantId),
        notifier,
        sla: {
          leaseMs: SLA_LEASE_FACTOR * config.workerLeaseMs,
          onStep: (tenantId, step) => metrics.slaStep(tenantId, step),
        },
        retention: { policy: config.retention },
        crmCalls,
        onPurged: (kind, rows) => metrics.purged(kind, rows),
        onDecision: (info) => {
          metrics.decided(info.tenantId, info.decision.route?.name ?? 'fallback', info.decision.fallbacks);
          options.onDecision?.(info);
        },
        onSettled: (outcome) => options.onSettled?.(outcome),
      })
    : undefined;

  const flushCrmCalls = async (): Promise<void> => {
    try {
      await crmCalls.flush();
    } catch (error) {
      logger.error('CRM call counts not recorded', { error: String(error) });
    }
  };
  if (worker === undefined) {
    // A web process calls CRMs too (the settings tab's checks and syncs) and has no housekeeping lane.
    const timer = setInterval(() => void flushCrmCalls(), CRM_CALLS_FLUSH_MS);
    timer.unref();
    stops.push(() => clearInterval(timer));
  }
  // After the worker's last batch (stops run in order; storage closes after them all).
  stops.push(flushCrmCalls);

  const settingsAccess = new SettingsAccess(
    config.settingsSecret !== undefined
      ? Buffer.from(config.settingsSecret, 'utf8')
      : createHmac('sha256', deploymentSecret).update('lead-router settings links and sessions').digest(),
  );
  const settings: SettingsDeps = {
    access: settingsAccess,
    service: new SettingsService({
      storage,
      clock,
      defaultTeam: team,
      // The worker is created before the server, so it is there to wake (absent in a web process).
      onEnqueued: () => worker?.wake(),
      directory: async (tenantId) => (await tenants.runtime(tenantId)).connector.directory(),
      crmProfile: (provider) => crms.find(provider)?.profile,
      accountFields: async (tenantId) => {
        const { connector } = await tenants.runtime(tenantId);
        return connector.accountFields === undefined ? null : connector.accountFields();
      },
      crmStatus: async (tenantId) => {
        try {
          const checked = await (await tenants.runtime(tenantId)).connector.checkConnection();
          return checked.ok
            ? { ok: true, detail: 'connected' }
            : { ok: false, detail: `${checked.error.kind}: ${checked.error.message}` };
        } catch (error) {
          return { ok: false, detail: error instanceof Error ? error.message : String(error) };
        }
      },
    }),
    storage,
    logger,
    clock,
    publicUrl,
    frameAncestors: config.settingsFrameAncestors ?? DEFAULT_FRAME_ANCESTORS,
    tenantRoutes: [reportRoutes({ storage, logger, clock, team })],
    verifyCrmRequest: hubspot === undefined ? () => null : hubspotFetchVerifier(hubspot.clientSecret, clock),
    // A Salesforce org opens the tab as a canvas app, signed with the connected app's consumer secret.
    verifyCrmForm:
      salesforceApp?.clientSecret === undefined
        ? undefined
        : salesforceCanvasVerifier(salesforceApp.clientSecret),
  };
  if (salesforceApp !== undefined && salesforceApp.clientSecret === undefined)
    logger.warn(
      'SALESFORCE_CLIENT_SECRET is not set: the settings tab cannot open inside Salesforce (a canvas request is signed with the consumer secret); installs and routing work without it',
    );

  const server = createServer({
    settings,
    storage,
    logger,
    metrics,
    streams: streamStates,
    clock,
    publicUrl,
    homeLinks: homeLinks(publicUrl, {
      hubspot: hubspot !== undefined,
      salesforce: salesforceApp !== undefined,
      sandboxUrl: sandbox?.url ?? salesforceSandbox?.url,
    }),
    // The CRMs that push their events here; a pulled stream records into the same inbox.
    intakes:
      hubspot === undefined
        ? []
        : [hubspotPushedIntake({ clientSecret: hubspot.clientSecret, appId: hubspot.appId })],
    hubspot:
      hubspot === undefined || oauth === undefined
        ? undefined
        : {
            clientId: hubspot.clientId,
            clientSecret: hubspot.clientSecret,
            oauth,
            ...(sandbox !== undefined
              ? { authorizeOrigin: sandbox.url }
              : hubspot.authorizeOrigin !== undefined
                ? { authorizeOrigin: hubspot.authorizeOrigin }
                : {}),
          },
    salesforce:
      salesforceApp === undefined
        ? undefined
        : {
            install: salesforceInstallFlow(
              salesforceApp,
              createHmac('sha256', deploymentSecret).update('lead-router salesforce install').digest('hex'),
              clock,
            ),
            stateSecret: createHmac('sha256', deploymentSecret)
              .update('lead-router salesforce install states')
              .digest('hex'),
          },
    // A worker in this process starts at once; separate worker processes find the work by polling.
    onEnqueued: () => worker?.wake(),
    onInstalled: async (tenant: Tenant) => {
      // A new token set: what the wiring kept for the tenant (a session on the old tokens) goes, and a
      // pulled stream starts again on the new ones.
      await unstream(tenant);
      // A reinstall (to grant a scope, say) keeps the rules the tenant routes by — except the sandbox's
      // demo portal, which routes with whatever RULES names: a restart with other rules (or another
      // team) uses them, and a restart with the same files keeps what the settings tab published since.
      const isDemoPortal =
        demoTenant !== undefined &&
        tenant.provider === demoTenant.provider &&
        tenant.externalId === demoTenant.externalId;
      const tenantConfig = new TenantConfigRepository(storage.db);
      const installedWith = isDemoPortal
        ? (await tenantConfig.publications(tenant.id)).find((p) => p.publishedBy === 'install')
        : undefined;
      const sameFiles =
        installedWith?.rulesetVersion === ruleSet.version &&
        installedWith.teamVersion === (teamText === undefined ? null : teamVersion(teamText));
      const keep =
        tenant.activeRulesetVersion !== null &&
        (!isDemoPortal || tenant.activeRulesetVersion === ruleSet.version || sameFiles);
      if (keep) {
        logger.info('tenant reinstalled', {
          tenantId: tenant.id,
          portalId: tenant.externalId,
          ruleSet: tenant.activeRulesetVersion,
        });
        await syncStreams();
        ruleFields.installed(tenant.id);
        return;
      }
      // A new install routes with the configured rules and team until the settings tab publishes others.
      const published = await tenantConfig.publish(
        tenant.id,
        {
          rules: { version: ruleSet.version, name: ruleSet.name, source: rulesSource },
          team: teamText === undefined ? undefined : { version: teamVersion(teamText), source: teamText },
          publishedBy: 'install',
          note: `installed with ${config.rulesPath}`,
        },
        clock(),
      );
      if (published.status !== 'published')
        throw new Error(`the install's configuration was not published: ${published.status}`);
      logger.info('tenant installed', {
        tenantId: tenant.id,
        portalId: tenant.externalId,
        ruleSet: ruleSet.version,
      });
      await syncStreams();
      ruleFields.installed(tenant.id);
    },
  });
  // A worker process serves only health, readiness and metrics.
  const listening = await orUndo(() =>
    config.role === 'worker'
      ? listenOps({ storage, logger, metrics, streams: streamStates, clock }, ports.app.take(), config.host)
      : server.listen(ports.app.take()),
  );
  stops.unshift(() => listening.close());

  // The demo org is installed first: its stream then starts on the tokens of this run's install.
  if (salesforceSandbox !== undefined)
    await orUndo(() => installSalesforceThroughOAuth(`${publicUrl}${SALESFORCE_INSTALL_PATH}`));

  // Streams are read in intake processes; a worker process only routes.
  if (streams !== undefined) {
    // Also a periodic look: an org installed through another instance starts streaming here too.
    const timer = setInterval(() => void syncStreams(), STREAM_SYNC_MS);
    timer.unref();
    stops.unshift(async () => {
      clearInterval(timer);
      await streams.stop();
    });
    await syncStreams();
  }

  if (sandbox !== undefined && hubspot !== undefined) {
    // The sandbox delivers signed webhooks to us, as HubSpot would, then we install through real OAuth.
    crmWebhooks(
      sandbox,
      hubspot,
      publicUrl,
      await appWebhookSubscriptions(holdProperties(ruleSet)),
      options.webhooks ?? {},
    );
    await orUndo(() => installThroughOAuth(publicUrl));
  }

  if (worker !== undefined) {
    worker.start();
    // Stopping finishes the batches in flight (SIGTERM drains), after intake has stopped accepting.
    stops.splice(1, 0, () => worker.stop());
  }
  // Once the installs of this start are done and the connectors can be built; never waited for.
  ruleFields.sweep();

  let generator: { stop(): void } | undefined;
  const demo = sandbox?.demo ?? salesforceSandbox?.demo;
  if (demo !== undefined && (options.generate ?? true) && config.demoRate > 0) {
    generator = demo.startGenerator({ ratePerSec: config.demoRate });
    stops.unshift(() => generator?.stop());
  }

  let settingsUrl: string | undefined;
  let publishedInTab: RunningApp['rules']['publishedInTab'];
  if (demoTenant !== undefined) {
    const installed = await storage.findTenant(demoTenant.provider, demoTenant.externalId);
    if (installed !== null) {
      settingsUrl = settingsLink(
        settingsAccess,
        publicUrl,
        { tenantId: installed.id, user: 'admin@sandbox.test' },
        clock(),
        SANDBOX_LINK_TTL_MS,
      );
      publishedInTab = await routedInsteadOfFiles(storage, installed.id, ruleSet, teamText);
    }
  }

  return {
    url: publicUrl,
    storage,
    worker,
    sandbox,
    salesforceSandbox,
    streams,
    settingsUrl,
    rules: { path: config.rulesPath, name: ruleSet.name, team: teamSource, publishedInTab },
    stop: stopAll,
  };
}

/** The links of the page at `/`: where to install, or the sandbox CRM's write log. */
function homeLinks(
  publicUrl: string,
  crms: { hubspot: boolean; salesforce: boolean; sandboxUrl: string | undefined },
): HomeLink[] {
  if (crms.sandboxUrl !== undefined)
    return [
      {
        // The app's own writes (the log also holds the sandbox's seed and demo records).
        href: `${crms.sandboxUrl}/_sandbox/writes?source=api`,
        label: 'Sandbox CRM writes',
        about: 'every change the app made in the sandbox CRM',
      },
    ];
  return [
    ...(crms.hubspot
      ? [
          {
            href: `${publicUrl}/oauth/hubspot/install`,
            label: 'Install',
            about: 'install the app into a HubSpot portal',
          },
        ]
      : []),
    ...(crms.salesforce
      ? [
          {
            href: `${publicUrl}${SALESFORCE_INSTALL_PATH}`,
            label: 'Install in Salesforce',
            about: 'connect a Salesforce org',
          },
        ]
      : []),
  ];
}

function crmWebhooks(
  sandbox: NonNullable<RunningApp['sandbox']>,
  hubspot: NonNullable<AppConfig['hubspot']>,
  publicUrl: string,
  subscriptions: WebhookSubscription[],
  delivery: NonNullable<StartOptions['webhooks']>,
): void {
  sandbox.crm.configureWebhooks(Number(sandbox.portalId), {
    ...delivery,
    targetUrl: `${publicUrl}/webhooks/hubspot`,
    clientSecret: hubspot.clientSecret,
    appId: Number(hubspot.appId),
    subscriptions,
  });
}

/** Walks the OAuth install as a browser would: install → authorize (auto-approved) → callback. */
async function installThroughOAuth(publicUrl: string): Promise<void> {
  const res = await fetch(`${publicUrl}/oauth/hubspot/install`, { redirect: 'follow' });
  const text = await res.text();
  if (!res.ok) throw new ConfigError(`sandbox install failed: ${res.status} ${text.slice(0, 200)}`);
}

/** A port the OS says is free now (for tests and benchmarks that start several apps). */
export async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** A tenant's batches in flight: what its CRM's budget keeps busy (2 for a provider none registered). */
function batchesInFlight(crms: CrmRegistry, provider: string): number {
  return crms.find(provider)?.profile.batchesInFlight ?? 2;
}

/**
 * Lanes per worker: four, and two more than a tenant of the registered CRMs holds by its own budget, so
 * a new lead of another tenant finds a lane free while the busiest tenant has all its batches in flight.
 */
function workerLanes(crms: CrmRegistry): number {
  return Math.max(4, ...crms.providers.map((p) => batchesInFlight(crms, p) + 2));
}
