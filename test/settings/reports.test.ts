// Reports as JSON through the settings API: behind its per-tenant access check, computed from leads
// decided by the real core with the tenant's published rules and team (demo: emea-ae weighted 2:1).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { reportResponseSchema } from '../../src/settings/schemas.js';
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

  it('refuses a request without a session, and another tenant’s session', async () => {
    const path = `/api/tenants/${h.a.id}/reports/sla?since=${since}`;
    expect((await get(path)).status).toBe(401);
    const other = await h.login(h.b);
    expect([401, 403]).toContain((await get(path, other.cookie)).status);
  });

  it('a bad query is a 400 that names it', async () => {
    const { cookie } = await h.login(h.a);
    const res = await get(`/api/tenants/${h.a.id}/reports/sla?since=someday`, cookie);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/"someday" is not an ISO 8601/);
  });
});
