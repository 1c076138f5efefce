// The start-up check of the rule file against each account's fields: only tenants routing with the file
// are asked, a connector that lists no fields is left alone, and a CRM that does not answer in time (or
// refuses) is logged once, never waited for past the bound nor after the app stops. The people the team
// and the rules name are checked against its directory; what a tenant was told is kept for its current
// versions only.
import { describe, expect, it } from '@jest/globals';
import type { AccountFields, CrmConnector, Directory } from '../../connectors/connector.js';
import { SALESFORCE_PROFILE } from '../../connectors/salesforce/profile.js';
import { RuleFieldCheck, type RuleFieldCheckOptions, type RuleFile } from '../../src/app/rule-fields.js';
import { ruleSetVersion } from '../../src/rules/index.js';
import type { Tenant } from '../../src/storage/index.js';
import { capturingLogger } from '../support/logs.js';

const SOURCE = `routes:\n  - name: r\n    when: { Demo_Request__c: true }\n    assign: { rep: ada@acme.io }\nfallback: { rep: ada@acme.io }\nteam:\n  reps:\n    ada@acme.io: { timezone: UTC, hours: 24/7 }\n`;
const RULES = { path: 'rules.yaml', source: SOURCE, version: ruleSetVersion(SOURCE), team: undefined };
const FIELDS: AccountFields = {
  objects: 'Lead or Contact',
  names: new Map(['Id', 'Email', 'Demo_Requested__c', 'Interests__c'].map((n) => [n.toLowerCase(), n])),
  multiValued: new Set(['interests__c']),
};

function tenant(over: Partial<Tenant> = {}): Tenant {
  return {
    id: 't1',
    provider: 'salesforce',
    externalId: '00D000000000001',
    name: 'Acme',
    hasToken: true,
    webhookSecretRef: null,
    settings: {},
    activeRulesetVersion: RULES.version,
    uninstalledAt: null,
    pause: null,
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}

/** A directory with Ada and the org's one Lead queue. */
const DIRECTORY: Directory = {
  owners: [{ id: '005000000000001AAA', email: 'ada@acme.io', name: 'Ada', active: true, teams: [] }],
  queues: { EMEA: '00G000000000001AAA', EMEA_Queue: '00G000000000001AAA' },
  fetchedAt: 0,
};

function checker(
  tenants: Tenant[],
  connector: Partial<Pick<CrmConnector, 'accountFields' | 'directory'>>,
  waitMs = 1000,
  rules: RuleFile = RULES,
  activeTeam: RuleFieldCheckOptions['activeTeam'] = () => Promise.resolve(null),
) {
  const logs = capturingLogger();
  const asked: string[] = [];
  const check = new RuleFieldCheck({
    rules,
    storage: {
      listTenants: () => Promise.resolve(tenants),
      getTenant: (id) => Promise.resolve(tenants.find((t) => t.id === id) ?? null),
    },
    activeTeam,
    profile: () => SALESFORCE_PROFILE,
    connector: (t) => {
      asked.push(t.id);
      return Promise.resolve({ directory: () => Promise.resolve(DIRECTORY), ...connector });
    },
    logger: logs.logger,
    waitMs,
  });
  const messages = () => logs.records().map((r) => r['message']);
  return { check, logs, asked, messages };
}

/** Lets the background checks run (each settles in a few turns of the event loop here). */
const settle = () => new Promise((r) => setTimeout(r, 50));

const listing = { accountFields: () => Promise.resolve(FIELDS) };

describe('the rule file checked against each account routing with it', () => {
  it('asks only installed tenants whose active rule set is the file, each logged with its field', async () => {
    const { check, asked, logs } = checker(
      [
        tenant(),
        tenant({ id: 'published', activeRulesetVersion: 'abcdef123456' }),
        tenant({ id: 'gone', uninstalledAt: 1 }),
        tenant({ id: 'no-token', hasToken: false }),
      ],
      listing,
    );
    check.sweep();
    await settle();
    await check.stop();
    expect(asked).toEqual(['t1']);
    expect(logs.records()).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: 'rule names a field this Salesforce org does not have',
        tenantId: 't1',
        account: '00D000000000001',
        file: 'rules.yaml',
        line: 3,
        field: 'Demo_Request__c',
        suggestion: 'Demo_Requested__c',
      }),
      expect.objectContaining({ message: 'rule fields checked', problems: 1 }),
    ]);
  });

  it("logs each team queue whose owner names no one in the account's directory, at its line in the team file", async () => {
    const team = { path: 'team.yaml', source: 'queues:\n  EMEA: { owner: EMEA }\n  NA: { owner: EMEAA }\n' };
    const { check, logs } = checker([tenant()], listing, 1000, { ...RULES, teamFile: team });
    check.sweep();
    await settle();
    await check.stop();
    expect(logs.records().slice(1)).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: 'team names a queue owner this Salesforce org does not have',
        tenantId: 't1',
        file: 'team.yaml',
        line: 3,
        path: 'queues.NA.owner',
        owner: 'EMEAA',
        suggestion: 'EMEA',
      }),
      expect.objectContaining({ message: 'rule fields checked', problems: 1, owners: 1 }),
    ]);
  });

  it('logs each rule comparing a multi-select field as one value, at its line, with the field', async () => {
    const source = SOURCE.replace(
      'Demo_Request__c: true',
      'Demo_Requested__c: true, Interests__c: "Routing;Scoring"',
    );
    const rules = { ...RULES, source, version: ruleSetVersion(source) };
    const { check, logs } = checker([tenant({ activeRulesetVersion: rules.version })], listing, 1000, rules);
    check.sweep();
    await settle();
    await check.stop();
    expect(logs.records()).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: 'rule compares a multi-select field of this Salesforce org as one value',
        tenantId: 't1',
        line: 3,
        path: 'routes[0].when.Interests__c',
        field: 'Interests__c',
        warning:
          'rules.yaml:3:38 routes[0].when.Interests__c: "Interests__c" is a multi-select in this Salesforce org: each of its values is compared on its own, so "Routing;Scoring" never matches; use in: [Routing, Scoring]',
      }),
      expect.objectContaining({ message: 'rule fields checked', problems: 1, owners: 0 }),
    ]);
  });

  it("logs a person the rules and their team both name who is no active user once, at the team's line, saying where the rules name them", async () => {
    const source = SOURCE.replace('assign: { rep: ada@acme.io }', 'assign: { rep: ada@acme.oi }').replace(
      '    ada@acme.io: { timezone: UTC, hours: 24/7 }\n',
      '    ada@acme.io: { timezone: UTC, hours: 24/7 }\n    ada@acme.oi: { timezone: UTC }\n',
    );
    const rules = { ...RULES, source, version: ruleSetVersion(source) };
    const { check, logs } = checker([tenant({ activeRulesetVersion: rules.version })], listing, 1000, rules);
    check.sweep();
    await settle();
    await check.stop();
    expect(logs.records().slice(1)).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: 'team names a rep this Salesforce org does not have',
        tenantId: 't1',
        file: 'rules.yaml',
        line: 9,
        path: 'team.reps["ada@acme.oi"]',
        owner: 'ada@acme.oi',
        suggestion: 'ada@acme.io',
        warning:
          'rules.yaml:9:5 team.reps["ada@acme.oi"]: no user of this Salesforce org has the email ada@acme.oi, so routing skips this rep and no lead goes to them; the rules name them too, as destination rep at line 4:20 (did you mean "ada@acme.io"?)',
      }),
      expect.objectContaining({ message: 'rule fields checked', problems: 1, owners: 1 }),
    ]);
  });

  it('what a tenant was told is kept for its current team version only: a team published back is told again', async () => {
    const versions = ['a00000000001', 'b00000000002', 'a00000000001'];
    const published = (v: string) => ({
      version: v,
      source: `queues:\n  NA: { owner: EMEA${v.slice(0, 1)} }\n`,
    });
    let at = 0;
    const { check, logs } = checker([tenant()], listing, 1000, RULES, () =>
      Promise.resolve(published(versions[Math.min(at, versions.length - 1)]!)),
    );
    const owners = () =>
      logs
        .records()
        .filter((r) => r['message'] === 'team names a queue owner this Salesforce org does not have')
        .map((r) => [r['file'], r['owner']]);
    check.sweep();
    await settle();
    check.installed('t1'); // the same team again: nothing new
    await settle();
    expect(owners()).toEqual([['team a00000000001', 'EMEAa']]);
    for (at = 1; at < versions.length; at++) {
      check.installed('t1');
      await settle();
    }
    await check.stop();
    expect(owners()).toEqual([
      ['team a00000000001', 'EMEAa'],
      ['team b00000000002', 'EMEAb'],
      ['team a00000000001', 'EMEAa'],
    ]);
  });

  it('a directory that cannot be read is logged once; the fields are still checked', async () => {
    const { check, messages } = checker([tenant()], {
      ...listing,
      directory: () => Promise.reject(new Error('REQUEST_LIMIT_EXCEEDED')),
    });
    check.sweep();
    await settle();
    await check.stop();
    expect(messages()).toEqual([
      'rule names a field this Salesforce org does not have',
      "could not check the team's reps, managers and queue owners: REQUEST_LIMIT_EXCEEDED",
      'rule fields checked',
    ]);
  });

  it('an install before the start-up sweep is left to it; one after is checked', async () => {
    const { check, asked } = checker([tenant()], listing);
    check.installed('t1');
    check.sweep();
    check.installed('t1');
    await settle();
    await check.stop();
    expect(asked).toEqual(['t1', 't1']);
  });

  it('a connector that lists no fields is not checked, and nothing is logged', async () => {
    const { check, asked, messages } = checker([tenant()], {});
    check.sweep();
    await settle();
    await check.stop();
    expect(asked).toEqual(['t1']);
    expect(messages()).toEqual([]);
  });

  it.each([
    ['does not answer', () => new Promise<AccountFields | null>(() => undefined), 'no answer within 0 s'],
    ['refuses', () => Promise.reject(new Error('INVALID_SESSION_ID')), 'INVALID_SESSION_ID'],
    ['will not list', () => Promise.resolve(null), 'the CRM would not list its fields'],
  ])('a CRM that %s is logged once', async (_what, accountFields, reason) => {
    const { check, logs } = checker([tenant()], { accountFields }, 50);
    check.sweep();
    await new Promise((r) => setTimeout(r, 100));
    await check.stop();
    expect(logs.records()).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: `could not check rule fields: ${reason}`,
        tenantId: 't1',
      }),
    ]);
  });

  it('stopping ends a wait at once, without a word', async () => {
    const { check, messages } = checker(
      [tenant()],
      { accountFields: () => new Promise<AccountFields | null>(() => undefined) },
      60_000,
    );
    check.sweep();
    await new Promise((r) => setTimeout(r, 20));
    const started = Date.now();
    await check.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(messages()).toEqual([]);
  });
});
