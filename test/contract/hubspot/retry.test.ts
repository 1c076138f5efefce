import { CrmError, type CrmErrorKind } from '../../../connectors/connector.js';
import { retryDecision, withRetry, type RetryPolicy } from '../../../connectors/shared/retry.js';

const policy: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 100,
  maxDelayMs: 1000,
  defaultRateLimitMs: 10_000,
  random: () => 0.5,
};
const err = (kind: CrmErrorKind, details: CrmError['details'] = {}) => new CrmError(kind, kind, details);

describe('retryDecision', () => {
  it.each([
    [
      'rate_limited waits retryAfterMs (+ jitter)',
      err('rate_limited', { retryAfterMs: 2000 }),
      1,
      { retry: true, delayMs: 2050 },
    ],
    [
      'rate_limited without retryAfter waits the default window',
      err('rate_limited'),
      1,
      { retry: true, delayMs: 10_050 },
    ],
    ['daily rate limit fails', err('rate_limited', { daily: true, retryAfterMs: 5 }), 1, { retry: false }],
    ['transient attempt 1', err('transient'), 1, { retry: true, delayMs: 75 }],
    ['transient attempt 3', err('transient'), 3, { retry: true, delayMs: 300 }],
    [
      'transient honours a longer retryAfter',
      err('transient', { retryAfterMs: 900 }),
      1,
      { retry: true, delayMs: 900 },
    ],
    ['auth', err('auth'), 1, { retry: false }],
    ['not_found', err('not_found'), 1, { retry: false }],
    ['invalid', err('invalid'), 1, { retry: false }],
    ['out of attempts', err('transient'), 4, { retry: false }],
  ])('%s', (_n, e, attempt, expected) => {
    expect(retryDecision(e, attempt, policy)).toEqual(expected);
  });

  it('caps the transient backoff', () => {
    const p = { ...policy, maxAttempts: 20, random: () => 0.999 };
    const d = retryDecision(err('transient'), 15, p);
    expect(d.retry && d.delayMs).toBeLessThanOrEqual(1000);
  });
});

describe('withRetry', () => {
  const classify = (e: unknown) => (e instanceof CrmError ? e : null);

  it('retries rate limits and transients, sleeping the decided delays', async () => {
    const slept: number[] = [];
    const failures = [err('rate_limited', { retryAfterMs: 30 }), err('transient')];
    let calls = 0;
    const result = await withRetry(
      () => {
        calls++;
        const f = failures.shift();
        return f ? Promise.reject(f) : Promise.resolve('done');
      },
      { classify, policy, sleep: (ms) => (slept.push(ms), Promise.resolve()) },
    );
    expect(result).toBe('done');
    expect(calls).toBe(3);
    expect(slept).toEqual([80, 150]);
  });

  it.each<[CrmErrorKind, CrmError['details']]>([
    ['rate_limited', { daily: true }],
    ['auth', {}],
    ['invalid', {}],
    ['not_found', {}],
  ])('does not retry %s %j', async (kind, details) => {
    let calls = 0;
    const e = err(kind, details);
    await expect(
      withRetry(
        () => {
          calls++;
          return Promise.reject(e);
        },
        { classify, policy, sleep: () => Promise.resolve() },
      ),
    ).rejects.toBe(e);
    expect(calls).toBe(1);
  });

  it('gives up after maxAttempts with the last error', async () => {
    let calls = 0;
    await expect(
      withRetry(
        () => {
          calls++;
          return Promise.reject(err('transient', { status: 503 }));
        },
        { classify, policy, sleep: () => Promise.resolve() },
      ),
    ).rejects.toMatchObject({ kind: 'transient' });
    expect(calls).toBe(4);
  });

  it('rethrows unclassified errors untouched, without retrying', async () => {
    const bug = new TypeError('x is undefined');
    let calls = 0;
    await expect(
      withRetry(
        () => {
          calls++;
          return Promise.reject(bug);
        },
        { classify, policy, sleep: () => Promise.resolve() },
      ),
    ).rejects.toBe(bug);
    expect(calls).toBe(1);
  });
});
