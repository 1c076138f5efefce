// Configuration from the environment, validated once. With no CRM credentials the app runs against the
// bundled sandbox CRM (HubSpot's, or Salesforce's with CRM=salesforce), so `npm start` works on a fresh
// clone with nothing set.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { closest } from '../rules/diagnostics.js';
import type { RetentionPolicy } from '../storage/model.js';
import { Keyring, parseKey, parseKeyList, TokenCryptoError } from '../../connectors/shared/crypto.js';

const portNumber = (fallback: number) =>
  z.coerce
    .number({ invalid_type_error: 'expected a port number from 0 to 65535' })
    .int('expected a port number from 0 to 65535')
    .min(0, 'expected a port number from 0 to 65535')
    .max(65535, 'expected a port number from 0 to 65535')
    .default(fallback);

/** An empty variable is an unset one (`SALESFORCE_CLIENT_ID=` in an env file). */
function unsetWhenEmpty<T extends z.ZodTypeAny>(schema: T) {
  return z.preprocess((v) => (v === '' ? undefined : v), schema);
}

/** The sandbox CRM and the tests run Salesforce's login on this machine, over http. */
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** What a CRM sends admins and events to: https, or http on this machine (the sandbox, tests). */
export function isHttpsOrLocal(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname));
}

/**
 * The hosts Salesforce logs an admin in on (https://help.salesforce.com/s/articleView?id=xcloud.domain_name_login_code.htm,
 * salesforce.md §6): the generic login hosts, and an org's My Domain — `<name>.my.salesforce.com`,
 * sandboxes' `<name>--<sandbox>.sandbox.my.salesforce.com` and the other partitioned domains under
 * my.salesforce.com (develop, scratch, demo, patch, trailblaze), Government Cloud Plus's
 * my.salesforce.mil, the legacy cloudforce.com — or an instance host (na1, cs42, usa77.salesforce.com).
 */
const GENERIC_LOGIN_HOSTS = ['login.salesforce.com', 'test.salesforce.com'];
const MY_DOMAIN_SUFFIXES = ['.my.salesforce.com', '.my.salesforce.mil', '.cloudforce.com'];
const INSTANCE_HOST = /^[a-z]{2,4}\d{1,3}(-s)?\.salesforce\.com$/;

const LOGIN_URL_EXAMPLES =
  "https://login.salesforce.com (production and Developer Edition orgs), https://test.salesforce.com (sandboxes) or the org's My Domain, https://<name>.my.salesforce.com";

function isSalesforceLoginHost(host: string): boolean {
  return (
    GENERIC_LOGIN_HOSTS.includes(host) ||
    MY_DOMAIN_SUFFIXES.some((suffix) => host.endsWith(suffix)) ||
    INSTANCE_HOST.test(host)
  );
}

/**
 * An org's other hosts, which an admin copies from the browser's address bar, and its My Domain login
 * host in the same partition (`sandbox.`, `develop.`, …): `acme.lightning.force.com` (Lightning pages),
 * `acme.my.salesforce-setup.com` (Setup), `acme.my.site.com` (Experience Cloud sites) and
 * `acme--c.vf.force.com` (Visualforce, `--<package>` added) are all `acme.my.salesforce.com`
 * (https://help.salesforce.com/s/articleView?id=products.domain_name_app_url_changes.htm).
 */
const ORG_PAGE_SUFFIXES = ['.lightning.force.com', '.my.salesforce-setup.com', '.my.site.com'];
const VISUALFORCE_HOST = /^(.+)--[a-z0-9_]+\.([a-z]+\.)?vf\.force\.com$/;

function myDomainOfPageHost(host: string): string | undefined {
  const suffix = ORG_PAGE_SUFFIXES.find((s) => host.endsWith(s) && host.length > s.length);
  if (suffix !== undefined) return `${host.slice(0, -suffix.length)}.my.salesforce.com`;
  const vf = VISUALFORCE_HOST.exec(host);
  return vf === null ? undefined : `${vf[1]}.${vf[2] ?? ''}my.salesforce.com`;
}

/**
 * The login host a wrong one most likely meant: the org's My Domain for one of its page hosts, else a
 * generic host or the same My Domain on a known suffix (a typo).
 */
function nearestLoginHost(host: string): string | undefined {
  const myDomain = myDomainOfPageHost(host);
  if (myDomain !== undefined) return myDomain;
  const labels = host.split('.');
  const myDomains = MY_DOMAIN_SUFFIXES.flatMap((suffix) => {
    const suffixLabels = suffix.slice(1).split('.');
    const name = labels.slice(0, labels.length - suffixLabels.length);
    return name.length === 0 ? [] : [[...name, ...suffixLabels].join('.')];
  });
  return closest(host, [...GENERIC_LOGIN_HOSTS, ...myDomains]);
}

/**
 * What is wrong with a SALESFORCE_LOGIN_URL, or undefined: it must be an https origin (http on this
 * machine, for the sandbox) with no path, query or fragment, on a host that can be Salesforce's login.
 * A typo would otherwise pass the start and fail only when an admin installs.
 */
function loginUrlProblem(value: string): string | undefined {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  const local = url !== undefined && LOCAL_HOSTS.has(url.hostname);
  const origin =
    url !== undefined &&
    isHttpsOrLocal(url) &&
    /^\/*$/.test(url.pathname) &&
    url.search === '' &&
    url.hash === '' &&
    url.username === '';
  const known = url !== undefined && (local || isSalesforceLoginHost(url.hostname));
  if (origin && known) return undefined;
  // The org's login host, suggested from a whole address-bar URL (a page's path, a query) too.
  const near = url === undefined || local ? undefined : known ? url.hostname : nearestLoginHost(url.hostname);
  const meant = near === undefined ? '' : ` (did you mean https://${near}?)`;
  if (!origin) return `expected the https login host only${meant}, such as ${LOGIN_URL_EXAMPLES}`;
  return `${url.hostname} is not a Salesforce login host${meant}: write ${LOGIN_URL_EXAMPLES}`;
}

const envSchema = z.object({
  /**
   * What this process runs: `all` (HTTP intake and the worker), `web` (intake, OAuth, health only) or
   * `worker` (routing only). Several web and worker processes can share one PostgreSQL and Redis.
   */
  ROLE: z.enum(['all', 'web', 'worker']).default('all'),
  PORT: portNumber(3000),
  HOST: z.string().default('127.0.0.1'),
  /** The public base URL HubSpot calls (webhooks are signed over it). */
  PUBLIC_URL: z.string().url().optional(),
  DATABASE_URL: z
    .string()
    .refine((url) => url === '' || /^postgres(ql)?:\/\/[^\s]+$/.test(url), {
      message: 'expected postgres://user@host:5432/database (unset it to use SQLite in DATA_DIR)',
    })
    .optional(),
  /** PostgreSQL schema for lead-router's tables (default: the connection's search_path). */
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'a plain lower-case identifier')
    .optional(),
  DATA_DIR: z.string().default('data'),
  /**
   * The CRM of the bundled sandbox (sandbox mode: no CRM app configured): `hubspot` (the default) or
   * `salesforce`. With real apps configured, the CRMs are those whose credentials are set.
   */
  CRM: z.enum(['hubspot', 'salesforce']).optional(),
  /** Unset: the sandbox CRM's demo rules (rules/hubspot-demo or rules/salesforce-demo); required with a real app. */
  RULES: z.string().optional(),
  /** Unset: the rule set's own team (inline, or a `team.yaml` beside the rule file). */
  TEAM: z.string().optional(),
  /** The key every secret is encrypted under (32 bytes, hex or base64). */
  TOKEN_ENCRYPTION_KEY: z.string().optional(),
  /**
   * Earlier keys, still read until `lead-router keys rotate` has re-encrypted everything under the
   * current one (comma-separated). Rotation: make the new key current, move the old one here, rotate,
   * then remove it.
   */
  TOKEN_ENCRYPTION_KEYS_OLD: z.string().optional(),
  /**
   * Signs the settings tab's links and sessions (at least 32 characters). Unset: derived from the
   * HubSpot client secret, so every instance of one deployment agrees without another secret to share.
   */
  SETTINGS_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  /**
   * Origins allowed to frame the settings tab, space- or comma-separated https origins (a leading
   * `*.` allowed). Unset: HubSpot's app domains. A Salesforce org's domains are added per tenant.
   */
  SETTINGS_FRAME_ANCESTORS: z
    .string()
    .transform((v) => v.split(/[\s,]+/).filter((o) => o !== ''))
    .refine((list) => list.every((o) => /^https:\/\/(\*\.)?[a-z0-9.-]+(:\d+)?$/i.test(o)), {
      message: 'expected https origins such as https://app.hubspot.com https://*.lightning.force.com',
    })
    .optional(),
  HUBSPOT_CLIENT_ID: z.string().optional(),
  HUBSPOT_CLIENT_SECRET: z.string().optional(),
  HUBSPOT_APP_ID: z.string().optional(),
  /** Where the HubSpot API is; the sandbox sets its own. */
  HUBSPOT_API_BASE: z.string().url().default('https://api.hubapi.com'),
  /** Where installing admins are sent to consent (the sandbox CRM, in tests, serves its own). */
  HUBSPOT_AUTHORIZE_ORIGIN: z.string().url().optional(),
  /** A Salesforce connected app (or external client app): its consumer key, and secret when it requires one. */
  SALESFORCE_CLIENT_ID: unsetWhenEmpty(z.string().optional()),
  SALESFORCE_CLIENT_SECRET: unsetWhenEmpty(z.string().optional()),
  /**
   * Where admins log in to install: https://login.salesforce.com, https://test.salesforce.com (sandbox
   * orgs) or a My Domain URL. The host only: the OAuth paths are added to it.
   */
  SALESFORCE_LOGIN_URL: unsetWhenEmpty(
    z
      .string()
      .superRefine((value, ctx) => {
        const problem = loginUrlProblem(value);
        if (problem !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
      })
      .optional(),
  ),
  /**
   * Fraction of a Salesforce org's daily API allocation (Sforce-Limit-Info) above which its work slows
   * down and /readyz reports it degraded: the allocation is shared with every integration of the org.
   */
  SALESFORCE_API_USAGE_SLOWDOWN: z.coerce
    .number({ invalid_type_error: 'expected a fraction between 0 and 1, such as 0.8' })
    .gt(0, 'expected a fraction between 0 and 1, such as 0.8')
    .lt(1, 'expected a fraction between 0 and 1, such as 0.8')
    .default(0.8),
  /**
   * The portal's API budget per rolling 10 s. 110 is HubSpot's limit for a marketplace app per installing
   * account; set it higher only when HubSpot granted more (the sandbox CRM enforces whatever it is told).
   */
  HUBSPOT_REQUESTS_PER_10S: z.coerce.number().int().min(2).max(10_000).default(110),
  /**
   * Contact properties read as multiple checkboxes in every portal served (comma-separated), besides the
   * ones each portal's properties say are (read with the optional scope crm.schemas.contacts.read): for
   * portals installed without it. HubSpot joins their values with `;`, and rules see them as lists of
   * values. Every other property is one value.
   */
  HUBSPOT_MULTI_VALUE_PROPERTIES: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== ''),
    ),
  /**
   * How long a worker holds claimed work before another may take it over: the delay before a crashed
   * worker's leads are routed by the others. SLA timers are held twice as long (default 2 min): a batch
   * of them is up to 500 timers, each of which may send a reminder through the portal's budget.
   */
  WORKER_LEASE_MS: z.coerce.number().int().min(1000).default(60_000),
  /**
   * Batches of one tenant in flight at once across all workers: more lanes than a portal's rate budget
   * keeps busy would only wait on it, while another tenant's new lead waits for a lane. Unset: each CRM's
   * own (HubSpot 2, Salesforce 10).
   */
  WORKER_TENANT_BATCHES: z.coerce.number().int().min(1).max(64).optional(),
  /**
   * How long a tenant's runtime (connector, rate limiter, rule set, CRM directory) stays in memory after
   * its last use; and how many tenants' runtimes one process keeps at most.
   */
  TENANT_IDLE_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(10 * 60_000),
  TENANT_CACHE_MAX: z.coerce.number().int().min(1).default(1_000),
  /**
   * How long a bulk job (backfill, reassign) reuses the accounts it looked up for a domain in its later
   * batches, in ms; 0 looks every batch's domains up again. Up to this long, a bulk job routes on an
   * account's owner as it was when the job first met its domain. Live leads always look up afresh.
   */
  ACCOUNT_CACHE_TTL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(5 * 60_000),
  /**
   * How long a notification is retried, in hours, before it is given up and its channel reported failing
   * (a receiver down for longer gets no flood of stale notices when it comes back).
   */
  NOTIFY_GIVE_UP_HOURS: z.coerce.number().positive().default(24),
  /**
   * Retention, in days, of rows nothing needs any more (the housekeeping lane deletes them in batches):
   * inbox rows routed, dead letters nobody replayed, and the audit trail (decisions with their actions
   * and SLA timers, effect keys, settled holds). Work still pending or in flight is never deleted.
   */
  RETENTION_INBOX_DAYS: z.coerce.number().positive().default(30),
  RETENTION_DEAD_LETTER_DAYS: z.coerce.number().positive().default(90),
  RETENTION_DECISION_DAYS: z.coerce.number().positive().default(365),
  SANDBOX_PORT: portNumber(3100),
  /** Demo contacts created per second in sandbox mode. */
  DEMO_RATE: z.coerce.number().min(0).max(100).default(0.5),
  /** The JSON log's level (winston's): `npm start` logs warnings and errors unless told otherwise. */
  LOG_LEVEL: unsetWhenEmpty(
    z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']).optional(),
  ),
  REDIS_URL: z.string().optional(),
  /** Namespace of the shared rate-limiter keys in Redis; instances sharing a budget use the same. */
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[\w.-]+$/, 'letters, digits, _ . -')
    .default('lead-router'),
});

export type Role = 'all' | 'web' | 'worker';

const DAY_MS = 24 * 60 * 60_000;

export interface AppConfig {
  role: Role;
  port: number;
  host: string;
  publicUrl: string | undefined;
  databaseUrl: string | undefined;
  databaseSchema: string | undefined;
  dataDir: string;
  rulesPath: string;
  /** The team file TEAM names; unset, the rule set's own team is used (see `teamFileBeside`). */
  teamPath: string | undefined;
  encryptionKey: string | undefined;
  oldEncryptionKeys: string | undefined;
  hubspot:
    | {
        clientId: string;
        clientSecret: string;
        appId: string;
        apiBase: string;
        authorizeOrigin?: string | undefined;
      }
    | undefined;
  /** A real Salesforce connected app; absent: no real Salesforce org can be installed. */
  salesforce: { clientId: string; clientSecret?: string | undefined; loginUrl: string } | undefined;
  /**
   * Sandbox mode (no real CRM app configured): which CRM the bundled sandbox plays. Undefined with real
   * apps.
   */
  sandboxCrm: 'hubspot' | 'salesforce' | undefined;
  /** Fraction of an org's daily API allocation above which its work slows down (0.8). */
  salesforceUsageSlowdown: number;
  hubspotRequestsPer10s: number;
  /** HubSpot contact properties read as lists (multiple checkboxes) besides those each portal says are. */
  hubspotMultiValueProperties: string[];
  workerLeaseMs: number;
  /** Unset: each CRM's own (its connector profile's batchesInFlight). */
  workerTenantBatches: number | undefined;
  tenantIdleMs: number;
  tenantCacheMax: number;
  accountCacheTtlMs: number;
  /** How long a notification is retried before it is given up (ms). */
  notifyGiveUpMs: number;
  retention: RetentionPolicy;
  sandboxPort: number;
  demoRate: number;
  /** LOG_LEVEL, when set. */
  logLevel: string | undefined;
  redisUrl: string | undefined;
  redisKeyPrefix: string;
  settingsSecret: string | undefined;
  settingsFrameAncestors: string[] | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    // One line naming each variable, its value and what it should be.
    const issues = parsed.error.issues
      .map((i) => {
        const name = i.path.join('.');
        const value = env[name];
        return value === undefined
          ? `${name}: ${i.message}`
          : `${name}=${JSON.stringify(value)}: ${i.message}`;
      })
      .join('; ');
    throw new ConfigError(`invalid environment: ${issues}`);
  }
  const e = parsed.data;
  const creds = [e.HUBSPOT_CLIENT_ID, e.HUBSPOT_CLIENT_SECRET, e.HUBSPOT_APP_ID];
  if (creds.some((c) => c !== undefined) && creds.some((c) => c === undefined)) {
    throw new ConfigError(
      'set all of HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET and HUBSPOT_APP_ID, or none (sandbox mode)',
    );
  }
  const hubspot =
    e.HUBSPOT_CLIENT_ID !== undefined &&
    e.HUBSPOT_CLIENT_SECRET !== undefined &&
    e.HUBSPOT_APP_ID !== undefined
      ? {
          clientId: e.HUBSPOT_CLIENT_ID,
          clientSecret: e.HUBSPOT_CLIENT_SECRET,
          appId: e.HUBSPOT_APP_ID,
          apiBase: e.HUBSPOT_API_BASE,
          authorizeOrigin: e.HUBSPOT_AUTHORIZE_ORIGIN,
        }
      : undefined;
  if (e.SALESFORCE_CLIENT_ID === undefined) {
    const stray = (['SALESFORCE_CLIENT_SECRET', 'SALESFORCE_LOGIN_URL'] as const).filter(
      (name) => e[name] !== undefined,
    );
    if (stray.length > 0)
      throw new ConfigError(
        `${stray.join(' and ')} set without SALESFORCE_CLIENT_ID: set the connected app's consumer key too, or unset ${stray.length > 1 ? 'them' : 'it'} (sandbox mode)`,
      );
  }
  const salesforce =
    e.SALESFORCE_CLIENT_ID === undefined
      ? undefined
      : {
          clientId: e.SALESFORCE_CLIENT_ID,
          clientSecret: e.SALESFORCE_CLIENT_SECRET,
          loginUrl: (e.SALESFORCE_LOGIN_URL ?? 'https://login.salesforce.com').replace(/\/+$/, ''),
        };
  const real = hubspot !== undefined || salesforce !== undefined;
  // With real apps, CRM may only name one of them: a sandbox does not run beside a real CRM.
  if (e.CRM === 'salesforce' && hubspot !== undefined && salesforce === undefined)
    throw new ConfigError(
      'CRM=salesforce with a HubSpot app only: set SALESFORCE_CLIENT_ID (and SALESFORCE_CLIENT_SECRET) to serve Salesforce orgs, or unset the HUBSPOT_* variables to run the Salesforce sandbox',
    );
  if (e.CRM === 'hubspot' && salesforce !== undefined && hubspot === undefined)
    throw new ConfigError(
      'CRM=hubspot with a Salesforce app only: set HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET and HUBSPOT_APP_ID to serve HubSpot portals, or unset CRM',
    );
  const sandboxCrm = real ? undefined : (e.CRM ?? 'hubspot');
  if (!real && e.ROLE !== 'all') {
    throw new ConfigError(
      `ROLE=${e.ROLE} needs a real CRM app (HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET, HUBSPOT_APP_ID, or SALESFORCE_CLIENT_ID): the bundled sandbox CRM runs only with ROLE=all`,
    );
  }
  if (e.ROLE !== 'all' && (e.DATABASE_URL ?? '') === '') {
    throw new ConfigError(
      `ROLE=${e.ROLE} needs DATABASE_URL (PostgreSQL): separate web and worker processes share work through it`,
    );
  }
  const realApp = `a real ${hubspot !== undefined ? 'HubSpot' : 'Salesforce'} app`;
  if (real && e.TOKEN_ENCRYPTION_KEY === undefined) {
    throw new ConfigError(`TOKEN_ENCRYPTION_KEY is required with ${realApp} (32 bytes, hex or base64)`);
  }
  // The demo rules route to the sandbox's reps and queues: in a real CRM they would send every lead to
  // people and queues it does not have.
  if (real && (e.RULES ?? '') === '') {
    throw new ConfigError(
      `RULES is required with ${realApp}: the demo rules route to the sandbox's reps and queues. Point RULES (and TEAM) at your own rule file, e.g. a copy of rules/saas-inbound/rules.yaml; \`npm run cli -- validate <file>\` checks it`,
    );
  }
  // The audit trail outlives what it explains: while a lead's decision is kept it is never routed twice.
  if (e.RETENTION_DECISION_DAYS < Math.max(e.RETENTION_INBOX_DAYS, e.RETENTION_DEAD_LETTER_DAYS)) {
    throw new ConfigError(
      'RETENTION_DECISION_DAYS must be at least RETENTION_INBOX_DAYS and RETENTION_DEAD_LETTER_DAYS',
    );
  }
  // A malformed key is a configuration error now, not a failed decryption later.
  try {
    if (e.TOKEN_ENCRYPTION_KEY !== undefined) parseKey(e.TOKEN_ENCRYPTION_KEY, 'TOKEN_ENCRYPTION_KEY');
    parseKeyList(e.TOKEN_ENCRYPTION_KEYS_OLD, 'TOKEN_ENCRYPTION_KEYS_OLD');
  } catch (error) {
    if (error instanceof TokenCryptoError) throw new ConfigError(error.message);
    throw error;
  }
  return {
    role: e.ROLE,
    port: e.PORT,
    host: e.HOST,
    // Links are built as `${publicUrl}/path`: a trailing slash would make them `//path` (a 404).
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    databaseUrl: e.DATABASE_URL === '' ? undefined : e.DATABASE_URL,
    databaseSchema: e.DATABASE_SCHEMA,
    dataDir: e.DATA_DIR,
    rulesPath:
      e.RULES === undefined || e.RULES === '' ? `rules/${sandboxCrm ?? 'hubspot'}-demo/rules.yaml` : e.RULES,
    teamPath: e.TEAM === '' ? undefined : e.TEAM,
    encryptionKey: e.TOKEN_ENCRYPTION_KEY,
    oldEncryptionKeys: e.TOKEN_ENCRYPTION_KEYS_OLD,
    hubspot,
    salesforce,
    sandboxCrm,
    salesforceUsageSlowdown: e.SALESFORCE_API_USAGE_SLOWDOWN,
    hubspotRequestsPer10s: e.HUBSPOT_REQUESTS_PER_10S,
    hubspotMultiValueProperties: e.HUBSPOT_MULTI_VALUE_PROPERTIES,
    workerLeaseMs: e.WORKER_LEASE_MS,
    workerTenantBatches: e.WORKER_TENANT_BATCHES,
    tenantIdleMs: e.TENANT_IDLE_MS,
    tenantCacheMax: e.TENANT_CACHE_MAX,
    accountCacheTtlMs: e.ACCOUNT_CACHE_TTL_MS,
    notifyGiveUpMs: e.NOTIFY_GIVE_UP_HOURS * 3_600_000,
    retention: {
      inboxDoneMs: e.RETENTION_INBOX_DAYS * DAY_MS,
      deadLetterMs: e.RETENTION_DEAD_LETTER_DAYS * DAY_MS,
      decisionMs: e.RETENTION_DECISION_DAYS * DAY_MS,
    },
    sandboxPort: e.SANDBOX_PORT,
    demoRate: e.DEMO_RATE,
    logLevel: e.LOG_LEVEL,
    redisUrl: e.REDIS_URL === '' ? undefined : e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    settingsSecret: e.SETTINGS_SECRET,
    settingsFrameAncestors: e.SETTINGS_FRAME_ANCESTORS,
  };
}

/**
 * The keyring secrets are encrypted with: TOKEN_ENCRYPTION_KEY (current) and TOKEN_ENCRYPTION_KEYS_OLD.
 * Without TOKEN_ENCRYPTION_KEY — sandbox mode only, `loadConfig` demands it with a real app — the
 * current key is generated once and kept in the data directory with owner-only permissions, so a
 * fresh clone needs no set-up.
 */
export async function tokenKeyring(config: AppConfig): Promise<Keyring> {
  const old = parseKeyList(config.oldEncryptionKeys, 'TOKEN_ENCRYPTION_KEYS_OLD');
  if (config.encryptionKey !== undefined)
    return new Keyring(parseKey(config.encryptionKey, 'TOKEN_ENCRYPTION_KEY'), old);
  const file = join(config.dataDir, 'sandbox-encryption.key');
  try {
    return new Keyring(parseKey((await readFile(file, 'utf8')).trim(), file), old);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = randomBytes(32).toString('hex');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, key + '\n', { mode: 0o600 });
  await chmod(file, 0o600);
  return new Keyring(parseKey(key, file), old);
}

/** A rule set's own team file: `team.yaml` beside the rule file, when there is one. */
export function teamFileBeside(rulesPath: string): string | undefined {
  const candidate = join(dirname(rulesPath), 'team.yaml');
  return existsSync(candidate) ? candidate : undefined;
}

/**
 * Creates the data directory when missing; a path that exists but is not a directory is a start-up
 * error that names DATA_DIR.
 */
export async function ensureDataDir(dir: string): Promise<void> {
  try {
    // Owner-only when we make it: it holds leads' personal data and the sandbox's secrets.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if ((await stat(dir)).isDirectory()) return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTDIR') {
      throw new ConfigError(`DATA_DIR=${dir} cannot be used: ${(err as Error).message}`);
    }
  }
  throw new ConfigError(`DATA_DIR=${dir} is not a directory (set DATA_DIR to a directory)`);
}
