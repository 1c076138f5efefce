import { CrmError, type CrmErrorKind } from '../../../connectors/connector.js';
import {
  isRetryable,
  nextStep,
  withRetry,
  type BackoffPolicy,
  type RetryPolicy,
} from '../../../connectors/shared/retry.js';

const policy: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 100,
  maxDelayMs: 1000,
  defaultRateLimitMs: 10_000,
  random: () => 0.5,
};
const err = (kind: CrmErrorKind, details: CrmError['details'] = {}) => new CrmError(kind, kind, details);
const PASS_UP = { kind: 'pass_up' };

describe('nextStep inside one call: only transient errors are tried again in process', () => {
  it.each([
    [
      'rate_limited pauses the portal for retryAfterMs and is not retried here',
      err('rate_limited', { retryAfterMs: 2000 }),
      1,
      { kind: 'pause_portal', windowMs: 2000 },
    ],
    [
      'rate_limited without retryAfter pauses the default window',
      err('rate_limited'),
      1,
      { kind: 'pause_portal', windowMs: 10_000 },
    ],
    [
      'daily rate limit is passed up',
      err('rate_limited', { quotaExhausted: true, retryAfterMs: 5 }),
      1,
      PASS_UP,
    ],
    ['transient attempt 1', err('transient'), 1, { kind: 'retry_call', delayMs: 75 }],
    ['transient attempt 3', err('transient'), 3, { kind: 'retry_call', delayMs: 300 }],
    [
      'transient honours a longer retryAfter',
      err('transient', { retryAfterMs: 900 }),
      1,
      { kind: 'retry_call', delayMs: 900 },
    ],
    ['auth', err('auth'), 1, PASS_UP],
    ['not_found', err('not_found'), 1, PASS_UP],
    ['invalid', err('invalid'), 1, PASS_UP],
    ['transient out of attempts', err('transient'), 4, PASS_UP],
  ])('%s', (_n, e, attempt, expected) => {
    expect(nextStep(e, { stage: 'call', attempt, policy })).toEqual(expected);
  });

  it('caps the transient backoff', () => {
    const p = { ...policy, maxAttempts: 20, random: () => 0.999 };
    const d = nextStep(err('transient'), { stage: 'call', attempt: 15, policy: p });
    expect(d.kind === 'retry_call' && d.delayMs).toBeLessThanOrEqual(1000);
  });
});

describe('nextStep for the work item: the stored backoff', () => {
  const backoff: BackoffPolicy = { maxAttempts: 5, baseDelayMs: 1_000, maxDelayMs: 60_000 };
  const NOW = 1_000_000;
  const later = (ms: number) => ({ kind: 'retry_later', runAfter: NOW + ms });
  it.each([
    ['rate_limited: after the window', err('rate_limited', { retryAfterMs: 7_000 }), 1, later(7_000)],
    ['rate_limited without a window: by attempts', err('rate_limited'), 3, later(4_000)],
    [
      'daily rate limit: the longest backoff',
      err('rate_limited', { quotaExhausted: true }),
      1,
      later(60_000),
    ],
    ['transient attempt 1', err('transient'), 1, later(1_000)],
    ['transient attempt 4', err('transient'), 4, later(8_000)],
    ['transient with retryAfter', err('transient', { retryAfterMs: 5_000 }), 1, later(5_000)],
    ['a window longer than the cap is capped', err('rate_limited', { retryAfterMs: 1e9 }), 1, later(60_000)],
    ['out of attempts', err('transient'), 5, { kind: 'dead' }],
    ['rate limited, out of attempts', err('rate_limited', { retryAfterMs: 10 }), 5, { kind: 'dead' }],
    ['auth', err('auth'), 1, { kind: 'dead' }],
    ['not_found', err('not_found'), 1, { kind: 'dead' }],
    ['invalid', err('invalid'), 1, { kind: 'dead' }],
  ])('%s', (_n, e, attempts, expected) => {
    expect(nextStep(e, { stage: 'item', attempts, now: NOW, policy: backoff })).toEqual(expected);
  });

  it.each<[CrmErrorKind, CrmError['details'], boolean]>([
    ['rate_limited', {}, true],
    ['rate_limited', { quotaExhausted: true }, true],
    ['transient', {}, true],
    ['auth', {}, false],
    ['not_found', {}, false],
    ['invalid', {}, false],
  ])('isRetryable(%s %j) is %s', (kind, details, expected) => {
    expect(isRetryable(err(kind, details))).toBe(expected);
  });
});

describe('withRetry', () => {
  const classify = (e: unknown) => (e instanceof CrmError ? e : null);

  it('retries transients in process, sleeping the decided delays', async () => {
    const slept: number[] = [];
    const failures = [err('transient'), err('transient', { retryAfterMs: 400 })];
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
    expect(slept).toEqual([75, 400]);
  });

  it('a 429 pauses the portal for its window and is passed up: no second retry layer', async () => {
    const paused: number[] = [];
    const slept: number[] = [];
    const limited = err('rate_limited', { retryAfterMs: 2_000 });
    let calls = 0;
    await expect(
      withRetry(
        () => {
          calls++;
          return Promise.reject(limited);
        },
        {
          classify,
          policy,
          sleep: (ms) => (slept.push(ms), Promise.resolve()),
          pausePortal: (ms) => (paused.push(ms), Promise.resolve()),
        },
      ),
    ).rejects.toBe(limited);
    expect(calls).toBe(1);
    expect(paused).toEqual([2_000]);
    expect(slept).toEqual([]);
  });

  it.each<[CrmErrorKind, CrmError['details']]>([
    ['rate_limited', { quotaExhausted: true }],
    ['rate_limited', {}],
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
