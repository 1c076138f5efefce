// 1,000 junk webhook requests must not be 1,000 log lines: per reason, the first few of a window are
// logged in full and the rest as one summary line when the window closes (or the server stops).
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.js';
import { FULL_PER_WINDOW, RejectionLog } from '../../src/server/rejections.js';
import { startServer, type Harness } from './helpers.js';

const parse = (logs: string[], message: string) =>
  logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['message'] === message);

it('1,000 requests with a bad signature: five lines in full, one summary of the rest at stop', async () => {
  const h: Harness = await startServer();
  const junk = () =>
    fetch(`${h.url}/webhooks/hubspot`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hubspot-signature-v3': 'bm90IGEgc2lnbmF0dXJl',
        'x-hubspot-request-timestamp': String(h.clock.now),
      },
      body: '[]',
    }).then((r) => r.status);
  for (let i = 0; i < 10; i++) {
    const statuses = await Promise.all(Array.from({ length: 100 }, junk));
    expect(new Set(statuses)).toEqual(new Set([401]));
  }
  expect(parse(h.logs, 'hubspot webhook rejected')).toHaveLength(FULL_PER_WINDOW);
  expect(await h.inboxCount()).toBe(0);
  await h.close();

  expect(parse(h.logs, 'hubspot webhook rejected (summary)')).toEqual([
    expect.objectContaining({ reason: 'bad_signature', notLoggedInFull: 1000 - FULL_PER_WINDOW }),
  ]);
  expect(h.logs.length).toBeLessThan(20);
});

describe('RejectionLog', () => {
  const setup = () => {
    const logs: string[] = [];
    const logger = createLogger({
      level: 'debug',
      stream: new Writable({
        write(chunk: Buffer, _enc, done) {
          logs.push(chunk.toString('utf8'));
          done();
        },
      }),
    });
    // A window far longer than the test: windows end only by flush().
    return { logs, log: new RejectionLog(logger, { fullPerWindow: 2, windowMs: 3_600_000 }) };
  };

  it('gives each reason its own allowance and summarizes only what was not logged', () => {
    const { logs, log } = setup();
    for (let i = 0; i < 5; i++) log.reject('webhook rejected', 'bad_signature');
    log.reject('webhook rejected', 'stale_timestamp');
    log.flush();
    expect(parse(logs, 'webhook rejected').map((l) => l['reason'])).toEqual([
      'bad_signature',
      'bad_signature',
      'stale_timestamp',
    ]);
    expect(parse(logs, 'webhook rejected (summary)')).toEqual([
      expect.objectContaining({ reason: 'bad_signature', notLoggedInFull: 3 }),
    ]);
  });

  it('starts a new window after a summary: the first few are logged in full again', () => {
    const { logs, log } = setup();
    for (let i = 0; i < 3; i++) log.reject('webhook rejected', 'bad_signature');
    log.flush();
    for (let i = 0; i < 3; i++) log.reject('webhook rejected', 'bad_signature');
    log.flush();
    log.flush();
    expect(parse(logs, 'webhook rejected')).toHaveLength(4);
    expect(parse(logs, 'webhook rejected (summary)').map((l) => l['notLoggedInFull'])).toEqual([1, 1]);
  });
});
