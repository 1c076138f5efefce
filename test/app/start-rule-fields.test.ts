// A rule file that names a field the Salesforce org lacks is reported outside the settings tab: the app
// started with it (over the Salesforce sandbox, its demo org installed through OAuth) logs each such rule
// with the file, line, field and a did-you-mean among the org's fields, again when an org is installed
// while it runs (once per org and rule file version: a reinstall repeats none); `validate --tenant` says the same. So is a team queue whose owner is neither a user nor
// a Lead queue of the org (a misspelt queue name, whose every lead would be a dead letter), with a
// did-you-mean among the org's queues or users, and the settings tab warns of it in the team the org
// was installed with. The demo rules and team as they are log nothing.
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { AppConfig } from '../../src/app/config.js';
import { installSalesforceThroughOAuth } from '../../src/app/salesforce-sandbox.js';
import { main } from '../../src/cli/main.js';
import { SALESFORCE_INSTALL_PATH } from '../../src/server/index.js';
import { validateResponseSchema } from '../../src/settings/schemas.js';
import {
  openSettingsInSalesforce,
  salesforceConfig,
  startSalesforceApp,
  until,
  type SalesforceE2e,
} from '../e2e/salesforce-support.js';

const DEMO = 'rules/salesforce-demo';
const NOT_A_FIELD = (name: string) =>
  `"${name}" is not a field of this Salesforce org's Lead or Contact, so it never has a value there`;

/** The demo rules with a custom field misspelt in a condition and a placeholder no field of the org. */
async function misspeltRules(): Promise<{ path: string; lines: { field: number; placeholder: number } }> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-rule-fields-'));
  const demo = await readFile(`${DEMO}/rules.yaml`, 'utf8');
  const condition = 'when: { territory: north-america, Demo_Requested__c: true';
  const subject = "task: { subject: 'Demo request from {{company}}', due: 15m";
  expect(demo).toContain(condition);
  expect(demo).toContain(subject);
  const source = demo
    .replace(condition, 'when: { territory: north-america, Demo_Request__c: true')
    .replace(subject, "task: { subject: 'Demo request from {{company}} in {{Industri}}', due: 15m");
  const path = join(dir, 'rules.yaml');
  await writeFile(path, source);
  await copyFile(`${DEMO}/team.yaml`, join(dir, 'team.yaml'));
  const lineOf = (text: string) => source.split('\n').findIndex((l) => l.includes(text)) + 1;
  return { path, lines: { field: lineOf('Demo_Request__c'), placeholder: lineOf('{{Industri}}') } };
}

/**
 * The demo rules beside the demo team with a Lead queue's name misspelt (`EMEAA` for `EMEA`) and a queue
 * that lands on a user whose email is misspelt.
 */
async function misspeltTeam(): Promise<{
  rules: string;
  team: string;
  lines: { queue: number; user: number };
}> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-queue-owners-'));
  const demo = await readFile(`${DEMO}/team.yaml`, 'utf8');
  expect(demo).toContain('  EMEA: { owner: EMEA }\n');
  const source = demo.replace(
    '  EMEA: { owner: EMEA }\n',
    '  EMEA: { owner: EMEAA }\n  desk: { owner: ada@acme.oi }\n',
  );
  const rules = join(dir, 'rules.yaml');
  const team = join(dir, 'team.yaml');
  await copyFile(`${DEMO}/rules.yaml`, rules);
  await writeFile(team, source);
  const lineOf = (text: string) => source.split('\n').findIndex((l) => l.includes(text)) + 1;
  return { rules, team, lines: { queue: lineOf('EMEAA'), user: lineOf('ada@acme.oi') } };
}

/** The app's log records with this message. */
const logged = (e: SalesforceE2e, message: string) =>
  e.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['message'] === message);

/** Waits for the `n`th check of the org's rule fields. */
const checked = (e: SalesforceE2e, n: number) =>
  until(`rule field check ${n}`, () => logged(e, 'rule fields checked').length >= n, 30_000);

/**
 * `lead-router validate` in-process, on the app's database, as the README runs it: without the CRM= the
 * app was started with (the org's tenant says which CRM it is).
 */
async function validate(config: AppConfig, ...argv: string[]) {
  const saved = {
    DATA_DIR: process.env['DATA_DIR'],
    DATABASE_URL: process.env['DATABASE_URL'],
    CRM: process.env['CRM'],
  };
  process.env['DATA_DIR'] = config.dataDir;
  delete process.env['CRM'];
  delete process.env['DATABASE_URL'];
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await main(['validate', ...argv], {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      clock: Date.now,
    });
    return { code, out, err };
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

describe('rules naming fields, and team queues naming owners, the Salesforce org lacks, outside the settings tab', () => {
  let e: SalesforceE2e | undefined;
  afterEach(async () => {
    await e?.app.stop();
    e = undefined;
  });

  it('start-up logs each with file, line, field and did-you-mean, once: a reinstall checks again, repeats none; validate --tenant says so', async () => {
    const { path, lines } = await misspeltRules();
    const config = await salesforceConfig({ RULES: path });
    e = await startSalesforceApp(config);
    await checked(e, 1);
    const meta = { tenantId: e.tenantId, provider: 'salesforce', account: e.orgId, file: path };
    const warnings = [
      expect.objectContaining({
        ...meta,
        level: 'warn',
        line: lines.field,
        field: 'Demo_Request__c',
        suggestion: 'Demo_Requested__c',
        warning: expect.stringContaining(`${path}:${lines.field}:`),
      }),
      expect.objectContaining({
        ...meta,
        level: 'warn',
        line: lines.placeholder,
        field: 'Industri',
        suggestion: 'Industry',
      }),
    ];
    const message = 'rule names a field this Salesforce org does not have';
    expect(logged(e, message)).toEqual(warnings);
    expect(logged(e, 'rule fields checked')).toEqual([expect.objectContaining({ ...meta, problems: 2 })]);

    // The org installed again while the app runs (new tokens): checked again, but what it was told
    // already (same org, same rule file version) is not logged a second time.
    await installSalesforceThroughOAuth(`${e.app.url}${SALESFORCE_INSTALL_PATH}`);
    await checked(e, 2);
    expect(logged(e, 'rule fields checked')).toEqual([
      expect.objectContaining({ ...meta, problems: 2 }),
      expect.objectContaining({ ...meta, problems: 2 }),
    ]);
    expect(logged(e, message)).toEqual(warnings);

    const cli = await validate(config, path, '--tenant', e.orgId);
    expect(cli.code).toBe(0);
    expect(cli.err).toEqual([
      expect.stringMatching(
        new RegExp(`^warning: ${path}:${lines.field}:\\d+ routes\\[2\\]\\.when\\.Demo_Request__c: `),
      ),
      expect.stringMatching(
        new RegExp(`^warning: ${path}:${lines.placeholder}:\\d+ routes\\[2\\]\\.task\\.subject: `),
      ),
    ]);
    expect(cli.err[0]).toContain(`${NOT_A_FIELD('Demo_Request__c')} (did you mean "Demo_Requested__c"?)`);
    expect(cli.err[1]).toContain(`${NOT_A_FIELD('Industri')} (did you mean "Industry"?)`);
    expect(cli.out).toEqual([
      expect.stringContaining(`; fields and queue owners checked against salesforce org ${e.orgId}`),
    ]);
    // Without --tenant the file alone cannot tell: a __c name may be any org's custom field.
    expect((await validate(config, path, '--crm', 'salesforce')).err.join('\n')).not.toContain(
      'Demo_Request__c',
    );
  }, 120_000);

  it('the demo rules as they are log no such warning, and validate --tenant finds none', async () => {
    const config = await salesforceConfig({ RULES: `${DEMO}/rules.yaml` });
    e = await startSalesforceApp(config);
    await checked(e, 1);
    expect(logged(e, 'rule fields checked')).toEqual([expect.objectContaining({ problems: 0, owners: 0 })]);
    expect(
      e.logs.filter((l) => /rule names a field|queue owner|could not check rule fields/.test(l)),
    ).toEqual([]);
    const cli = await validate(config, `${DEMO}/rules.yaml`, '--tenant', e.orgId);
    expect([cli.code, cli.err]).toEqual([0, []]);
    expect(cli.out).toEqual([
      expect.stringContaining(`; fields and queue owners checked against salesforce org ${e.orgId}`),
    ]);
  }, 120_000);

  it('a queue owner that is no user or Lead queue of the org: start-up logs it with the team file, line, owner and did-you-mean; validate --tenant and the settings tab say so', async () => {
    const { rules, team, lines } = await misspeltTeam();
    const config = await salesforceConfig({ RULES: rules });
    e = await startSalesforceApp(config);
    await checked(e, 1);
    const meta = { tenantId: e.tenantId, provider: 'salesforce', account: e.orgId, file: team };
    const queue =
      '"EMEAA" is neither a queue of this Salesforce org (by name or id) nor a user (by email or id), so the leads routed to queue "EMEA" would be dead letters';
    const user =
      'no user of this Salesforce org has the email ada@acme.oi, so the leads routed to queue "desk" would be dead letters';
    expect(logged(e, 'team names a queue owner this Salesforce org does not have')).toEqual([
      expect.objectContaining({
        ...meta,
        level: 'warn',
        line: lines.queue,
        path: 'queues.EMEA.owner',
        owner: 'EMEAA',
        suggestion: 'EMEA',
        warning: `${team}:${lines.queue}:18 queues.EMEA.owner: ${queue} (did you mean "EMEA"?)`,
      }),
      expect.objectContaining({
        ...meta,
        level: 'warn',
        line: lines.user,
        path: 'queues.desk.owner',
        owner: 'ada@acme.oi',
        suggestion: 'ada@acme.io',
      }),
    ]);
    expect(logged(e, 'rule fields checked')).toEqual([
      expect.objectContaining({ file: rules, problems: 0, owners: 2 }),
    ]);
    // Installed again while running: checked again, neither queue owner logged a second time.
    await installSalesforceThroughOAuth(`${e.app.url}${SALESFORCE_INSTALL_PATH}`);
    await checked(e, 2);
    expect(logged(e, 'rule fields checked')[1]).toEqual(expect.objectContaining({ problems: 0, owners: 2 }));
    expect(logged(e, 'team names a queue owner this Salesforce org does not have')).toHaveLength(2);

    const cli = await validate(config, rules, '--tenant', e.orgId);
    expect(cli.code).toBe(0);
    expect(cli.err).toEqual([
      `warning: ${team}:${lines.queue}:18 queues.EMEA.owner: ${queue} (did you mean "EMEA"?)`,
      `warning: ${team}:${lines.user}:18 queues.desk.owner: ${user} (did you mean "ada@acme.io"?)`,
    ]);
    // Without --tenant the file alone cannot tell: any name may be one of some org's queues.
    expect((await validate(config, rules, '--crm', 'salesforce')).err).toEqual([]);

    // The settings tab checks the team the org was installed with as it checks a draft's fields.
    const session = await openSettingsInSalesforce(e);
    const source = await readFile(rules, 'utf8');
    const answer = await fetch(`${e.app.url}/api/tenants/${e.tenantId}/rules/validate`, {
      method: 'POST',
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ source }),
    });
    expect(answer.status).toBe(200);
    const checkedDraft = validateResponseSchema.parse(await answer.json());
    expect(checkedDraft.ok).toBe(true);
    expect(checkedDraft.warnings).toEqual([
      {
        file: 'team.yaml',
        line: lines.queue,
        column: 18,
        path: 'queues.EMEA.owner',
        message: queue,
        suggestion: 'EMEA',
      },
      {
        file: 'team.yaml',
        line: lines.user,
        column: 18,
        path: 'queues.desk.owner',
        message: user,
        suggestion: 'ada@acme.io',
      },
    ]);
  }, 120_000);
});
