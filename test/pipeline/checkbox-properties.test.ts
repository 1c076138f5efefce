// A HubSpot portal's multiple-checkbox contact properties, end to end over the sandbox CRM (real HTTP,
// the real @hubspot/api-client, the worker): a portal whose admin made `interests` a multiple checkbox
// routes `eq` and `in` on one of its values without HUBSPOT_MULTI_VALUE_PROPERTIES, its properties read
// once for many batches; a portal that does not grant crm.schemas.contacts.read routes with the
// operator's names, and is asked for its properties at most once an hour.
import { HubSpotConnector, type HubSpotConnectorOptions } from '../../connectors/hubspot/connector.js';
import { OPTIONAL_SCOPES, REQUIRED_SCOPES } from '../../connectors/hubspot/oauth.js';
import type { CrmObject } from '../../connectors/sandbox/index.js';
import { setup, T0, TENANT, useSandbox, type Env } from './support.js';

const RULES = `
name: Checkbox properties
routes:
  - name: Routing interest
    when: { interests: Routing }
    assign: { rep: ada@acme.io }
  - name: Scoring or forecasting interest
    when: { interests: [Scoring, Forecasting] }
    assign: { rep: bo@acme.io }
  - name: Enterprise plan
    when: { plan: Enterprise }
    assign: { rep: bo@acme.io }
  - name: Everyone else
    assign: { queue: triage }
fallback: { queue: triage }
team:
  reps:
    ada@acme.io: { timezone: Europe/Berlin }
    bo@acme.io: { timezone: Europe/Vienna }
  queues: { triage: { team: SMB } }
`;

const HOUR = 60 * 60_000;
/** A contact's properties → the route that must decide it. `plan` is a text property. */
const CASES: [Record<string, string>, string][] = [
  [{ interests: 'Routing;Scoring' }, 'Routing interest'],
  [{ interests: 'Forecasting;Scoring', plan: 'Enterprise' }, 'Scoring or forecasting interest'],
  [{ interests: 'Scoring' }, 'Scoring or forecasting interest'],
  [{ plan: 'Enterprise;Pro' }, 'Everyone else'],
  [{ plan: 'Enterprise' }, 'Enterprise plan'],
  [{}, 'Everyone else'],
];

const sandbox = useSandbox();

/** The real connector on the env's portal, installed with these scopes, on the env's clock. */
function connector(env: Env, scopes: readonly string[], over: Partial<HubSpotConnectorOptions> = {}) {
  return new HubSpotConnector({
    portalId: String(env.portalId),
    accessToken: env.ctx.crm.issueToken(env.portalId, [...scopes]).token,
    basePath: env.ctx.url,
    limiter: env.ctx.limiters.forPortal(String(env.portalId)),
    now: () => env.clock.now,
    ...over,
  });
}

/** `copies` contacts of each of the CASES, enqueued as created; their ids → the route each must take. */
async function createContacts(env: Env, copies: number, tag: string): Promise<Map<string, string>> {
  const wanted = new Map<string, string>();
  const contacts: CrmObject[] = [];
  for (let i = 0; i < copies; i++)
    for (const [n, [properties, rule]] of CASES.entries()) {
      const email = `c${tag}-${i}-${n}@bluelabs.example`;
      const contact = env.demo.portal.createObject('contacts', { email, ...properties }, 'import');
      contacts.push(contact);
      wanted.set(contact.id, rule);
    }
  await env.enqueueCreated(contacts, tag);
  return wanted;
}

/** Each decided lead → the route that decided it. */
async function routedBy(env: Env): Promise<Map<string, string | undefined>> {
  const decisions = await env.storage.recentDecisions(TENANT, 1_000);
  return new Map(decisions.map((d) => [d.leadId, d.route?.name]));
}

const propertyReads = (env: Env) => env.ctx.crm.calls.forPortal(env.portalId).accepted['properties'] ?? 0;

describe("a HubSpot portal's multiple-checkbox properties, over the sandbox", () => {
  it('a portal with a checkbox property routes eq and in on one of its values, without the env var', async () => {
    const env = await setup(sandbox(), { rules: RULES });
    env.demo.portal.customContactProperties.set('interests', 'checkbox');
    const c = connector(env, [...REQUIRED_SCOPES, ...OPTIONAL_SCOPES]);
    // 24 leads in batches of 10: three lead reads, one properties read.
    const wanted = await createContacts(env, 4, 'a');
    await env.drain(env.worker('w1', { registry: env.registryWith(c) }));
    expect(await routedBy(env)).toEqual(wanted);
    expect(propertyReads(env)).toBe(1);
    await env.close();
  });

  it('a portal without crm.schemas.contacts.read routes with the env var, asked once an hour', async () => {
    const env = await setup(sandbox(), { rules: RULES });
    env.demo.portal.customContactProperties.set('interests', 'checkbox');
    const c = connector(env, REQUIRED_SCOPES, { multiValueProperties: ['interests'] });
    await expect(c.accountFields()).rejects.toMatchObject({ kind: 'auth' });
    const worker = env.worker('w1', { registry: env.registryWith(c) });
    // The rule check's refused read above is the only one within the hour: the three lead reads answer
    // it from memory (the rules read `plan`, which the env var does not name and the portal's properties
    // would say about).
    const first = await createContacts(env, 4, 'a');
    await env.drain(worker);
    expect(await routedBy(env)).toEqual(first);
    expect(propertyReads(env)).toBe(1);
    // An hour later the portal is asked again (it may have been reinstalled with the scope).
    env.clock.now = T0 + HOUR;
    const second = await createContacts(env, 2, 'b');
    await env.drain(worker);
    expect(await routedBy(env)).toEqual(new Map([...first, ...second]));
    expect(propertyReads(env)).toBe(2);
    await env.close();
  });
});
