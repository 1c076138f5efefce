// `npm run bench:backfill -- --records 20000`: the app in sandbox mode with N contacts that existed
// before it was installed (no webhooks); a backfill routes them all. Elapsed time against the portal's
// rate-limit lower bound (the calls routing requires plus the listing searches, at HubSpot's 110 calls
// per 10 s and 5 searches per second), lost and duplicates from the sandbox's write log. Prints one JSON
// line on stdout; progress goes to stderr.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SEARCH_PAGE_SIZE } from '../connectors/hubspot/connector.js';
import { totalCalls } from '../connectors/sandbox/index.js';
import { BulkJobRepository } from '../src/storage/index.js';
import { callStats, start, until, witness } from './app.js';
import { lowerBoundSec, requiredCalls, round } from './lower-bound.js';
import { progress } from './progress.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i] ?? '', process.argv[i + 1] ?? '');
const RECORDS = Number(args.get('--records') ?? 20_000);
if (!Number.isInteger(RECORDS) || RECORDS <= 0)
  throw new Error(`--records must be a positive integer, got ${RECORDS}`);
const BUDGET_PER_10S = 110;
// The scale rules: a pool, a task and a note per lead (no enrollment: one call per lead would measure
// the sequence API, not the backfill).
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const { app, tenantId, dir } = await start(
  {},
  {
    RULES: join(ROOT, 'test/fixtures/scale/rules.yaml'),
    TEAM: join(ROOT, 'test/fixtures/scale/team.yaml'),
  },
);
try {
  const sandbox = app.sandbox!;
  const contacts = sandbox.crm.webhooks.quiet(Number(sandbox.portalId), () =>
    sandbox.demo.createContacts(RECORDS, 'import'),
  );
  const ids = contacts.map((c) => c.id);
  const jobs = new BulkJobRepository(app.storage.db);
  const began = Date.now();
  const { job } = await jobs.start(
    { tenantId, kind: 'backfill', key: 'bench', params: {}, dryRun: false, startedBy: 'bench' },
    began,
  );
  app.worker?.wake();
  const bar = progress('backfill', RECORDS);
  await until(`${RECORDS} records to be routed`, 60_000 + RECORDS * 50, async () => {
    const p = await jobs.progress(job.id);
    bar.tick((p?.routed ?? 0) + (p?.failed ?? 0));
    return p?.job.state === 'done' || p?.job.state === 'failed';
  });
  bar.done();
  const w = witness(app);
  const finishedAt = [w.owners, w.tasks]
    .flatMap((m) => ids.flatMap((id) => (m.get(id) ?? []).map((r) => r.at)))
    .reduce((a, b) => Math.max(a, b), -Infinity);
  const elapsedSec = (finishedAt - began) / 1000;
  const stats = callStats(app);
  const companySearches = stats.accepted['company.search'] ?? 0;
  const required = requiredCalls(contacts, w, companySearches > 0);
  // Listing: one contact search per page, in the same 5/s search budget as company lookups.
  required.searches += Math.ceil(RECORDS / SEARCH_PAGE_SIZE);
  const lowerBound = lowerBoundSec(required, BUDGET_PER_10S);
  const progressRow = await jobs.progress(job.id);
  const lost = ids.filter((id) => !w.owners.has(id)).length;
  const duplicates = ids.filter(
    (id) => (w.owners.get(id)?.length ?? 0) > 1 || (w.tasks.get(id)?.length ?? 0) > 1,
  ).length;
  process.stdout.write(
    `${JSON.stringify({
      records: RECORDS,
      elapsedSec: round(elapsedSec),
      lowerBoundSec: round(lowerBound),
      ratio: round(elapsedSec / lowerBound),
      lost,
      duplicates,
      deadLetters: progressRow?.failed ?? 0,
      apiCallsPerRecord: round(totalCalls(stats.accepted) / RECORDS, 4),
      targets: { ratio: elapsedSec / lowerBound <= 1.2, lostAndDuplicates: lost === 0 && duplicates === 0 },
      required,
      calls: stats.accepted,
      rejected429: stats.rateLimited,
    })}\n`,
  );
} finally {
  await app.stop();
  await rm(dir, { recursive: true, force: true });
}
