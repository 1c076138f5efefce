// A team queue's target against the CRM account's directory, as the write would resolve it: what names
// someone there (and so is no warning), and what does not, with a did-you-mean; on HubSpot, only what its
// directory lists (owners by email, teams), never an owner id (its QUEUE owners are not listed). And a
// team's reps and their managers against the account's users, as routing and escalation resolve them; and
// so each person a rule file names (a destination's rep, an escalation rep, a sender), at the rule's line.
import { describe, expect, it } from '@jest/globals';
import type { ConnectorProfile } from '../../../connectors/connector.js';
import { HUBSPOT_PROFILE } from '../../../connectors/hubspot/profile.js';
import { SALESFORCE_PROFILE } from '../../../connectors/salesforce/profile.js';
import {
  formatDiagnostic,
  loadRuleSet,
  loadTeam,
  unknownOwnerWarnings,
  type OwnerDirectory,
} from '../../../src/rules/index.js';

const ORG: OwnerDirectory = {
  owners: [
    { id: '005000000000001AAA', email: 'ada@acme.io', active: true },
    { id: '005000000000002AAA', email: 'bo@acme.io', active: false },
  ],
  // A Lead queue by its label and its queue name; its id's last three characters are the checksum of
  // its 15-character form, as the org lists it.
  queues: { EMEA: '00G000000000001EAA', EMEA_Queue: '00G000000000001EAA' },
};
const PORTAL: OwnerDirectory = {
  owners: [{ id: '101', email: 'ada@acme.io', active: true }],
  queues: { 'EMEA Sales': '410001' },
};

/** The warnings of a team file with one queue, `triage`, landing on `target`. */
function warnings(target: string, crm: ConnectorProfile, directory: OwnerDirectory) {
  const r = loadTeam(`queues:\n  triage: ${target}\n`, 'team.yaml', { crm: { ...crm, directory } });
  if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
  return r.warnings.map((d) => [formatDiagnostic(d), d.unknownOwner]);
}

const DEAD = 'so the leads routed to queue "triage" would be dead letters';

describe('queue targets against the Salesforce org', () => {
  it.each([
    ['a queue by label', '{ owner: EMEA }'],
    ['a queue by queue name', '{ owner: EMEA_Queue }'],
    ['a queue by id', '{ owner: 00G000000000001EAA }'],
    ['a queue by its 15-character id', '{ owner: 00G000000000001 }'],
    ['a user by id', '{ owner: 005000000000001AAA }'],
    ['a user by email, in any case', '{ owner: Ada@Acme.io }'],
  ])('%s names someone', (_what, target) => {
    expect(warnings(target, SALESFORCE_PROFILE, ORG)).toEqual([]);
  });

  it.each([
    [
      'a misspelt queue name',
      '{ owner: EMEAA }',
      `team.yaml:2:20 queues.triage.owner: "EMEAA" is neither a queue of this Salesforce org (by name or id) nor a user (by email or id), ${DEAD} (did you mean "EMEA"?)`,
      'EMEAA',
    ],
    [
      'a queue name in the wrong case',
      '{ owner: emea_queue }',
      `team.yaml:2:20 queues.triage.owner: "emea_queue" is neither a queue of this Salesforce org (by name or id) nor a user (by email or id), ${DEAD} (did you mean "EMEA_Queue"?)`,
      'emea_queue',
    ],
    [
      'an id of no queue or user',
      '{ owner: 00G000000000009AAA }',
      `team.yaml:2:20 queues.triage.owner: "00G000000000009AAA" is neither a queue of this Salesforce org (by name or id) nor a user (by email or id), ${DEAD}`,
      '00G000000000009AAA',
    ],
    [
      'a misspelt email',
      '{ owner: ada@acme.oi }',
      `team.yaml:2:20 queues.triage.owner: no user of this Salesforce org has the email ada@acme.oi, ${DEAD} (did you mean "ada@acme.io"?)`,
      'ada@acme.oi',
    ],
    [
      'a deactivated user',
      '{ owner: bo@acme.io }',
      `team.yaml:2:20 queues.triage.owner: the user bo@acme.io is deactivated in this Salesforce org, ${DEAD}`,
      'bo@acme.io',
    ],
  ])('%s is a warning at its value', (_what, target, warning, owner) => {
    expect(warnings(target, SALESFORCE_PROFILE, ORG)).toEqual([[warning, owner]]);
  });

  it('without a directory nothing is checked', () => {
    const r = loadTeam('queues:\n  triage: { owner: EMEAA }\n', 'team.yaml', { crm: SALESFORCE_PROFILE });
    expect(r.warnings).toEqual([]);
  });
});

describe('queue targets against the HubSpot portal', () => {
  it.each([
    ['a team by name', "{ team: 'EMEA Sales' }"],
    ['a team by id', "{ team: '410001' }"],
    ['an owner by email', '{ owner: ada@acme.io }'],
    // A QUEUE owner's id: the portal's directory lists people only, so an id is left to HubSpot.
    ['an owner by id', '{ owner: 9990001 }'],
  ])('%s is no warning', (_what, target) => {
    expect(warnings(target, HUBSPOT_PROFILE, PORTAL)).toEqual([]);
  });

  it.each([
    [
      'a misspelt team',
      "{ team: 'EMEA Sale' }",
      `team.yaml:2:19 queues.triage.team: "EMEA Sale" is not a team of this HubSpot portal (by name or id), ${DEAD} (did you mean "EMEA Sales"?)`,
    ],
    [
      'a team written as id:',
      "{ id: '410009' }",
      `team.yaml:2:17 queues.triage.id: "410009" is not a team of this HubSpot portal (by name or id), ${DEAD}`,
    ],
    [
      'an email of no owner',
      '{ owner: nobody@example.org }',
      `team.yaml:2:20 queues.triage.owner: no user of this HubSpot portal has the email nobody@example.org, ${DEAD}`,
    ],
  ])('%s is a warning', (_what, target, warning) => {
    expect(warnings(target, HUBSPOT_PROFILE, PORTAL).map(([w]) => w)).toContain(warning);
  });
});

/** The warnings of a team file with these reps, as `[warning, name, role]`. */
function peopleWarnings(reps: string, crm: ConnectorProfile, directory: OwnerDirectory) {
  const r = loadTeam(`reps:\n${reps}`, 'team.yaml', { crm: { ...crm, directory } });
  if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
  return r.warnings.map((d) => [formatDiagnostic(d), d.unknownOwner, d.ownerRole]);
}

const SKIPPED = 'so routing skips this rep and no lead goes to them';

describe("a team's reps and managers against the CRM account's users", () => {
  it.each([
    ['an active user, in any case', '  Ada@Acme.io: { manager: ADA@acme.io }\n'],
    // Marked inactive in the file: routing skips them anyway, and they may have left the org.
    ['a rep the file marks inactive', '  gone@acme.io: { active: false }\n'],
  ])('%s is no warning', (_what, reps) => {
    expect(peopleWarnings(reps, SALESFORCE_PROFILE, ORG)).toEqual([]);
  });

  it.each([
    [
      'a misspelt rep, at its key',
      SALESFORCE_PROFILE,
      ORG,
      '  ada@acme.oi: {}\n',
      `team.yaml:2:3 reps["ada@acme.oi"]: no user of this Salesforce org has the email ada@acme.oi, ${SKIPPED} (did you mean "ada@acme.io"?)`,
      'ada@acme.oi',
      'rep',
    ],
    [
      'a deactivated rep',
      SALESFORCE_PROFILE,
      ORG,
      '  bo@acme.io: {}\n',
      `team.yaml:2:3 reps["bo@acme.io"]: the user bo@acme.io is deactivated in this Salesforce org, ${SKIPPED}`,
      'bo@acme.io',
      'rep',
    ],
    [
      'a manager of no user, at its value',
      SALESFORCE_PROFILE,
      ORG,
      '  ada@acme.io: { manager: boss@acme.io }\n',
      'team.yaml:2:27 reps["ada@acme.io"].manager: no user of this Salesforce org has the email boss@acme.io, so the leads of ada@acme.io escalated to their manager could not be escalated',
      'boss@acme.io',
      'manager',
    ],
    [
      'a deactivated manager',
      SALESFORCE_PROFILE,
      ORG,
      '  ada@acme.io: { manager: bo@acme.io }\n',
      'team.yaml:2:27 reps["ada@acme.io"].manager: the user bo@acme.io is deactivated in this Salesforce org, so the leads of ada@acme.io escalated to their manager could not be escalated',
      'bo@acme.io',
      'manager',
    ],
    [
      'a rep who is no owner of the HubSpot portal',
      HUBSPOT_PROFILE,
      PORTAL,
      '  ada@acme.co: {}\n',
      `team.yaml:2:3 reps["ada@acme.co"]: no user of this HubSpot portal has the email ada@acme.co, ${SKIPPED} (did you mean "ada@acme.io"?)`,
      'ada@acme.co',
      'rep',
    ],
  ])('%s is a warning', (_what, crm, directory, reps, warning, name, role) => {
    expect(peopleWarnings(reps, crm, directory)).toEqual([[warning, name, role]]);
  });

  it('without a directory nothing is checked', () => {
    const r = loadTeam('reps:\n  ada@acme.oi: {}\n', 'team.yaml', { crm: SALESFORCE_PROFILE });
    expect(r.warnings).toEqual([]);
  });
});

/**
 * Rules (file `rules.yaml`) with a pool `desk` of Ada and then `body`, loaded against the org without a
 * team, or with `team`; their warnings as `[warning, name, role]`.
 */
function ruleWarnings(body: string, team = '') {
  const source = `pools:\n  desk: { members: [ada@acme.io], fallback: none }\n${body}${team}`;
  const r = loadRuleSet(source, 'rules.yaml', { crm: { ...SALESFORCE_PROFILE, directory: ORG } });
  if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
  return r.warnings.map((d) => [formatDiagnostic(d), d.unknownOwner, d.ownerRole]);
}

const ROUTED = "so routing skips this rep and the leads sent to them go to the rule set's fallback";
const ESCALATED = 'so the untouched leads escalated to them could not be escalated';

describe("the people a rule file names against the CRM account's users, at the rule's line", () => {
  it.each([
    ['a destination rep, in any case', 'routes:\n  - assign: { rep: Ada@Acme.io }\nfallback: none\n'],
    [
      'an escalation rep',
      'routes:\n  - assign: { pool: desk }\n    sla: { first_touch: 1h, on_breach: { escalate: { rep: ada@acme.io } } }\nfallback: none\n',
    ],
    [
      'a sender',
      'routes:\n  - assign: none\n    sequence: { name: nurture, sender: ada@acme.io }\nfallback: none\n',
    ],
    ['a pool member', 'routes:\n  - assign: { pool: desk }\nfallback: none\n'],
  ])('%s who is an active user is no warning', (_what, body) => {
    expect(ruleWarnings(body)).toEqual([]);
  });

  it.each([
    [
      "a misspelt route's rep",
      'routes:\n  - assign: { rep: ada@acme.oi }\nfallback: none\n',
      `rules.yaml:4:20 routes[0].assign.rep: no user of this Salesforce org has the email ada@acme.oi, ${ROUTED} (did you mean "ada@acme.io"?)`,
      'ada@acme.oi',
      'destination rep',
    ],
    [
      "a rep in an account owner's fallback",
      'routes:\n  - assign: { account_owner: { fallback: { rep: ada@acme.oi } } }\nfallback: none\n',
      `rules.yaml:4:49 routes[0].assign.account_owner.fallback.rep: no user of this Salesforce org has the email ada@acme.oi, ${ROUTED} (did you mean "ada@acme.io"?)`,
      'ada@acme.oi',
      'destination rep',
    ],
    [
      "a rep in a hold's timeout destination",
      'routes:\n  - assign: { hold: { fields: [country], timeout: 1h, then: { rep: bo@acme.io } } }\nfallback: none\n',
      `rules.yaml:4:68 routes[0].assign.hold.then.rep: the user bo@acme.io is deactivated in this Salesforce org, ${ROUTED}`,
      'bo@acme.io',
      'destination rep',
    ],
    [
      "the rule set's fallback rep, deactivated",
      'routes:\n  - assign: { pool: desk }\nfallback: { rep: bo@acme.io }\n',
      'rules.yaml:5:18 fallback.rep: the user bo@acme.io is deactivated in this Salesforce org, so routing skips this rep and the leads that fall back to them are left unowned',
      'bo@acme.io',
      'destination rep',
    ],
    [
      'a deactivated escalation rep',
      'routes:\n  - assign: { pool: desk }\n    sla: { first_touch: 1h, on_breach: { escalate: { rep: bo@acme.io } } }\nfallback: none\n',
      `rules.yaml:5:59 routes[0].sla.on_breach.escalate.rep: the user bo@acme.io is deactivated in this Salesforce org, ${ESCALATED}`,
      'bo@acme.io',
      'escalation rep',
    ],
    [
      "an SLA step's misspelt escalation rep",
      'routes:\n  - assign: { pool: desk }\n    sla: { first_touch: 1h, steps: [{ after: 2h, escalate: { rep: ada@acme.oi } }] }\nfallback: none\n',
      `rules.yaml:5:67 routes[0].sla.steps[0].escalate.rep: no user of this Salesforce org has the email ada@acme.oi, ${ESCALATED} (did you mean "ada@acme.io"?)`,
      'ada@acme.oi',
      'escalation rep',
    ],
    [
      'a misspelt sender of the sequence for leads no one owns',
      'routes:\n  - assign: none\n    sequence: { name: nurture, sender: ada@acme.oi }\nfallback: none\n',
      'rules.yaml:5:40 routes[0].sequence.sender: no user of this Salesforce org has the email ada@acme.oi, so the sequence enrollments sent as them would fail (did you mean "ada@acme.io"?)',
      'ada@acme.oi',
      'sequence sender',
    ],
    [
      "a deactivated sender of the fallback's sequence",
      'routes:\n  - assign: { pool: desk }\nfallback: none\nfallback_actions: { sequence: { name: nurture, sender: bo@acme.io } }\n',
      'rules.yaml:6:56 fallback_actions.sequence.sender: the user bo@acme.io is deactivated in this Salesforce org, so the sequence enrollments sent as them would fail',
      'bo@acme.io',
      'sequence sender',
    ],
  ])('%s is a warning at its line', (_what, body, warning, name, role) => {
    expect(ruleWarnings(body)).toEqual([[warning, name, role]]);
  });

  it("a pool member is warned of where no team lists them; where one does, it is the team's rep to warn of", () => {
    const body = 'routes:\n  - assign: { pool: more }\nfallback: none\n';
    const more = '  more: { members: [ada@acme.io, bo@acme.io] }\n';
    expect(ruleWarnings(more + body)).toEqual([
      [
        'rules.yaml:3:34 pools.more.members[1]: the user bo@acme.io is deactivated in this Salesforce org, so routing skips this rep and no lead of pool "more" goes to them',
        'bo@acme.io',
        'pool member',
      ],
    ]);
    const team = 'team:\n  reps:\n    ada@acme.io: {}\n    bo@acme.io: {}\n';
    expect(ruleWarnings(more + body, team).map(([, name, role]) => [name, role])).toEqual([
      ['bo@acme.io', 'rep'],
    ]);
  });

  it("a destination rep the team marks inactive is a warning at the rule's line, with or without the org: routing skips them", () => {
    const body = 'routes:\n  - assign: { rep: bo@acme.io }\nfallback: { rep: bo@acme.io }\n';
    const team = 'team:\n  reps:\n    ada@acme.io: {}\n    bo@acme.io: { active: false }\n';
    const inactive =
      'the team marks bo@acme.io inactive (active: false), so routing skips this rep and the leads';
    const expected = [
      [`rules.yaml:4:20 routes[0].assign.rep: ${inactive} sent to them go to the rule set's fallback`],
      [`rules.yaml:5:18 fallback.rep: ${inactive} that fall back to them are left unowned`],
    ];
    // Not a person the org lacks (the org is not asked of them), so neither name nor role is given.
    expect(ruleWarnings(body, team)).toEqual(expected.map(([w]) => [w, undefined, undefined]));
    const withoutOrg = loadRuleSet(
      `pools:\n  desk: { members: [ada@acme.io], fallback: none }\n${body}${team}`,
      'rules.yaml',
    );
    expect(withoutOrg.warnings.map((d) => [formatDiagnostic(d)])).toEqual(expected);
  });

  it('an escalation rep or a sender the team marks inactive is no warning: escalations and enrollments go by the org alone', () => {
    const body =
      'routes:\n  - assign: { pool: desk }\n    sequence: { name: nurture, sender: ada@acme.io }\n    sla: { first_touch: 1h, on_breach: { escalate: { rep: ada@acme.io } } }\nfallback: none\n';
    expect(ruleWarnings(body, 'team:\n  reps:\n    ada@acme.io: { active: false }\n')).toEqual([]);
  });

  it("a person the team and its rules both name is warned of once, at the team's line, saying where the rules name them", () => {
    const body =
      'routes:\n  - assign: { rep: ada@acme.oi }\n    sla: { first_touch: 1h, on_breach: { escalate: { rep: Ada@acme.oi } } }\nfallback: none\n';
    expect(ruleWarnings(body, 'team:\n  reps:\n    ada@acme.io: {}\n    ada@acme.oi: {}\n')).toEqual([
      [
        `rules.yaml:10:5 team.reps["ada@acme.oi"]: no user of this Salesforce org has the email ada@acme.oi, so routing skips this rep and no lead goes to them; the rules name them too, as destination rep at line 4:20, as escalation rep at line 5:59 (did you mean "ada@acme.io"?)`,
        'ada@acme.oi',
        'rep',
      ],
    ]);
  });

  it('so is one a team file and the rules name, with the rule file named', () => {
    const teamSource = 'reps:\n  ada@acme.io: {}\n  ada@acme.oi: {}\n';
    const team = loadTeam(teamSource, 'team.yaml');
    if (!team.ok) throw new Error('the team has errors');
    const rules = (extra: string) =>
      `routes:\n${extra}  - assign: { rep: ada@acme.oi }\nfallback: { rep: ada@acme.oi }\n`;
    const warnings = (source: string) =>
      unknownOwnerWarnings(
        {
          team: { path: 'team.yaml', source: teamSource },
          rules: { path: 'rules.yaml', source, team: team.team },
        },
        { ...SALESFORCE_PROFILE, directory: ORG },
      ).map(formatDiagnostic);
    const noUser =
      'no user of this Salesforce org has the email ada@acme.oi, so routing skips this rep and no lead goes to them';
    expect(warnings(rules(''))).toEqual([
      `team.yaml:3:3 reps["ada@acme.oi"]: ${noUser}; the rules name them too, as destination rep at rules.yaml:2:20, as destination rep at rules.yaml:3:18 (did you mean "ada@acme.io"?)`,
    ]);
    // Past three mentions, the rest are counted.
    const more = '  - { when: { country: DE }, assign: { rep: ada@acme.oi } }\n'.repeat(3);
    expect(warnings(rules(more))).toEqual([
      expect.stringMatching(/as destination rep at rules\.yaml:4:45 and 2 more \(did you mean/),
    ]);
  });

  it('without a directory nothing is checked', () => {
    const r = loadRuleSet('routes:\n  - assign: { rep: ada@acme.oi }\nfallback: none\n', 'rules.yaml', {
      crm: SALESFORCE_PROFILE,
    });
    expect(r.warnings).toEqual([]);
  });
});
