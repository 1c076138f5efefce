// The settings API and pages over HTTP: only a signed link (its tenant, its user, not expired) or a
// request HubSpot signed for the tenant's portal gets in; a session is one tenant's; state changes need
// the session's CSRF token; answers follow the shared schemas; the draft is judged by the CLI's loader;
// a tenant that requires approval publishes only what a second admin approved. On SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CrmError } from '../../connectors/connector.js';
import { LimiterFactory } from '../../connectors/shared/limiter.js';
import { crmCallOutcome, Metrics } from '../../src/metrics.js';
import { CrmCallTally } from '../../src/pipeline/crm-call-tally.js';
import {
  activityResponseSchema,
  healthResponseSchema,
  approvalsResponseSchema,
  publishResponseSchema,
  simulateResponseSchema,
  previewResponseSchema,
  rulesResponseSchema,
  teamResponseSchema,
  validateResponseSchema,
} from '../../src/settings/schemas.js';
import { ENGINES, makeDecision, makeEvent } from '../storage/helpers.js';
import { frameOrigins } from '../../src/cli/operate.js';
import { signCanvasRequest } from '../../connectors/salesforce/canvas.js';
import { loadTeam } from '../../src/rules/index.js';
import { CANVAS_SECRET, dachLead, RULES, startSettings, T0, TEAM, type SettingsHarness } from './support.js';
import { CrmCallRepository, STREAM_MISSED_RECENT_MS, type Tenant } from '../../src/storage/index.js';

function loadTeamOrThrow(source: string) {
  const loaded = loadTeam(source, 'team.yaml');
  if (!loaded.ok) throw new Error('the demo team does not load');
  return loaded.team;
}

for (const [engineName, engine, suite] of ENGINES) {
  suite(`the settings API on ${engineName}`, () => {
    let h: SettingsHarness;
    beforeAll(async () => {
      h = await startSettings(engine);
    });
    afterAll(async () => {
      await h.close();
    });

    const api = (path: string, init: RequestInit & { session?: { cookie: string; csrf?: string } } = {}) => {
      const headers = new Headers(init.headers);
      if (init.session !== undefined) {
        headers.set('cookie', init.session.cookie);
        if (init.session.csrf !== undefined) headers.set('x-csrf-token', init.session.csrf);
      }
      if (typeof init.body === 'string') headers.set('content-type', 'application/json');
      return fetch(h.url + path, { ...init, headers });
    };

    describe('access', () => {
      it('a signed link opens a partitioned, secure, http-only session for its tenant and lands on Rules', async () => {
        const res = await fetch(h.url + h.linkFor(h.a), { redirect: 'manual' });
        expect(res.status).toBe(303);
        expect(res.headers.get('location')).toBe(`/settings/${h.a.id}/rules`);
        const cookie = res.headers.get('set-cookie') ?? '';
        expect(cookie).toMatch(new RegExp(`^lr_s_${h.a.id}=`));
        for (const attr of ['HttpOnly', 'Secure', 'SameSite=None', 'Partitioned', 'Path=/'])
          expect(cookie).toContain(attr);
        const page = await fetch(h.url + `/settings/${h.a.id}/rules`, {
          headers: { cookie: cookie.split(';')[0]! },
        });
        expect(page.status).toBe(200);
        expect(page.headers.get('content-security-policy')).toContain(
          "frame-ancestors 'self' https://app.hubspot.com",
        );
        const html = await page.text();
        expect(html).toContain('<label for="note">');
      });

      it("a tenant's own framing origins (lead-router frame-origins) are in its pages' frame-ancestors only", async () => {
        const csp = async (tenant: Tenant) => {
          const { cookie } = await h.login(tenant);
          const page = await fetch(h.url + `/settings/${tenant.id}/rules`, { headers: { cookie } });
          return page.headers.get('content-security-policy') ?? '';
        };
        const org = ['https://acme.lightning.force.com', 'https://acme--c.vf.force.com'];
        expect(await frameOrigins(h.storage, h.a, { set: [...org, org[0]!] }, T0)).toEqual(org);
        expect(await csp(h.a)).toContain(`frame-ancestors 'self' https://app.hubspot.com`);
        expect(await csp(h.a)).toMatch(
          /frame-ancestors [^;]* https:\/\/acme\.lightning\.force\.com https:\/\/acme--c\.vf\.force\.com$/,
        );
        expect(await csp(h.b)).not.toContain('force.com');
        // A value that is not an https origin is refused with its position, and nothing changes.
        const a = (await h.storage.getTenant(h.a.id))!;
        for (const bad of [
          'http://acme.lightning.force.com',
          'https://acme.lightning.force.com/path',
          "https://x' 'unsafe-inline",
        ])
          await expect(frameOrigins(h.storage, a, { set: [org[0]!, bad] }, T0)).rejects.toThrow(
            /^origin 2 ".*" is not an https origin/,
          );
        expect(await frameOrigins(h.storage, (await h.storage.getTenant(h.a.id))!, null, T0)).toEqual(org);
        // Cleared: only the deployment's list again.
        expect(await frameOrigins(h.storage, a, { set: [] }, T0)).toEqual([
          `tenant ${h.a.id} has no framing origins of its own (only the deployment's)`,
        ]);
        expect(await csp(h.a)).not.toContain('force.com');
      });

      it.each([
        ['no link at all', (link: string) => link.replace(/\?.*$/, '')],
        ['a forged signature', (link: string) => link.replace(/sig=[^&]+/, 'sig=AAAA')],
        ['another user', (link: string) => link.replace(/user=[^&]+/, 'user=mallory%40evil.io')],
        ['another tenant', (link: string) => link.replace(/tenant=[^&]+/, `tenant=${h.b.id}`)],
        [
          'a later expiry',
          (link: string) => link.replace(/exp=(\d+)/, (_m, e: string) => `exp=${Number(e) + 1}`),
        ],
      ])('refuses %s', async (_what, alter) => {
        const res = await fetch(h.url + alter(h.linkFor(h.a)), { redirect: 'manual' });
        expect(res.status).toBe(401);
        expect(res.headers.get('set-cookie')).toBeNull();
      });

      it('refuses an expired link', async () => {
        const link = h.linkFor(h.a);
        h.clock.now += 5 * 60_000;
        try {
          expect((await fetch(h.url + link, { redirect: 'manual' })).status).toBe(401);
        } finally {
          h.clock.now = T0;
        }
      });

      it("one tenant's session reads neither the other's API nor its pages", async () => {
        const session = await h.login(h.a);
        expect((await api(`/api/tenants/${h.a.id}/rules`, { session })).status).toBe(200);
        for (const path of ['rules', 'team', 'activity', 'health'])
          expect((await api(`/api/tenants/${h.b.id}/${path}`, { session })).status).toBe(401);
        expect((await api(`/settings/${h.b.id}/rules`, { session })).status).toBe(401);
        expect(
          (
            await api(`/api/tenants/${h.b.id}/rules/publish`, {
              method: 'POST',
              session,
              body: JSON.stringify({ source: RULES, note: 'x', basedOn: null }),
            })
          ).status,
        ).toBe(401);
      });

      it('a state-changing request without the CSRF token changes nothing', async () => {
        const { cookie } = await h.login(h.a);
        const res = await api(`/api/tenants/${h.a.id}/rules/rollback`, {
          method: 'POST',
          session: { cookie, csrf: 'wrong' },
          body: JSON.stringify({ version: 'x', note: 'x' }),
        });
        expect(res.status).toBe(403);
      });

      it("a request HubSpot signed for the tenant's portal gets in; for another portal, or altered, it does not", async () => {
        const path = `/api/tenants/${h.a.id}/rules?portalId=101&userEmail=ada%40acme.io`;
        expect((await api(path, { headers: h.hubspotHeaders('GET', path) })).status).toBe(200);
        const other = `/api/tenants/${h.a.id}/rules?portalId=202&userEmail=ada%40acme.io`;
        expect((await api(other, { headers: h.hubspotHeaders('GET', other) })).status).toBe(401);
        expect((await api(other, { headers: h.hubspotHeaders('GET', path) })).status).toBe(401);
        // The settings extension asks for a link to open the full tab.
        const linkPath = '/api/crm/settings-link?portalId=101&userEmail=ada%40acme.io';
        const link = await api(linkPath, { method: 'POST', headers: h.hubspotHeaders('POST', linkPath) });
        expect(link.status).toBe(200);
        const { url } = (await link.json()) as { url: string };
        expect(url).toMatch(/^https:\/\/router\.example\.com\/settings\/open\?/);
        const opened = await fetch(h.url + url.slice('https://router.example.com'.length), {
          redirect: 'manual',
        });
        expect(opened.status).toBe(303);
      });
      it("a Salesforce canvas request signed for an installed org opens that org's tab as its user; unsigned, it does not", async () => {
        const org = await h.storage.createTenant(
          { provider: 'salesforce', externalId: '00D5g000004ABCDEA2', name: 'Acme SF' },
          T0,
        );
        const open = (signed: string) =>
          fetch(h.url + '/settings/crm-open', {
            method: 'POST',
            redirect: 'manual',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ signed_request: signed }).toString(),
          });
        const context = (orgId: string) => ({
          algorithm: 'HMACSHA256',
          client: { oauthToken: 'never-kept' },
          context: { user: { email: 'ada@acme.io' }, organization: { organizationId: orgId } },
        });
        const res = await open(signCanvasRequest(context('00D5g000004ABCDEA2'), CANVAS_SECRET));
        expect(res.status).toBe(303);
        const link = new URL(res.headers.get('location') ?? '', h.url);
        expect(link.pathname).toBe('/settings/open');
        expect([link.searchParams.get('tenant'), link.searchParams.get('user')]).toEqual([
          org.id,
          'ada@acme.io',
        ]);
        expect(Number(link.searchParams.get('exp'))).toBe(h.clock.now + 5 * 60_000);
        const session = await fetch(h.url + link.pathname + link.search, { redirect: 'manual' });
        expect([session.status, session.headers.get('location')]).toEqual([303, `/settings/${org.id}/rules`]);

        expect((await open(signCanvasRequest(context('00D5g000004ABCDEA2'), 'wrong-secret'))).status).toBe(
          401,
        );
        // Signed, but for an org that never installed the app.
        expect((await open(signCanvasRequest(context('00D5g000004ZZZZZA2'), CANVAS_SECRET))).status).toBe(
          401,
        );
      });
    });

    describe('rules', () => {
      it('shows a draft error at its line and column, publishes nothing invalid, publishes with a note, rolls back', async () => {
        const session = await h.login(h.a, 'ada@acme.io');
        const before = rulesResponseSchema.parse(
          await (await api(`/api/tenants/${h.a.id}/rules`, { session })).json(),
        );
        const broken = RULES.replace('assign: { pool: emea-ae }', 'assign: { pool: emea-aee }');
        const line = broken.split('\n').findIndex((l) => l.includes('emea-aee')) + 1;
        const checked = validateResponseSchema.parse(
          await (
            await api(`/api/tenants/${h.a.id}/rules/validate`, {
              method: 'POST',
              session,
              body: JSON.stringify({ source: broken }),
            })
          ).json(),
        );
        expect(checked.ok).toBe(false);
        expect(checked.errors[0]).toMatchObject({ line, suggestion: 'emea-ae' });
        expect(checked.errors[0]!.column).toBeGreaterThan(0);
        expect(checked.diff).toContain('+    assign: { pool: emea-aee }');
        expect(checked.diff).toContain('-    assign: { pool: emea-ae }');

        const refused = await api(`/api/tenants/${h.a.id}/rules/publish`, {
          method: 'POST',
          session,
          body: JSON.stringify({ source: broken, note: 'oops', basedOn: before.active!.version }),
        });
        expect(refused.status).toBe(422);
        expect(((await refused.json()) as { errors: { line: number }[] }).errors[0]!.line).toBe(line);

        const fixed = RULES.replace('due: 15m', 'due: 20m');
        const published = await api(`/api/tenants/${h.a.id}/rules/publish`, {
          method: 'POST',
          session,
          body: JSON.stringify({ source: fixed, note: 'slower task', basedOn: before.active!.version }),
        });
        expect(published.status).toBe(200);
        // A second publish from the same stale base is a conflict.
        const stale = await api(`/api/tenants/${h.a.id}/rules/publish`, {
          method: 'POST',
          session,
          body: JSON.stringify({
            source: RULES.replace('due: 15m', 'due: 30m'),
            note: 'x',
            basedOn: before.active!.version,
          }),
        });
        expect(stale.status).toBe(409);

        const after = rulesResponseSchema.parse(
          await (await api(`/api/tenants/${h.a.id}/rules`, { session })).json(),
        );
        expect(after.active?.source).toBe(fixed);
        expect(after.publications[0]).toMatchObject({ publishedBy: 'ada@acme.io', note: 'slower task' });
        const back = await api(`/api/tenants/${h.a.id}/rules/rollback`, {
          method: 'POST',
          session,
          body: JSON.stringify({ version: before.active!.version, note: 'undo' }),
        });
        expect(back.status).toBe(200);
        const undone = rulesResponseSchema.parse(
          await (await api(`/api/tenants/${h.a.id}/rules`, { session })).json(),
        );
        expect(undone.active?.version).toBe(before.active!.version);
        // The other tenant saw none of it.
        const other = await h.login(h.b);
        const theirs = rulesResponseSchema.parse(
          await (await api(`/api/tenants/${h.b.id}/rules`, { session: other })).json(),
        );
        expect(theirs.publications).toHaveLength(1);
      });

      it("a draft's warnings come back from validate and publish, with file, line and field, and do not stop the publication", async () => {
        const session = await h.login(h.a, 'ada@acme.io');
        const post = async (path: string, body: unknown) =>
          api(`/api/tenants/${h.a.id}/rules/${path}`, {
            method: 'POST',
            session,
            body: JSON.stringify(body),
          });
        const before = rulesResponseSchema.parse(
          await (await api(`/api/tenants/${h.a.id}/rules`, { session })).json(),
        );
        const apac = '  apac: { country: [JP, SG, AU, NZ] }\n';
        const draft = RULES.replace(apac, `${apac}  anz: { country: [AU, NZ] }\n`);
        expect(draft).not.toBe(RULES);
        const overlap = {
          file: 'rules.yaml',
          line: draft.split('\n').findIndex((l) => l.startsWith('  anz:')) + 1,
          column: 3,
          path: 'territories.anz',
          message:
            'territories "apac" and "anz" overlap: both can match country AU, NZ; the first route that names one wins',
        };

        const checked = validateResponseSchema.parse(
          await (await post('validate', { source: draft })).json(),
        );
        expect(checked).toMatchObject({ ok: true, errors: [], warnings: [overlap] });

        const published = await post('publish', {
          source: draft,
          note: 'ANZ territory',
          basedOn: before.active!.version,
        });
        expect(published.status).toBe(200);
        const outcome = publishResponseSchema.parse(await published.json());
        expect(outcome).toMatchObject({ status: 'published', warnings: [overlap] });
        // The rule set published had no warnings, and a rollback to it says so.
        const back = await post('rollback', { version: before.active!.version, note: 'undo' });
        expect(publishResponseSchema.parse(await back.json())).toMatchObject({
          status: 'published',
          warnings: [],
        });
      });

      it("a team edit's answer carries the warnings its publication would, the CRM's field checks included", async () => {
        const session = await h.login(h.b, 'ada@acme.io');
        const before = rulesResponseSchema.parse(
          await (await api(`/api/tenants/${h.b.id}/rules`, { session })).json(),
        );
        // Salesforce's spelling in a HubSpot portal's rules: HubSpot reads demo_requested.
        const draft = RULES.replace('demo_requested: true', 'Demo_Requested__c: true');
        expect(draft).not.toBe(RULES);
        const published = publishResponseSchema.parse(
          await (
            await api(`/api/tenants/${h.b.id}/rules/publish`, {
              method: 'POST',
              session,
              body: JSON.stringify({ source: draft, note: 'sf name', basedOn: before.active!.version }),
            })
          ).json(),
        );
        const fieldWarning = expect.objectContaining({
          path: expect.stringContaining('Demo_Requested__c') as unknown,
          suggestion: 'demo_requested',
        }) as unknown;
        expect(published.warnings).toEqual([fieldWarning]);
        const edited = await api(`/api/tenants/${h.b.id}/team/reps/${encodeURIComponent('bo@acme.io')}`, {
          method: 'PATCH',
          session,
          body: JSON.stringify({ weight: 2 }),
        });
        expect(edited.status).toBe(200);
        expect(publishResponseSchema.parse(await edited.json()).warnings).toEqual([fieldWarning]);
      });

      it('a body that does not fit the schema is a 400 naming the field', async () => {
        const session = await h.login(h.a);
        const res = await api(`/api/tenants/${h.a.id}/rules/publish`, {
          method: 'POST',
          session,
          body: JSON.stringify({ source: RULES, note: '   ', basedOn: null }),
        });
        expect(res.status).toBe(400);
        expect(((await res.json()) as { error: string }).error).toMatch(/^note: /);
      });
    });

    describe('preview, team, activity', () => {
      it('previews a draft on the last decided leads: what changes, per rep; edits a rep; finds leads', async () => {
        const session = await h.login(h.a);
        await h.route(h.a, [
          dachLead('p1'),
          dachLead('p2'),
          dachLead('p3', { country: 'FR', employees: 100, demoRequested: false }),
        ]);
        const draft = RULES.replace('assign: { pool: emea-ae }', 'assign: { rep: bo@acme.io }');
        const preview = previewResponseSchema.parse(
          await (
            await api(`/api/tenants/${h.a.id}/preview`, {
              method: 'POST',
              session,
              body: JSON.stringify({ source: draft, limit: 100 }),
            })
          ).json(),
        );
        expect(preview.leads).toBe(3);
        // The two DACH demo requests would all go to Bo; the French lead does not change.
        expect(preview.changed.every((c) => c.draft.owner === 'bo@acme.io')).toBe(true);
        expect(preview.changed.map((c) => c.leadId)).not.toContain('p3');
        expect(preview.perRep.find((r) => r.rep === 'bo@acme.io')?.draft).toBe(2);

        const edited = await api(`/api/tenants/${h.a.id}/team/reps/${encodeURIComponent('bo@acme.io')}`, {
          method: 'PATCH',
          session,
          body: JSON.stringify({ outOfOffice: ['2026-11-01..2026-11-30'], weight: 3 }),
        });
        expect(edited.status).toBe(200);
        const team = teamResponseSchema.parse(
          await (await api(`/api/tenants/${h.a.id}/team`, { session })).json(),
        );
        const bo = team.reps.find((r) => r.email === 'bo@acme.io');
        expect(bo).toMatchObject({ weight: 3, outOfOffice: ['2026-11-01..2026-11-30'] });
        expect(bo?.skippedNow).toMatch(/^out of office 2026-11-01/);
        expect(team.pools.find((p) => p.name === 'emea-ae')?.next).toBe('ada@acme.io');
        // Fairness: the pool's leads today shared by weight (Ada 2, Bo now 3) is each member's target.
        const emea = team.pools.find((p) => p.name === 'emea-ae')!;
        const total = emea.members.reduce((n, m) => n + m.assigned, 0);
        const weights = emea.members.reduce((n, m) => n + m.weight, 0);
        expect(total).toBeGreaterThan(0);
        for (const m of emea.members) expect(m.target).toBeCloseTo((total * m.weight) / weights, 1);
        // An invalid edit is refused with the loader's words, and nothing changes.
        const bad = await api(`/api/tenants/${h.a.id}/team/reps/${encodeURIComponent('bo@acme.io')}`, {
          method: 'PATCH',
          session,
          body: JSON.stringify({ timezone: 'Mars/Olympus' }),
        });
        expect(bad.status).toBe(422);
        expect(JSON.stringify(await bad.json())).toContain('unknown time zone');

        const found = activityResponseSchema.parse(
          await (
            await api(`/api/tenants/${h.a.id}/activity?q=${encodeURIComponent('Lead p2')}`, { session })
          ).json(),
        );
        expect(found.leads.map((l) => l.leadId)).toEqual(['p2']);
        const detail = await (await api(`/api/tenants/${h.a.id}/activity/p2`, { session })).json();
        expect(JSON.stringify(detail)).toContain('Enterprise demo requests in DACH');
        // Re-route: queued once as its own job; a lead without a decision here is not found.
        const rerouted = await api(`/api/tenants/${h.a.id}/activity/p2/reroute`, { method: 'POST', session });
        const body = await rerouted.text();
        expect([rerouted.status, body]).toEqual([200, expect.stringContaining('"queued":true')]);
        expect((await h.storage.inboxStats(h.a.id)).pending).toBe(1);
        expect(
          (await api(`/api/tenants/${h.a.id}/activity/nope/reroute`, { method: 'POST', session })).status,
        ).toBe(404);
        // Tenant B searching for A's lead finds nothing.
        const other = await h.login(h.b);
        const theirs = activityResponseSchema.parse(
          await (await api(`/api/tenants/${h.b.id}/activity?q=p2`, { session: other })).json(),
        );
        expect(theirs.leads).toEqual([]);
        expect((await api(`/api/tenants/${h.b.id}/activity/p2`, { session: other })).status).toBe(404);
      });

      it('previews as routing routes: a rep the CRM deactivated gets no lead under either version', async () => {
        const tenant = await h.install('606', 'Initrode');
        const session = await h.login(tenant);
        await h.route(tenant, [dachLead('q1'), dachLead('q2'), dachLead('q3'), dachLead('q4')]);
        // The CRM's users as the worker stored them: every rep of the team, Bo deactivated.
        const reps = Object.keys(loadTeamOrThrow(TEAM).reps);
        await h.storage.saveDirectory(tenant.id, {
          owners: reps.map((email, i) => ({
            id: String(100 + i),
            email,
            name: email,
            active: email !== 'bo@acme.io',
            teams: [],
          })),
          queues: {},
          fetchedAt: T0,
        });
        const preview = async (source: string) =>
          previewResponseSchema.parse(
            await (
              await api(`/api/tenants/${tenant.id}/preview`, {
                method: 'POST',
                session,
                body: JSON.stringify({ source, limit: 100 }),
              })
            ).json(),
          );
        // The DACH demo requests go to pool emea-ae (Ada and Bo): all to Ada, as routing would send them.
        const same = await preview(RULES);
        expect(same.leads).toBe(4);
        expect(same.perRep).toEqual([{ rep: 'ada@acme.io', published: 4, draft: 4 }]);
        // A draft naming Bo alone: the lead has no one to go to under it, as routing would find.
        const toBo = await preview(RULES.replace('assign: { pool: emea-ae }', 'assign: { rep: bo@acme.io }'));
        expect(toBo.perRep.find((r) => r.rep === 'bo@acme.io')).toBeUndefined();
      });

      it('serves an OpenAPI document generated from the schemas', async () => {
        const doc = (await (await fetch(h.url + '/api/openapi.json')).json()) as {
          paths: Record<string, unknown>;
        };
        expect(Object.keys(doc.paths)).toEqual(
          expect.arrayContaining([
            '/api/tenants/{tenantId}/rules/publish',
            '/api/tenants/{tenantId}/preview',
            '/api/tenants/{tenantId}/approvals',
            '/api/tenants/{tenantId}/approvals/{requestId}/approve',
            '/api/tenants/{tenantId}/reports/{kind}',
          ]),
        );
      });
    });

    describe('simulate', () => {
      it('simulates a CSV of leads, listing each row it skipped with line and column', async () => {
        const session = await h.login(h.a);
        const simulate = (csv: string) =>
          api(`/api/tenants/${h.a.id}/simulate`, {
            method: 'POST',
            session,
            body: JSON.stringify({ source: RULES, csv }),
          });
        const csv = [
          'email,country,employees,company,demo_requested',
          'lea@bigco.de,DE,1200,"BigCo, GmbH",true',
          'kim@small.io,US,lots,Small,false',
          'broken@row.io,FR',
          'sam@acme.fr,FR,40,Acme,false',
        ].join('\n');
        const res = await simulate(csv);
        expect(res.status).toBe(200);
        const result = simulateResponseSchema.parse(await res.json());
        expect(result.decisions.map((d) => d.email)).toEqual(['lea@bigco.de', 'sam@acme.fr']);
        expect(result.decisions[0]!.outcome.route).toBe('Enterprise demo requests in DACH');
        expect(result.decisions[0]!.explanation).toContain('Enterprise demo requests in DACH');
        expect(result.problems).toEqual([
          { line: 3, column: 'employees', message: '"lots" is not a number' },
          {
            line: 4,
            column: null,
            message: 'malformed CSV row: the row has a different number of columns than the header',
          },
        ]);

        const unclosed = simulateResponseSchema.parse(
          await (await simulate('email,country\n"lea@bigco.de,DE\n')).json(),
        );
        expect(unclosed.decisions).toEqual([]);
        expect(unclosed.problems).toEqual([
          { line: 2, column: null, message: expect.stringContaining('Quote Not Closed') },
        ]);
        const empty = await simulate('email,country\n');
        expect([empty.status, await empty.json()]).toEqual([
          422,
          { error: 'the CSV has no leads: a header row, then one lead per row' },
        ]);
        const big = await simulate(
          ['email', ...Array.from({ length: 1001 }, (_, i) => `l${i}@x.io`)].join('\n'),
        );
        expect(big.status).toBe(422);
        expect(((await big.json()) as { error: string }).error).toContain('at most 1000');
      });
    });

    describe('health', () => {
      it("shows the oldest waiting item, dead letters, failed writes, and the last hour's CRM errors and 429s a worker recorded", async () => {
        // A tenant of this test's own, so every number is this test's.
        const t = await h.install('303', 'Initech');
        const now = T0 + 3 * 60 * 60_000;
        const minutesAgo = (m: number) => now - m * 60_000;
        // A dead letter, then an item waiting for 90 s.
        await h.storage.enqueue(
          [{ tenantId: t.id, event: makeEvent({ objectId: 'dead-1' }) }],
          minutesAgo(5),
        );
        const [item] = await h.storage.claim({
          tenantId: t.id,
          workerId: 'w',
          limit: 1,
          leaseMs: 60_000,
          now: minutesAgo(5),
        });
        expect(await h.storage.deadLetter(item!.id, 'w', 'HubSpot refused: no seat', minutesAgo(4))).toBe(
          true,
        );
        await h.storage.enqueue(
          [{ tenantId: t.id, event: makeEvent({ objectId: 'waiting-1' }) }],
          now - 90_000,
        );
        // A CRM write that failed for good.
        await h.route(t, [dachLead('written-1')], minutesAgo(3));
        const [planned] = await h.storage.pendingActions(t.id, 'written-1');
        await h.storage.markActionFailed(t.id, planned!.id, 'HubSpot 403: missing scope', minutesAgo(2));

        // The worker process's side, wired as the app wires it: its limiter tells its own metrics and
        // its tally how each call ended; the tally is flushed to the shared database by housekeeping.
        const clock = { now: minutesAgo(90) };
        const workerMetrics = new Metrics({ defaultMetrics: false });
        const tally = new CrmCallTally({
          counts: new CrmCallRepository(h.storage.db),
          findTenant: (provider, externalId) => h.storage.findTenant(provider, externalId),
          clock: () => clock.now,
        });
        const limiters = new LimiterFactory({
          provider: 'hubspot',
          buckets: { default: { reservoir: 1000, intervalMs: 1000 } },
          observe: (portal, bucket, error) => {
            workerMetrics.crmCall(portal, bucket, crmCallOutcome(error));
            tally.record('hubspot', portal, error);
          },
        });
        const calls = async (n: number, error?: CrmError) => {
          for (let i = 0; i < n; i++)
            await limiters
              .forPortal(t.externalId)
              .schedule('default', () =>
                error === undefined ? Promise.resolve('ok') : Promise.reject(error),
              )
              .catch(() => 'failed');
        };
        try {
          // Older than the hour: not shown.
          await calls(5, new CrmError('rate_limited', 'HubSpot 429', { status: 429 }));
          await tally.flush();
          clock.now = minutesAgo(30);
          await calls(4);
          await calls(2, new CrmError('rate_limited', 'HubSpot 429', { status: 429 }));
          await calls(2, new CrmError('auth', 'token revoked', { status: 401 }));
          await tally.flush();
          clock.now = minutesAgo(1);
          await calls(1, new CrmError('rate_limited', 'HubSpot 429', { status: 429 }));
          await calls(1, new CrmError('transient', 'HubSpot 502', { status: 502 }));
          await calls(1, new CrmError('invalid', 'no such property', { status: 400 }));
          await tally.flush();
        } finally {
          await limiters.disconnectAll();
        }

        // What the Health page showed before: a process's own counters since it started. They are the
        // worker's; the web process serving the page never made these calls.
        expect(await workerMetrics.render()).toContain(
          'lead_router_crm_calls_total{portal="303",bucket="default",outcome="rate_limited"} 8',
        );
        h.clock.now = now;
        try {
          const session = await h.login(t);
          const res = await api(`/api/tenants/${t.id}/health`, { session });
          expect(res.status).toBe(200);
          const health = healthResponseSchema.parse(await res.json());
          expect(health.inbox).toEqual({ pending: 1, leased: 0, failed: 1, oldestPendingAgeMs: 90_000 });
          expect(health.deadLetters).toEqual([
            expect.objectContaining({
              leadId: 'dead-1',
              reason: 'HubSpot refused: no seat',
              failedAt: minutesAgo(4),
            }),
          ]);
          expect(health.failedActions).toEqual([
            expect.objectContaining({
              leadId: 'written-1',
              error: 'HubSpot 403: missing scope',
              at: minutesAgo(2),
            }),
          ]);
          expect(health.crmCalls).toEqual({
            windowMinutes: 60,
            ok: 4,
            rateLimited: 3,
            error: 4,
            errors: { transient: 1, auth: 2, notFound: 0, invalid: 1, other: 0 },
          });
          // The other tenants' numbers are theirs.
          const other = await api(`/api/tenants/${h.a.id}/health`, { session: await h.login(h.a) });
          expect(healthResponseSchema.parse(await other.json()).crmCalls).toMatchObject({
            ok: 0,
            rateLimited: 0,
            error: 0,
          });
        } finally {
          h.clock.now = T0;
        }
      });
    });

    describe("health: a Salesforce org's change-event stream", () => {
      const LEADS = '/data/LeadChangeEvent';
      const CONTACTS = '/data/ContactChangeEvent';
      const health = async (tenant: Tenant) => {
        const res = await api(`/api/tenants/${tenant.id}/health`, { session: await h.login(tenant) });
        expect(res.status).toBe(200);
        return healthResponseSchema.parse(await res.json());
      };

      it('says since when a process reads each channel and what it last recorded, or that none does or that it cannot subscribe, and what to check', async () => {
        const org = await h.storage.createTenant(
          { provider: 'salesforce', externalId: '00D000000000001EAA', name: 'Umbrella' },
          T0,
        );
        const now = T0 + 10 * 60_000;
        // Leads: read since T0 (renewed since), an event committed at T0 + 7 min recorded at T0 + 8 min.
        await h.storage.streams.takeLease(org.id, LEADS, 'intake-1', 30_000, T0);
        await h.storage.streams.takeLease(org.id, LEADS, 'intake-1', 30_000, T0 + 8 * 60_000);
        await h.storage.streams.advance(
          org.id,
          LEADS,
          'intake-1',
          { replayId: '4711', replayAt: T0 + 7 * 60_000, coveredUntil: T0 + 5 * 60_000 },
          T0 + 8 * 60_000,
        );
        await h.storage.streams.takeLease(org.id, LEADS, 'intake-1', 30_000, now - 1_000);
        await h.storage.streams.recordSubscription(
          org.id,
          LEADS,
          'intake-1',
          { subscribed: true },
          T0 + 1_000,
        );
        // Contacts: its reader stopped renewing at T0 + 2 min.
        await h.storage.streams.takeLease(org.id, CONTACTS, 'intake-2', 30_000, T0 + 2 * 60_000);
        h.clock.now = now;
        try {
          const { stream } = await health(org);
          expect(stream).toEqual({
            setupCheck: expect.stringContaining('Change Data Capture is enabled for Lead and Contact'),
            channels: [
              {
                channel: CONTACTS,
                readSince: null,
                lapsedAt: T0 + 2 * 60_000 + 30_000,
                subscribedAt: null,
                notSubscribed: null,
                missed: null,
                recordedAt: null,
                lastEventAt: null,
                coveredUntil: null,
              },
              {
                channel: LEADS,
                readSince: T0,
                lapsedAt: null,
                subscribedAt: T0 + 1_000,
                notSubscribed: null,
                missed: null,
                recordedAt: T0 + 8 * 60_000,
                lastEventAt: T0 + 7 * 60_000,
                coveredUntil: T0 + 5 * 60_000,
              },
            ],
          });
          // A HubSpot portal's events are pushed: no stream to show.
          expect((await health(h.a)).stream).toBeNull();

          // Its catch-up poll found 2 records the subscribed stream never delivered: shown while recent.
          await h.storage.streams.recordMissed(org.id, LEADS, 'intake-1', 2, now - 60_000);
          const leadsNow = async () => (await health(org)).stream?.channels.find((c) => c.channel === LEADS);
          expect((await leadsNow())?.missed).toEqual({ at: now - 60_000, count: 2, recent: true });
          h.clock.now = now - 60_000 + STREAM_MISSED_RECENT_MS + 1;
          await h.storage.streams.takeLease(org.id, LEADS, 'intake-1', 30_000, h.clock.now);
          expect((await leadsNow())?.missed).toEqual({ at: now - 60_000, count: 2, recent: false });
          h.clock.now = now;

          // The Leads reader's subscribe is refused (Change Data Capture taken off Lead in Setup) from
          // T0 + 9 min: within the grace, read as before; past it, since when and why.
          const refused =
            'subscribe failed: 400::The channel you requested to subscribe to does not exist {/data/LeadChangeEvent}';
          await h.storage.streams.recordSubscription(
            org.id,
            LEADS,
            'intake-1',
            { subscribed: false, error: refused },
            T0 + 9 * 60_000,
          );
          const leads = async () => (await health(org)).stream?.channels.find((c) => c.channel === LEADS);
          expect(await leads()).toMatchObject({
            readSince: T0,
            subscribedAt: T0 + 1_000,
            notSubscribed: null,
          });
          h.clock.now = T0 + 12 * 60_000;
          await h.storage.streams.takeLease(org.id, LEADS, 'intake-1', 30_000, h.clock.now);
          expect(await leads()).toMatchObject({
            readSince: T0,
            subscribedAt: T0 + 1_000,
            notSubscribed: { since: T0 + 9 * 60_000, error: refused },
          });
        } finally {
          h.clock.now = T0;
        }
      });
    });

    describe('dead letters', () => {
      it('name the lead by email and say why in a sentence; once the lead is re-routed its dead letter is closed, and a replay of it is refused with 409, changing nothing', async () => {
        const t = await h.install('404', 'Hooli');
        const session = await h.login(t);
        const health = async () =>
          healthResponseSchema.parse(await (await api(`/api/tenants/${t.id}/health`, { session })).json());
        const replay = async (id: number) => {
          const res = await api(`/api/tenants/${t.id}/dead-letters/${id}/replay`, {
            method: 'POST',
            session,
          });
          return [res.status, await res.json()] as const;
        };
        // Routed to a rep HubSpot then refused as owner: the worker's dead letter, as it records it.
        await h.storage.enqueue([{ tenantId: t.id, event: makeEvent({ objectId: 'c248' }) }], T0);
        const [item] = await h.storage.claim({
          tenantId: t.id,
          workerId: 'w',
          limit: 1,
          leaseMs: 60_000,
          now: T0,
        });
        expect(await h.storage.claimEffect(t.id, 'c248', 'route', item!.id, T0)).toBe('claimed');
        await h.route(t, [dachLead('c248')], T0);
        const [first] = await h.storage.decisionsFor(t.id, { leadId: 'c248' });
        const raw =
          `set owner of contact c248 to ${first!.owner}: HubSpot refused: Property values were not valid: ` +
          '[{"isValid":false,"message":"70003 is not a valid owner id","error":"INVALID_OWNER_ID","name":"hubspot_owner_id"}]';
        expect(await h.storage.deadLetter(item!.id, 'w', raw, T0 + 1)).toBe(true);

        expect((await health()).deadLetters).toEqual([
          {
            id: item!.id,
            leadId: 'c248',
            email: 'c248@bigco.de',
            reason: `HubSpot refused ${first!.owner} as owner (INVALID_OWNER_ID): deactivated or not a user`,
            detail: raw,
            attempts: 1,
            failedAt: T0 + 1,
            reroutable: true,
          },
        ]);

        // Re-routed from the Activity page: the worker's decision of that job closes the dead letter.
        const rerouted = await api(`/api/tenants/${t.id}/activity/c248/reroute`, { method: 'POST', session });
        const { job } = (await rerouted.json()) as { job: string };
        const dev = { kind: 'set_owner', email: 'dev@acme.io' } as const;
        const again = await h.storage.commitDecision(
          t.id,
          {
            decisionKey: `c248:bulk:${job}`,
            decision: {
              ...makeDecision({
                leadId: 'c248',
                destination: { kind: 'rep', email: 'dev@acme.io' },
                actions: [dev],
                sla: undefined,
                stateChanges: { pools: {}, reps: {} },
              }),
            },
            summary: 'dev',
          },
          { pools: {}, reps: {} },
          T0 + 5,
        );
        expect(again.status).toBe('committed');
        expect((await health()).deadLetters).toEqual([]);

        const [status, body] = await replay(item!.id);
        expect(status).toBe(409);
        expect((body as { error: string }).error).toBe(
          `dead letter ${item!.id} not replayed: lead c248 was routed again by decision c248:bulk:${job} (to dev@acme.io), and a replay would write the older decision over it. To decide the lead again under the current rules, use Re-route on the Activity page.`,
        );
        expect(await h.storage.getInboxItem(t.id, item!.id)).toMatchObject({
          state: 'done',
          updatedAt: T0 + 5,
        });
        expect((await h.storage.pendingActions(t.id, 'c248')).map((a) => a.decisionKey)).toEqual([
          `c248:bulk:${job}`,
        ]);
        expect(await replay(item!.id + 1000)).toEqual([
          404,
          { error: `no dead letter ${item!.id + 1000} in this tenant` },
        ]);
      });
    });

    describe('approvals', () => {
      it('a publication waits for a second admin, is visible in the history, and goes stale when another lands first', async () => {
        const ada = await h.login(h.a, 'ada@acme.io');
        const bo = await h.login(h.a, 'bo@acme.io');
        const json = async (res: Response) => [res.status, await res.json()] as const;
        /** A publish that must have become a request: the request. */
        const pending = async (res: Promise<Response>) => {
          const outcome = publishResponseSchema.parse(await (await res).json());
          if (outcome.status !== 'pending_approval') throw new Error(`published at once: ${outcome.status}`);
          return outcome.request;
        };
        const post = (session: typeof ada, path: string, body?: unknown) =>
          api(`/api/tenants/${h.a.id}${path}`, {
            method: 'POST',
            session,
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
        const rules = async () =>
          rulesResponseSchema.parse(
            await (await api(`/api/tenants/${h.a.id}/rules`, { session: ada })).json(),
          );
        const setRequired = (session: typeof ada, required: boolean) =>
          api(`/api/tenants/${h.a.id}/approvals`, {
            method: 'PUT',
            session,
            body: JSON.stringify({ required }),
          });

        expect((await setRequired(ada, true)).status).toBe(200);
        const start = await rules();
        const base = start.active!.version;
        const draft = RULES.replace('due: 15m', 'due: 17m');
        const request = await pending(
          post(ada, '/rules/publish', { source: draft, note: 'faster', basedOn: base }),
        );
        // Nothing published yet; the request is listed, pending.
        expect((await rules()).active!.version).toBe(base);
        expect((await rules()).requests[0]).toMatchObject({
          id: request.id,
          state: 'pending',
          requestedBy: 'ada@acme.io',
        });

        // Its author cannot approve it; another tenant cannot even see it.
        const own = await json(await post(ada, `/approvals/${request.id}/approve`));
        expect(own).toEqual([409, { error: expect.stringContaining('a second admin must approve it') }]);
        const other = await h.login(h.b);
        const foreign = await api(`/api/tenants/${h.b.id}/approvals/${request.id}/approve`, {
          method: 'POST',
          session: other,
        });
        expect(foreign.status).toBe(404);

        const approved = await json(await post(bo, `/approvals/${request.id}/approve`));
        expect(approved[0]).toBe(200);
        expect(approved[1]).toMatchObject({
          status: 'published',
          publication: { publishedBy: 'ada@acme.io', approvedBy: 'bo@acme.io', note: 'faster' },
        });
        const after = await rules();
        expect(after.active!.source).toBe(draft);
        expect(after.publications[0]).toMatchObject({ publishedBy: 'ada@acme.io', approvedBy: 'bo@acme.io' });
        expect(after.requests[0]).toMatchObject({
          id: request.id,
          state: 'approved',
          decidedBy: 'bo@acme.io',
        });
        expect((await post(bo, `/approvals/${request.id}/approve`)).status).toBe(409);

        // Two requests from the same base: the first approved makes the other stale.
        const x = await pending(
          post(ada, '/rules/publish', {
            source: RULES.replace('due: 15m', 'due: 18m'),
            note: 'x',
            basedOn: after.active!.version,
          }),
        );
        const y = await pending(
          post(bo, '/rules/publish', {
            source: RULES.replace('due: 15m', 'due: 19m'),
            note: 'y',
            basedOn: after.active!.version,
          }),
        );
        expect((await post(ada, `/approvals/${y.id}/approve`)).status).toBe(200);
        const stale = await json(await post(bo, `/approvals/${x.id}/approve`));
        expect(stale).toEqual([409, { error: expect.stringContaining('stale') }]);
        expect((await rules()).requests.find((r) => r.id === x.id)?.state).toBe('stale');
        expect((await rules()).active!.source).toBe(RULES.replace('due: 15m', 'due: 19m'));

        // Rejected: nothing changes. A team edit and a rollback wait too.
        const z = await pending(
          post(ada, '/rules/publish', {
            source: RULES,
            note: 'z',
            basedOn: (await rules()).active!.version,
          }),
        );
        expect((await json(await post(bo, `/approvals/${z.id}/reject`)))[1]).toMatchObject({
          status: 'rejected',
          request: { state: 'rejected', decidedBy: 'bo@acme.io' },
        });
        const teamEdit = await json(
          await api(`/api/tenants/${h.a.id}/team/reps/${encodeURIComponent('bo@acme.io')}`, {
            method: 'PATCH',
            session: ada,
            body: JSON.stringify({ weight: 5 }),
          }),
        );
        expect(teamEdit[1]).toMatchObject({
          status: 'pending_approval',
          request: { note: expect.stringContaining('bo@acme.io') },
        });
        const rolled = await json(await post(ada, '/rules/rollback', { version: base, note: 'back' }));
        expect(rolled[1]).toMatchObject({ status: 'pending_approval' });
        expect((await rules()).active!.source).toBe(RULES.replace('due: 15m', 'due: 19m'));

        // Turning approvals off takes a second admin as well.
        const asked = approvalsResponseSchema.parse(await (await setRequired(ada, false)).json());
        expect(asked).toMatchObject({ required: true, offRequestedBy: 'ada@acme.io' });
        expect(approvalsResponseSchema.parse(await (await setRequired(ada, false)).json()).required).toBe(
          true,
        );
        expect(approvalsResponseSchema.parse(await (await setRequired(bo, false)).json()).required).toBe(
          false,
        );
        const direct = await json(
          await post(ada, '/rules/publish', {
            source: RULES,
            note: 'direct',
            basedOn: (await rules()).active!.version,
          }),
        );
        expect(direct[1]).toMatchObject({ status: 'published', publication: { approvedBy: null } });
      });
    });
  });
}
