// Tenant isolation end to end, on PostgreSQL and Redis: two sandbox portals installed on one app
// instance through the real OAuth flow, each with its own rules and owners. Events signed for one portal
// never act on the other, a portal that never installed gets nothing, every operator query is scoped to
// its tenant, tokens are encrypted at rest, and no token or secret reaches the logs of the whole run.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { signV3, type HubSpotSandbox, type Portal } from '../../connectors/sandbox/index.js';
import { keyId } from '../../connectors/shared/crypto.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { explainLead, listDeadLetters, pickTenant, replayDeadLetters } from '../../src/cli/operate.js';
import { createLogger } from '../../src/log.js';
import { loadRuleSet } from '../../src/rules/index.js';
import type { DecisionRecord, Tenant } from '../../src/storage/index.js';
import { PG_URL, describeNeeding } from '../support/services.js';
import { cli, pgAppEnv, portalWrites, until, type PgAppEnv } from './pg-support.js';

const suite = describeNeeding(['postgres', 'redis']);

// The instance's configured rules: portal A routes by them (its install publishes them).
const RULES_A = `name: Portal A rules
team:
  reps:
    ada@acme.io: { timezone: Europe/Berlin }
    bo@acme.io: { timezone: Europe/Vienna }
    nina@acme.io: { timezone: America/New_York }
  queues:
    SMB: { team: '410004' }
pools:
  a-pool: { members: [bo@acme.io, nina@acme.io], strategy: round_robin, fallback: { queue: SMB } }
routes:
  - name: 'A: Germany goes to Ada'
    when: { country: DE }
    assign: { rep: ada@acme.io }
    task: { subject: 'A task for {{email}}', due: 1h }
  - name: 'A: everyone else goes to the A pool'
    assign: { pool: a-pool }
    task: { subject: 'A task for {{email}}', due: 2h }
fallback: { queue: SMB }
`;

// Published for portal B after its install, as the settings tab would.
const RULES_B = `name: Portal B rules
team:
  reps:
    xena@globex.test: { timezone: America/Chicago }
    yuri@globex.test: { timezone: Europe/Paris }
    zoe@globex.test: { timezone: Europe/Paris }
  queues:
    Triage: { owner: xena@globex.test }
pools:
  b-pool: { members: [yuri@globex.test, zoe@globex.test], strategy: round_robin, fallback: { queue: Triage } }
routes:
  - name: 'B: United States goes to Xena'
    when: { country: US }
    assign: { rep: xena@globex.test }
    task: { subject: 'B task for {{email}}', due: 1h }
  - name: 'B: everyone else goes to the B pool'
    assign: { pool: b-pool }
    task: { subject: 'B task for {{email}}', due: 2h }
fallback: { queue: Triage }
`;

const A_REPS = ['ada@acme.io', 'bo@acme.io', 'nina@acme.io'];
const B_REPS = ['xena@globex.test', 'yuri@globex.test', 'zoe@globex.test'];
const A_LEADS = 60;
const B_EXISTING = 100;
const B_LEADS = 40;

suite('two portals on one instance (PostgreSQL + Redis)', () => {
  let env: PgAppEnv;
  let app: RunningApp;
  let crm: HubSpotSandbox;
  let stopped = false;
  const logs: string[] = [];
  let portalA: Portal;
  let portalB: Portal;
  let portalC: Portal;
  let tenantA: Tenant;
  let tenantB: Tenant;
  let leadsA: string[];
  let leadsB: string[];
  let clientSecret: string;
  let appId: number;
  let nextEventId = 900_000;

  const decisionsOf = async (tenant: Tenant): Promise<DecisionRecord[]> =>
    app.storage.recentDecisions(tenant.id, 10_000);

  async function settled(tenant: Tenant, leads: string[]): Promise<void> {
    await until(`every lead of ${tenant.externalId} decided`, async () => {
      const decided = new Set((await decisionsOf(tenant)).map((d) => d.leadId));
      return leads.every((id) => decided.has(id));
    });
    await crm.webhooks.idle();
    await until('the inbox to drain', async () => {
      const stats = await app.storage.inboxStats();
      return stats.pending === 0 && stats.leased === 0;
    });
  }

  /** A contact.creation event signed with the app's secret, as HubSpot signs it, for any portal. */
  async function deliver(portalId: number, objectId: string): Promise<{ accepted: number; new: number }> {
    const body = JSON.stringify([
      {
        eventId: nextEventId++,
        subscriptionId: 5001,
        portalId,
        appId,
        occurredAt: Date.now(),
        subscriptionType: 'contact.creation',
        attemptNumber: 0,
        objectId: Number(objectId),
        changeSource: 'CRM_UI',
        changeFlag: 'NEW',
      },
    ]);
    const uri = `${app.url}/webhooks/hubspot`;
    const timestamp = Date.now();
    const res = await fetch(uri, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hubspot-signature-v3': signV3(clientSecret, 'POST', uri, body, timestamp),
        'x-hubspot-request-timestamp': String(timestamp),
      },
      body,
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { accepted: number; new: number };
    return { accepted: answer.accepted, new: answer.new };
  }

  async function install(portalId: number): Promise<void> {
    const res = await fetch(`${app.url}/oauth/hubspot/install?portalId=${portalId}`, { redirect: 'follow' });
    expect([res.status, await res.text()]).toEqual([200, expect.stringContaining(`portal ${portalId}`)]);
  }

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-tenants-'));
    await writeFile(join(dir, 'rules.yaml'), RULES_A);
    // No shared team file: each tenant's team is its rule set's own.
    env = await pgAppEnv({ RULES: join(dir, 'rules.yaml'), TEAM: '' });
    const capture = new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        logs.push(String(chunk));
        done();
      },
    });
    app = await startApp(env.config, {
      logger: createLogger({ stream: capture, level: 'silly' }),
      generate: false,
      sandbox: { webhookTiming: { retryScale: 0.01, batchWindowMs: 20 } },
      webhooks: { dropRate: 0.1, duplicateRate: 0.1 },
    });
    crm = app.sandbox!.crm;
    const registered = crm.tokens.apps[0]!;
    clientSecret = registered.clientSecret;
    appId = registered.appId;
    portalA = crm.portal(Number(app.sandbox!.portalId));

    // Portal B: other owners, and 100 contacts that exist before the app is installed (never routed).
    portalB = crm.createPortal();
    for (const [first, last] of [
      ['Xena', 'Ward'],
      ['Yuri', 'Moreau'],
      ['Zoe', 'Laurent'],
    ] as const) {
      const email = `${first.toLowerCase()}@globex.test`;
      portalB.addOwner({
        email,
        firstName: first,
        lastName: last,
        teams: [],
        archived: false,
        salesSeat: true,
        connectedInboxes: [email],
      });
    }
    for (let i = 0; i < B_EXISTING; i++)
      portalB.createObject(
        'contacts',
        { email: `old${i}@globex-client.example`, firstname: 'Old', lastname: `Contact ${i}`, country: 'DE' },
        'import',
      );
    // Portal C exists in the CRM but never installs the app.
    portalC = crm.createPortal();
    portalC.createObject('contacts', { email: 'someone@c-portal.example', country: 'DE' }, 'import');

    crm.configureWebhooks(portalB.portalId, {
      targetUrl: `${app.url}/webhooks/hubspot`,
      clientSecret,
      appId,
      duplicateRate: 0.1,
      dropRate: 0.1,
    });
    await install(portalB.portalId);
    const tenants = await app.storage.listTenants();
    tenantA = tenants.find((t) => t.externalId === String(portalA.portalId))!;
    tenantB = tenants.find((t) => t.externalId === String(portalB.portalId))!;
    const loaded = loadRuleSet(RULES_B, 'portal-b.yaml');
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const { version, name } = loaded.ruleSet;
    await app.storage.saveRulesetDraft(
      tenantB.id,
      { version, name, source: RULES_B, createdBy: 'b-admin' },
      Date.now(),
    );
    expect(await app.storage.publishRuleset(tenantB.id, version, 'b-admin', Date.now())).toBe(true);

    leadsA = app.sandbox!.demo.createContacts(A_LEADS).map((c) => c.id);
    const countries = ['US', 'FR', 'DE', 'DE'];
    leadsB = Array.from(
      { length: B_LEADS },
      (_, i) =>
        portalB.createObject(
          'contacts',
          {
            email: `lead${i}@b-customer${i % 5}.example`,
            firstname: 'Bea',
            lastname: `Lead ${i}`,
            country: countries[i % countries.length]!,
          },
          'generator',
        ).id,
    );
    await settled(tenantA, leadsA);
    await settled(tenantB, leadsB);
  }, 120_000);

  afterAll(async () => {
    if (!stopped) await app?.stop();
    await env?.cleanup();
  });

  it('installs both portals through OAuth as two tenants with their own rules', async () => {
    expect((await app.storage.listTenants()).map((t) => t.externalId).sort()).toEqual(
      [String(portalA.portalId), String(portalB.portalId)].sort(),
    );
    expect((await app.storage.activeRuleset(tenantA.id))?.name).toBe('Portal A rules');
    expect((await app.storage.activeRuleset(tenantB.id))?.name).toBe('Portal B rules');
    // Both portals number contacts from the same base: the same id means different people.
    expect(portalA.getObject('contacts', '150').properties['email']).not.toBe(
      portalB.getObject('contacts', '150').properties['email'],
    );
  });

  it("routes each portal's contacts by its own rules to its own owners, writing only in that portal", async () => {
    const check = async (
      tenant: Tenant,
      portal: Portal,
      leads: string[],
      reps: string[],
      prefix: string,
    ): Promise<void> => {
      const decisions = (await decisionsOf(tenant)).filter((d) => leads.includes(d.leadId));
      expect(decisions).toHaveLength(leads.length);
      for (const d of decisions) {
        expect([d.leadId, reps.includes(d.owner ?? '')]).toEqual([d.leadId, true]);
        expect(d.route?.name.startsWith(`${prefix}:`)).toBe(true);
        expect(d.email).toBe(portal.getObject('contacts', d.leadId).properties['email']);
      }
      const writes = portalWrites(crm, portal.portalId);
      for (const d of decisions) {
        // The owner id written is, in this portal, the owner the tenant's rules chose.
        const ownerIds = writes.ownerIds.get(d.leadId) ?? [];
        expect([d.leadId, ownerIds.map((id) => portal.owners.get(id)?.email)]).toEqual([d.leadId, [d.owner]]);
        expect([d.leadId, writes.tasks.get(d.leadId)]).toEqual([d.leadId, 1]);
      }
      expect(writes.owners.size).toBe(leads.length);
      expect(writes.taskSubjects.length).toBe(leads.length);
      expect(writes.taskSubjects.every((s) => s.startsWith(`${prefix} task for `))).toBe(true);
    };
    await check(tenantA, portalA, leadsA, A_REPS, 'A');
    await check(tenantB, portalB, leadsB, B_REPS, 'B');
    // German leads: Ada in A; in B, whose rules know no Ada, the B pool.
    const bGerman = (await decisionsOf(tenantB)).filter(
      (d) => portalB.getObject('contacts', d.leadId).properties['country'] === 'DE',
    );
    expect(bGerman.length).toBeGreaterThan(0);
    expect(bGerman.every((d) => d.owner === 'yuri@globex.test' || d.owner === 'zoe@globex.test')).toBe(true);
    expect(crm.writes.list({ portalId: portalC.portalId, source: 'api' })).toEqual([]);
    expect(
      crm.writes
        .list({ source: 'api' })
        .every((w) => w.portalId === portalA.portalId || w.portalId === portalB.portalId),
    ).toBe(true);
  });

  it("acts only in B on an event for B that names A's contact id, and only in A on the reverse", async () => {
    const aWrites = crm.writes.list({ portalId: portalA.portalId, source: 'api' }).length;
    const bWrites = crm.writes.list({ portalId: portalB.portalId, source: 'api' }).length;

    // Contact 150 was routed in A; in B it is another, existing contact nobody routed yet.
    expect(leadsA).toContain('150');
    expect(await deliver(portalB.portalId, '150')).toEqual({ accepted: 1, new: 1 });
    // Contact 230 exists only in B (routed there); A has no such contact.
    expect(leadsB).toContain('230');
    expect(() => portalA.getObject('contacts', '230')).toThrow();
    expect(await deliver(portalA.portalId, '230')).toEqual({ accepted: 1, new: 1 });
    await until('both events handled', async () => {
      const stats = await app.storage.inboxStats();
      return stats.pending === 0 && stats.leased === 0 && stats.failed === 1;
    });

    // A: nothing written, and contact 230 of A is a dead letter that says it does not exist in A.
    expect(crm.writes.list({ portalId: portalA.portalId, source: 'api' })).toHaveLength(aWrites);
    const [deadA] = await app.storage.deadLetters(tenantA.id);
    expect(deadA?.event.objectId).toBe('230');
    expect(deadA?.lastError).toBe('read contact 230: HubSpot refused: contact 230 not found in HubSpot');
    expect(await app.storage.findDecision(tenantA.id, '230:route')).toBeNull();

    // B: its own contact 150 routed by B's rules, written in B only; A's 150 keeps its single owner write.
    const [b150] = await app.storage.decisionsFor(tenantB.id, { leadId: '150' });
    expect(b150?.email).toBe(portalB.getObject('contacts', '150').properties['email']);
    expect(B_REPS).toContain(b150?.owner);
    const inB = crm.writes.list({ portalId: portalB.portalId, source: 'api' }).slice(bWrites);
    expect(inB.filter((w) => w.kind === 'owner.set').map((w) => w.objectId)).toEqual(['150']);
    expect(portalWrites(crm, portalA.portalId).owners.get('150')).toBe(1);
    expect(portalWrites(crm, portalB.portalId).owners.get('230')).toBe(1);
  });

  it('drops a correctly signed event for a portal that never installed, touching no portal', async () => {
    const before = await app.storage.inboxStats();
    const writes = crm.writes.list({ source: 'api' }).length;
    expect(await deliver(portalC.portalId, '101')).toEqual({ accepted: 0, new: 0 });
    expect(await app.storage.inboxStats()).toEqual(before);
    expect(crm.writes.list({ source: 'api' })).toHaveLength(writes);
    expect(await app.storage.findTenant('hubspot', String(portalC.portalId))).toBeNull();
    expect(logs.some((l) => l.includes('hubspot webhook for unknown portal dropped'))).toBe(true);
  });

  it('scopes explain, dead letters and every storage read to one tenant', async () => {
    const emailA150 = portalA.getObject('contacts', '150').properties['email']!;
    const emailB150 = portalB.getObject('contacts', '150').properties['email']!;
    const team = { reps: {}, queues: {} };
    const explainA = (await explainLead(app.storage, tenantA, '150', team)).join('\n');
    expect(explainA).toContain(emailA150);
    expect(explainA).not.toContain(emailB150);
    expect(explainA).not.toMatch(/B: |globex/);
    const explainB = (await explainLead(app.storage, tenantB, '150', team)).join('\n');
    expect(explainB).toContain(emailB150);
    expect(explainB).not.toMatch(/A: |acme\.io/);
    const emailB = portalB.getObject('contacts', leadsB[0]!).properties['email']!;
    await expect(explainLead(app.storage, tenantA, emailB, team)).rejects.toThrow(/no decision recorded/);
    await expect(explainLead(app.storage, tenantB, emailA150, team)).rejects.toThrow(/no decision recorded/);

    const [deadA] = await app.storage.deadLetters(tenantA.id);
    expect(await listDeadLetters(app.storage, tenantA)).toEqual([expect.stringMatching(/object 230: /)]);
    expect(await listDeadLetters(app.storage, tenantB)).toEqual([`no dead letters for tenant ${tenantB.id}`]);
    expect(await replayDeadLetters(app.storage, tenantB, [deadA!.id], Date.now())).toEqual({
      queued: [],
      refused: [
        `#${deadA!.id} is not a dead letter of tenant ${tenantB.id} (see \`lead-router dead-letters list\`)`,
      ],
    });
    expect((await app.storage.getInboxItem(tenantA.id, deadA!.id))?.state).toBe('failed');
    expect(await app.storage.getInboxItem(tenantB.id, deadA!.id)).toBeNull();

    // Contact 101 was routed in A only: B's reads do not see A's decision, actions or hold.
    expect(await app.storage.findDecision(tenantA.id, '101:route')).not.toBeNull();
    expect(await app.storage.findDecision(tenantB.id, '101:route')).toBeNull();
    expect(await app.storage.actionsForDecision(tenantB.id, '101:route')).toEqual([]);
    expect(await app.storage.pendingActions(tenantB.id, '101')).toEqual([]);
    expect(await app.storage.decisionsFor(tenantB.id, { email: emailA150 })).toEqual([]);
    expect(
      (await app.storage.recentDecisions(tenantB.id, 1000)).every((d) => B_REPS.includes(d.owner ?? '')),
    ).toBe(true);
    const dirA = await app.storage.loadDirectory(tenantA.id);
    const dirB = await app.storage.loadDirectory(tenantB.id);
    expect(dirA?.owners.every((o) => o.email.endsWith('@acme.io'))).toBe(true);
    expect(dirB?.owners.map((o) => o.email).sort()).toEqual(B_REPS);
    expect((await app.storage.listRulesets(tenantA.id)).map((r) => r.name)).toEqual(['Portal A rules']);
    expect((await app.storage.listRulesets(tenantB.id)).map((r) => r.name)).toContain('Portal B rules');
    expect((await app.storage.loadRoutingState(tenantB.id)).state.pools['a-pool']).toBeUndefined();
    // Named so the operator can tell them apart, and told that the portal id will do.
    const several = pickTenant(app.storage, undefined);
    await expect(several).rejects.toThrow(
      /several tenants are installed; name one with --tenant, by its id or its portal id: /,
    );
    for (const portal of [portalA, portalB])
      await expect(several).rejects.toThrow(`(hubspot portal ${portal.portalId}`);

    // The command line an operator runs, against the same database.
    const listA = await cli(env.env, ['dead-letters', 'list', '--tenant', String(portalA.portalId)]);
    expect(listA.trim().split('\n')).toEqual([
      expect.stringMatching(/^#\d+ .* object 230: read contact 230/),
    ]);
    const explainCli = await cli(env.env, ['explain', '150', '--tenant', String(portalB.portalId)]);
    expect(explainCli).toContain(emailB150);
    expect(explainCli).not.toContain(emailA150);
    // Without --tenant, a lead only one tenant decided is explained there; one both did (contact 150 of
    // each portal) or none did still asks which.
    const explainByEmail = await cli(env.env, ['explain', emailB150]);
    expect(explainByEmail).toContain(emailB150);
    expect(explainByEmail).not.toContain(emailA150);
    await expect(cli(env.env, ['explain', '150'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('several tenants are installed'),
    });
    await expect(cli(env.env, ['explain', 'nobody@nowhere.example'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(
        'no decision recorded for nobody@nowhere.example in any of the 2 tenants installed',
      ),
    });
    await expect(cli(env.env, ['dead-letters', 'list'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('several tenants are installed'),
    });
  });

  it('keeps the rules published for a portal when that portal reinstalls', async () => {
    await install(portalB.portalId);
    expect((await app.storage.activeRuleset(tenantB.id))?.name).toBe('Portal B rules');
  });

  it('stores OAuth tokens encrypted: no access or refresh token in any column of any table', async () => {
    const grants = [...crm.tokens.grants(portalA.portalId), ...crm.tokens.grants(portalB.portalId)];
    expect(grants.length).toBeGreaterThanOrEqual(2);
    // The tenants really hold their current tokens, only encrypted.
    for (const tenant of [tenantA, tenantB]) {
      const stored = JSON.parse((await app.storage.getTenantToken(tenant.id))!) as { accessToken: string };
      expect(grants.map((g) => g.token)).toContain(stored.accessToken);
    }
    const secrets = [
      ...grants.flatMap((g) => [g.token, g.refreshToken]),
      clientSecret,
      env.key,
      Buffer.from(env.key, 'hex').toString('base64'),
    ];

    const db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    try {
      const columns = await db.query<{ table_name: string; column_name: string }>(
        `SELECT table_name, column_name FROM information_schema.columns
         WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
        [env.schema],
      );
      const tables = new Set(columns.rows.map((c) => c.table_name));
      expect(tables).toContain('tenants');
      let cells = 0;
      const found: string[] = [];
      for (const { table_name: table, column_name: column } of columns.rows) {
        const rows = await db.query<{ v: string | null }>(
          `SELECT "${column}"::text AS v FROM "${env.schema}"."${table}"`,
        );
        for (const { v } of rows.rows) {
          if (v === null) continue;
          cells++;
          for (const s of secrets) if (v.includes(s)) found.push(`${table}.${column}`);
        }
      }
      expect(found).toEqual([]);
      expect(cells).toBeGreaterThan(1000);
      const blobs = await db.query<{ token_blob: string }>(
        `SELECT token_blob FROM "${env.schema}".tenants ORDER BY external_id`,
      );
      // Sealed under the configured key, named by its id (never the key itself).
      const sealed = `v2.${keyId(Buffer.from(env.key, 'hex'))}.`;
      expect(blobs.rows.map((r) => r.token_blob.startsWith(sealed))).toEqual([true, true]);
    } finally {
      await db.end();
    }
  });

  it('writes no token, client secret or encryption key to the logs of the whole run', async () => {
    await app.stop();
    stopped = true;
    const text = logs.join('');
    // The capture saw the run: installs, webhooks, decisions, the dead letter.
    const messages = new Set(
      text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => (JSON.parse(line) as { message: string }).message),
    );
    expect([...messages]).toEqual(
      expect.arrayContaining([
        'hubspot installed',
        'hubspot webhook recorded',
        'lead decided',
        'lead dead-lettered',
      ]),
    );
    const grants = crm.tokens.grants();
    const secrets: [string, string][] = [
      ...grants.flatMap((g): [string, string][] => [
        [`access token of ${g.portalId}`, g.token],
        [`refresh token of ${g.portalId}`, g.refreshToken],
      ]),
      ['client secret', clientSecret],
      ['encryption key (hex)', env.key],
      ['encryption key (base64)', Buffer.from(env.key, 'hex').toString('base64')],
    ];
    expect(secrets.filter(([, value]) => text.includes(value)).map(([what]) => what)).toEqual([]);
  });
});
