// A suite that needs a service the machine does not have: under CI it must fail, saying why; on a
// developer's machine it is skipped, saying why. Runs the real jest on a real PostgreSQL suite with the
// database pointed at a port where nothing listens.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isCi } from '../support/services.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const DEAD_PG = 'postgres://postgres@127.0.0.1:1/test';
const SUITE = 'postgres: several clients on one schema';

interface JestJson {
  numFailedTests: number;
  numPendingTests: number;
  testResults: {
    assertionResults: {
      ancestorTitles: string[];
      title: string;
      status: string;
      failureMessages: string[];
    }[];
  }[];
}

/** jest on the PostgreSQL part of test/storage/concurrency.test.ts, with PostgreSQL unreachable. */
async function jestWithoutPg(ci: string | undefined): Promise<{ json: JestJson; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, TEST_DATABASE_URL: DEAD_PG };
  delete env['CI'];
  if (ci !== undefined) env['CI'] = ci;
  const args = [
    '--experimental-vm-modules',
    '--disable-warning=ExperimentalWarning',
    join(REPO, 'node_modules/jest/bin/jest.js'),
    'test/storage/concurrency.test.ts',
    '--testNamePattern',
    SUITE,
    '--json',
  ];
  const result = await run(process.execPath, args, { cwd: REPO, env, maxBuffer: 32 * 1024 * 1024 }).catch(
    (error: { stdout?: string; stderr?: string }) => ({
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? '',
    }),
  );
  return { json: JSON.parse(result.stdout) as JestJson, stderr: result.stderr };
}

const ofSuite = (json: JestJson) =>
  json.testResults.flatMap((r) => r.assertionResults).filter((a) => a.ancestorTitles[0] === SUITE);

const REASON = /PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/test unreachable \(.*ECONNREFUSED.*\)/;

describe('a suite whose service is unreachable', () => {
  it('fails under CI=true, with the reason', async () => {
    const { json } = await jestWithoutPg('true');
    expect(json.numFailedTests).toBe(1);
    const [only, ...rest] = ofSuite(json);
    expect(rest).toEqual([]);
    expect(only?.status).toBe('failed');
    expect(only?.failureMessages.join('\n')).toMatch(REASON);
  });

  it('is skipped on a developer machine, and says why', async () => {
    const { json, stderr } = await jestWithoutPg(undefined);
    expect(json.numFailedTests).toBe(0);
    const results = ofSuite(json);
    expect(results.length).toBeGreaterThan(0);
    expect(results.every((a) => a.status === 'pending')).toBe(true);
    expect(stderr).toContain(`"${SUITE}" skipped: `);
    expect(stderr).toMatch(REASON);
  });
});

describe('isCi', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['false', false],
    ['0', false],
    ['true', true],
    ['1', true],
    ['TRUE', true],
  ])('CI=%p → %p', (value, expected) => {
    expect(isCi(value === undefined ? {} : { CI: value })).toBe(expected);
  });
});
