// Contract tests for HubSpotConnector.sequences(): GET /automation/v4/sequences (hubspot.md §6) through
// apiRequest, answered by nock with the documented payloads.
import { HUBSPOT_BUCKETS } from '../../../connectors/hubspot/profile.js';
import nock from 'nock';
import { HubSpotConnector, type HubSpotConnectorOptions } from '../../../connectors/hubspot/connector.js';
import { CrmError } from '../../../connectors/connector.js';
import { LimiterFactory } from '../../../connectors/shared/limiter.js';
import { useNockContract } from './nock-contract.js';

const API = 'https://api.hubapi.com';
const PATH = '/automation/v4/sequences';
const NOW = Date.parse('2026-11-26T12:00:00.000Z');
const limiters = new LimiterFactory({ provider: 'hubspot-sequences-test', buckets: HUBSPOT_BUCKETS });

const owner = (id: string, userId: number | null, archived = false) => ({
  id,
  email: `rep${id}@acme.io`,
  type: 'PERSON',
  firstName: 'Rep',
  lastName: id,
  userId,
  userIdIncludingInactive: userId,
  createdAt: '2019-12-25T13:01:35.228Z',
  updatedAt: '2023-08-22T13:40:26.790Z',
  archived,
  teams: [],
});

const sequence = (id: string, name: string) => ({
  id,
  name,
  userId: '2222222',
  createdAt: '2024-06-27T20:11:02.824Z',
  updatedAt: '2024-06-27T20:11:02.824Z',
});

function connector(over: Partial<HubSpotConnectorOptions> = {}) {
  const slept: number[] = [];
  const c = new HubSpotConnector({
    portalId: '62515',
    accessToken: 'CIrT-access',
    limiter: limiters.forPortal('62515'),
    windows: { tenSecondlyMs: 7, secondlyMs: 3 },
    retry: { random: () => 0, baseDelayMs: 4, maxAttempts: 3 },
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
    now: () => NOW,
    ...over,
  });
  return { c, slept };
}

useNockContract(limiters);

describe('sequences', () => {
  it('pages with userId and limit, following paging.next.after', async () => {
    const queries: Record<string, string>[] = [];
    const scope = nock(API)
      .get(PATH)
      .query((q) => (queries.push(q as Record<string, string>), q['after'] === undefined))
      .matchHeader('authorization', 'Bearer CIrT-access')
      .reply(200, {
        total: 3,
        results: [sequence('101', 'Enterprise demo follow-up'), sequence('102', 'Inbound nurture')],
        paging: { next: { after: '2' } },
      })
      .get(PATH)
      .query((q) => (queries.push(q as Record<string, string>), q['after'] === '2'))
      .reply(200, { total: 3, results: [{ ...sequence('103', 'SMB quick start'), id: 103 }] });
    const { c } = connector({ sequencesUserId: '2222222' });
    await expect(c.sequences()).resolves.toEqual([
      { id: '101', name: 'Enterprise demo follow-up' },
      { id: '102', name: 'Inbound nurture' },
      { id: '103', name: 'SMB quick start' },
    ]);
    scope.done();
    expect(queries.map((q) => [q['userId'], q['limit'], q['after']])).toEqual([
      ['2222222', '100', undefined],
      ['2222222', '100', '2'],
    ]);
  });

  it('reads as the first active owner with a user id when none is configured', async () => {
    const scope = nock(API)
      .get('/crm/v3/owners/')
      .query((q) => q['archived'] === 'false')
      .reply(200, { results: [owner('1', null), owner('2', 4242)] })
      .get('/crm/v3/owners/')
      .query((q) => q['archived'] === 'true')
      .reply(200, { results: [owner('3', null, true)] })
      .get(PATH)
      .query({ userId: '4242', limit: '100' })
      .reply(200, { total: 0, results: [] });
    const { c } = connector();
    await expect(c.sequences()).resolves.toEqual([]);
    scope.done();
  });

  it('500 then 200: retried in process by our policy', async () => {
    const first = nock(API).get(PATH).query(true).reply(500, 'upstream broke');
    const second = nock(API)
      .get(PATH)
      .query(true)
      .reply(200, { total: 1, results: [sequence('101', 'Inbound nurture')] });
    const { c, slept } = connector({ sequencesUserId: '2222222' });
    await expect(c.sequences()).resolves.toEqual([{ id: '101', name: 'Inbound nurture' }]);
    first.done();
    second.done();
    expect(slept).toEqual([2]);
  });

  it('429 with Retry-After: rate limited, not sent again here (the stored backoff retries the work)', async () => {
    const scope = nock(API)
      .get(PATH)
      .query(true)
      .reply(
        429,
        { status: 'error', message: 'ten secondly', policyName: 'TEN_SECONDLY_ROLLING' },
        { 'Retry-After': '1' },
      );
    const { c, slept } = connector({ sequencesUserId: '2222222' });
    await expect(c.sequences()).rejects.toMatchObject({
      kind: 'rate_limited',
      details: { retryAfterMs: 1000 },
    });
    scope.done();
    expect(slept).toEqual([]);
  });

  it.each([
    [
      403,
      {
        status: 'error',
        message: "This app hasn't been granted all required scopes to make this call.",
        category: 'MISSING_SCOPES',
      },
      'auth',
      'missing scopes',
    ],
    [
      400,
      { status: 'error', message: 'User 1 does not exist or is deactivated', category: 'VALIDATION_ERROR' },
      'invalid',
      'does not exist or is deactivated',
    ],
  ])('%i is classified and not retried', async (status, body, kind, says) => {
    const scope = nock(API).get(PATH).query(true).reply(status, body);
    const { c, slept } = connector({ sequencesUserId: '1' });
    const error = await c.sequences().then(
      () => null,
      (e: unknown) => e,
    );
    scope.done();
    expect(error).toBeInstanceOf(CrmError);
    expect((error as CrmError).kind).toBe(kind);
    expect((error as CrmError).message).toContain(says);
    expect(slept).toEqual([]);
  });

  it('an answer without results is invalid', async () => {
    const scope = nock(API).get(PATH).query(true).reply(200, { total: 1 });
    const { c } = connector({ sequencesUserId: '1' });
    await expect(c.sequences()).rejects.toMatchObject({ kind: 'invalid' });
    scope.done();
  });
});
