// `lead-router report`, run as an operator would (the real CLI in its own process) on SQLite and on
// PostgreSQL: CSV with a header and RFC 4180 quoting, grouped as asked; bad input is a clear error.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/app/config.js';
import { openAppStorage } from '../../src/app/open-storage.js';
import { createPgSchema, describeNeeding, PG_URL, type SuiteFn } from '../support/services.js';
import { makeDecision } from '../storage/helpers.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const T0 = Date.UTC(2026, 11, 7, 9, 0, 0);
const NONE = { pools: {}, reps: {} };
const STACK = /^\s+at /m;

function cli(env: Record<string, string>, ...args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [join(REPO, 'bin/lead-router.js'), ...args],
      { cwd: REPO, env: { ...process.env, ...env } },
      (error, stdout, stderr) =>
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
          stdout,
          stderr,
        }),
    );
  });
}

const ENGINES: [string, SuiteFn, () => Promise<{ env: Record<string, string>; drop(): Promise<void> }>][] = [
  ['sqlite', describe, () => Promise.resolve({ env: {}, drop: () => Promise.resolve() })],
  [
    'postgres',
    describeNeeding(['postgres']),
    async () => {
      const schema = await createPgSchema();
      return { env: { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema.name }, drop: () => schema.drop() };
    },
  ],
];

for (const [engine, suite, database] of ENGINES) {
  suite(`lead-router report on ${engine}`, () => {
    let env: Record<string, string>;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      const dir = await mkdtemp(join(tmpdir(), 'lead-router-report-'));
      const db = await database();
      env = { DATA_DIR: dir, ...db.env };
      cleanup = async () => {
        await db.drop();
        await rm(dir, { recursive: true, force: true });
      };
      const storage = await openAppStorage(loadConfig(env));
      try {
        await storage.createTenant({ id: 't1', provider: 'hubspot', externalId: '42', name: 'Demo' }, T0);
        const decide = (key: string, route: string | null, fallbacks: string[], at: number) =>
          storage.commitDecision(
            't1',
            {
              decisionKey: key,
              decision: makeDecision({
                leadId: key,
                decidedAt: at,
                route: route === null ? null : { index: 0, name: route },
                fallbacks: fallbacks as never,
                stateChanges: NONE,
              }),
              summary: key,
              eventAt: at - 1_000,
            },
            NONE,
            at,
          );
        await decide('l1', 'EMEA, "enterprise"', ['pool_nobody_eligible'], T0);
        await decide('l2', 'EMEA, "enterprise"', [], T0 + 1);
        await decide('l3', null, ['no_route_matched'], T0 + 2);
        await decide('late', null, ['no_route_matched'], T0 + 86_400_000);
      } finally {
        await storage.close();
      }
    }, 60_000);
    afterAll(() => cleanup());

    it('writes the fallback report as CSV, one group per rule, names quoted', async () => {
      const r = await cli(
        env,
        'report',
        'fallbacks',
        '--tenant',
        '42',
        '--since',
        '2026-12-07',
        '--until',
        '2026-12-08',
        '--by',
        'rule',
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(
        [
          'rule,reason,leads,of_leads,share',
          '(fallback),(any),1,1,1',
          '(fallback),no_route_matched,1,1,1',
          '"EMEA, ""enterprise""",(any),1,2,0.5',
          '"EMEA, ""enterprise""",pool_nobody_eligible,1,2,0.5',
          '',
        ].join('\r\n'),
      );
    }, 60_000);

    it.each([
      [['report', 'speed', '--since', 'last week'], '--since: "last week" is not an ISO 8601 date or time'],
      [['report', 'speed', '--since', '2026-12-07', '--by', 'team'], 'by:'],
      [['report', 'velocity', '--since', '2026-12-07'], 'unknown report "velocity"'],
      [
        ['report', 'speed', '--tenant', 'nobody', '--since', '2026-12-07', '--until', '2026-12-08'],
        'no tenant "nobody"',
      ],
    ])(
      '%j is a clear error, exit 1',
      async (args, message) => {
        const r = await cli(env, ...args);
        expect(r.code).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toContain(message.replace('--since: ', 'since: '));
        expect(r.stderr).not.toMatch(STACK);
      },
      60_000,
    );
  });
}
