// A rule file that names a field the Salesforce org lacks is reported outside the settings tab: the app
// started with it (over the Salesforce sandbox, its demo org installed through OAuth) logs each such rule
// with the file, line, field and a did-you-mean among the org's fields, again when an org is installed
// while it runs (once per org and rule file version: a reinstall repeats none); `validate --tenant` says the same. So is a team queue whose owner is neither a user nor
// a Lead queue of the org (a misspelt queue name, whose every lead would be a dead letter), with a
// did-you-mean among the org's queues or users, and the settings tab warns of it in the team the org
// was installed with; and so is a rep or a rep's manager who is no active user of the org. Start-up
// checks the team the org routes with: one the settings tab published since, not the file, and so does
// `validate --tenant`. So is each person the rule file itself names (an escalation rep, a sequence's
// sender), at the rule's line; one the team names too, once, at the team's line. The demo rules and
// team as they are log only Quinn, whose user the demo
// org deactivated.
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { AppConfig } from '../../src/app/config.js';
import { installSalesforceThroughOAuth } from '../../src/app/salesforce-sandbox.js';
import { SALESFORCE_INSTALL_PATH } from '../../src/server/index.js';
import { validateResponseSchema } from '../../src/settings/schemas.js';
import { TenantConfigRepository } from '../../src/storage/index.js';
import { cliInProcess } from '../support/cli-in-process.js';
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

/** The demo team's Quinn, whose user the demo org deactivated: routing skips him, and the check says so. */
const QUINN =
  'the user quinn@acme.io is deactivated in this Salesforce org, so routing skips this rep and no lead goes to them';
const quinnAt = (file: string) => `warning: ${file}:11:3 reps["quinn@acme.io"]: ${QUINN}`;

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

/**
 * The demo rules and team with Paula's email misspelt in both (`paula@acme.oi`: the pool and the team
 * agree, the org has no such user) and Ada's manager a user the org does not have.
 */
async function misspeltPeople(): Promise<{
  rules: string;
  team: string;
  lines: { rep: number; manager: number };
}> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-team-people-'));
  const demoTeam = await readFile(`${DEMO}/team.yaml`, 'utf8');
  const demoRules = await readFile(`${DEMO}/rules.yaml`, 'utf8');
  const ada = '  ada@acme.io: { name: Ada Keller, timezone: Europe/Berlin, weight: 2 }';
  expect(demoTeam).toContain(ada);
  expect(demoRules).toContain('paula@acme.io');
  const source = demoTeam
    .replaceAll('paula@acme.io', 'paula@acme.oi')
    .replace(ada, ada.replace(' }', ', manager: nina@acme.oi }'));
  const rules = join(dir, 'rules.yaml');
  const team = join(dir, 'team.yaml');
  await writeFile(rules, demoRules.replaceAll('paula@acme.io', 'paula@acme.oi'));
  await writeFile(team, source);
  const lineOf = (text: string) => source.split('\n').findIndex((l) => l.includes(text)) + 1;
  return { rules, team, lines: { rep: lineOf('paula@acme.oi'), manager: lineOf('nina@acme.oi') } };
}

/**
 * The demo rules beside the demo team, the North America route escalating to Quinn (deactivated in the
 * demo org) and enrolling in its sequence as a sender whose email is misspelt (`nina@acme.oi`).
 */
async function misspeltRulePeople(): Promise<{
  rules: string;
  team: string;
  lines: { sender: number; escalation: number };
}> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-rule-people-'));
  const demo = await readFile(`${DEMO}/rules.yaml`, 'utf8');
  const route =
    "    task: { subject: 'Demo request from {{company}}', due: 15m, priority: high }\n    sequence: Enterprise demo follow-up\n    sla: { first_touch: 10m, on_breach: { escalate: { rep: nina@acme.io } } }\n";
  expect(demo).toContain(route);
  const source = demo.replace(
    route,
    route
      .replace(
        'sequence: Enterprise demo follow-up',
        'sequence: { name: Enterprise demo follow-up, sender: nina@acme.oi }',
      )
      .replace('rep: nina@acme.io', 'rep: quinn@acme.io'),
  );
  const rules = join(dir, 'rules.yaml');
  const team = join(dir, 'team.yaml');
  await writeFile(rules, source);
  await copyFile(`${DEMO}/team.yaml`, team);
  const lineOf = (text: string) => source.split('\n').findIndex((l) => l.includes(text)) + 1;
  return { rules, team, lines: { sender: lineOf('nina@acme.oi'), escalation: lineOf('quinn@acme.io } }') } };
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
const validate = (config: AppConfig, ...argv: string[]) =>
  cliInProcess({ DATA_DIR: config.dataDir, CRM: undefined, DATABASE_URL: undefined }, ['validate', ...argv]);

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
      quinnAt(join(dirname(path), 'team.yaml')),
      expect.stringMatching(
        new RegExp(`^warning: ${path}:${lines.field}:\\d+ routes\\[2\\]\\.when\\.Demo_Request__c: `),
      ),
      expect.stringMatching(
        new RegExp(`^warning: ${path}:${lines.placeholder}:\\d+ routes\\[2\\]\\.task\\.subject: `),
      ),
    ]);
    expect(cli.err[1]).toContain(`${NOT_A_FIELD('Demo_Request__c')} (did you mean "Demo_Requested__c"?)`);
    expect(cli.err[2]).toContain(`${NOT_A_FIELD('Industri')} (did you mean "Industry"?)`);
    expect(cli.out).toEqual([
      expect.stringContaining(
        `; fields, reps, managers and queue owners checked against salesforce org ${e.orgId}`,
      ),
    ]);
    // Without --tenant the file alone cannot tell: a __c name may be any org's custom field.
    expect((await validate(config, path, '--crm', 'salesforce')).err.join('\n')).not.toContain(
      'Demo_Request__c',
    );
  }, 120_000);

  it('the demo rules and team as they are log only the rep the demo org deactivated, and validate --tenant finds only him', async () => {
    const config = await salesforceConfig({ RULES: `${DEMO}/rules.yaml` });
    e = await startSalesforceApp(config);
    await checked(e, 1);
    expect(logged(e, 'rule fields checked')).toEqual([expect.objectContaining({ problems: 0, owners: 1 })]);
    expect(logged(e, 'team names a rep this Salesforce org does not have')).toEqual([
      expect.objectContaining({
        level: 'warn',
        tenantId: e.tenantId,
        file: `${DEMO}/team.yaml`,
        line: 11,
        path: 'reps["quinn@acme.io"]',
        owner: 'quinn@acme.io',
        warning: quinnAt(`${DEMO}/team.yaml`).slice('warning: '.length),
      }),
    ]);
    expect(e.logs.filter((l) => /rule names a field|queue owner|manager|could not check/.test(l))).toEqual(
      [],
    );
    const cli = await validate(config, `${DEMO}/rules.yaml`, '--tenant', e.orgId);
    expect([cli.code, cli.err]).toEqual([0, [quinnAt(`${DEMO}/team.yaml`)]]);
    expect(cli.out).toEqual([
      expect.stringContaining(
        `; fields, reps, managers and queue owners checked against salesforce org ${e.orgId}`,
      ),
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
      expect.objectContaining({ file: rules, problems: 0, owners: 3 }),
    ]);
    // Installed again while running: checked again, neither queue owner nor Quinn logged a second time.
    await installSalesforceThroughOAuth(`${e.app.url}${SALESFORCE_INSTALL_PATH}`);
    await checked(e, 2);
    expect(logged(e, 'rule fields checked')[1]).toEqual(expect.objectContaining({ problems: 0, owners: 3 }));
    expect(logged(e, 'team names a queue owner this Salesforce org does not have')).toHaveLength(2);
    expect(logged(e, 'team names a rep this Salesforce org does not have')).toHaveLength(1);

    const cli = await validate(config, rules, '--tenant', e.orgId);
    expect(cli.code).toBe(0);
    expect(cli.err).toEqual([
      quinnAt(team),
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
      { file: 'team.yaml', line: 11, column: 3, path: 'reps["quinn@acme.io"]', message: QUINN },
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

  it("a rep or a manager who is no user of the org: start-up logs each at its team.yaml line with a did-you-mean among the org's active users; validate --tenant and the settings tab say so", async () => {
    const { rules, team, lines } = await misspeltPeople();
    const config = await salesforceConfig({ RULES: rules });
    e = await startSalesforceApp(config);
    await checked(e, 1);
    const meta = { tenantId: e.tenantId, provider: 'salesforce', account: e.orgId, file: team };
    const rep =
      'no user of this Salesforce org has the email paula@acme.oi, so routing skips this rep and no lead goes to them';
    const manager =
      'no user of this Salesforce org has the email nina@acme.oi, so the leads of ada@acme.io escalated to their manager could not be escalated';
    expect(logged(e, 'team names a rep this Salesforce org does not have')).toEqual([
      expect.objectContaining({
        ...meta,
        level: 'warn',
        line: lines.rep,
        path: 'reps["paula@acme.oi"]',
        owner: 'paula@acme.oi',
        suggestion: 'paula@acme.io',
        warning: `${team}:${lines.rep}:3 reps["paula@acme.oi"]: ${rep} (did you mean "paula@acme.io"?)`,
      }),
      expect.objectContaining({ ...meta, level: 'warn', line: 11, owner: 'quinn@acme.io' }),
    ]);
    expect(logged(e, 'team names a manager this Salesforce org does not have')).toEqual([
      expect.objectContaining({
        ...meta,
        level: 'warn',
        line: lines.manager,
        path: 'reps["ada@acme.io"].manager',
        owner: 'nina@acme.oi',
        suggestion: 'nina@acme.io',
      }),
    ]);
    expect(logged(e, 'rule fields checked')).toEqual([
      expect.objectContaining({ file: rules, problems: 0, owners: 3 }),
    ]);

    const cli = await validate(config, rules, '--tenant', e.orgId);
    expect(cli.code).toBe(0);
    const managerColumn = (await readFile(team, 'utf8')).split('\n')[lines.manager - 1]!.indexOf('nina') + 1;
    expect(cli.err).toEqual([
      `warning: ${team}:${lines.manager}:${managerColumn} reps["ada@acme.io"].manager: ${manager} (did you mean "nina@acme.io"?)`,
      `warning: ${team}:${lines.rep}:3 reps["paula@acme.oi"]: ${rep} (did you mean "paula@acme.io"?)`,
      quinnAt(team),
    ]);

    // The settings tab checks the team the org was installed with, as it checks its queue owners.
    const session = await openSettingsInSalesforce(e);
    const answer = await fetch(`${e.app.url}/api/tenants/${e.tenantId}/rules/validate`, {
      method: 'POST',
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ source: await readFile(rules, 'utf8') }),
    });
    expect(answer.status).toBe(200);
    const checkedDraft = validateResponseSchema.parse(await answer.json());
    expect(checkedDraft.warnings).toEqual([
      {
        file: 'team.yaml',
        line: lines.manager,
        column: managerColumn,
        path: 'reps["ada@acme.io"].manager',
        message: manager,
        suggestion: 'nina@acme.io',
      },
      {
        file: 'team.yaml',
        line: lines.rep,
        column: 3,
        path: 'reps["paula@acme.oi"]',
        message: rep,
        suggestion: 'paula@acme.io',
      },
      { file: 'team.yaml', line: 11, column: 3, path: 'reps["quinn@acme.io"]', message: QUINN },
    ]);
  }, 120_000);

  it("a person the rules name who is no active user of the org: start-up logs each at its rule's line, with a did-you-mean; validate --tenant and the settings tab say so", async () => {
    const { rules, team, lines } = await misspeltRulePeople();
    const config = await salesforceConfig({ RULES: rules });
    e = await startSalesforceApp(config);
    await checked(e, 1);
    const meta = { tenantId: e.tenantId, provider: 'salesforce', account: e.orgId, file: rules };
    const sender =
      'no user of this Salesforce org has the email nina@acme.oi, so the sequence enrollments sent as them would fail';
    const source = await readFile(rules, 'utf8');
    const columnOf = (line: number, text: string) => source.split('\n')[line - 1]!.indexOf(text) + 1;
    const at = {
      sender: `${lines.sender}:${columnOf(lines.sender, 'nina@acme.oi')} routes[2].sequence.sender`,
      escalation: `${lines.escalation}:${columnOf(lines.escalation, 'quinn@acme.io')} routes[2].sla.on_breach.escalate.rep`,
    };
    expect(logged(e, 'rule names a sequence sender this Salesforce org does not have')).toEqual([
      expect.objectContaining({
        ...meta,
        level: 'warn',
        line: lines.sender,
        path: 'routes[2].sequence.sender',
        owner: 'nina@acme.oi',
        suggestion: 'nina@acme.io',
        warning: `${rules}:${at.sender}: ${sender} (did you mean "nina@acme.io"?)`,
      }),
    ]);
    // Quinn is the team's rep too: he is warned of once, at the team file's line, which says where the
    // rules name him (the escalation that would fail).
    const quinnTwice = `${quinnAt(team)}; the rules name them too, as escalation rep at ${rules}:${at.escalation.split(' ')[0]}`;
    expect(logged(e, 'rule names an escalation rep this Salesforce org does not have')).toEqual([]);
    expect(logged(e, 'team names a rep this Salesforce org does not have')).toEqual([
      expect.objectContaining({
        file: team,
        line: 11,
        owner: 'quinn@acme.io',
        warning: quinnTwice.slice('warning: '.length),
      }),
    ]);
    expect(logged(e, 'rule fields checked')).toEqual([
      expect.objectContaining({ file: rules, problems: 0, owners: 2 }),
    ]);

    const cli = await validate(config, rules, '--tenant', e.orgId);
    expect([cli.code, cli.err]).toEqual([
      0,
      [quinnTwice, `warning: ${rules}:${at.sender}: ${sender} (did you mean "nina@acme.io"?)`],
    ]);
    // Without --tenant the file alone cannot tell who the org's users are.
    expect((await validate(config, rules, '--crm', 'salesforce')).err).toEqual([]);

    // The settings tab checks a draft's people as it checks its fields.
    const session = await openSettingsInSalesforce(e);
    const answer = await fetch(`${e.app.url}/api/tenants/${e.tenantId}/rules/validate`, {
      method: 'POST',
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ source }),
    });
    expect(answer.status).toBe(200);
    const warnings = validateResponseSchema.parse(await answer.json()).warnings;
    expect(warnings.filter((w) => w.file === 'rules.yaml')).toEqual([
      expect.objectContaining({ line: lines.sender, path: 'routes[2].sequence.sender', message: sender }),
    ]);
    expect(warnings.filter((w) => w.message.includes('quinn@acme.io'))).toEqual([
      expect.objectContaining({
        path: 'reps["quinn@acme.io"]',
        message: `${QUINN}; the rules name them too, as escalation rep at rules.yaml:${at.escalation.split(' ')[0]}`,
      }),
    ]);
  }, 120_000);

  it('start-up and validate --tenant check the team the org routes with: a version the settings tab published since the install, not the team file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lead-router-routed-team-'));
    const rules = join(dir, 'rules.yaml');
    await copyFile(`${DEMO}/rules.yaml`, rules);
    await copyFile(`${DEMO}/team.yaml`, join(dir, 'team.yaml'));
    const config = await salesforceConfig({ RULES: rules });
    e = await startSalesforceApp(config, { keepSandboxData: true });
    await checked(e, 1);
    const reps = () => logged(e!, 'team names a rep this Salesforce org does not have');
    expect(reps().map((r) => r['owner'])).toEqual(['quinn@acme.io']);

    // In the settings tab: Quinn, who left, is marked inactive, and a new rep is added under a misspelt
    // email. Each edit publishes a team version; the rule file and the team file stay as they were.
    const session = await openSettingsInSalesforce(e);
    const edit = (email: string, patch: Record<string, unknown>) =>
      fetch(`${e!.app.url}/api/tenants/${e!.tenantId}/team/reps/${encodeURIComponent(email)}`, {
        method: 'PATCH',
        headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' },
        body: JSON.stringify(patch),
      });
    expect((await edit('quinn@acme.io', { active: false })).status).toBe(200);
    expect((await edit('paula@acme.oi', { weight: 1 })).status).toBe(200);
    const stored = (await new TenantConfigRepository(e.app.storage.db).activeTeam(e.tenantId))!;
    expect(stored.source).toContain('paula@acme.oi');
    await e.app.stop();

    // Started again with the same files: the org routes with the tab's team, and that is what is checked.
    e = await startSalesforceApp(config, { keepSandboxData: true });
    await checked(e, 1);
    const file = `team ${stored.version}`;
    const line = stored.source.split('\n').findIndex((l) => l.includes('paula@acme.oi')) + 1;
    expect(reps()).toEqual([
      expect.objectContaining({
        tenantId: e.tenantId,
        file,
        teamVersion: stored.version,
        line,
        path: 'reps["paula@acme.oi"]',
        owner: 'paula@acme.oi',
        suggestion: 'paula@acme.io',
        warning: `${file}:${line}:3 reps["paula@acme.oi"]: no user of this Salesforce org has the email paula@acme.oi, so routing skips this rep and no lead goes to them (did you mean "paula@acme.io"?)`,
      }),
    ]);
    expect(logged(e, 'rule fields checked')).toEqual([
      expect.objectContaining({ file: rules, problems: 0, owners: 1 }),
    ]);

    // validate --tenant checks the same team, and says which: not the file's Quinn, the tab's misspelt rep.
    const cli = await validate(config, rules, '--tenant', e.orgId);
    expect([cli.code, cli.err]).toEqual([0, [`warning: ${String(reps()[0]!['warning'])}`]]);
    expect(cli.out).toEqual([
      expect.stringContaining(
        `; team: ${file}, the version ${e.orgId} routes with (not ${join(dir, 'team.yaml')})`,
      ),
    ]);
    // A team file named with --team (an edit about to be deployed) is checked as asked: the file's Quinn.
    const asked = await validate(config, rules, '--team', join(dir, 'team.yaml'), '--tenant', e.orgId);
    expect([asked.code, asked.err]).toEqual([
      0,
      [
        expect.stringMatching(
          /^warning: .*team\.yaml:\d+:3 reps\["quinn@acme\.io"\]: the user quinn@acme\.io is deactivated/,
        ),
      ],
    ]);
    expect(asked.out).toEqual([
      expect.stringContaining(
        `; team: ${join(dir, 'team.yaml')}, checked as asked (${e.orgId} routes with ${file} until it is published)`,
      ),
    ]);
  }, 180_000);
});
