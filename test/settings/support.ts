// A settings server over real storage (SQLite :memory:, or a fresh PostgreSQL schema) with two installed HubSpot tenants routing with
// the demo rules and team, a movable clock, and leads decided by the real core and committed as the
// worker commits them (with the lead and account they were decided on).
import { randomBytes } from 'node:crypto';
import express from 'express';
import { signV3 } from '../../connectors/hubspot/signature.js';
import { crmProfile } from '../../src/app/crm-profiles.js';
import { hubspotFetchVerifier } from '../../src/app/hubspot.js';
import { salesforceCanvasVerifier } from '../../src/app/salesforce.js';
import { decide } from '../../src/core/decide.js';
import { summarizeDecision } from '../../src/core/explain.js';
import { applyStateChanges } from '../../src/core/state.js';
import { AccountIndex } from '../../src/core/accounts.js';
import type { Account, Lead } from '../../src/core/types.js';
import { createLogger } from '../../src/log.js';
import { loadRuleSet, loadTeam } from '../../src/rules/index.js';
import { listenOn } from '../../src/server/index.js';
import { reportRoutes } from '../../src/server/reports.js';
import { SettingsAccess, SettingsService, settingsRouter, settingsLink } from '../../src/settings/index.js';
import { TenantConfigRepository, type Storage, type Tenant } from '../../src/storage/index.js';
import { sqliteMemory, type Engine } from '../storage/helpers.js';
import { exampleTexts, publishConfig } from '../support/publish.js';

export const { rules: RULES, team: TEAM } = exampleTexts('hubspot-demo');
export const CLIENT_SECRET = 'settings-test-client-secret';
export const PUBLIC_URL = 'https://router.example.com';
/** The Salesforce connected app's consumer secret that signs canvas requests. */
export const CANVAS_SECRET = 'settings-test-canvas-consumer-secret';
/** Monday 2026-11-23 10:00 UTC: European reps are at work. */
export const T0 = Date.parse('2026-11-23T10:00:00Z');

export interface SettingsHarness {
  url: string;
  storage: Storage;
  a: Tenant;
  b: Tenant;
  clock: { now: number };
  access: SettingsAccess;
  /** A signed link's path and query (the server's public URL is not where it listens). */
  linkFor(tenant: Tenant, user?: string): string;
  /** Opens a session with a signed link: the cookie header and CSRF token for that tenant. */
  login(tenant: Tenant, user?: string): Promise<{ cookie: string; csrf: string }>;
  /** Installs a HubSpot portal as a tenant with the demo rules and team published. */
  install(portal: string, name: string): Promise<Tenant>;
  /** Decides leads with the tenant's published rules and commits them as the worker does. */
  /** Decides and commits the leads with the tenant's published rules (matching them against `accounts`). */
  route(tenant: Tenant, leads: Lead[], at?: number, accounts?: Account[]): Promise<void>;
  /** HubSpot v3 signature headers for a request to `path` (public URL) with `body`. */
  hubspotHeaders(method: string, path: string, body?: string): Record<string, string>;
  close(): Promise<void>;
}

export async function startSettings(engine: Engine = sqliteMemory): Promise<SettingsHarness> {
  const { storage, close } = await engine.open();
  const config = new TenantConfigRepository(storage.db);
  const install = async (portal: string, name: string): Promise<Tenant> => {
    const tenant = await storage.createTenant({ provider: 'hubspot', externalId: portal, name }, T0);
    await publishConfig(storage.db, tenant.id, { rules: RULES, team: TEAM }, T0, { note: 'installed' });
    return (await storage.getTenant(tenant.id))!;
  };
  const a = await install('101', 'Acme');
  const b = await install('202', 'Globex');
  const clock = { now: T0 };
  const access = new SettingsAccess(randomBytes(32));
  const app = express();
  app.use(
    settingsRouter({
      access,
      service: new SettingsService({ storage, clock: () => clock.now, crmProfile }),
      storage,
      logger: createLogger({ level: 'error' }),
      clock: () => clock.now,
      publicUrl: PUBLIC_URL,
      frameAncestors: ['https://app.hubspot.com'],
      tenantRoutes: [
        reportRoutes({ storage, logger: createLogger({ level: 'error' }), clock: () => clock.now }),
      ],
      verifyCrmRequest: hubspotFetchVerifier(CLIENT_SECRET, () => clock.now),
      verifyCrmForm: salesforceCanvasVerifier(CANVAS_SECRET),
    }),
  );
  const running = await listenOn(app, 0, '127.0.0.1');
  const linkFor = (tenant: Tenant, user = 'admin@acme.io'): string =>
    settingsLink(access, PUBLIC_URL, { tenantId: tenant.id, user }, clock.now).slice(PUBLIC_URL.length);

  const teamLoaded = loadTeam(TEAM, 'team.yaml');
  if (!teamLoaded.ok) throw new Error('the demo team loads');
  return {
    url: running.url,
    storage,
    a,
    b,
    clock,
    access,
    linkFor,
    install,
    async login(tenant, user) {
      const res = await fetch(running.url + linkFor(tenant, user), { redirect: 'manual' });
      const set = res.headers.get('set-cookie') ?? '';
      const cookie = set.split(';')[0] ?? '';
      const page = await fetch(running.url + `/settings/${tenant.id}/rules`, { headers: { cookie } });
      const csrf = /name="csrf-token" content="([^"]+)"/.exec(await page.text())?.[1] ?? '';
      return { cookie, csrf };
    },
    async route(tenant, leads, at = clock.now, accounts = []) {
      const active = await storage.activeRuleset(tenant.id);
      const team = (await config.activeTeam(tenant.id))!;
      const loadedTeam = loadTeam(team.source, 'team.yaml');
      if (!loadedTeam.ok) throw new Error('team loads');
      const rules = loadRuleSet(active!.source, 'rules.yaml', { team: loadedTeam.team });
      if (!rules.ok) throw new Error('rules load');
      const versioned = await storage.loadRoutingState(tenant.id);
      let state = versioned.state;
      const inputs = leads.map((lead, i) => {
        const context = { team: loadedTeam.team, state, accounts: AccountIndex.build(accounts) };
        const decision = decide(lead, rules.ruleSet, context, at + i);
        state = applyStateChanges(state, decision.stateChanges);
        return {
          decisionKey: `${lead.id}:route`,
          decision,
          email: lead.email,
          summary: summarizeDecision(decision, lead, loadedTeam.team),
          inputs: { lead, account: null },
        };
      });
      const results = await storage.commitDecisions(tenant.id, inputs, versioned.versions, at);
      if (results.some((r) => r.status !== 'committed')) throw new Error('commit failed');
    },
    hubspotHeaders(method, path, body = '') {
      const timestamp = String(clock.now);
      return {
        'x-hubspot-signature-v3': signV3({
          clientSecret: CLIENT_SECRET,
          method,
          uri: PUBLIC_URL + path,
          rawBody: body,
          timestamp,
        }),
        'x-hubspot-request-timestamp': timestamp,
        ...(body === '' ? {} : { 'content-type': 'application/json' }),
      };
    },
    async close() {
      await running.close();
      await close();
    },
  };
}

export function dachLead(id: string, over: Partial<Lead> = {}): Lead {
  return {
    id,
    email: `${id}@bigco.de`,
    emailDomain: 'bigco.de',
    firstName: 'Lea',
    lastName: `Lead ${id}`,
    company: 'BigCo',
    country: 'DE',
    employees: 800,
    demoRequested: true,
    fields: {},
    ...over,
  };
}
