import { jest } from '@jest/globals';
import nock from 'nock';
import { HUBSPOT_BUCKETS } from '../../../connectors/hubspot/profile.js';
import { HubSpotConnector } from '../../../connectors/hubspot/connector.js';
import { LimiterFactory, type BucketName, type PortalLimiter } from '../../../connectors/shared/limiter.js';

describe('LimiterFactory', () => {
  it('one limiter per portal, reused', async () => {
    const f = new LimiterFactory({ provider: 't1', buckets: HUBSPOT_BUCKETS });
    expect(f.forPortal('1')).toBe(f.forPortal('1'));
    expect(f.forPortal('1')).not.toBe(f.forPortal('2'));
    await f.disconnectAll();
  });

  it('holds jobs once the reservoir is spent, per portal', async () => {
    const f = new LimiterFactory({
      provider: 't2',
      buckets: { general: { reservoir: 2, intervalMs: 3_600_000 } },
    });
    const a = f.forPortal('a');
    const ran: string[] = [];
    const job = (name: string) => () => {
      ran.push(name);
      return Promise.resolve(name);
    };
    await Promise.all([a.schedule('general', job('a1')), a.schedule('general', job('a2'))]);
    void a.schedule('general', job('a3'));
    // Another portal has its own budget.
    await f.forPortal('b').schedule('general', job('b1'));
    await new Promise((r) => setImmediate(r));
    expect(ran).toEqual(['a1', 'a2', 'b1']);
    await f.disconnectAll();
  });
});

describe('connector uses the right bucket', () => {
  beforeAll(() => nock.disableNetConnect());
  afterAll(() => {
    nock.enableNetConnect();
    nock.restore();
  });

  it('search calls go to the search bucket, the rest to general', async () => {
    const buckets: BucketName[] = [];
    const limiter: PortalLimiter = {
      schedule: (bucket, fn) => (buckets.push(bucket), fn()),
      pause: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
    };
    const scope = nock('https://api.hubapi.com')
      .get('/crm/v3/owners/')
      .query(true)
      .twice()
      .reply(200, { results: [] })
      .post('/crm/v3/objects/companies/search')
      .reply(200, { total: 0, results: [] });
    const c = new HubSpotConnector({ portalId: '1', accessToken: 't', limiter });
    await c.findAccountsByDomain(['acme.io']);
    scope.done();
    expect(buckets).toEqual(['general', 'general', 'search']);
  });

  it('DAILY is read from policyName in the raw body (the client model drops it)', async () => {
    const limiter: PortalLimiter = {
      schedule: (_b, fn) => fn(),
      pause: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
    };
    const scope = nock('https://api.hubapi.com').get('/crm/v3/owners/').query(true).reply(429, {
      status: 'error',
      message: 'Rate limit exceeded',
      errorType: 'RATE_LIMIT',
      policyName: 'DAILY',
    });
    const c = new HubSpotConnector({ portalId: '1', accessToken: 't', limiter });
    await expect(c.checkConnection()).resolves.toEqual({
      ok: false,
      error: expect.objectContaining({
        kind: 'rate_limited',
        details: expect.objectContaining({ quotaExhausted: true, code: 'DAILY' }),
      }),
    });
    scope.done();
  });
  it('reads the access token before a call waits for its slot, and again only after a long wait', async () => {
    const events: string[] = [];
    let waitMs = 0;
    const limiter: PortalLimiter = {
      schedule: async (bucket, fn) => {
        events.push(`slot ${bucket}`);
        // The slot comes `waitMs` after the call queued: the clock the connector measures the wait on moves.
        const now = Date.now() + waitMs;
        const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
        try {
          return await fn();
        } finally {
          clock.mockRestore();
        }
      },
      pause: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
    };
    let reads = 0;
    const accessToken = () => {
      reads += 1;
      events.push(`token ${reads}`);
      return Promise.resolve(`t${reads}`);
    };
    const bearers: string[] = [];
    const scope = nock('https://api.hubapi.com')
      .get('/crm/v3/owners/')
      .query(true)
      .twice()
      .reply(function () {
        bearers.push(String(this.req.headers['authorization']));
        return [200, { results: [] }];
      });
    const c = new HubSpotConnector({ portalId: '1', accessToken, limiter });
    await expect(c.checkConnection()).resolves.toEqual({ ok: true });
    // A slot that comes two minutes after the call queued: the token read then may be near its end.
    waitMs = 120_000;
    await expect(c.checkConnection()).resolves.toEqual({ ok: true });
    scope.done();
    expect(events).toEqual(['token 1', 'slot general', 'token 2', 'slot general', 'token 3']);
    expect(bearers).toEqual(['Bearer t1', 'Bearer t3']);
  });
});
