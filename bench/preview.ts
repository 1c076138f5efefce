// `npm run bench:preview`: the settings tab's impact preview on a tenant's last N decided leads (default
// 10,000), read from SQLite and decided under the published rule set and a draft. Target: under 2 s.
// Prints one JSON line on stdout.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring } from '../connectors/shared/crypto.js';
import { decide } from '../src/core/decide.js';
import { applyStateChanges } from '../src/core/state.js';
import type { Lead } from '../src/core/types.js';
import { loadRuleSet, loadTeam, ruleSetVersion, teamVersion } from '../src/rules/index.js';
import { SettingsService } from '../src/settings/index.js';
import { openStorage, TenantConfigRepository, type DecisionInput } from '../src/storage/index.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i] ?? '', process.argv[i + 1] ?? '');
const LEADS = Number(args.get('--leads') ?? 10_000);
if (!Number.isInteger(LEADS) || LEADS <= 0)
  throw new Error(`--leads must be a positive integer, got ${LEADS}`);

const RULES = readFileSync('rules/hubspot-demo/rules.yaml', 'utf8');
const TEAM = readFileSync('rules/hubspot-demo/team.yaml', 'utf8');
// The draft sends DACH demo requests to one rep and slows the NA SLA: a realistic edit touching a share.
const DRAFT = RULES.replace('assign: { pool: emea-ae }', 'assign: { rep: bo@acme.io }').replace(
  'first_touch: 10m, on_breach: { escalate',
  'first_touch: 30m, on_breach: { escalate',
);
const T0 = Date.parse('2026-11-23T08:00:00Z');
const COUNTRIES = ['DE', 'AT', 'US', 'CA', 'GB', 'FR', 'JP', 'AU', 'BR', 'CH'];

function lead(i: number): Lead {
  return {
    id: String(100_000 + i),
    email: `lead${i}@company${i % 997}.com`,
    emailDomain: `company${i % 997}.com`,
    firstName: 'Lead',
    lastName: String(i),
    company: `Company ${i % 997}`,
    country: COUNTRIES[i % COUNTRIES.length],
    employees: [10, 80, 600, 2000][i % 4],
    demoRequested: i % 3 === 0,
    fields: {},
  };
}

const dir = await mkdtemp(join(tmpdir(), 'bench-preview-'));
try {
  const storage = await openStorage({
    file: join(dir, 'bench.sqlite'),
    cipher: new Keyring(randomBytes(32)),
  });
  const tenant = await storage.createTenant({ provider: 'hubspot', externalId: '1', name: 'bench' }, T0);
  await new TenantConfigRepository(storage.db).publish(
    tenant.id,
    {
      rules: { version: ruleSetVersion(RULES), name: 'demo', source: RULES },
      team: { version: teamVersion(TEAM), source: TEAM },
      publishedBy: 'bench',
      note: '',
    },
    T0,
  );
  const team = loadTeam(TEAM, 'team.yaml');
  if (!team.ok) throw new Error('the demo team loads');
  const rules = loadRuleSet(RULES, 'rules.yaml', { team: team.team });
  if (!rules.ok) throw new Error('the demo rules load');
  // The tenant's history, committed as the worker commits it, 500 leads per transaction.
  for (let from = 0; from < LEADS; from += 500) {
    const versioned = await storage.loadRoutingState(tenant.id);
    let state = versioned.state;
    const batch: DecisionInput[] = [];
    for (let i = from; i < Math.min(LEADS, from + 500); i++) {
      const l = lead(i);
      const decision = decide(l, rules.ruleSet, { team: team.team, state }, T0 + i * 1000);
      state = applyStateChanges(state, decision.stateChanges);
      batch.push({
        decisionKey: `${l.id}:route`,
        decision,
        email: l.email,
        summary: '',
        inputs: { lead: l, account: null },
      });
    }
    await storage.commitDecisions(tenant.id, batch, versioned.versions, T0);
  }
  const service = new SettingsService({ storage, clock: () => T0 + LEADS * 1000 });
  // The first preview of a process also compiles the loaders and the core; an admin's later ones don't.
  let started = performance.now();
  await service.preview(tenant.id, DRAFT, LEADS);
  const firstMs = performance.now() - started;
  started = performance.now();
  const preview = await service.preview(tenant.id, DRAFT, LEADS);
  const ms = performance.now() - started;
  await storage.close();
  process.stdout.write(
    JSON.stringify({
      bench: 'preview',
      engine: 'sqlite',
      leads: preview.leads,
      changed: preview.changed.length,
      reps: preview.perRep.length,
      ms: Math.round(ms),
      firstMs: Math.round(firstMs),
      targetMs: 2000,
      withinTarget: ms < 2000,
    }) + '\n',
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
