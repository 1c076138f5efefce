// The Team page's roster follows the CRM's users, over the HubSpot sandbox through the real connector: a
// user added in the CRM appears (routed with weight 1 until enriched), a deactivated one is marked as
// routing sees it, and enriching the new one here (weight, hours, zone, out of office) publishes a team
// version that lists them; a rep added here under an email no owner of the portal has is published with
// a warning saying routing skips them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/app/config.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';
import { publishResponseSchema, teamResponseSchema } from '../../src/settings/schemas.js';
import type { Tenant } from '../../src/storage/index.js';

describe('the roster synced from the CRM users (HubSpot sandbox)', () => {
  let app: RunningApp;
  let dataDir: string;
  let tenant: Tenant;
  let session: { cookie: string; csrf: string };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lead-router-team-sync-'));
    app = await startApp(
      loadConfig({
        PORT: '0',
        SANDBOX_PORT: '0',
        DATA_DIR: dataDir,
        DEMO_RATE: '0',
        SETTINGS_SECRET: randomBytes(32).toString('hex'),
      }),
      { logger: createLogger({ silent: true }), generate: false },
    );
    tenant = (await app.storage.findTenant('hubspot', app.sandbox!.portalId))!;
    const opened = await fetch(app.settingsUrl!, { redirect: 'manual' });
    const cookie = (opened.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const page = await (await fetch(`${app.url}/settings/${tenant.id}/team`, { headers: { cookie } })).text();
    session = { cookie, csrf: /name="csrf-token" content="([^"]+)"/.exec(page)?.[1] ?? '' };
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const team = async () =>
    teamResponseSchema.parse(
      await (
        await fetch(`${app.url}/api/tenants/${tenant.id}/team`, { headers: { cookie: session.cookie } })
      ).json(),
    );

  it('shows new CRM users, marks deactivated ones, and enriches a new one here', async () => {
    const portal = app.sandbox!.crm.portal(Number(app.sandbox!.portalId));
    const before = await team();
    expect(before.crm.error).toBeNull();
    expect(before.reps.find((r) => r.email === 'zoe@acme.io')).toBeUndefined();

    portal.addOwner({
      email: 'zoe@acme.io',
      firstName: 'Zoe',
      lastName: 'Alvarez',
      teams: [],
      archived: false,
      salesSeat: false,
      connectedInboxes: [],
    });
    const bo = portal.ownerByEmail('bo@acme.io')!;
    portal.setOwnerActive(bo.id, false);

    const synced = await team();
    expect(synced.reps.find((r) => r.email === 'zoe@acme.io')).toMatchObject({
      name: 'Zoe Alvarez',
      inTeam: false,
      active: true,
      weight: 1,
      timezone: 'UTC',
    });
    expect(synced.reps.find((r) => r.email === 'bo@acme.io')).toMatchObject({
      inTeam: true,
      active: false,
      inactiveReason: 'deactivated in the CRM',
    });
    expect(synced.pools.find((p) => p.name === 'emea-ae')?.next).not.toBe('bo@acme.io');

    const edited = await fetch(`${app.url}/api/tenants/${tenant.id}/team/reps/zoe%40acme.io`, {
      method: 'PATCH',
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' },
      body: JSON.stringify({
        weight: 2,
        timezone: 'Europe/Madrid',
        hours: ['Mon-Fri 09:00-17:00'],
        outOfOffice: ['2026-12-24..2026-12-26'],
        capPerDay: 20,
      }),
    });
    expect(edited.status).toBe(200);
    expect(publishResponseSchema.parse(await edited.json()).status).toBe('published');
    const enriched = await team();
    expect(enriched.reps.find((r) => r.email === 'zoe@acme.io')).toMatchObject({
      inTeam: true,
      weight: 2,
      timezone: 'Europe/Madrid',
      hours: ['Mon-Fri 09:00-17:00'],
      outOfOffice: ['2026-12-24..2026-12-26'],
      capPerDay: 20,
    });
    expect(enriched.source).toContain('zoe@acme.io');

    portal.setOwnerActive(bo.id, true);
    expect((await team()).reps.find((r) => r.email === 'bo@acme.io')?.active).toBe(true);
  }, 60_000);

  it('a rep added here under an email no owner of the portal has is published with a warning at its line, with a did-you-mean', async () => {
    const edited = await fetch(`${app.url}/api/tenants/${tenant.id}/team/reps/paula%40acme.oi`, {
      method: 'PATCH',
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ weight: 1 }),
    });
    expect(edited.status).toBe(200);
    const answer = publishResponseSchema.parse(await edited.json());
    expect(answer.status).toBe('published');
    const source = (await team()).source ?? '';
    expect(answer.warnings).toContainEqual({
      file: 'team.yaml',
      line: source.split('\n').findIndex((l) => l.includes('paula@acme.oi')) + 1,
      column: 3,
      path: 'reps["paula@acme.oi"]',
      message:
        'no user of this HubSpot portal has the email paula@acme.oi, so routing skips this rep and no lead goes to them',
      suggestion: 'paula@acme.io',
    });
    // The demo team's Quinn, whose owner the demo portal archived, is warned of too.
    expect(answer.warnings.map((w) => w.path)).toContain('reps["quinn@acme.io"]');
  }, 60_000);
});
