// A tenant's runtime routes with its own published rule set and team, and picks up a new publication on
// its next batch (each `runtime` call is one batch); another tenant keeps its own. A publication that does
// not load is told as the tenant's configuration error.
import { HUBSPOT_BUCKETS } from '../../connectors/hubspot/profile.js';
import { afterEach, beforeEach, expect, it, describe } from '@jest/globals';
import { HubSpotOAuth } from '../../connectors/hubspot/oauth.js';
import { LimiterFactory } from '../../connectors/shared/limiter.js';
import { CrmRegistry } from '../../src/app/crms.js';
import { encodeTokenSet, hubspotWiring } from '../../src/app/hubspot.js';
import { Tenants } from '../../src/app/tenants.js';
import { describeFailure, TenantConfigError } from '../../src/pipeline/failures.js';
import { editRep } from '../../src/settings/team-edit.js';
import { loadTeam, ruleSetVersion, teamVersion } from '../../src/rules/index.js';
import { TenantConfigRepository, type Storage } from '../../src/storage/index.js';
import { addTenant, sqliteMemory, T0 } from '../storage/helpers.js';
import { exampleTexts, publishConfig } from '../support/publish.js';

const { rules: RULES, team: TEAM } = exampleTexts('hubspot-demo');

describe('Tenants with stored configuration', () => {
  let storage: Storage;
  let close: () => Promise<void>;
  let tenants: Tenants;
  let config: TenantConfigRepository;
  const limiters = new LimiterFactory({ provider: 'tenant-config-runtime', buckets: HUBSPOT_BUCKETS });

  beforeEach(async () => {
    ({ storage, close } = await sqliteMemory.open());
    config = new TenantConfigRepository(storage.db);
    for (const id of ['a', 'b']) {
      await addTenant(storage, id, 'hubspot');
      await storage.setTenantToken(
        id,
        encodeTokenSet({ accessToken: 'x', refreshToken: 'y', expiresAt: T0 + 3_600_000 }),
        T0,
      );
      await publishConfig(storage.db, id, { rules: RULES, team: TEAM }, T0);
    }
    const hubspot = hubspotWiring({
      storage,
      oauth: new HubSpotOAuth({
        clientId: 'c',
        clientSecret: 's',
        redirectUri: 'http://127.0.0.1/cb',
        baseUrl: 'http://127.0.0.1:9',
      }),
      limiters,
      basePath: 'http://127.0.0.1:9',
      clock: () => T0,
    });
    tenants = new Tenants({
      storage,
      crms: new CrmRegistry([hubspot]),
      team: undefined,
      clock: () => T0,
    });
  });
  afterEach(async () => {
    await limiters.disconnectAll();
    await close();
  });

  it('routes with the published team, and the next batch sees a new publication', async () => {
    const before = await tenants.runtime('a');
    const original = loadTeam(TEAM, 'team');
    if (!original.ok) throw new Error('the demo team loads');
    expect(before.team).toEqual(original.team);
    const someone = Object.keys(original.team.reps)[0]!;

    const changed = editRep(TEAM, someone, { outOfOffice: ['2026-01-01..2026-12-31'] });
    expect(loadTeam(changed, 'team').ok).toBe(true);
    await config.publish(
      'a',
      {
        rules: { version: ruleSetVersion(RULES) },
        team: { version: teamVersion(changed), source: changed },
        publishedBy: 'ada',
        note: 'ooo',
      },
      T0 + 1,
    );
    const after = await tenants.runtime('a');
    expect(after.team.reps[someone]?.outOfOffice).toEqual([{ from: '2026-01-01', to: '2026-12-31' }]);
    expect((await tenants.runtime('b')).team).toEqual(original.team);
  });

  it('a published rule set that does not load is the configuration’s error, not the CRM’s refusal', async () => {
    const broken = RULES.replace('assign: { pool: na-ae }', 'assign: { pool: na-aee }');
    await config.publish(
      'a',
      {
        rules: { version: ruleSetVersion(broken), name: 'demo', source: broken },
        publishedBy: 'ada',
        note: 'by hand',
      },
      T0 + 1,
    );
    const failure = await tenants.runtime('a').then(
      () => new Error('loaded'),
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(TenantConfigError);
    expect(describeFailure(failure as TenantConfigError, 'HubSpot')).toMatch(
      new RegExp(
        `^configuration error: published rule set does not load: rule set ${ruleSetVersion(broken)}:\\d+:\\d+ routes\\[2\\]\\.assign\\.pool: unknown pool "na-aee"`,
      ),
    );
  });
});
