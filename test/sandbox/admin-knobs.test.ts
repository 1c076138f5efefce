// What a portal admin changes in HubSpot that turns a lead's actions into permanent refusals: a user
// deactivated, a sequence deleted, a portal that does not grant the sequence scopes. The end-to-end
// fault tests turn these knobs; here each is checked against the real @hubspot/api-client.
import { Client } from '@hubspot/api-client';
import { createHubSpotSandbox, seedDemoPortal, type HubSpotSandbox } from '../../connectors/sandbox/index.js';

const SEQUENCE_SCOPES = ['automation.sequences.read', 'automation.sequences.enrollments.write'];
const REDIRECT = 'http://localhost:3000/cb';

describe('sandbox admin knobs', () => {
  let sandbox: HubSpotSandbox;
  let url: string;
  let client: Client;
  let portalId: number;
  let demo: ReturnType<typeof seedDemoPortal>;

  beforeAll(async () => {
    sandbox = createHubSpotSandbox({ seed: 5 });
    const portal = sandbox.createPortal();
    portalId = portal.portalId;
    demo = seedDemoPortal(portal, 5, { companies: 20 });
    ({ url } = await sandbox.start());
    client = new Client({
      accessToken: sandbox.issueToken(portalId).token,
      basePath: url,
      numberOfApiCallRetries: 0,
    });
  });
  afterAll(() => sandbox.stop());

  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  const listSequences = async (userId: number) => {
    const res = await client.apiRequest({
      method: 'GET',
      path: '/automation/v4/sequences',
      qs: { userId: String(userId) },
    });
    return ((await res.json()) as { results: { id: string; name: string }[] }).results;
  };

  const enroll = (userId: number, sequenceId: string, contactId: string, senderEmail: string) =>
    client.apiRequest({
      method: 'POST',
      path: '/automation/v4/sequences/enrollments',
      qs: { userId: String(userId) },
      body: { sequenceId, contactId, senderEmail },
    });

  it('deactivates a user: its owner is archived, refused as owner and as sender, until reactivated', async () => {
    const nina = demo.portal.ownerByEmail('nina@acme.io')!;
    const res = await admin('POST', `/_sandbox/portals/${portalId}/owners/${nina.id}`, { active: false });
    expect(await res.json()).toEqual({ id: nina.id, email: 'nina@acme.io', archived: true });

    const active = await client.crm.owners.ownersApi.getPage(undefined, undefined, 100, false);
    expect(active.results.map((o) => o.email)).not.toContain('nina@acme.io');
    const archived = await client.crm.owners.ownersApi.getPage(undefined, undefined, 100, true);
    expect(archived.results.map((o) => o.email)).toContain('nina@acme.io');

    const [contact] = demo.createContacts(1);
    const refused = (await client.crm.contacts.batchApi
      .update({ inputs: [{ id: contact!.id, properties: { hubspot_owner_id: nina.id } }] })
      .catch((e: unknown) => e)) as { code: number; body: { message: string } };
    expect(refused.code).toBe(400);
    expect(refused.body.message).toMatch(new RegExp(`${nina.id} is not a valid owner id`));
    const [sequence] = await listSequences(demo.owners[0]!.userId);
    const asSender = await enroll(nina.userId, sequence!.id, contact!.id, nina.email);
    expect(asSender.status).toBe(400);
    expect(((await asSender.json()) as { message: string }).message).toMatch(/deactivated/);

    await admin('POST', `/_sandbox/portals/${portalId}/owners/${nina.id}`, { active: true });
    await client.crm.contacts.batchApi.update({
      inputs: [{ id: contact!.id, properties: { hubspot_owner_id: nina.id } }],
    });
    expect(sandbox.writes.list({ kind: 'owner.set', objectId: contact!.id, source: 'api' })).toHaveLength(1);
    expect((await enroll(nina.userId, sequence!.id, contact!.id, nina.email)).status).toBe(200);
  });

  it('answers 404 for an unknown owner or portal', async () => {
    expect((await admin('POST', `/_sandbox/portals/${portalId}/owners/1`, { active: false })).status).toBe(
      404,
    );
    expect((await admin('POST', `/_sandbox/portals/1/owners/70001`, { active: false })).status).toBe(404);
    expect((await admin('POST', `/_sandbox/portals/${portalId}/owners/70001`, { active: 'no' })).status).toBe(
      400,
    );
  });

  it('deletes a sequence: gone from the list, enrolling in it is 404; recreated under a new id', async () => {
    const ada = demo.owners[0]!;
    const before = await listSequences(ada.userId);
    const old = before.find((s) => s.name === 'Inbound nurture')!;
    expect((await admin('DELETE', `/_sandbox/portals/${portalId}/sequences/${old.id}`)).status).toBe(204);
    expect((await admin('DELETE', `/_sandbox/portals/${portalId}/sequences/${old.id}`)).status).toBe(404);
    expect((await listSequences(ada.userId)).map((s) => s.name)).not.toContain('Inbound nurture');
    expect(demo.portal.sequenceByName('inbound nurture ')).toBeUndefined();

    const [contact] = demo.createContacts(1);
    const gone = await enroll(ada.userId, old.id, contact!.id, ada.email);
    expect(gone.status).toBe(404);

    const created = await admin('POST', `/_sandbox/portals/${portalId}/sequences`, {
      name: 'Inbound nurture',
      userId: ada.userId,
    });
    expect(created.status).toBe(201);
    const fresh = (await created.json()) as { id: string };
    expect(fresh.id).not.toBe(old.id);
    expect(demo.portal.sequenceByName('Inbound nurture')?.id).toBe(fresh.id);
    expect((await enroll(ada.userId, fresh.id, contact!.id, ada.email)).status).toBe(200);
    expect(sandbox.writes.list({ kind: 'enrollment.created', objectId: contact!.id })).toHaveLength(1);
  });

  /** The OAuth install as the app runs it: authorize (scope + optional_scope) → code → token. */
  async function install(): Promise<{ access_token: string; refresh_token: string; scopes: string[] }> {
    const scope = ['oauth', 'crm.objects.contacts.read', 'crm.objects.owners.read'].join(' ');
    const auth = await fetch(
      `${url}/oauth/${portalId}/authorize?client_id=sandbox-client-id&redirect_uri=${encodeURIComponent(REDIRECT)}` +
        `&scope=${encodeURIComponent(scope)}&optional_scope=${encodeURIComponent(SEQUENCE_SCOPES.join(' '))}`,
      { redirect: 'manual' },
    );
    const code = new URL(auth.headers.get('location')!).searchParams.get('code')!;
    const res = await fetch(`${url}/oauth/2026-03/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
        client_id: 'sandbox-client-id',
        client_secret: 'sandbox-client-secret',
      }).toString(),
    });
    return (await res.json()) as { access_token: string; refresh_token: string; scopes: string[] };
  }

  it('withholds the sequence scopes from installs until they are allowed again', async () => {
    const before = await install();
    expect(before.scopes).toEqual(expect.arrayContaining(SEQUENCE_SCOPES));

    sandbox.tokens.withholdScopes(portalId, SEQUENCE_SCOPES);
    const without = await install();
    expect(without.scopes).toEqual(['oauth', 'crm.objects.contacts.read', 'crm.objects.owners.read']);
    const scoped = new Client({ accessToken: without.access_token, basePath: url });
    const res = await scoped.apiRequest({
      method: 'GET',
      path: '/automation/v4/sequences',
      qs: { userId: String(demo.owners[0]!.userId) },
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({
      category: 'MISSING_SCOPES',
      errors: [{ context: { requiredGranularScopes: ['automation.sequences.read'] } }],
    });
    // An install authorized earlier keeps what it was granted.
    expect(sandbox.tokens.lookup(before.access_token)?.scopes).toEqual(
      expect.arrayContaining(SEQUENCE_SCOPES),
    );

    sandbox.tokens.allowScopes(portalId, SEQUENCE_SCOPES);
    const again = await install();
    expect(again.scopes).toEqual(expect.arrayContaining(SEQUENCE_SCOPES));
  });

  it('lists every token granted for a portal, refreshed ones included', () => {
    const other = sandbox.createPortal().portalId;
    const first = sandbox.issueToken(other);
    const refreshed = sandbox.tokens.refreshGrant(first.refreshToken, sandbox.tokens.apps[0]!)!;
    sandbox.tokens.revokeAccess(first.token);
    expect(sandbox.tokens.grants(other).map((t) => t.token)).toEqual([first.token, refreshed.token]);
    expect(sandbox.tokens.grants().length).toBeGreaterThan(2);
  });
});
