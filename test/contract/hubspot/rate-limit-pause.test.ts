// One 429 closes the portal's window for everyone: the sandbox CRM answers one call with 429 and a
// Retry-After, and no other call of that portal — another lane of the process, or another process
// sharing the schedule in Redis — reaches the CRM before the window ends. The refused call itself is
// not retried in process (the work's stored backoff brings it back).
import { HUBSPOT_BUCKETS } from '../../../connectors/hubspot/profile.js';
import { Redis } from 'ioredis';
import { HubSpotConnector } from '../../../connectors/hubspot/connector.js';
import { createHubSpotSandbox, type HubSpotSandbox } from '../../../connectors/sandbox/index.js';
import { LimiterFactory } from '../../../connectors/shared/limiter.js';
import { REDIS_URL, redisUnavailable, uniqueRedisPrefix } from '../../support/services.js';

if (redisUnavailable !== null)
  console.warn(`Redis 429 pause test skipped: ${REDIS_URL} unreachable (${redisUnavailable})`);
const withRedis = redisUnavailable === null ? it : it.skip;

const WINDOW_SEC = 1;
const OWNERS = '/crm/v3/owners';

let sandbox: HubSpotSandbox;
let url: string;
let portalId: number;
let token: string;
/** When each API call reached the sandbox, by path. */
let arrivals: { path: string; at: number }[] = [];

beforeAll(async () => {
  sandbox = createHubSpotSandbox({ seed: 29 });
  portalId = sandbox.createPortal().portalId;
  ({ url } = await sandbox.start());
  token = sandbox.issueToken(portalId).token;
  const decide = sandbox.faults.decide.bind(sandbox.faults);
  sandbox.faults.decide = (path: string) => {
    arrivals.push({ path, at: Date.now() });
    return decide(path);
  };
});
beforeEach(() => {
  arrivals = [];
  sandbox.faults.configure({ retryAfterSec: WINDOW_SEC });
  sandbox.faults.failNext('429', 1, OWNERS);
});
afterEach(() => sandbox.reset());
afterAll(() => sandbox.stop());

const connector = (limiters: LimiterFactory) =>
  new HubSpotConnector({
    portalId: String(portalId),
    accessToken: token,
    basePath: url,
    limiter: limiters.forPortal(String(portalId)),
  });

/** One call is refused with 429; then `others` calls of the same portal are made at once. */
async function refuseOneThenCall(first: HubSpotConnector, others: HubSpotConnector[]): Promise<void> {
  const refused = await first.checkConnection();
  expect(refused).toMatchObject({
    ok: false,
    error: { kind: 'rate_limited', details: { retryAfterMs: WINDOW_SEC * 1000 } },
  });
  // Exactly one call so far: the 429 was not retried in process.
  expect(arrivals).toHaveLength(1);
  const results = await Promise.all(others.map((c) => c.checkConnection()));
  expect(results).toEqual(others.map(() => ({ ok: true })));
  const [refusedCall, ...after] = arrivals;
  expect(after).toHaveLength(others.length);
  // Load only delays calls, so this holds however busy the machine is.
  for (const call of after) expect(call.at - refusedCall!.at).toBeGreaterThanOrEqual(WINDOW_SEC * 1000);
}

it('one process: every lane of the portal waits out the window', async () => {
  const limiters = new LimiterFactory({ provider: 'hubspot-429-pause', buckets: HUBSPOT_BUCKETS });
  const c = connector(limiters);
  // Lanes share the portal's connector and limiter.
  await refuseOneThenCall(c, [c, c, c]);
  await limiters.disconnectAll();
});

withRedis('two processes sharing Redis: the other process waits out the window too', async () => {
  const provider = uniqueRedisPrefix();
  const [one, two] = [0, 1].map(
    () => new LimiterFactory({ provider, buckets: HUBSPOT_BUCKETS, redis: new Redis(REDIS_URL) }),
  ) as [LimiterFactory, LimiterFactory];
  const first = connector(one);
  await refuseOneThenCall(first, [connector(two), connector(two), first]);
  await Promise.all([one.disconnectAll(), two.disconnectAll()]);
});
