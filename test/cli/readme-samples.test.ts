// The README's `simulate` samples are the command's real output: the table and the `--explain` block it
// shows, run as it says (a rule or example edit that changes them fails here, not a new user's trial).
import { readFile } from 'node:fs/promises';
import { cliInProcess } from '../support/cli-in-process.js';

const COMMAND = [
  'simulate',
  '--rules',
  'rules/saas-inbound/rules.yaml',
  '--leads',
  'rules/saas-inbound/leads.csv',
  '--accounts',
  'rules/saas-inbound/accounts.csv',
];

/** The README's code blocks, as lines. */
async function readmeBlocks(): Promise<string[][]> {
  const text = await readFile('README.md', 'utf8');
  return [...text.matchAll(/^```[a-z]*\n([^]*?)^```$/gm)].map((m) => m[1]!.replace(/\n$/, '').split('\n'));
}

it('shows the command the samples come from', async () => {
  const text = await readFile('README.md', 'utf8');
  expect(text).toContain(
    'npm run cli -- simulate --rules rules/saas-inbound/rules.yaml --leads rules/saas-inbound/leads.csv \\\n  --accounts rules/saas-inbound/accounts.csv',
  );
});

it('the simulate table is what the command prints', async () => {
  const run = await cliInProcess({}, COMMAND);
  expect(run.code).toBe(0);
  const table = (await readmeBlocks()).find((b) => b[0]?.startsWith('LEAD '));
  expect(table).toEqual(run.out);
});

it('the --explain sample is the command’s explanation of that lead, line for line', async () => {
  const run = await cliInProcess({}, [...COMMAND, '--explain']);
  expect(run.code).toBe(0);
  const printed = run.out.flatMap((l) => l.split('\n'));
  const sample = (await readmeBlocks()).find((b) => b[0]?.startsWith('Lead amy@britco.co.uk '));
  expect(sample).toBeDefined();
  const start = printed.indexOf(sample![0]!);
  expect(printed.slice(start, start + sample!.length)).toEqual(sample);
});
