// Reports as JSON through the settings API: behind its per-tenant access check, computed from leads
// decided by the real core with the tenant's published rules and team (demo: emea-ae weighted 2:1).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { reportResponseSchema, teamResponseSchema } from '../../src/settings/schemas.js';
import { dachLead, startSettings, T0, type SettingsHarness } from './support.js';

let h: SettingsHarness;
beforeAll(async () => {
  h = await startSettings();
  await h.route(
    h.a,
    Array.from({ length: 6 }, (_, i) => dachLead(`r${i}`)),
  );
});
afterAll(async () => {
  await h.close();
});

const since = `${new Date(T0 - 60_000).toISOString()}&until=${new Date(T0 + 3_600_000).toISOString()}`;
const get = (path: string, cookie?: string) =>
  fetch(h.url + path, cookie === undefined ? {} : { headers: { cookie } });

describe('GET /api/tenants/:id/reports/:kind', () => {
  it('answers distribution per pool and rep against the weighted target', async () => {
    const { cookie } = await h.login(h.a);
    const res = await get(`/api/tenants/${h.a.id}/reports/distribution?since=${since}`, cookie);
    expect(res.status).toBe(200);
    // The answer is the settings API's schema (what the Reports page parses it with).
    const body = reportResponseSchema.parse(await res.json());
    expect(body.kind).toBe('distribution');
    expect(body.by).toBeNull();
    expect(body.rows.filter((r) => r.pool === 'emea-ae')).toEqual([
      {
        pool: 'emea-ae',
        rep: 'ada@acme.io',
        assigned: 4,
        share: 0.6667,
        weight: 2,
        target_share: 0.6667,
        expected: 4,
        difference: 0,
      },
      {
        pool: 'emea-ae',
        rep: 'bo@acme.io',
        assigned: 2,
        share: 0.3333,
        weight: 1,
        target_share: 0.3333,
        expected: 2,
        difference: 0,
      },
    ]);
    // Members of pools that got no leads are listed with nothing assigned.
    expect(body.rows).toContainEqual(
      expect.objectContaining({ pool: 'na-ae', rep: 'nina@acme.io', assigned: 0 }),
    );
  });

  it('answers fallbacks and speed by rule for the tenant let in', async () => {
    const { cookie } = await h.login(h.a);
    const res = await get(`/api/tenants/${h.a.id}/reports/speed?since=${since}&by=rule`, cookie);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { rows: Record<string, unknown>[] };
    expect(body.rows.reduce((n, r) => n + Number(r.leads), 0)).toBe(6);
  });

  it('answers the same rows as the CLI’s CSV with format=csv, as a download named by kind and window', async () => {
    const { cookie } = await h.login(h.a);
    const path = `/api/tenants/${h.a.id}/reports/speed?since=${since}&by=rule`;
    const json = reportResponseSchema.parse(await (await get(path, cookie)).json());
    const res = await get(`${path}&format=csv`, cookie);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename=lead-router-speed-by-rule-${day(T0 - 60_000)}-to-${day(T0 + 3_600_000 - 1)}.csv`,
    );
    const lines = (await res.text()).split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines[0]).toBe(json.columns.join(','));
    expect(lines.slice(1, -1)).toEqual(
      json.rows.map((r) => json.columns.map((c) => (r[c] === null ? '' : String(r[c]))).join(',')),
    );
    expect(json.rows.length).toBeGreaterThan(0);
  });

  it("the Team page's fairness counts each pool's own leads of the last 24 hours, as the report does", async () => {
    // Bo gets a lead of his own, as an existing customer's account owner: not one of the pool's.
    await h.route(
      h.a,
      [dachLead('own', { email: 'own@customer.example', emailDomain: 'customer.example' })],
      T0,
      [
        {
          id: 'acc-1',
          name: 'Customer',
          domains: ['customer.example'],
          owner: 'bo@acme.io',
          type: 'customer',
        },
      ],
    );
    const { cookie } = await h.login(h.a);
    h.clock.now = T0 + 60_000;
    const team = teamResponseSchema.parse(await (await get(`/api/tenants/${h.a.id}/team`, cookie)).json());
    h.clock.now = T0;
    const emea = team.pools.find((p) => p.name === 'emea-ae')!;
    // The pool's six leads of beforeAll, shared 2:1 by weight: Bo's own lead is not the pool's.
    expect(emea.members.map((m) => [m.email, m.assigned, m.target])).toEqual([
      ['ada@acme.io', 4, 4],
      ['bo@acme.io', 2, 2],
    ]);
  });

  it('a rep the CRM deactivated has no share of the pool’s target, in the report as on the Team page', async () => {
    const { cookie } = await h.login(h.a);
    const owner = (id: string, email: string, active: boolean) => ({
      id,
      email,
      name: email,
      active,
      teams: [],
    });
    // The CRM's users as the worker stored them: Bo deactivated since the team file was written.
    await h.storage.saveDirectory(h.a.id, {
      owners: [owner('1', 'ada@acme.io', true), owner('2', 'bo@acme.io', false)],
      queues: {},
      fetchedAt: T0,
    });
    const res = await get(`/api/tenants/${h.a.id}/reports/distribution?since=${since}`, cookie);
    const rows = reportResponseSchema.parse(await res.json()).rows.filter((r) => r.pool === 'emea-ae');
    expect(rows.map((r) => [r.rep, r.assigned, r.target_share, r.expected])).toEqual([
      ['ada@acme.io', 4, 1, 6],
      ['bo@acme.io', 2, 0, 0],
    ]);
    h.clock.now = T0 + 60_000;
    const team = teamResponseSchema.parse(await (await get(`/api/tenants/${h.a.id}/team`, cookie)).json());
    h.clock.now = T0;
    expect(team.pools.find((p) => p.name === 'emea-ae')!.members.map((m) => [m.email, m.target])).toEqual([
      ['ada@acme.io', 6],
      ['bo@acme.io', 0],
    ]);
  });

  it('refuses a request without a session, and another tenant’s session, in either format', async () => {
    for (const format of ['', '&format=csv']) {
      const path = `/api/tenants/${h.a.id}/reports/sla?since=${since}${format}`;
      expect((await get(path)).status).toBe(401);
      const other = await h.login(h.b);
      expect([401, 403]).toContain((await get(path, other.cookie)).status);
    }
  });

  it('an unknown format is a 400 that names it', async () => {
    const { cookie } = await h.login(h.a);
    const res = await get(`/api/tenants/${h.a.id}/reports/sla?since=${since}&format=xlsx`, cookie);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('format: json or csv');
  });

  it('a bad query is a 400 that names it', async () => {
    const { cookie } = await h.login(h.a);
    const res = await get(`/api/tenants/${h.a.id}/reports/sla?since=someday`, cookie);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/"someday" is not an ISO 8601/);
  });
});
