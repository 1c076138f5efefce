import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { HUBSPOT_PROFILE } from '../../../connectors/hubspot/profile.js';
import { SALESFORCE_PROFILE } from '../../../connectors/salesforce/profile.js';
import type { Team } from '../../../src/core/types.js';
import {
  formatDiagnostic,
  loadRuleSet,
  loadTeam,
  ruleSetVersion,
  type CrmFacts,
} from '../../../src/rules/index.js';
import { loadRuleSetFile, loadRulesWithTeam, loadTeamFile } from '../../../src/rules/load-file.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/rules/', import.meta.url));
const SAAS = `${FIXTURES}saas-inbound.yaml`;

function errorsOf(src: string, team?: Team): string[] {
  const r = loadRuleSet(src, 'rules/x.yaml', team ? { team } : {});
  if (r.ok) throw new Error('expected errors');
  return r.errors.map(formatDiagnostic);
}
function warningsOf(src: string, crm?: CrmFacts): string[] {
  const r = loadRuleSet(src, 'rules/x.yaml', { crm });
  if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
  return r.warnings.map(formatDiagnostic);
}

describe('the example rule file', () => {
  const source = readFileSync(SAAS, 'utf8');
  const r = loadRuleSet(source, 'rules/saas-inbound.yaml');
  if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
  const rs = r.ruleSet;

  it('has name, version and fallback', () => {
    expect(rs.name).toBe('SaaS inbound');
    expect(rs.version).toMatch(/^[0-9a-f]{12}$/);
    expect(rs.version).toBe(ruleSetVersion(source));
    expect(ruleSetVersion(`${source} `)).not.toBe(rs.version);
    expect(rs.fallback).toEqual({ kind: 'queue', name: 'inbound-triage' });
    expect(rs.fallbackActions).toEqual({ note: false });
  });

  it('reads every territory form', () => {
    expect(rs.territories['dach']?.clauses).toEqual([{ country: ['DE', 'AT', 'CH'] }]);
    expect(rs.territories['us-west']?.clauses).toEqual([{ country: ['US'], state: ['CA', 'OR', 'WA'] }]);
    expect(rs.territories['uk-london']?.clauses).toEqual([
      { country: ['GB'], postalPrefix: ['EC', 'WC', 'E1'] },
    ]);
    expect(rs.territories['us-range']?.clauses).toEqual([
      { country: ['US'], postalRange: [{ from: '90000', to: '96199' }] },
    ]);
    expect(rs.territories['multi']?.clauses).toEqual([
      { country: ['FR'] },
      { country: ['BE'], city: ['Brussels'] },
    ]);
  });

  it('reads pools with lower-cased members', () => {
    expect(rs.pools['emea-ae']).toEqual({
      name: 'emea-ae',
      members: ['ada@acme.io', 'bo@acme.io'],
      strategy: 'weighted',
      respectHours: true,
      fallback: { kind: 'queue', name: 'emea-triage' },
    });
  });

  it('reads routes in order with defaults', () => {
    expect(rs.routes.map((x) => [x.index, x.name, x.assign.kind])).toEqual([
      [0, 'Existing customer goes to its account owner', 'account_owner'],
      [1, 'Enterprise demo requests in DACH', 'pool'],
      [2, 'Students and tiny companies get the nurture sequence, no rep', 'none'],
      [3, 'Needs enrichment', 'hold'],
    ]);
  });

  it('reads the inline team', () => {
    expect(rs.team?.reps['ada@acme.io']).toEqual({
      email: 'ada@acme.io',
      name: 'Ada Lovelace',
      timezone: 'Europe/Berlin',
      hours: [{ days: [1, 2, 3, 4, 5], start: 540, end: 1050 }],
      outOfOffice: [],
      weight: 2,
      caps: { perDay: 25 },
      active: true,
    });
    expect(rs.team?.reps['bo@acme.io']?.outOfOffice).toEqual([{ from: '2026-12-23', to: '2027-01-02' }]);
    expect(rs.team?.queues).toEqual({
      'emea-triage': { name: 'emea-triage', target: { kind: 'team', team: 'EMEA' } },
      'inbound-triage': { name: 'inbound-triage', target: { kind: 'team', team: '7' } },
    });
  });

  it('warns about the overlapping US territories only', () => {
    expect(r.warnings.map(formatDiagnostic)).toEqual([
      'rules/saas-inbound.yaml:6:3 territories.us-range: territories "us-west" and "us-range" overlap: both can match country US; the first route that names one wins',
    ]);
  });
});

const OK_TAIL = 'fallback: { queue: triage }\n';

describe('errors, one per kind, exactly as printed', () => {
  it.each<[string, string, string[]]>([
    [
      'YAML syntax',
      'routes: [\n  - a\n',
      [
        'rules/x.yaml:2:3 YAML: Block collections are not allowed within flow collections',
        'rules/x.yaml:3:1 YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
      ],
    ],
    [
      'duplicate YAML key',
      `routes: []\nroutes: []\n${OK_TAIL}`,
      ['rules/x.yaml:2:1 routes: duplicate key: each key may appear only once in a mapping'],
    ],
    [
      'not a mapping',
      '- a\n- b\n',
      ['rules/x.yaml:1:1 a rule file must be a YAML mapping, e.g. "routes: …" and "fallback: …"'],
    ],
    [
      'empty file',
      '',
      ['rules/x.yaml:1:1 a rule file must be a YAML mapping, e.g. "routes: …" and "fallback: …"'],
    ],
    ['missing required key', 'routes: []\n', ['rules/x.yaml:1:1 fallback: missing required key "fallback"']],
    [
      'unknown top-level key',
      `routes: []\n${OK_TAIL}teritories: {}\n`,
      [
        'rules/x.yaml:3:1 teritories: unknown key "teritories" (allowed: name, description, territories, pools, routes, fallback, fallback_actions, touch, notifications, team) (did you mean "territories"?)',
      ],
    ],
    [
      'unknown pool',
      `pools:\n  emea-ae: { members: [a@x.io] }\nroutes:\n  - name: r\n    assign: { pool: emea-aee }\n${OK_TAIL}`,
      ['rules/x.yaml:5:21 routes[0].assign.pool: unknown pool "emea-aee" (did you mean "emea-ae"?)'],
    ],
    [
      'unknown territory deep in a condition',
      `territories:\n  dach: { country: DE }\nroutes:\n  - name: r\n    when: { all: [ { country: DE }, { territory: dahc } ] }\n    assign: none\n${OK_TAIL}`,
      ['rules/x.yaml:5:50 routes[0].when.all[1].territory: unknown territory "dahc" (did you mean "dach"?)'],
    ],
    [
      'unknown operator',
      `routes:\n  - name: r\n    when: { employees: { gtee: 5 } }\n    assign: none\n${OK_TAIL}`,
      [
        'rules/x.yaml:3:26 routes[0].when.employees.gtee: unknown operator "gtee" (allowed: eq, neq, in, not_in, contains, starts_with, ends_with, regex, gt, gte, lt, lte, between, exists, missing, case_sensitive) (did you mean "gte"?)',
      ],
    ],
    [
      'operator of the wrong type',
      `routes:\n  - name: r\n    when: { all: [ {}, {}, { employees: { gte: lots } } ] }\n    assign: none\n${OK_TAIL}`,
      ['rules/x.yaml:3:48 routes[0].when.all[2].employees.gte: "gte" takes a number, got "lots"'],
    ],
    [
      'invalid regex',
      `routes:\n  - name: r\n    when: { title: { regex: "(?<=a)b" } }\n    assign: none\n${OK_TAIL}`,
      [
        'rules/x.yaml:3:29 routes[0].when.title.regex: invalid regex: error parsing regexp: invalid named capture: `(?<=a)b`',
      ],
    ],
    [
      'unknown destination word',
      `routes:\n  - name: r\n    assign: acount_owner\n${OK_TAIL}`,
      [
        'rules/x.yaml:3:13 routes[0].assign: unknown destination "acount_owner"; write account_owner, existing_owner, none, or { rep | pool | queue | account_owner | existing_owner | hold: … } (did you mean "account_owner"?)',
      ],
    ],
    [
      'misspelt enum value',
      `pools:\n  p: { members: [a@x.io], strategy: round-robin }\nroutes: []\n${OK_TAIL}`,
      [
        'rules/x.yaml:2:37 pools.p.strategy: must be one of round_robin, weighted, least_loaded, got "round-robin" (did you mean "round_robin"?)',
      ],
    ],
    [
      'duration without unit',
      `routes:\n  - name: r\n    assign: none\n    sla: { first_touch: 600 }\n${OK_TAIL}`,
      [
        'rules/x.yaml:4:25 routes[0].sla.first_touch: a duration needs a unit (90s, 15m, 2h, 1d, 1w), got number 600 (did you mean "600s"?)',
      ],
    ],
    [
      'unknown queue when the team lists queues',
      `routes: []\nfallback: { queue: triag }\nteam: { queues: { triage: { team: Triage } } }\n`,
      [
        'rules/x.yaml:2:20 fallback.queue: queue "triag" has no CRM target: list it under the team\'s queues: triag: { owner: email or owner id } or { team: team id or name } (did you mean "triage"?)',
      ],
    ],
    [
      'unknown rep in a pool (inline team)',
      `pools:\n  p: { members: [ada@acme.io, adda@acme.io] }\nroutes: []\n${OK_TAIL}team: { reps: { ada@acme.io: {} }, queues: { triage: { team: T } } }\n`,
      [
        'rules/x.yaml:2:31 pools.p.members[1]: unknown rep "adda@acme.io" (not in the team: misspelt here, or in the team) (did you mean "ada@acme.io"?)',
      ],
    ],
    [
      'hold as a fallback',
      `routes: []\nfallback: { hold: { fields: [country], timeout: 1h } }\n`,
      ['rules/x.yaml:2:13 fallback.hold: a hold can only be a route\'s "assign", not a fallback'],
    ],
    [
      'rule set fallback that defers to itself',
      `routes: []\nfallback: account_owner\n`,
      [
        'rules/x.yaml:2:11 fallback: the rule set\'s fallback "account_owner" needs its own fallback: { account_owner: { fallback: { queue: … } } }',
      ],
    ],
    [
      'pool fallback cycle',
      `pools:\n  a: { members: [x@y.io], fallback: { pool: b } }\n  b: { members: [x@y.io], fallback: { pool: a } }\nroutes: []\n${OK_TAIL}`,
      ['rules/x.yaml:2:37 pools.a.fallback: pool fallbacks form a cycle: a → b → a'],
    ],
    [
      'duplicate route names',
      `routes:\n  - { name: r, assign: none }\n  - { name: r, assign: none }\n${OK_TAIL}`,
      ['rules/x.yaml:3:13 routes[1].name: route name "r" is already used by routes[0]'],
    ],
    [
      'bad time zone and hours in the inline team',
      `routes: []\n${OK_TAIL}team:\n  queues: { triage: { team: T } }\n  reps:\n    a@x.io: { timezone: Mars/Olympus, hours: "Mon-Fri 9-5" }\n`,
      [
        'rules/x.yaml:6:25 team.reps["a@x.io"].timezone: unknown time zone; use an IANA name such as Europe/Berlin',
        'rules/x.yaml:6:46 team.reps["a@x.io"].hours: invalid time range "9-5" in "Mon-Fri 9-5": write e.g. 09:00-17:30',
      ],
    ],
    [
      'unknown country',
      `territories:\n  t: { country: [DE, XY] }\nroutes: []\n${OK_TAIL}`,
      [
        'rules/x.yaml:2:22 territories.t.country[1]: unknown country "XY"; use ISO 3166-1 codes such as DE, US, GB',
      ],
    ],
  ])('%s', (_kind, src, expected) => {
    expect(errorsOf(src)).toEqual(expected);
  });

  it('reports every error at once, in file order', () => {
    const errors = errorsOf(
      `pools:\n  p: { members: [a@x.io], stratgy: weighted }\nroutes:\n  - name: r\n    when: { territory: nope }\n    assign: { pool: q }\n`,
    );
    expect(errors).toEqual([
      'rules/x.yaml:1:1 fallback: missing required key "fallback"',
      'rules/x.yaml:2:27 pools.p.stratgy: unknown key "stratgy" (allowed: members, strategy, window, respect_hours, fallback, notify) (did you mean "strategy"?)',
      'rules/x.yaml:5:24 routes[0].when.territory: unknown territory "nope"',
      'rules/x.yaml:6:21 routes[0].assign.pool: unknown pool "q"',
    ]);
  });

  it('checks reps against a separate team when the file has none, and skips them without any team', () => {
    const src = `routes:\n  - name: r\n    assign: { rep: eve@acme.io }\n${OK_TAIL}`;
    const team: Team = {
      reps: {},
      queues: { triage: { name: 'triage', target: { kind: 'team', team: 'T' } } },
    };
    expect(errorsOf(src, team)).toEqual([
      'rules/x.yaml:3:20 routes[0].assign.rep: unknown rep "eve@acme.io"',
    ]);
    expect(loadRuleSet(src, 'rules/x.yaml').ok).toBe(true);
  });
});

it('normalizes country names and alpha-3 codes to alpha-2', () => {
  const r = loadRuleSet(
    `territories:\n  t: { country: [Germany, USA, UK, deu, fr] }\nroutes: []\n${OK_TAIL}`,
    'x.yaml',
  );
  expect(r.ok && r.ruleSet.territories['t']?.clauses).toEqual([{ country: ['DE', 'US', 'GB', 'DE', 'FR'] }]);
});

it('keeps leading zeros of postal codes written as plain numbers', () => {
  const r = loadRuleSet(
    `territories:\n  t: { country: DE, postal_code: [01067, 80331] }\nroutes: []\n${OK_TAIL}`,
    'x.yaml',
  );
  expect(r.ok && r.ruleSet.territories['t']?.clauses).toEqual([
    { country: ['DE'], postalPrefix: ['01067', '80331'] },
  ]);
});

describe('indentation mistakes, at the line to fix, in plain words', () => {
  it.each<[string, string, string]>([
    [
      'a key one space too far',
      `routes: []\npools:\n  a: { members: [x] }\n   b: { members: [y] }\n${OK_TAIL}`,
      'rules/x.yaml:4:4 YAML: "b" is indented 3 spaces but the keys around it 2: line them up',
    ],
    [
      'a key one space too little',
      `routes: []\npools:\n  a: { members: [x] }\n b: { members: [y] }\n${OK_TAIL}`,
      'rules/x.yaml:4:2 YAML: "b" is indented 1 space but the keys around it 2: line them up',
    ],
    [
      'a top-level key indented under a list',
      'routes:\n  - name: A\n    assign: { queue: q }\n fallback: { queue: triage }\n',
      'rules/x.yaml:4:2 YAML: "fallback" is indented 1 space but the keys around it 0: line them up',
    ],
    [
      'a key that the line above it cannot hold',
      'name: x\n pools:\n  a: { members: [x] }\n',
      'rules/x.yaml:2:2 YAML: "pools" is indented 1 space but the keys around it 0: line them up',
    ],
    [
      "a list item's key too far",
      `routes:\n  - name: A\n     assign: { queue: q }\n${OK_TAIL}`,
      'rules/x.yaml:3:6 YAML: "assign" is indented 5 spaces but the keys around it 4: line them up',
    ],
    [
      "a list item's key too little",
      `routes:\n  - name: A\n   assign: { queue: q }\n${OK_TAIL}`,
      'rules/x.yaml:3:4 YAML: "assign" is indented 3 spaces but the keys around it 4: line them up',
    ],
    [
      'a list dash too far',
      `routes:\n  - name: A\n   - name: B\n${OK_TAIL}`,
      'rules/x.yaml:3:4 YAML: this list item is indented 3 spaces but the list items around it 2: line them up',
    ],
    [
      'a list dash too little',
      `routes:\n  - name: A\n - name: B\n${OK_TAIL}`,
      'rules/x.yaml:3:2 YAML: this list item is indented 1 space but the list items around it 2: line them up',
    ],
    [
      'a tab',
      `routes: []\npools:\n  a:\n\tmembers: [x]\n${OK_TAIL}`,
      'rules/x.yaml:4:1 YAML: "members" is indented with a tab, and YAML indents with spaces only: replace the tab with spaces',
    ],
    [
      'a misaligned key after text that is only indented like one',
      `description: |\n  Routes:\n     fallback: first\npools:\n  a: { members: [x] }\n   b: { members: [y] }\nroutes: []\n${OK_TAIL}`,
      'rules/x.yaml:6:4 YAML: "b" is indented 3 spaces but the keys around it 2: line them up',
    ],
  ])('%s', (_, src, printed) => {
    expect(errorsOf(src)).toEqual([printed]);
  });

  it('in a team file too', () => {
    const r = loadTeam('reps:\n  ada@acme.io: {}\n   bo@acme.io: {}\n', 'team.yaml');
    expect(r.ok ? [] : r.errors.map(formatDiagnostic)).toEqual([
      'team.yaml:3:4 YAML: "bo@acme.io" is indented 3 spaces but the keys around it 2: line them up',
    ]);
  });
});

describe('warnings', () => {
  it.each<[string, string, string[]]>([
    [
      'territories sharing a country with no narrower key',
      'territories:\n  a: { country: [DE, AT] }\n  b: { country: AT, state: [W] }\n  c: { country: FR }\n',
      [
        'rules/x.yaml:3:3 territories.b: territories "a" and "b" overlap: both can match country AT; the first route that names one wins',
      ],
    ],
    [
      'disjoint postal prefixes do not overlap',
      'territories:\n  a: { country: GB, postal_code: [EC] }\n  b: { country: GB, postal_code: { prefix: [WC] } }\n',
      [],
    ],
    [
      'a postal prefix inside a postal range overlaps',
      'territories:\n  a: { country: US, postal_code: { range: [{ from: "90000", to: "96199" }] } }\n  b: { country: US, postal_code: "941" }\n',
      [
        'rules/x.yaml:3:3 territories.b: territories "a" and "b" overlap: both can match country US; the first route that names one wins',
      ],
    ],
  ])('%s', (_kind, territories, expected) => {
    expect(warningsOf(`${territories}routes: []\n${OK_TAIL}`)).toEqual(expected);
  });

  it('flags routes after a catch-all, but not after a hold', () => {
    const src = `routes:
  - { name: enrich, assign: { hold: { fields: [country], timeout: 1h } } }
  - { name: all, assign: none }
  - { name: late, when: { country: DE }, assign: none }
${OK_TAIL}`;
    expect(warningsOf(src)).toEqual([
      'rules/x.yaml:4:5 routes[2]: route "late" is unreachable: routes[1] "all" always matches',
    ]);
  });

  it('flags pool members with weight 0', () => {
    const src = `pools:\n  p: { members: [a@x.io, b@x.io], strategy: weighted }\nroutes: []\n${OK_TAIL}team:\n  queues: { triage: { team: T } }\n  reps: { a@x.io: {}, b@x.io: { weight: 0 } }\n`;
    expect(warningsOf(src)).toEqual([
      'rules/x.yaml:2:26 pools.p.members[1]: member "b@x.io" has weight 0 and will never be chosen by weight',
    ]);
  });

  it('flags a field name that looks like a misspelt known key', () => {
    const src = `routes:\n  - { name: r, when: { territroy: dach }, assign: none }\n${OK_TAIL}`;
    expect(warningsOf(src)).toEqual([
      'rules/x.yaml:2:24 routes[0].when.territroy: "territroy" is not a known lead field; it is read as a CRM field (did you mean "territory"?)',
    ]);
  });

  describe('fields, against the CRM the rules route for', () => {
    const when = (condition: string): string =>
      `routes:\n  - { name: r, when: ${condition}, assign: none }\n${OK_TAIL}`;

    it('a Salesforce custom field is read by its name: no "did you mean" a field Salesforce does not map', () => {
      const src = when('{ Demo_Requested__c: true }');
      expect(warningsOf(src, SALESFORCE_PROFILE)).toEqual([]);
      // Whatever the CRM: a name marked as a CRM's own is never taken for a misspelt lead field.
      expect(warningsOf(src)).toEqual([]);
      // HubSpot reads demo_requested (its custom property of that name), so it is the likely meaning there.
      expect(warningsOf(src, HUBSPOT_PROFILE)).toEqual([
        'rules/x.yaml:2:24 routes[0].when.Demo_Requested__c: "Demo_Requested__c" is not a known lead field; it is read as a CRM field (did you mean "demo_requested"?)',
      ]);
    });

    it('a lead field Salesforce has no field for is flagged there, not on HubSpot', () => {
      const src = when('{ demo_requested: true }');
      expect(warningsOf(src, SALESFORCE_PROFILE)).toEqual([
        'rules/x.yaml:2:24 routes[0].when.demo_requested: "demo_requested" has no Salesforce field behind it, so it never has a value there: name the Salesforce field itself (custom fields end in "__c")',
      ]);
      expect(warningsOf(src, HUBSPOT_PROFILE)).toEqual([]);
      expect(warningsOf(src)).toEqual([]);
    });

    it('suggests only fields the CRM reads, and says when a name cannot be one of its fields', () => {
      const src = when('{ demo_requestd: true, titel: CTO }');
      expect(warningsOf(src, SALESFORCE_PROFILE)).toEqual([
        // No Salesforce field is spelt with an underscore unless custom: this one is none of its fields.
        'rules/x.yaml:2:24 routes[0].when.demo_requestd: "demo_requestd" is no Salesforce field, so it never has a value there: Salesforce\'s fields are named with letters and digits, such as NumberOfEmployees, custom ones end in "__c"',
        'rules/x.yaml:2:45 routes[0].when.titel: "titel" is not a known lead field; it is read as a CRM field (did you mean "title"?)',
      ]);
      expect(warningsOf(src)).toEqual([
        'rules/x.yaml:2:24 routes[0].when.demo_requestd: "demo_requestd" is not a known lead field; it is read as a CRM field (did you mean "demo_requested"?)',
        'rules/x.yaml:2:45 routes[0].when.titel: "titel" is not a known lead field; it is read as a CRM field (did you mean "title"?)',
      ]);
    });

    it("a task's placeholders are checked as fields: a misspelt one would leave a hole in every task", () => {
      const src = `routes:\n  - name: r\n    assign: none\n    task: { subject: 'Call {{first_name}} at {{compnay}} ({{Company}})', body: '{{ownr}}: {{demo_requested}} {{Rating}}' }\n${OK_TAIL}`;
      expect(warningsOf(src, SALESFORCE_PROFILE)).toEqual([
        'rules/x.yaml:4:13 routes[0].task.subject: "compnay" is not a known lead field; it is read as a CRM field (did you mean "company"?)',
        'rules/x.yaml:4:74 routes[0].task.body: "ownr" is not a known lead field; it is read as a CRM field (did you mean "owner"?)',
        'rules/x.yaml:4:74 routes[0].task.body: "demo_requested" has no Salesforce field behind it, so it never has a value there: name the Salesforce field itself (custom fields end in "__c")',
      ]);
      // The decision's own placeholders and a lead field in any case are known everywhere.
      const ok = `routes:\n  - name: r\n    assign: none\n    task: { subject: '{{Company}} for {{owner}} by {{route}}', body: '{{reason}}' }\n${OK_TAIL}`;
      expect(warningsOf(ok, SALESFORCE_PROFILE)).toEqual([]);
      expect(warningsOf(ok)).toEqual([]);
    });

    it("with the account's own fields known, a name is checked against them (any case), with a did-you-mean", () => {
      const names = ['FirstName', 'Company', 'NumberOfEmployees', 'Rating', 'Demo_Requested__c'];
      const account = {
        ...SALESFORCE_PROFILE,
        accountFields: {
          objects: 'Lead',
          names: new Map(names.map((n) => [n.toLowerCase(), n])),
          multiValued: new Set<string>(),
        },
      };
      const src = `routes:\n  - name: r\n    when: { demo_requested__C: true, rating: Hot, numemployees: { gte: 5 }, Demo_Request__c: true }\n    assign: { hold: { fields: [compnay, Company], timeout: 1h, then: none } }\n    task: { subject: '{{first_name}} {{Ratings}}' }\n${OK_TAIL}`;
      expect(warningsOf(src, account)).toEqual([
        // Letters only, so spelt like a Salesforce field: only the account's list tells it is none; the
        // lead field the org does have is the near miss.
        'rules/x.yaml:3:51 routes[0].when.numemployees: "numemployees" is not a field of this Salesforce org\'s Lead, so it never has a value there (did you mean "employees"?)',
        'rules/x.yaml:3:77 routes[0].when.Demo_Request__c: "Demo_Request__c" is not a field of this Salesforce org\'s Lead, so it never has a value there (did you mean "Demo_Requested__c"?)',
        'rules/x.yaml:4:32 routes[0].assign.hold.fields[0]: "compnay" is not a field of this Salesforce org\'s Lead, so it never has a value there (did you mean "Company"?)',
        'rules/x.yaml:5:13 routes[0].task.subject: "Ratings" is not a field of this Salesforce org\'s Lead, so it never has a value there (did you mean "Rating"?)',
      ]);
      // The profile alone cannot tell that the first two are no fields of this account.
      expect(warningsOf(src, SALESFORCE_PROFILE).join('\n')).not.toMatch(/Demo_Request__c|is no field/);
    });

    it("with a HubSpot portal's properties known, a misspelt lead field still gets its did-you-mean", () => {
      const names = ['firstname', 'company', 'numemployees', 'country', 'demo_requested'];
      const portal = {
        ...HUBSPOT_PROFILE,
        accountFields: {
          objects: 'contacts',
          names: new Map(names.map((n) => [n, n])),
          multiValued: new Set<string>(),
        },
      };
      const src = `routes:\n  - name: r\n    when: { employes: { gte: 5 }, demo_requsted: true }\n    assign: none\n${OK_TAIL}`;
      expect(warningsOf(src, portal)).toEqual([
        'rules/x.yaml:3:13 routes[0].when.employes: "employes" is not a field of this HubSpot portal\'s contacts, so it never has a value there (did you mean "employees"?)',
        'rules/x.yaml:3:35 routes[0].when.demo_requsted: "demo_requsted" is not a field of this HubSpot portal\'s contacts, so it never has a value there (did you mean "demo_requested"?)',
      ]);
    });

    it('a comparison that never matches a multi-valued field is a warning at its operator, with what to write', () => {
      const account = (profile: typeof SALESFORCE_PROFILE, name: string): CrmFacts => ({
        ...profile,
        accountFields: {
          objects: 'contacts',
          names: new Map([[name.toLowerCase(), name]]),
          multiValued: new Set([name.toLowerCase()]),
        },
      });
      const sf = account(SALESFORCE_PROFILE, 'Interests__c');
      const when = (w: string) => `routes:\n  - name: r\n    when: ${w}\n    assign: none\n${OK_TAIL}`;
      const each =
        '"Interests__c" is a multi-select in this Salesforce org: each of its values is compared on its own';
      expect(warningsOf(when('{ Interests__c: "A;B" }'), sf)).toEqual([
        `rules/x.yaml:3:13 routes[0].when.Interests__c: ${each}, so "A;B" never matches; use in: [A, B]`,
      ]);
      expect(warningsOf(when('{ interests__c: { in: [C, "A; B"] } }'), sf)).toEqual([
        `rules/x.yaml:3:29 routes[0].when.interests__c.in: ${each.replace('"Interests__c"', '"interests__c"')}, so "A; B" never matches; use in: [C, A, B]`,
      ]);
      expect(warningsOf(when('{ Interests__c: { not_in: ["A;B"], gte: 2 } }'), sf)).toEqual([
        `rules/x.yaml:3:29 routes[0].when.Interests__c.not_in: ${each}, so "A;B" never matches and no lead is left out; use not_in: [A, B]`,
        `rules/x.yaml:3:46 routes[0].when.Interests__c.gte: ${each}, never as a number, so "gte" never matches`,
      ]);
      expect(warningsOf(when('{ Interests__c: { between: [1, 3] } }'), sf)).toEqual([
        `rules/x.yaml:3:29 routes[0].when.Interests__c.between: ${each}, never as a number, so "between" never matches`,
      ]);
      // One value at a time, a list of them, or a text operator match as meant.
      expect(
        warningsOf(
          when('{ Interests__c: A, all: [{ Interests__c: [A, B] }, { Interests__c: { contains: "A;" } }] }'),
          sf,
        ),
      ).toEqual([]);
      const hs = account(HUBSPOT_PROFILE, 'interests');
      expect(warningsOf(when('{ interests: "Routing;Scoring" }'), hs)).toEqual([
        'rules/x.yaml:3:13 routes[0].when.interests: "interests" is a multi-select in this HubSpot portal: each of its values is compared on its own, so "Routing;Scoring" never matches; use in: [Routing, Scoring]',
      ]);
      // Without the account's fields nothing tells the field holds several values.
      expect(warningsOf(when('{ Interests__c: "A;B" }'), SALESFORCE_PROFILE)).toEqual([]);
    });

    it("a hold's fields are checked as fields: one the CRM never fills holds every lead to its timeout", () => {
      const src = `routes:\n  - { name: r, assign: { hold: { fields: [compnay, demo_requested, Company, hs_lead_status], timeout: 1h, then: none } } }\n${OK_TAIL}`;
      expect(warningsOf(src, SALESFORCE_PROFILE)).toEqual([
        'rules/x.yaml:2:43 routes[0].assign.hold.fields[0]: "compnay" is not a known lead field; it is read as a CRM field (did you mean "company"?)',
        'rules/x.yaml:2:52 routes[0].assign.hold.fields[1]: "demo_requested" has no Salesforce field behind it, so it never has a value there: name the Salesforce field itself (custom fields end in "__c")',
        // HubSpot's property, which no Salesforce field can be spelt as.
        'rules/x.yaml:2:77 routes[0].assign.hold.fields[3]: "hs_lead_status" is no Salesforce field, so it never has a value there: Salesforce\'s fields are named with letters and digits, such as NumberOfEmployees, custom ones end in "__c"',
      ]);
      expect(warningsOf(src, HUBSPOT_PROFILE)).toEqual([
        'rules/x.yaml:2:43 routes[0].assign.hold.fields[0]: "compnay" is not a known lead field; it is read as a CRM field (did you mean "company"?)',
      ]);
    });
  });
});

describe('team files', () => {
  it('loads a team and lower-cases emails', () => {
    const r = loadTeam(
      'reps:\n  Bo@Acme.io: { timezone: Europe/Vienna, hours: "24/7", active: false }\nqueues: { q: { team: 7 }, d: { owner: Desk@Acme.io }, s: { owner: 00G5g000001ABcD } }\n',
      'team.yaml',
    );
    expect(r).toEqual({
      ok: true,
      team: {
        reps: {
          'bo@acme.io': {
            email: 'bo@acme.io',
            timezone: 'Europe/Vienna',
            hours: [],
            outOfOffice: [],
            weight: 1,
            caps: {},
            active: false,
          },
        },
        queues: {
          q: { name: 'q', target: { kind: 'team', team: '7' } },
          // Emails are case-insensitive; CRM ids (a Salesforce queue id) are not.
          d: { name: 'd', target: { kind: 'owner', owner: 'desk@acme.io' } },
          s: { name: 's', target: { kind: 'owner', owner: '00G5g000001ABcD' } },
        },
      },
      warnings: [],
    });
  });

  it.each([
    [
      'reps:\n  a@x.io: { hours: "Mon 09:00-10:00" }\n',
      'team.yaml:2:11 reps["a@x.io"].timezone: missing required key "timezone" (needed to read hours)',
    ],
    [
      'reps:\n  a@x.io: { weigth: 2 }\n',
      'team.yaml:2:13 reps["a@x.io"].weigth: unknown key "weigth" (allowed: name, timezone, hours, out_of_office, weight, cap, active, manager) (did you mean "weight"?)',
    ],
    ['reps:\n  a@x.io: {}\n  A@x.io: {}\n', 'team.yaml:3:3 reps["A@x.io"]: rep "a@x.io" is listed twice'],
    ['reps:\n  nobody: {}\n', 'team.yaml:2:3 reps.nobody: "nobody" is not an email'],
    // A queue must land somewhere real in the CRM, or its leads are the silent catch-all.
    [
      'queues:\n  triage: {}\n',
      'team.yaml:2:11 queues.triage: a queue needs a CRM target, or its leads would be left unowned: { owner: email or owner id } or { team: team id or name }',
    ],
    [
      'queues:\n  triage:\n',
      'team.yaml:2:3 queues.triage: a queue needs a CRM target, or its leads would be left unowned: { owner: email or owner id } or { team: team id or name }',
    ],
    [
      'queues:\n  triage: { owner: a@x.io, team: EMEA }\n',
      'team.yaml:2:11 queues.triage: a queue lands on one CRM target: give owner or team, not both',
    ],
    ['queues:\n  triage: { team: "" }\n', 'team.yaml:2:19 queues.triage.team: must not be empty'],
  ])('rejects %j', (src, expected) => {
    const r = loadTeam(src, 'team.yaml');
    expect(r.ok ? [] : r.errors.map(formatDiagnostic)).toEqual([expected]);
  });
});

describe('team files for a known CRM', () => {
  const src =
    'queues:\n  triage: { team: EMEA }\n  old: { id: 4711 }\n  desk: { owner: 00G8d0000000001EAA }\n';
  const owner = "give it an owner instead, { owner: a user's email, or a Lead queue's name or id (00G…) }";

  it('a queue cannot target a team in Salesforce, which has none; in HubSpot, or with no CRM known, it can', () => {
    const r = loadTeam(src, 'team.yaml', { crm: SALESFORCE_PROFILE });
    expect(r.ok ? [] : r.errors.map(formatDiagnostic)).toEqual([
      `team.yaml:2:19 queues.triage.team: Salesforce has no teams, so queue "triage" cannot land on team EMEA: ${owner}`,
      `team.yaml:3:14 queues.old.id: Salesforce has no teams, so queue "old" cannot land on team 4711: ${owner}`,
    ]);
    expect(loadTeam(src, 'team.yaml', { crm: HUBSPOT_PROFILE }).ok).toBe(true);
    expect(loadTeam(src, 'team.yaml').ok).toBe(true);
  });

  it('nor inline in a rule file', () => {
    const rules = `routes: []\nfallback: { queue: triage }\nteam:\n  queues: { triage: { team: EMEA } }\n`;
    const r = loadRuleSet(rules, 'rules/x.yaml', { crm: SALESFORCE_PROFILE });
    expect(r.ok ? [] : r.errors.map(formatDiagnostic)).toEqual([
      `rules/x.yaml:4:29 team.queues.triage.team: Salesforce has no teams, so queue "triage" cannot land on team EMEA: ${owner}`,
    ]);
    expect(loadRuleSet(rules, 'rules/x.yaml', { crm: HUBSPOT_PROFILE }).ok).toBe(true);
  });
});

describe('file helpers', () => {
  it('load a rule file and a team file from disk', async () => {
    const rules = await loadRuleSetFile(SAAS);
    expect(rules.ok).toBe(true);
    const both = await loadRulesWithTeam(SAAS, `${FIXTURES}team.yaml`);
    expect(both.team?.ok).toBe(true);
    // The team file has no bo@acme.io, and it wins over the inline team.
    expect(both.rules.ok ? [] : both.rules.errors.map((e) => `${e.path}: ${e.message}`)).toEqual([
      'pools.emea-ae.members[1]: unknown rep "bo@acme.io" (not in the team: misspelt here, or in the team)',
    ]);
  });

  it('report a missing file as a diagnostic', async () => {
    const r = await loadTeamFile(`${FIXTURES}nope.yaml`);
    expect(r.ok ? '' : formatDiagnostic(r.errors[0]!)).toBe(`${FIXTURES}nope.yaml file not found`);
  });
});

describe('never throws', () => {
  it('on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const r = loadRuleSet(s, 'f.yaml');
        expect(typeof r.ok).toBe('boolean');
        if (!r.ok) expect(r.errors.length).toBeGreaterThan(0);
        // The catch-all safety net must not be what kept it from throwing.
        if (!r.ok) expect(r.errors.filter((e) => e.message.startsWith('internal error'))).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('on arbitrary YAML values, also under the expected keys', () => {
    const keys = [
      'routes',
      'fallback',
      'territories',
      'pools',
      'team',
      'when',
      'assign',
      'all',
      'hold',
      'reps',
      'members',
    ];
    const anyValue = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue({ maxDepth: 2 }),
        fc.constantFrom('account_owner', 'none', '15m', 'Mon-Fri 09:00-17:00', 'a@b.io', 'DE'),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string()), tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(anyValue, (v) => {
        const r = loadRuleSet(stringify(v), 'f.yaml');
        if (!r.ok) expect(r.errors.filter((e) => e.message.startsWith('internal error'))).toEqual([]);
        const t = loadTeam(stringify(v), 't.yaml');
        if (!t.ok) expect(t.errors.filter((e) => e.message.startsWith('internal error'))).toEqual([]);
        expect(loadTeam(stringify(v), 't.yaml').ok).toBeDefined();
      }),
      { numRuns: 500 },
    );
  });

  it('on alias bombs', () => {
    const bomb =
      'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n';
    const r = loadRuleSet(bomb, 'f.yaml');
    expect(r.ok).toBe(false);
  });
});

describe('hostile input (found by test/unit/rules/fuzz.property.test.ts)', () => {
  const errors = (src: string): string[] => {
    const r = loadRuleSet(src, 'rules/x.yaml');
    return r.ok ? [] : r.errors.map(formatDiagnostic);
  };
  const teamErrors = (src: string): string[] => {
    const r = loadTeam(src, 'team.yaml');
    return r.ok ? [] : r.errors.map(formatDiagnostic);
  };

  it.each([
    [
      'a condition that contains itself',
      `routes:\n  - name: r\n    assign: none\n    when: &w { not: *w }\n${OK_TAIL}`,
      'rules/x.yaml:4:21 routes[0].when.not: alias *w is inside its own anchor, so the value would contain itself',
    ],
    [
      'a destination that contains itself',
      `routes:\n  - name: r\n    assign: &d { account_owner: { fallback: *d } }\n${OK_TAIL}`,
      'rules/x.yaml:3:45 routes[0].assign.account_owner.fallback: alias *d is inside its own anchor, so the value would contain itself',
    ],
  ])('%s is an error at the alias, not a stack overflow caught as "internal error"', (_n, src, error) => {
    expect(errors(src)).toEqual([error]);
  });

  it.each([
    [
      'pools',
      `pools:\n  __proto__: { members: [a@x.io] }\nroutes:\n  - name: r\n    assign: { pool: __proto__ }\n${OK_TAIL}`,
    ],
    [
      'territories',
      `territories:\n  __proto__: { country: DE }\nroutes:\n  - name: r\n    when: { territory: __proto__ }\n    assign: none\n${OK_TAIL}`,
    ],
  ])(
    '"__proto__" as a name in %s is refused (it used to vanish from the rule set, references still passing)',
    (what, src) => {
      expect(errors(src)).toEqual([`rules/x.yaml:2:3 ${what}.__proto__: the key "__proto__" is not allowed`]);
    },
  );

  it('"__proto__" as a queue name is refused in a team file', () => {
    expect(teamErrors('queues:\n  __proto__: {}\n')).toEqual([
      'team.yaml:2:3 queues.__proto__: the key "__proto__" is not allowed',
    ]);
  });

  it('keys that differ in YAML but collide once read (1 and "1") are duplicates, not a silent overwrite', () => {
    expect(
      errors(`territories:\n  1: { country: DE }\n  "1": { country: AT }\nroutes: []\n${OK_TAIL}`),
    ).toEqual([
      'rules/x.yaml:3:3 territories["1"]: duplicate key: each key may appear only once in a mapping',
    ]);
    // Leading zeros are kept, so 01 and 1 stay two keys.
    expect(
      errors(`territories:\n  01: { country: DE }\n  1: { country: AT }\nroutes: []\n${OK_TAIL}`),
    ).toEqual([]);
  });

  it('a list or mapping as a key is refused', () => {
    expect(errors(`territories:\n  { a: 1 }: { country: DE }\nroutes: []\n${OK_TAIL}`)).toEqual([
      'rules/x.yaml:2:3 territories: YAML: a key must be plain text, not a list or a mapping',
    ]);
  });

  it('infinite and huge weights are refused (.inf used to load, as 0 in routing and null in JSON)', () => {
    expect(teamErrors('reps:\n  a@x.io: { weight: .inf }\n  b@x.io: { weight: 1e308 }\n')).toEqual([
      'team.yaml:2:21 reps["a@x.io"].weight: a weight is a ratio such as 1, 2 or 0.5; at most 1000000',
      'team.yaml:3:21 reps["b@x.io"].weight: a weight is a ratio such as 1, 2 or 0.5; at most 1000000',
    ]);
  });

  it('durations beyond a year are refused where they are written', () => {
    expect(
      errors(
        `routes:\n  - name: r\n    assign: none\n    task: { subject: s, due: 99999999999999999999999w }\n    sla: { first_touch: 367d }\n${OK_TAIL}`,
      ),
    ).toEqual([
      'rules/x.yaml:4:30 routes[0].task.due: duration "99999999999999999999999w" is longer than a year (366d); use at most 366d',
      'rules/x.yaml:5:25 routes[0].sla.first_touch: duration "367d" is longer than a year (366d); use at most 366d',
    ]);
  });

  it("an empty pool's error says its list is empty", () => {
    expect(
      errorsOf(`pools:\n  smb: { members: [], strategy: round_robin }\nroutes: []\n${OK_TAIL}`).filter((e) =>
        e.includes('members'),
      ),
    ).toEqual([
      'rules/x.yaml:2:19 pools.smb.members: members takes a non-empty list of rep emails, got an empty list',
    ]);
  });

  it('"between" takes finite numbers only, like gt/gte/lt/lte', () => {
    expect(
      errors(
        `routes:\n  - name: r\n    assign: none\n    when: { employees: { between: [-.inf, .inf] } }\n${OK_TAIL}`,
      ),
    ).toEqual([
      'rules/x.yaml:4:35 routes[0].when.employees.between: "between" takes [min, max] numbers, got a list',
    ]);
  });

  it('reads plain data only, whatever the YAML version or tags say (no Date, Set or Map objects)', () => {
    // Under %YAML 1.1 the date used to become a Date object: "expected a date …, got a mapping".
    const t = loadTeam(
      '%YAML 1.1\n---\nreps:\n  a@x.io: { timezone: UTC, out_of_office: [2026-12-23] }\n',
      'team.yaml',
    );
    expect(t.ok && t.team.reps['a@x.io']?.outOfOffice).toEqual([{ from: '2026-12-23', to: '2026-12-23' }]);
    // "expected a mapping, got a mapping" for an !!omap (a Map object).
    expect(teamErrors('reps: !!omap [ a@x.io: {} ]\n')).toEqual([
      'team.yaml:1:14 reps: expected a mapping, got a list',
    ]);
  });

  it('nesting deeper than any file needs is an error with its path', () => {
    const when = `${'{ not: '.repeat(70)}{ country: DE }${' }'.repeat(70)}`;
    const [error] = errors(`routes:\n  - name: r\n    assign: none\n    when: ${when}\n${OK_TAIL}`);
    expect(error).toBe(
      `rules/x.yaml:4:438 routes[0].when${'.not'.repeat(61)}: nested more than 64 levels deep`,
    );
    expect(errors(`routes: ${'['.repeat(5_000)}${']'.repeat(5_000)}\n${OK_TAIL}`)[0]).toMatch(
      /^rules\/x\.yaml:1:\d+ YAML: nested too deeply to read/,
    );
  });

  it('lists a bounded number of overlapping territories (300 used to give 44,850 warnings, each located by a scan)', () => {
    const src = `territories:\n${Array.from({ length: 300 }, (_, i) => `  t${i}: { country: DE }\n`).join('')}routes: []\n${OK_TAIL}`;
    const r = loadRuleSet(src, 'rules/x.yaml');
    if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
    expect(r.warnings).toHaveLength(21);
    expect(formatDiagnostic(r.warnings[0]!)).toBe(
      'rules/x.yaml:1:1 territories: 20 overlapping pairs of territories are listed; the other pairs were not checked',
    );
  });

  it('finds a pool fallback cycle reached through a chain once, at its first pool (linear, not cubic)', () => {
    const pool = (name: string, next: string): string =>
      `  ${name}: { members: [x@y.io], fallback: { pool: ${next} } }\n`;
    expect(
      errors(
        `pools:\n${pool('a', 'b')}${pool('b', 'c')}${pool('c', 'd')}${pool('d', 'b')}routes: []\n${OK_TAIL}`,
      ),
    ).toEqual(['rules/x.yaml:3:37 pools.b.fallback: pool fallbacks form a cycle: b → c → d → b']);
    // A chain of 3,000 pools without a cycle: a walk from every pool used to copy its trail at every step.
    const chain = Array.from({ length: 3_000 }, (_, i) => pool(`p${i}`, `p${i + 1}`)).join('');
    expect(errors(`pools:\n${chain}  p3000: { members: [x@y.io] }\nroutes: []\n${OK_TAIL}`)).toEqual([]);
  });
});

describe('queues need a CRM target where rules are put to work', () => {
  const rules = 'routes: []\nfallback: { queue: triage }\n';

  it('is an error without any team when targets are required (the app), skipped when only reading', () => {
    const strict = loadRuleSet(rules, 'rules/x.yaml', { requireQueueTargets: true });
    expect(strict.ok ? [] : strict.errors.map(formatDiagnostic)).toEqual([
      'rules/x.yaml:2:20 fallback.queue: queue "triage" has no CRM target: no team is given; list it under the team\'s queues: triage: { owner: email or owner id } or { team: team id or name }',
    ]);
    expect(loadRuleSet(rules, 'rules/x.yaml').ok).toBe(true);
  });

  it('is an error when the team file has no such queue, and passes when it names a target', () => {
    const team: Team = { reps: {}, queues: {} };
    expect(errorsOf(rules, team)).toEqual([
      'rules/x.yaml:2:20 fallback.queue: queue "triage" has no CRM target: list it under the team\'s queues: triage: { owner: email or owner id } or { team: team id or name }',
    ]);
    const withTarget: Team = {
      reps: {},
      queues: { triage: { name: 'triage', target: { kind: 'team', team: 'EMEA' } } },
    };
    expect(loadRuleSet(rules, 'rules/x.yaml', { team: withTarget, requireQueueTargets: true }).ok).toBe(true);
  });

  it('reads the old `id:` as a CRM team, with a warning that says how to write it', () => {
    const r = loadTeam("queues:\n  EMEA: { id: '410001' }\n", 'team.yaml');
    if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
    expect(r.team.queues['EMEA']).toEqual({ name: 'EMEA', target: { kind: 'team', team: '410001' } });
    expect(r.warnings.map(formatDiagnostic)).toEqual([
      `team.yaml:2:11 queues.EMEA.id: "id" is read as a CRM team; write team: '410001' (did you mean "team: '410001'"?)`,
    ]);
  });
});
