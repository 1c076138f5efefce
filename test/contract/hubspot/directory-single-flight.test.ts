// The owners directory is read once for callers that ask at the same time (worker lanes starting
// together, readLeads and findAccountsByDomain translating owner ids): every interceptor below answers
// once, so a second concurrent read would find none and fail.
import { HUBSPOT_BUCKETS } from '../../../connectors/hubspot/profile.js';
import nock from 'nock';
import { HubSpotConnector } from '../../../connectors/hubspot/connector.js';
import { LimiterFactory } from '../../../connectors/shared/limiter.js';
import { useNockContract } from './nock-contract.js';

const API = 'https://api.hubapi.com';
const NOW = Date.parse('2026-11-26T12:00:00.000Z');
const limiters = new LimiterFactory({ provider: 'hubspot-single-flight-test', buckets: HUBSPOT_BUCKETS });

const OWNER = {
  id: '41629779',
  email: 'ada@acme.io',
  type: 'PERSON',
  firstName: 'Ada',
  lastName: 'Lovelace',
  userId: 9586504,
  archived: false,
  teams: [],
};

function connector(clock = { now: NOW }) {
  return new HubSpotConnector({
    portalId: '62515',
    accessToken: 'CIrT-access',
    limiter: limiters.forPortal('62515'),
    retry: { random: () => 0, baseDelayMs: 1, maxAttempts: 1 },
    now: () => clock.now,
  });
}

/** One read of the owners (active, then archived), answered once. */
function ownersOnce(scope: nock.Scope = nock(API)): nock.Scope {
  return scope
    .get('/crm/v3/owners/')
    .query((q) => q['archived'] === 'false')
    .reply(200, { results: [OWNER] })
    .get('/crm/v3/owners/')
    .query((q) => q['archived'] === 'true')
    .reply(200, { results: [] });
}

function contactRead(scope: nock.Scope, id: string): nock.Scope {
  return scope
    .post('/crm/v3/objects/contacts/batch/read', (b: { inputs: { id: string }[] }) => b.inputs[0]?.id === id)
    .query(true)
    .reply(200, {
      status: 'COMPLETE',
      results: [{ id, properties: { email: `lead${id}@example.de`, hubspot_owner_id: OWNER.id } }],
      startedAt: '2026-11-26T12:00:00.000Z',
      completedAt: '2026-11-26T12:00:01.000Z',
    });
}

useNockContract(limiters);

describe('directory single flight', () => {
  it('concurrent directory() calls share one read of the owners', async () => {
    const scope = ownersOnce();
    const c = connector();
    const [a, b, d] = await Promise.all([c.directory(), c.directory(), c.directory()]);
    expect(a.owners.map((o) => o.email)).toEqual(['ada@acme.io']);
    expect(b).toBe(a);
    expect(d).toBe(a);
    scope.done();
  });

  it('lanes reading leads at the same moment read the owners once to translate owner ids', async () => {
    const scope = contactRead(contactRead(ownersOnce(), '1'), '2');
    const c = connector();
    const [first, second] = await Promise.all([c.readLeads(['1'], []), c.readLeads(['2'], [])]);
    expect(first.get('1')?.owner).toBe('ada@acme.io');
    expect(second.get('2')?.owner).toBe('ada@acme.io');
    scope.done();
  });

  it('a finished read is not shared with later callers, nor is a failed one', async () => {
    const c = connector();
    const failing = nock(API).get('/crm/v3/owners/').query(true).reply(401, {
      status: 'error',
      message: 'The OAuth token used to make this call expired 2 minute(s) ago.',
      category: 'EXPIRED_AUTHENTICATION',
    });
    const both = await Promise.allSettled([c.directory(), c.directory()]);
    expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    failing.done();

    const first = ownersOnce();
    const one = await c.directory();
    first.done();
    const again = ownersOnce();
    const two = await c.directory();
    again.done();
    expect(two).not.toBe(one);
    expect(two.owners).toEqual(one.owners);
  });
});
