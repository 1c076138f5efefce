// The contract-test lifecycle shared by the nock suites: no real network (loopback stays open for the
// sandbox), every interceptor must have been used by the end of each test, and the suite's limiters
// (when it has any) are closed at the end.
import nock from 'nock';
import type { LimiterFactory } from '../../../connectors/shared/limiter.js';

export function useNockContract(limiters?: LimiterFactory): void {
  beforeAll(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
  });
  afterEach(() => {
    const pending = nock.pendingMocks();
    // Hung answers (delayed replies) are dropped, so no timer outlives its test.
    nock.abortPendingRequests();
    nock.cleanAll();
    expect(pending).toEqual([]);
  });
  afterAll(async () => {
    nock.enableNetConnect();
    nock.restore();
    await limiters?.disconnectAll();
  });
}
