// Tokens and secrets never reach a page: the whole app over the sandbox CRM (a portal installed through
// real OAuth, a lead routed, the team synced live), on SQLite and on PostgreSQL + Redis. Every settings
// page, every JSON answer of the settings API the pages call, and every answer of the CRM extension API
// is searched for the portal's access and refresh tokens, their encrypted blob, the app's client secret
// and the token encryption key.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { decodeTokenSet } from '../../src/app/hubspot.js';
import { signV3 } from '../../connectors/hubspot/signature.js';
import { loadConfig } from '../../src/app/config.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';
import { REPORT_KINDS } from '../../src/reports/kinds.js';
import { SETTINGS_PAGES } from '../../src/settings/pages.js';
import { rulesResponseSchema } from '../../src/settings/schemas.js';
import type { Tenant } from '../../src/storage/index.js';
import { pgAppEnv } from '../e2e/pg-support.js';
import { describeNeeding, type SuiteFn } from '../support/services.js';

interface Store {
  name: string;
  suite: SuiteFn;
  env(): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }>;
}

const STORES: Store[] = [
  {
    name: 'SQLite',
    suite: describe,
    env: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'lead-router-secrets-'));
      return {
        env: { DATA_DIR: dir, TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('hex') },
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'PostgreSQL + Redis',
    suite: describeNeeding(['postgres', 'redis']),
    env: async () => {
      const pg = await pgAppEnv();
      return { env: pg.env, cleanup: pg.cleanup };
    },
  },
];

async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const store of STORES) {
  store.suite(`no token or secret in what the settings tab serves, on ${store.name}`, () => {
    jest.setTimeout(120_000);
    let app: RunningApp;
    let cleanup: (() => Promise<void>) | undefined;
    let env: Record<string, string>;
    let tenant: Tenant;

    beforeAll(async () => {
      const where = await store.env();
      cleanup = where.cleanup;
      env = { ...where.env, PORT: '0', SANDBOX_PORT: '0', DEMO_RATE: '0' };
      app = await startApp(loadConfig(env), {
        logger: createLogger({ silent: true }),
        generate: false,
        sandbox: { webhookTiming: { batchWindowMs: 20 } },
      });
      tenant = (await app.storage.findTenant('hubspot', app.sandbox!.portalId))!;
    });
    afterAll(async () => {
      await app?.stop();
      await cleanup?.();
    });

    it('no page, settings API answer or CRM extension answer holds a token, the client secret or the key', async () => {
      // The secrets as the app holds them: the installed portal's tokens (decrypted, and as stored),
      // the sandbox app's client secret (which also signs settings links here), the encryption key.
      const tokens = decodeTokenSet((await app.storage.getTenantToken(tenant.id))!);
      const blob = (await app.storage.db.get<{ token_blob: string }>(
        'SELECT token_blob FROM tenants WHERE id = ?',
        [tenant.id],
      ))!.token_blob;
      const [crmApp] = app.sandbox!.crm.tokens.apps;
      const secrets: Record<string, string> = {
        'access token': tokens.accessToken,
        'refresh token': tokens.refreshToken,
        'stored token blob': blob,
        'client secret': crmApp!.clientSecret,
        'encryption key': env.TOKEN_ENCRYPTION_KEY!,
      };
      for (const [name, value] of Object.entries(secrets))
        expect([name, value.length >= 16]).toEqual([name, true]);

      // A lead routed by the worker, so Activity, the card and the reports have something to show.
      const email = 'sam@secret-test.io';
      app.sandbox!.crm.portal(Number(app.sandbox!.portalId)).createObject(
        'contacts',
        {
          email,
          firstname: 'Sam',
          lastname: 'Secret',
          country: 'DE',
          numemployees: '800',
          company: 'BigCo',
        },
        'generator',
      );
      await until(`${email} to be routed`, async () => {
        const [d] = await app.storage.decisionsFor(tenant.id, { email });
        return d !== undefined;
      });
      const [decision] = await app.storage.decisionsFor(tenant.id, { email });
      const leadId = decision!.leadId;

      const served: { what: string; body: string }[] = [];
      const open = await fetch(app.settingsUrl!, { redirect: 'manual' });
      const cookie = (open.headers.get('set-cookie') ?? '').split(';')[0]!;
      const get = async (path: string, init: RequestInit = {}) => {
        const res = await fetch(app.url + path, { ...init, headers: { cookie, ...init.headers } });
        const body = await res.text();
        served.push({ what: `${init.method ?? 'GET'} ${path} (${res.status})`, body });
        return { res, body };
      };
      let csrf = '';
      for (const name of SETTINGS_PAGES) {
        const { res, body } = await get(`/settings/${tenant.id}/${name}`);
        expect([name, res.status]).toEqual([name, 200]);
        csrf = /name="csrf-token" content="([^"]+)"/.exec(body)?.[1] ?? csrf;
        for (const [, src] of body.matchAll(/<script[^>]* src="([^"]+)"/g))
          if (!served.some((s) => s.what.startsWith(`GET ${src} `))) await get(src!);
      }
      const api = `/api/tenants/${tenant.id}`;
      const post = (path: string, body: unknown) =>
        get(api + path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
          body: JSON.stringify(body),
        });
      const rules = rulesResponseSchema.parse(JSON.parse((await get(`${api}/rules`)).body));
      await get(`${api}/approvals`);
      // The Team page's roster comes from the CRM's users, listed live with the portal's token.
      await get(`${api}/team`);
      await get(`${api}/activity?q=${encodeURIComponent(email)}`);
      await get(`${api}/activity/${encodeURIComponent(leadId)}`);
      // Health checks the connection live with the portal's token.
      await get(`${api}/health`);
      const since = new Date(Date.now() - 60 * 60_000).toISOString();
      for (const kind of REPORT_KINDS) await get(`${api}/reports/${kind}?since=${since}`);
      await post('/rules/validate', { source: rules.active!.source });
      await post('/simulate', { source: rules.active!.source, limit: 5 });
      await post('/preview', { source: rules.active!.source, limit: 5 });

      // The CRM extension API, signed as HubSpot signs it with the app's client secret.
      const signed = async (method: string, path: string) => {
        const full = `${path}?portalId=${app.sandbox!.portalId}&userId=7&userEmail=ada%40acme.io&appId=${crmApp!.appId}`;
        const timestamp = String(Date.now());
        const res = await fetch(app.url + full, {
          method,
          headers: {
            'x-hubspot-signature-v3': signV3({
              clientSecret: crmApp!.clientSecret,
              method,
              uri: app.url + full,
              rawBody: '',
              timestamp,
            }),
            'x-hubspot-request-timestamp': timestamp,
          },
        });
        served.push({ what: `${method} ${path} (${res.status})`, body: await res.text() });
        return res.status;
      };
      expect(await signed('GET', '/api/crm/status')).toBe(200);
      expect(await signed('GET', `/api/crm/records/${leadId}/routing`)).toBe(200);
      expect(await signed('POST', '/api/crm/settings-link')).toBe(200);

      // Each answer was a real one (not an error page), and none holds a secret.
      expect(served.filter((s) => !/\((200|201)\)$/.test(s.what)).map((s) => s.what)).toEqual([]);
      const leaks = served.flatMap((s) =>
        Object.entries(secrets)
          .filter(([, value]) => s.body.includes(value))
          .map(([name]) => `${name} in ${s.what}`),
      );
      expect(leaks).toEqual([]);
    });
  });
}
