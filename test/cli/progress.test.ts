// The operator commands' progress: a share only of a known count, never "100% (0/0)" before the
// records are counted or when there are none.
import { jobCounts } from '../../src/cli/bulk.js';
import { progressBar } from '../../src/cli/progress.js';
import type { BulkJob, BulkProgress } from '../../src/storage/index.js';

function capture(isTTY: boolean) {
  const written: string[] = [];
  let now = 0;
  const bar = progressBar(
    'backfill',
    0,
    { write: (t: string) => written.push(t), isTTY },
    () => (now += 1000),
  );
  return { bar, written };
}

describe('progressBar', () => {
  it('off a terminal: nothing while the total is not known, then a line per 10% of it', () => {
    const { bar, written } = capture(false);
    bar.tick(0, 0);
    bar.tick(0, 0);
    expect(written).toEqual([]);
    bar.tick(10, 40);
    bar.tick(40, 40);
    bar.done();
    expect(written).toEqual(['backfill: 20% (10/40) ETA 3s\n', 'backfill: 100% (40/40) ETA 0s\n']);
  });

  it.each([false, true])('nothing to do (terminal: %s): no line at all', (isTTY) => {
    const { bar, written } = capture(isTTY);
    bar.tick(0, 0);
    bar.done();
    expect(written).toEqual([]);
  });

  it('on a terminal: the bar only once there is a total, and a line end when done', () => {
    const { bar, written } = capture(true);
    bar.tick(0, 0);
    bar.tick(1, 2);
    bar.done();
    expect(written).toHaveLength(3);
    expect(written[0]).toMatch(/^\rbackfill \[#{15}\.{15}\] 1\/2 /);
    expect(written[1]).toMatch(/^\rbackfill \[#{30}\] 2\/2 .* ETA 0s $/);
    expect(written[2]).toBe('\n');
  });
});

describe('a bulk job’s counts', () => {
  const job = (over: Partial<BulkJob>): BulkProgress => ({
    job: { state: 'listing', dryRun: false, listed: 0, remaining: null, ...over } as BulkJob,
    routed: 0,
    failed: 0,
    waiting: 0,
  });
  it.each<[string, BulkProgress, { done: number; total: number }]>([
    ['not listed yet: no total', job({}), { done: 0, total: 0 }],
    // Salesforce lists without saying how many remain: the records listed so far are not all of them.
    ['listing, the CRM silent on what remains', job({ dryRun: true, listed: 200 }), { done: 200, total: 0 }],
    ['listing, the CRM says what remains', job({ listed: 200, remaining: 600 }), { done: 0, total: 800 }],
    [
      'listed: every record counted',
      { ...job({ state: 'routing', listed: 800 }), routed: 300 },
      { done: 300, total: 800 },
    ],
    ['a dry run done', job({ state: 'done', dryRun: true, listed: 800 }), { done: 800, total: 800 }],
  ])('%s', (_name, progress, counts) => {
    expect(jobCounts(progress)).toEqual(counts);
  });
});
