// A RULES file with several errors stops `npm start` with every one of them, each with its file, line and
// field, as `lead-router validate` lists them: those found against the team beside the rules as well as
// those found on their own, and those of the CRM served as well as the rest.
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ConfigError, loadConfig } from '../../src/app/config.js';
import { startApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';

const logger = createLogger({
  level: 'error',
  stream: new Writable({ write: (_chunk, _enc, done) => done() }),
});

/** `rules` with each `[from, to]` replaced, written as rules.yaml into a directory of its own. */
async function brokenRules(rules: string, replacements: [string, string][]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-start-errors-'));
  let source = await readFile(rules, 'utf8');
  for (const [from, to] of replacements) {
    expect(source).toContain(from);
    source = source.replaceAll(from, to);
  }
  await writeFile(join(dir, 'rules.yaml'), source);
  return dir;
}

async function startError(dir: string, env: Record<string, string> = {}): Promise<string> {
  const config = loadConfig({
    PORT: '0',
    SANDBOX_PORT: '0',
    DATA_DIR: join(dir, 'data'),
    RULES: join(dir, 'rules.yaml'),
    ...env,
  });
  const error = await startApp(config, { logger }).then(
    () => new Error('started'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).message;
}

describe('npm start with a RULES file that has several errors', () => {
  it('names them all in file order: a rep the team beside the rules lacks, and the pools it lacks itself', async () => {
    const dir = await brokenRules('rules/hubspot-demo/rules.yaml', [
      ['members: [ada@acme.io, bo@acme.io]', 'members: [adaa@acme.io, bo@acme.io]'],
      ['assign: { pool: na-ae }', 'assign: { pool: na-aee }'],
    ]);
    await copyFile('rules/hubspot-demo/team.yaml', join(dir, 'team.yaml'));
    const file = join(dir, 'rules.yaml');
    expect((await startError(dir)).split('\n')).toEqual([
      `${file}:13:24 pools.emea-ae.members[0]: unknown rep "adaa@acme.io" (not in the team: misspelt here, or in the team) (did you mean "ada@acme.io"?)`,
      `${file}:48:21 routes[2].assign.pool: unknown pool "na-aee" (did you mean "na-ae"?)`,
      `${file}:65:21 routes[5].assign.pool: unknown pool "na-aee" (did you mean "na-ae"?)`,
    ]);
  });

  it("names the CRM's errors beside the others: CRM=salesforce, a pool misspelt and queues that target teams", async () => {
    const dir = await brokenRules('rules/saas-inbound/rules.yaml', [
      ['assign: { pool: emea-ae }', 'assign: { pool: emea-aee }'],
    ]);
    const file = join(dir, 'rules.yaml');
    const noTeams = (at: string, queue: string, team: string): string =>
      `${file}:${at} team.queues.${queue}.team: Salesforce has no teams, so queue "${queue}" cannot land on team ${team}: give it an owner instead, { owner: a user's email, or a Lead queue's name or id (00G…) }`;
    expect((await startError(dir, { CRM: 'salesforce' })).split('\n')).toEqual([
      `${file}:41:21 routes[1].assign.pool: unknown pool "emea-aee" (did you mean "emea-ae"?)`,
      `${file}:55:21 routes[2].assign.pool: unknown pool "emea-aee" (did you mean "emea-ae"?)`,
      noTeams('84:26', 'emea-triage', 'EMEA'),
      noTeams('85:24', 'us-triage', 'NA'),
      noTeams('86:29', 'inbound-triage', 'Inbound'),
    ]);
  });
});
