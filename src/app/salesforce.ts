// Salesforce as the app reaches it: one org is one tenant (external id = the org id of the identity
// URL); its token set is kept (encrypted by storage) in the tenant row, refreshed by jsforce on an
// expired session with a rotated refresh token stored back; its connector runs on the org's limiter,
// slowed down while the org's daily API usage is above the threshold; its Change Data Capture stream
// (the pulled intake) reads on the same session, so a token one of them refreshes is the other's too.
import { createHmac } from 'node:crypto';
import { CrmError, type ConnectorProfile } from '../../connectors/connector.js';
import type { PulledIntake } from '../../connectors/pulled-intake.js';
import {
  CALL_CLIENT_ID,
  decodeSalesforceTokens,
  encodeSalesforceTokens,
  exchangeSalesforceCode,
  readOrganizationName,
  salesforceAuthorizeUrl,
  SalesforceSession,
  type SalesforceApp,
  type SalesforceTokenStore,
} from '../../connectors/salesforce/auth.js';
import type { SalesforceServerConfig } from '../server/types.js';
import { verifyCanvasRequest } from '../../connectors/salesforce/canvas.js';
import { SalesforceConnector, type CallScheduler } from '../../connectors/salesforce/connector.js';
import {
  DEFAULT_USAGE_THRESHOLDS,
  usagePace,
  type ApiUsage,
  type UsagePace,
} from '../../connectors/salesforce/errors.js';
import { SalesforceCdcIntake } from '../../connectors/salesforce/intake/index.js';
import { SALESFORCE_PROFILE } from '../../connectors/salesforce/profile.js';
import type { LimiterFactory } from '../../connectors/shared/limiter.js';
import type { Storage, Tenant } from '../storage/index.js';
import type { CrmWiring, StreamCredentialHooks } from './crms.js';

export type { SalesforceApp } from '../../connectors/salesforce/auth.js';

/**
 * The settings tab opened from Salesforce: a canvas app's signed request (form field `signed_request`),
 * signed with the connected app's consumer secret, names the org (the tenant) and the user.
 */
export function salesforceCanvasVerifier(
  consumerSecret: string,
): (form: URLSearchParams) => { provider: string; externalId: string; user: string } | null {
  return (form) => {
    const caller = verifyCanvasRequest(form.get('signed_request') ?? '', consumerSecret);
    return caller === null
      ? null
      : { provider: SALESFORCE_PROVIDER, externalId: caller.orgId, user: caller.user };
  };
}

export const SALESFORCE_PROVIDER = 'salesforce';

/** The session's token store over the tenant rows, sealed by storage's keyring like every tenant secret. */
export function salesforceTokenStore(storage: Storage, clock: () => number): SalesforceTokenStore {
  return {
    async load(orgId) {
      const tenant = await storage.findTenant(SALESFORCE_PROVIDER, orgId);
      if (tenant === null) return null;
      const text = await storage.getTenantToken(tenant.id);
      return text === null ? null : decodeSalesforceTokens(text);
    },
    async save(orgId, tokens) {
      const tenant = await storage.findTenant(SALESFORCE_PROVIDER, orgId);
      if (tenant === null) throw new CrmError('auth', `Salesforce org ${orgId} is not installed`);
      await storage.setTenantToken(tenant.id, encodeSalesforceTokens(tokens), clock());
    },
  };
}

/**
 * Refusals of a refresh that leave the grant standing: the org's policy turned the integration user
 * away (outside its login hours or IP ranges, or not among the connected app's pre-authorized users).
 * Once the admin fixes the policy (or the login hours begin) the stored tokens work again, so they must
 * not be deleted.
 */
const POLICY_REFUSAL = /ip restricted|login hours|hasn't approved|not approved/i;

/**
 * The refresh was refused with `invalid_grant` — by OAuth2 itself, or by jsforce's own refresh on an
 * expired session, which keeps only the token endpoint's error_description ("Unable to refresh session
 * due to: …"): the description, which tells a revoked grant from a policy refusal, is in the message.
 */
function refusedRefresh(error: unknown): error is CrmError {
  return (
    error instanceof CrmError &&
    error.kind === 'auth' &&
    (error.details.code === 'invalid_grant' || error.details.code === 'REFRESH_FAILED')
  );
}

/**
 * Salesforce refused the refresh token for good (`400 {"error":"invalid_grant"}`): the grant was
 * revoked (the app uninstalled or blocked) or it expired under the org's refresh token policy.
 */
export function isRevokedSalesforceGrant(error: unknown): boolean {
  return (
    refusedRefresh(error) && error.details.code === 'invalid_grant' && !POLICY_REFUSAL.test(error.message)
  );
}

/**
 * Why the org's policy refused the refresh, in the token endpoint's words (the same whichever refresh met
 * it), or undefined for another failure.
 */
export function salesforcePolicyRefusal(error: unknown): string | undefined {
  if (!refusedRefresh(error) || !POLICY_REFUSAL.test(error.message)) return undefined;
  const description = /(?:invalid_grant|due to): (.*)$/.exec(error.message)?.[1] ?? error.message;
  return `the org's policy refuses the token refresh: ${description}`;
}

/** An org's daily API usage, and how its work is paced because of it. */
export interface OrgUsage {
  used: number;
  limit: number;
  pace: UsagePace;
}

export interface SalesforceWiringOptions {
  storage: Storage;
  /** The connected app (or external client app); `loginUrl` is the sandbox's URL in sandbox mode. */
  app: SalesforceApp;
  /** Built from `profile.buckets`. */
  limiters: LimiterFactory;
  profile?: ConnectorProfile | undefined;
  clock: () => number;
  /**
   * Fraction of the daily allocation above which the org's calls are spaced out (default 0.8); above
   * three quarters of the way from there to the whole allocation (0.95), spaced four times as far.
   */
  usageSlowdown?: number | undefined;
  /** Spacing between an org's calls while slowed, growing to 4× near the limit (default 2 s). */
  slowDelayMs?: number | undefined;
  /** How a slowed call waits for its turn (tests see the waits asked for). */
  sleep?: ((ms: number) => Promise<void>) | undefined;
  /** Told each org's daily API usage after every call, with the pace it sets (metrics, readiness). */
  onUsage?: ((tenant: Tenant, usage: OrgUsage) => void) | undefined;
  /** Told when an org's pace changes level (normal, slow, paused): the log line saying so. */
  onPaceChange?: ((tenant: Tenant, usage: OrgUsage, previous: UsagePace['level']) => void) | undefined;
  /** Told when a refreshed token set could not be stored. */
  onStoreError?: ((tenant: Tenant, error: unknown) => void) | undefined;
  /** Where an org's connector says what it falls back on (a query the org refuses), with the tenant. */
  log?: { warn(message: string, meta?: Record<string, unknown>): unknown } | undefined;
  /**
   * The catch-up poll of a change-event stream: how often it also runs (5 min), and how long a change
   * event may take to arrive before a poll counts a new record as missed by the stream (60 s).
   */
  poll?: { everyMs?: number | undefined; settleMs?: number | undefined } | undefined;
}

/** The thresholds for a slowdown fraction: paused three quarters of the way from it to the limit. */
function thresholds(slowAbove: number, slowDelayMs: number) {
  return { slowAbove, pauseAbove: slowAbove + (1 - slowAbove) * 0.75, slowDelayMs };
}

export interface SalesforceCrmWiring extends CrmWiring {
  /** The org's Change Data Capture stream on Leads and Contacts, on the org's shared session. */
  pulledIntake(tenant: Tenant, credentials: StreamCredentialHooks): Promise<PulledIntake>;
  /** Drops the org's session (a new install brought new tokens, or the org uninstalled). */
  forget(tenant: Tenant): void;
  /** What this process keeps for the org besides its connection's limiter (metrics, tests). */
  holds(tenant: Tenant): { session: boolean; pace: boolean };
}

export function salesforceWiring(opts: SalesforceWiringOptions): SalesforceCrmWiring {
  const profile = opts.profile ?? SALESFORCE_PROFILE;
  const store = salesforceTokenStore(opts.storage, opts.clock);
  const limits = thresholds(
    opts.usageSlowdown ?? DEFAULT_USAGE_THRESHOLDS.slowAbove,
    opts.slowDelayMs ?? DEFAULT_USAGE_THRESHOLDS.slowDelayMs,
  );
  const newSession = async (tenant: Tenant): Promise<SalesforceSession> => {
    const tokens = await store.load(tenant.externalId);
    if (tokens === null)
      throw new CrmError(
        'auth',
        `no Salesforce tokens stored for org ${tenant.externalId} (app not installed)`,
      );
    return new SalesforceSession({
      app: opts.app,
      tokens,
      store,
      now: opts.clock,
      onStoreError: (error) => opts.onStoreError?.(tenant, error),
    });
  };
  // One session per org, shared by its connector and its stream: one refresh at a time for both (a
  // second session, like another process, would refresh on its own and then recover from the store).
  const sessions = new Map<string, Promise<SalesforceSession>>();
  const session = (tenant: Tenant): Promise<SalesforceSession> => {
    const orgId = tenant.externalId;
    let pending = sessions.get(orgId);
    if (pending === undefined) {
      pending = newSession(tenant);
      sessions.set(orgId, pending);
      // A failure is not kept: the next call loads the tokens again.
      pending.catch(() => {
        if (sessions.get(orgId) === pending) sessions.delete(orgId);
      });
    }
    return pending;
  };

  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  // Per org: the pace its usage sets, and when its last call started (or is due to start, while slowed).
  const paces = new Map<string, { pace: UsagePace; lastStart: number }>();

  // Per org: its open connections (the worker's connector, until the tenant goes idle) and whether its
  // stream reads on its session here. With no connection left the pace goes (the next answer sets it
  // again); with no stream either the session goes too, so an idle org costs this process nothing. A
  // streamed org keeps its session, and its refreshes serve the connector too.
  const users = new Map<string, { connections: number; stream: boolean }>();
  const userOf = (orgId: string) => {
    let user = users.get(orgId);
    if (user === undefined) users.set(orgId, (user = { connections: 0, stream: false }));
    return user;
  };
  const letGo = (orgId: string): void => {
    const user = users.get(orgId);
    if (user !== undefined && user.connections > 0) return;
    paces.delete(orgId);
    if (user?.stream === true) return;
    users.delete(orgId);
    sessions.delete(orgId);
  };
  const observe = (tenant: Tenant, usage: ApiUsage): void => {
    const pace = usagePace(usage, limits);
    const state = paces.get(tenant.externalId) ?? { pace: usagePace(undefined), lastStart: 0 };
    const previous = state.pace.level;
    state.pace = pace;
    paces.set(tenant.externalId, state);
    const told: OrgUsage = { used: usage.used, limit: usage.limit, pace };
    opts.onUsage?.(tenant, told);
    if (pace.level !== previous) opts.onPaceChange?.(tenant, told, previous);
  };
  /** The org's limiter, with its calls spaced out while its usage is above the threshold. */
  const paced = (tenant: Tenant): CallScheduler => {
    const limiter = opts.limiters.forPortal(tenant.externalId);
    const gap = (): number => {
      const pace = paces.get(tenant.externalId)?.pace;
      if (pace === undefined) return 0;
      if (pace.level === 'slow') return pace.delayMs;
      // No lower tier without the worker's help: near the limit, four times the slow spacing.
      if (pace.level === 'paused') return limits.slowDelayMs * 4;
      return 0;
    };
    return {
      schedule: async (bucket, fn) => {
        const state = paces.get(tenant.externalId);
        if (state !== undefined) {
          // Slowed: each call starts `spacing` after the one before it (in this process).
          const spacing = gap();
          const now = Date.now();
          const start = spacing > 0 ? Math.max(now, state.lastStart + spacing) : now;
          state.lastStart = start;
          if (start > now) await sleep(start - now);
        }
        return limiter.schedule(bucket, fn);
      },
      pause: (bucket, ms) => limiter.pause(bucket, ms),
    };
  };

  return {
    provider: SALESFORCE_PROVIDER,
    profile,
    connect(tenant, credentials) {
      const orgId = tenant.externalId;
      userOf(orgId).connections += 1;
      let released = false;
      const connector = new SalesforceConnector({
        session: async () => {
          try {
            return await session(tenant);
          } catch (error) {
            return credentials.failed(error, false);
          }
        },
        limiter: paced(tenant),
        profile,
        now: opts.clock,
        onUsage: (usage) => observe(tenant, usage),
        log: {
          warn: (message, meta) => opts.log?.warn(message, { tenantId: tenant.id, orgId, ...meta }),
        },
      });
      return {
        connector,
        busy: () => opts.limiters.busy(orgId),
        release: () => {
          if (!released) {
            released = true;
            userOf(orgId).connections -= 1;
            letGo(orgId);
          }
          return opts.limiters.release(orgId);
        },
      };
    },
    policyRefusal: salesforcePolicyRefusal,
    refusedRefresh,
    async refreshCredentials(tenant) {
      // On the org's shared session: the connector and the stream go on with what it brings.
      await (await session(tenant)).refresh();
    },
    async grantRevoked(tenant) {
      try {
        // A refresh is the plain question: invalid_grant once the grant is gone. A rotated refresh
        // token it brings is stored, so the answer never costs the org its grant.
        await (await newSession(tenant)).refresh();
        return false;
      } catch (error) {
        return isRevokedSalesforceGrant(error);
      }
    },
    async pulledIntake(tenant, credentials) {
      const s = await session(tenant);
      userOf(tenant.externalId).stream = true;
      return new SalesforceCdcIntake({
        conn: s.conn,
        refresh: async () => {
          try {
            await s.refresh();
          } catch (error) {
            const reason = salesforcePolicyRefusal(error);
            if (reason === undefined) throw error;
            // The org pauses; its stream waits for the org's next check instead of meeting the same
            // refusal again and again.
            const checkAt = await credentials.paused(reason);
            throw new CrmError('auth', reason, {
              code: 'POLICY_REFUSAL',
              ...(checkAt === null ? {} : { retryAfterMs: Math.max(0, checkAt - opts.clock()) }),
            });
          }
        },
        selfClient: CALL_CLIENT_ID,
        // The channels the health checks expect read are the ones read.
        channels: profile.pulledStream?.channels,
        ...(opts.poll?.everyMs === undefined ? {} : { pollEveryMs: opts.poll.everyMs }),
        ...(opts.poll?.settleMs === undefined ? {} : { settleMs: opts.poll.settleMs }),
      });
    },
    forget(tenant) {
      sessions.delete(tenant.externalId);
      const user = users.get(tenant.externalId);
      if (user !== undefined) user.stream = false;
      letGo(tenant.externalId);
    },
    holds(tenant) {
      return { session: sessions.has(tenant.externalId), pace: paces.has(tenant.externalId) };
    },
  };
}

/**
 * The install steps the server's Salesforce routes drive: consent URL, then the code exchange. The PKCE
 * verifier is derived from `state` under a secret of ours, so any instance can finish the install and
 * the verifier never leaves the server.
 */
export type SalesforceInstallFlow = SalesforceServerConfig['install'];

export function salesforceInstallFlow(
  app: SalesforceApp,
  secret: string,
  clock: () => number,
): SalesforceInstallFlow {
  const verifier = (state: string): string =>
    createHmac('sha256', secret).update(`salesforce pkce verifier:${state}`).digest('base64url');
  return {
    authorizeUrl: (state) => salesforceAuthorizeUrl(app, state, verifier(state)).url,
    async exchange(code, state) {
      const tokens = await exchangeSalesforceCode(app, code, verifier(state), clock);
      return {
        orgId: tokens.orgId,
        orgName: await readOrganizationName(tokens),
        userId: tokens.userId,
        tokens: encodeSalesforceTokens(tokens),
      };
    },
  };
}
