// `npm run bench:scale`: the same burst routed by 1 and by 4 worker processes over PostgreSQL + Redis
// (one web intake, the sandbox CRM in this process). Prints one JSON line on stdout comparing them:
// elapsed, throughput, the lower bound from the portal's rate budget, ratio, 429s, lost, duplicates.
// Progress goes to stderr. Needs the PostgreSQL and Redis of TEST_DATABASE_URL / TEST_REDIS_URL.
// `--crm salesforce`: one Salesforce org's burst instead (bench/scale-salesforce.ts).
import { totalCalls } from '../connectors/sandbox/index.js';
import { startCluster } from '../test/support/cluster.js';
import { pgAndRedisMissing } from '../test/support/services.js';
import { lowerBoundSec, requiredCalls, round } from './lower-bound.js';
import { progress } from './progress.js';
import { salesforceScale } from './scale-salesforce.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i] ?? '', process.argv[i + 1] ?? '');
const CRM = args.get('--crm') ?? 'hubspot';
const LEADS = Number(args.get('--leads') ?? (CRM === 'salesforce' ? 10_000 : 1_000));
// Salesforce's burst is bound by the app's CPU, not a rate budget: more workers than cores only queue.
const WORKER_COUNTS = (args.get('--workers') ?? (CRM === 'salesforce' ? '1,2' : '1,4'))
  .split(',')
  .map(Number);
// Every lead is enrolled in a sequence (one call each): the portal's budget, not CPU, is the limit.
const RULES = args.get('--rules') ?? 'test/fixtures/scale/rules-with-sequences.yaml';
const BUDGET = 110;
if (!Number.isInteger(LEADS) || LEADS <= 0)
  throw new Error(`--leads must be a positive integer, got ${LEADS}`);
if (WORKER_COUNTS.some((n) => !Number.isInteger(n) || n <= 0))
  throw new Error(`--workers must list positive integers, e.g. 1,4`);
if (CRM !== 'hubspot' && CRM !== 'salesforce')
  throw new Error(`--crm must be hubspot or salesforce, got ${CRM}`);
const missing = pgAndRedisMissing('bench:scale');
if (missing !== null) {
  process.stderr.write(`bench:scale needs PostgreSQL and Redis: ${missing}\n`);
  process.exit(2);
}
if (CRM === 'salesforce') {
  process.stdout.write(`${JSON.stringify(await salesforceScale(LEADS, WORKER_COUNTS))}\n`);
  process.exit(0);
}

async function run(workers: number) {
  const cluster = await startCluster({
    workers,
    requestsPer10s: BUDGET,
    rules: RULES,
    log: (line) => process.stderr.write(`  ${line}\n`),
  });
  try {
    const bar = progress(`${workers} worker${workers === 1 ? '' : 's'}: ${LEADS} leads`, LEADS);
    const contacts = cluster.demo.createContacts(LEADS);
    const ids = contacts.map((c) => c.id);
    const createdAt = contacts.reduce((m, c) => Math.max(m, c.createdAt), -Infinity);
    await cluster.until(`${LEADS} leads routed by ${workers} workers`, 30 * 60_000, async () => {
      const owners = cluster.effects().owners;
      bar.tick(ids.filter((id) => owners.has(id)).length);
      const effects = cluster.effects();
      return ids.every((id) => effects.tasks.has(id)) && (await cluster.settled(ids));
    });
    bar.done();
    const effects = cluster.effects();
    const finishedAt = [effects.owners, effects.tasks, effects.enrollments]
      .flatMap((m) => ids.flatMap((id) => (m.get(id) ?? []).map((w) => w.at)))
      .reduce((a, b) => Math.max(a, b), -Infinity);
    const elapsedSec = (finishedAt - createdAt) / 1000;
    const calls = cluster.crm.calls.forPortal(cluster.portalId);
    const required = requiredCalls(contacts, effects, (calls.accepted['company.search'] ?? 0) > 0);
    const bound = lowerBoundSec(required, BUDGET);
    const many = (m: Map<string, unknown[]>) => ids.filter((id) => (m.get(id)?.length ?? 0) > 1).length;
    return {
      workers,
      elapsedSec: round(elapsedSec),
      leadsPerSec: round(LEADS / elapsedSec, 1),
      lowerBoundSec: round(bound),
      ratio: round(elapsedSec / bound),
      apiCalls: totalCalls(calls.accepted),
      rateLimited429: totalCalls(calls.rateLimited),
      rateLimitedByPolicy: calls.rateLimited,
      lost: ids.filter((id) => !effects.owners.has(id)).length,
      duplicates:
        many(effects.owners) + many(effects.tasks) + many(effects.enrollments) + many(effects.notes),
      decisionsPerWorker: cluster.workers.map((w) => w.decisions),
      required,
    };
  } finally {
    await cluster.stop();
  }
}

const results = [];
for (const workers of WORKER_COUNTS) results.push(await run(workers));
const last = results[results.length - 1]!;
process.stdout.write(
  `${JSON.stringify({
    leads: LEADS,
    budgetPer10s: BUDGET,
    runs: results,
    targets: {
      ratio: last.ratio <= 1.2,
      within429Budget: results.every((r) => r.rateLimited429 === 0),
      lostAndDuplicates: results.every((r) => r.lost === 0 && r.duplicates === 0),
    },
  })}\n`,
);
