// `npm run bench:core`: decisions per second and latency of the routing core on a generated workload
// (200 routes, 50 territories, pools of 30 reps, an index of 1,000,000 accounts). Prints one JSON line.
// Run with --expose-gc so the index's heap can be measured after a full collection.
import { AccountIndex } from '../src/core/accounts.js';
import { decide } from '../src/core/decide.js';
import type {
  Condition,
  Lead,
  Pool,
  Rep,
  Route,
  RoutingState,
  RoutingStateChanges,
  RuleSet,
  Strategy,
  Team,
  Territory,
} from '../src/core/types.js';
import { generateAccounts, rng } from './accounts-workload.js';
import { progress } from './progress.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i] ?? '', process.argv[i + 1] ?? '');
const ACCOUNTS = Number(args.get('--accounts') ?? 1_000_000);
const DECISIONS = Number(args.get('--decisions') ?? 200_000);
const WARMUP = Math.min(20_000, DECISIONS);

const random = rng(42);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;

const COUNTRIES = [
  'US',
  'CA',
  'MX',
  'BR',
  'AR',
  'GB',
  'IE',
  'FR',
  'DE',
  'AT',
  'CH',
  'NL',
  'BE',
  'LU',
  'ES',
  'PT',
  'IT',
  'SE',
  'NO',
  'DK',
  'FI',
  'PL',
  'CZ',
  'HU',
  'RO',
  'GR',
  'TR',
  'IL',
  'AE',
  'SA',
  'ZA',
  'NG',
  'EG',
  'KE',
  'IN',
  'SG',
  'MY',
  'TH',
  'VN',
  'ID',
  'PH',
  'JP',
  'KR',
  'CN',
  'HK',
  'TW',
  'AU',
  'NZ',
  'CL',
  'CO',
];
const US_STATES = ['CA', 'NY', 'TX', 'FL', 'WA', 'MA', 'IL', 'GA', 'CO', 'VA'];
const ZONES = [
  'America/New_York',
  'America/Los_Angeles',
  'Europe/Berlin',
  'Europe/London',
  'Asia/Singapore',
  'Australia/Sydney',
];
const STRATEGIES: Strategy[] = ['round_robin', 'weighted', 'least_loaded'];

function buildWorkload(): { ruleSet: RuleSet; team: Team; leads: Lead[] } {
  // 50 territories: one per country; the US ones narrowed by state.
  const territories: Record<string, Territory> = {};
  COUNTRIES.forEach((country, i) => {
    const name = `t${i}-${country.toLowerCase()}`;
    territories[name] =
      country === 'US'
        ? { name, clauses: [{ country: ['US'], state: US_STATES.slice(0, 5) }] }
        : { name, clauses: [{ country: [country] }] };
  });
  const territoryNames = Object.keys(territories);

  // 10 pools of 30 reps; a few reps out of office, some with hours and caps.
  const reps: Record<string, Rep> = {};
  const pools: Record<string, Pool> = {};
  for (let p = 0; p < 10; p++) {
    const members: string[] = [];
    for (let r = 0; r < 30; r++) {
      const email = `rep${p}-${r}@bench.io`;
      members.push(email);
      reps[email] = {
        email,
        name: `Rep ${p}-${r}`,
        timezone: pick(ZONES),
        hours: r % 3 === 0 ? [{ days: [1, 2, 3, 4, 5], start: 8 * 60, end: 18 * 60 }] : [],
        outOfOffice: r % 10 === 0 ? [{ from: '2026-11-20', to: '2026-11-30' }] : [],
        weight: 1 + (r % 3),
        caps: r % 5 === 0 ? { perDay: 10_000 } : {},
        active: r !== 29,
      };
    }
    const name = `pool-${p}`;
    pools[name] = {
      name,
      members,
      strategy: STRATEGIES[p % 3] ?? 'round_robin',
      respectHours: true,
      fallback: { kind: 'queue', name: 'triage' },
      ...(p % 3 === 2 ? { loadWindowMs: 86_400_000 } : {}),
    };
  }

  // 200 routes: territory × size band, each to a pool with a task, a sequence and an SLA.
  const bands: [number, number][] = [
    [0, 49],
    [50, 499],
    [500, 4999],
    [5000, 10_000_000],
  ];
  const routes: Route[] = [];
  for (let i = 0; i < 199; i++) {
    const band = bands[i % 4] ?? [0, 0];
    const when: Condition = {
      kind: 'all',
      of: [
        { kind: 'territory', name: territoryNames[Math.floor(i / 4) % territoryNames.length] ?? '' },
        { kind: 'compare', field: 'employees', op: 'between', min: band[0], max: band[1] },
        { kind: 'not', of: { kind: 'free_mail', value: true } },
      ],
    };
    routes.push({
      name: `route ${i}`,
      index: i,
      when,
      assign:
        i % 25 === 0
          ? { kind: 'account_owner', fallback: { kind: 'pool', name: `pool-${i % 10}` } }
          : { kind: 'pool', name: `pool-${i % 10}` },
      actions: {
        task: {
          subject: 'New lead from {{company}}',
          body: '{{first_name}} {{last_name}}, {{title}}',
          dueInMs: 900_000,
          priority: 'high',
        },
        sequence: { name: 'intro' },
        note: false,
      },
      sla: { firstTouchMs: 600_000, onBreach: { kind: 'reroute' } },
    });
  }
  routes.push({
    name: 'catch-all',
    index: 199,
    when: { kind: 'always' },
    assign: { kind: 'queue', name: 'triage' },
    actions: { note: false },
  });

  const ruleSet: RuleSet = {
    name: 'bench',
    version: 'bench',
    territories,
    pools,
    routes,
    fallback: { kind: 'queue', name: 'triage' },
    fallbackActions: { note: false },
  };
  const team: Team = {
    reps,
    queues: { triage: { name: 'triage', target: { kind: 'owner', owner: 'triage@bench.io' } } },
  };

  const leads: Lead[] = [];
  for (let i = 0; i < 10_000; i++) {
    const country = pick(COUNTRIES);
    const company = `company${i}`;
    const domain = i % 5 === 0 ? `acct${Math.floor(random() * ACCOUNTS)}.example` : `${company}.example`;
    leads.push({
      id: String(i),
      email: `lead${i}@${domain}`,
      emailDomain: domain,
      firstName: 'Lee',
      lastName: `Number${i}`,
      title: 'Head of Operations',
      company,
      country,
      state: country === 'US' ? pick(US_STATES) : undefined,
      employees: Math.floor(10 ** (1 + random() * 4)),
      fields: {},
    });
  }
  return { ruleSet, team, leads };
}

function heapMB(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / 1_048_576;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

const owners = Array.from({ length: 300 }, (_, i) => `rep${i % 10}-${Math.floor(i / 10)}@bench.io`);
const before = heapMB();
process.stderr.write(`generating ${ACCOUNTS.toLocaleString('en')} accounts…\n`);
let accountList = generateAccounts(ACCOUNTS, 7, owners);
const t0 = performance.now();
const index = AccountIndex.build(accountList);
const accountIndexBuildMs = performance.now() - t0;
// The figure is what a loaded index costs: its structures plus the account objects it holds.
accountList = [];
const accountIndexMB = heapMB() - before;

const { ruleSet, team, leads } = buildWorkload();
const state: RoutingState = { pools: {}, reps: {} };
/** The bench owns its state, so it applies each decision's changes in place, as storage would. */
function applyInPlace(target: RoutingState, changes: RoutingStateChanges): void {
  Object.assign(target.pools, changes.pools);
  Object.assign(target.reps, changes.reps);
}
const now0 = Date.parse('2026-11-23T14:00:00Z');
const latencies = new Float64Array(DECISIONS);
const bar = progress('decisions', WARMUP + DECISIONS);
const decideAt = (i: number) =>
  decide(leads[i % leads.length] as Lead, ruleSet, { team, state, accounts: index }, now0 + i * 1000);
for (let i = 0; i < WARMUP; i++) {
  applyInPlace(state, decideAt(i).stateChanges);
  if (i % 1000 === 0) bar.tick(i);
}
const start = performance.now();
for (let i = 0; i < DECISIONS; i++) {
  const s = performance.now();
  const decision = decideAt(WARMUP + i);
  latencies[i] = performance.now() - s;
  applyInPlace(state, decision.stateChanges);
  if (i % 1000 === 0) bar.tick(WARMUP + i);
}
const elapsed = performance.now() - start;
bar.done();
latencies.sort();

console.log(
  JSON.stringify({
    bench: 'core',
    decisions: DECISIONS,
    routes: ruleSet.routes.length,
    territories: Object.keys(ruleSet.territories).length,
    poolSize: 30,
    accounts: ACCOUNTS,
    decisionsPerSec: Math.round(DECISIONS / (elapsed / 1000)),
    p50Us: Number((percentile(latencies, 0.5) * 1000).toFixed(1)),
    p99Us: Number((percentile(latencies, 0.99) * 1000).toFixed(1)),
    accountIndexBuildMs: Math.round(accountIndexBuildMs),
    accountIndexMB: Math.round(accountIndexMB),
  }),
);
