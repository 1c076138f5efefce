// Rule files and team files as the settings tab will publish them, fuzzed: valid structures generated
// from the grammar, then mutated (wrong types, unknown keys, huge numbers, bad and catastrophic
// regexes, unicode, deep nesting, alias bombs and cycles, duplicated keys, YAML 1.1 tags, binary junk).
// The loaders must never throw, must explain every refusal with file, line and field path, and what
// they accept must be sound: finite numbers, durations that keep dates valid, references that exist.
import fc from 'fast-check';
import { stringify } from 'yaml';
import type { Condition, Destination, RuleSet, Team } from '../../../src/core/types.js';
import { formatDiagnostic, loadRuleSet, loadTeam, type Diagnostic } from '../../../src/rules/index.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const YEAR_MS = 366 * 86_400_000;

// ---------------------------------------------------------------------------------------------------
// Valid files, generated from the grammar the README documents.

const NASTY = [
  'Zürich — 東京 — القاهرة',
  '\u202eevil',
  '👩‍👩‍👧‍👦',
  'a\u0000b',
  '\ud800',
  'x\udc00',
  'constructor',
  'toString',
  'hasOwnProperty',
  'it\'s "quoted"',
  '- not a list',
  '#not a comment',
  '&anchor',
  '*alias',
  '!tag',
  '{{company}}',
  'key: value',
  '  padded  ',
  '~',
  'null',
  'yes',
  '0123',
  '1e3',
  '.inf',
];
const nasty = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
);
/** Names used as mapping keys: anything but empty or `__proto__` (refused on purpose). */
const name = nasty.filter((s) => s.trim() !== '' && s !== '__proto__');

const TIMEZONES = ['Europe/Berlin', 'America/New_York', 'Asia/Singapore', 'UTC', 'Australia/Lord_Howe'];
const HOURS = [
  'Mon-Fri 09:00-17:30',
  'Mon,Wed 10:00-14:00',
  'Mon-Fri 09:00-12:00, 13:00-17:00',
  '24/7',
  'Fri-Mon 08:00-20:00',
];
const DURATIONS = ['90s', '15m', '2h', '1d', '1w', '1h30m', '500ms', '1.5h', '366d', '52w'];
const COUNTRIES = ['DE', 'AT', 'CH', 'US', 'GB', 'FR', 'Germany', 'USA', 'UK', 'deu'];
const SAFE_REGEXES = [
  '^vp',
  '(a+)+$',
  '(a|a)*b',
  '^(([a-z])+.)+[A-Z]([a-z])+$',
  '(.*a){20}',
  'é+\\d{2,5}',
  '[[:alpha:]]+',
];

interface Spec {
  reps: string[];
  queues: string[];
  territories: string[];
  pools: string[];
}

const repEntry = fc.record(
  {
    name: nasty,
    timezone: fc.constantFrom(...TIMEZONES),
    hours: fc.oneof(fc.constantFrom(...HOURS), fc.subarray(HOURS.slice(0, 3), { minLength: 1 })),
    out_of_office: fc.constantFrom(['2026-12-23..2027-01-02'], '2026-02-29'.replace('29', '28'), []),
    weight: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.double({ min: 0, max: 1_000_000, noNaN: true })),
    cap: fc.record({ per_day: fc.nat(1_000), per_week: fc.nat(5_000) }, { requiredKeys: [] }),
    active: fc.boolean(),
  },
  { requiredKeys: ['timezone', 'weight'] },
);

function teamArb(spec: Spec): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    reps: fc
      .tuple(...spec.reps.map(() => repEntry))
      .map((entries) => Object.fromEntries(spec.reps.map((email, i) => [email, entries[i]]))),
    queues: fc
      .tuple(
        ...spec.queues.map(() =>
          // Every queue needs a CRM target: a team by id or name, or an owner by email or id.
          fc.oneof(
            fc.record({ team: fc.oneof(fc.nat(), fc.constant('7'), fc.constant('Sales Team')) }),
            fc.record({ owner: fc.oneof(fc.constant('Queue@acme.io'), fc.constant('00G5g000001')) }),
          ),
        ),
      )
      .map((qs) => Object.fromEntries(spec.queues.map((q, i) => [q, qs[i]]))),
  });
}

function conditionArb(spec: Spec): fc.Arbitrary<Record<string, unknown>> {
  const field = fc.constantFrom(
    'country',
    'employees',
    'title',
    'email_domain',
    'lead_source',
    'hs_custom_field',
  );
  const leaf: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
    fc.record({ k: field, v: fc.oneof(nasty, fc.integer(), fc.boolean()) }).map(({ k, v }) => ({ [k]: v })),
    fc
      .record({ k: field, v: fc.array(fc.oneof(nasty, fc.integer()), { minLength: 1, maxLength: 4 }) })
      .map(({ k, v }) => ({ [k]: v })),
    fc.constantFrom(...SAFE_REGEXES).map((regex) => ({ title: { regex, case_sensitive: true } })),
    fc
      .tuple(
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
      )
      .map(([a, b]) => ({
        employees: { between: [Math.min(a, b), Math.max(a, b)] },
      })),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => ({ employees: { gte: n } })),
    fc.constantFrom(
      { account: 'matched' },
      { account_owner: 'inactive' },
      { email: 'free_mail' },
      { country: { exists: true } },
    ),
    ...(spec.territories.length > 0
      ? [fc.constantFrom(...spec.territories).map((t) => ({ territory: t }))]
      : []),
    ...(spec.pools.length > 0
      ? [fc.constantFrom(...spec.pools).map((pool) => ({ within_hours: { pool } }))]
      : []),
  );
  return fc.letrec<{ c: Record<string, unknown> }>((tie) => ({
    c: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('c'), { minLength: 1, maxLength: 3 }).map((of) => ({ all: of })),
      fc.array(tie('c'), { minLength: 1, maxLength: 3 }).map((of) => ({ any: of })),
      tie('c').map((of) => ({ not: of })),
    ),
  })).c;
}

function destinationArb(spec: Spec, hold: boolean): fc.Arbitrary<unknown> {
  const simple: fc.Arbitrary<unknown>[] = [
    fc.constant('none'),
    fc.constantFrom(...spec.queues).map((queue) => ({ queue })),
  ];
  if (spec.pools.length > 0) simple.push(fc.constantFrom(...spec.pools).map((pool) => ({ pool })));
  if (spec.reps.length > 0) simple.push(fc.constantFrom(...spec.reps).map((rep) => ({ rep })));
  const base = fc.oneof(...simple);
  const owner = base.chain((fallback) =>
    fc.constantFrom({ account_owner: { fallback } }, { existing_owner: { fallback } }, 'account_owner'),
  );
  const all = [base, owner];
  if (hold)
    all.push(
      fc
        .record({
          fields: fc.constant(['country', 'employees']),
          timeout: fc.constantFrom(...DURATIONS),
          then: base,
        })
        .map((h) => ({ hold: h })),
    );
  return fc.oneof(...all);
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  reps: fc
    .uniqueArray(fc.nat(50), { minLength: 1, maxLength: 4 })
    .map((ns) => ns.map((n) => `rep${n}@acme.io`)),
  queues: fc.uniqueArray(name, { minLength: 1, maxLength: 3 }),
  territories: fc.uniqueArray(name, { maxLength: 4 }),
  pools: fc.uniqueArray(name, { maxLength: 3 }),
});

interface ValidFile {
  spec: Spec;
  rules: Record<string, unknown>;
  team: Record<string, unknown>;
  /** The team inline under `team:` (else it is its own file). */
  inline: boolean;
}

const validFile: fc.Arbitrary<ValidFile> = specArb.chain((spec) =>
  fc
    .record({
      team: teamArb(spec),
      inline: fc.boolean(),
      territories: fc.tuple(
        ...spec.territories.map(() =>
          fc.oneof(
            fc.record({ country: fc.subarray(COUNTRIES, { minLength: 1 }) }),
            fc.record({ country: fc.constant('US'), state: fc.constantFrom(['CA', 'OR'], 'California') }),
            fc.record({
              country: fc.constant('GB'),
              postal_code: fc.constantFrom({ prefix: ['EC', 'WC'] }, { range: ['90000-96199'] }, ['E1']),
            }),
            fc.array(fc.record({ country: fc.constantFrom(...COUNTRIES), city: nasty }), {
              minLength: 1,
              maxLength: 2,
            }),
          ),
        ),
      ),
      pools: fc.tuple(
        ...spec.pools.map(() =>
          fc.record(
            {
              members: fc.subarray(spec.reps, { minLength: 1 }),
              strategy: fc.constantFrom('round_robin', 'weighted'),
              respect_hours: fc.boolean(),
              fallback: fc.constantFrom(...spec.queues).map((queue) => ({ queue })),
            },
            { requiredKeys: ['members'] },
          ),
        ),
      ),
      routes: fc.uniqueArray(
        fc.record(
          {
            name,
            when: conditionArb(spec),
            assign: destinationArb(spec, true),
            task: fc.record(
              {
                subject: nasty,
                due: fc.constantFrom(...DURATIONS),
                priority: fc.constantFrom('low', 'high'),
              },
              { requiredKeys: ['subject'] },
            ),
            sequence: fc.oneof(
              nasty,
              fc.nat(),
              fc.record({ name: nasty, sender: fc.constant('rep1@acme.io') }),
            ),
            note: fc.boolean(),
            sla: fc.record(
              { first_touch: fc.constantFrom(...DURATIONS), on_breach: fc.constantFrom('remind', 'reroute') },
              { requiredKeys: ['first_touch'] },
            ),
          },
          { requiredKeys: ['name', 'assign'] },
        ),
        { minLength: 1, maxLength: 5, selector: (r) => r.name },
      ),
      fallbackQueue: fc.constantFrom(...spec.queues),
      description: fc.option(nasty, { nil: undefined }),
    })
    .map((g) => {
      const rules: Record<string, unknown> = {
        name: 'Fuzzed rules',
        territories: Object.fromEntries(spec.territories.map((t, i) => [t, g.territories[i]])),
        pools: Object.fromEntries(spec.pools.map((p, i) => [p, g.pools[i]])),
        routes: g.routes,
        fallback: { queue: g.fallbackQueue },
      };
      if (g.description !== undefined) rules['description'] = g.description;
      if (g.inline) rules['team'] = g.team;
      return { spec, rules, team: g.team, inline: g.inline };
    }),
);

// ---------------------------------------------------------------------------------------------------
// Mutations.

/** Every path in a plain value, for picking where to mutate. */
function paths(
  v: unknown,
  at: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function setAt(root: unknown, path: (string | number)[], f: (old: unknown) => unknown): unknown {
  if (path.length === 0) return f(root);
  const copy: unknown = Array.isArray(root)
    ? [...(root as unknown[])]
    : { ...(root as Record<string, unknown>) };
  const [head, ...rest] = path;
  const c = copy as Record<string | number, unknown>;
  c[head!] = setAt(c[head!], rest, f);
  return copy;
}

function nest(depth: number, leaf: unknown, asMap: boolean): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = asMap ? { not: v } : [v];
  return v;
}

const BAD_REGEXES = [
  '(?<=a)b',
  '(a)\\1',
  '[',
  '(',
  '*',
  'a{1001}',
  '((a{100}){100}){100}',
  '\\p{NotAProperty}',
  '(?P<n>a',
  'x'.repeat(5_000),
  '('.repeat(500) + ')'.repeat(500),
  '\\',
  '[z-a]',
];
const HUGE = [
  1e308,
  -1e308,
  Number.MAX_VALUE,
  2 ** 64,
  1e-320,
  Infinity,
  -Infinity,
  NaN,
  -0,
  Number.MAX_SAFE_INTEGER + 2,
];

/** A replacement value for any position. */
const junkValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...HUGE),
  nasty,
  fc.constantFrom(null, true, false, 0, -1, [], {}, '', ' ', 'none'),
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(...BAD_REGEXES).map((regex) => ({ title: { regex } })),
  fc.constantFrom(...BAD_REGEXES).map((regex) => ({ regex })),
  fc
    .constantFrom('99999999999999999999999w', '1e400s', '0.0000001ms', '5', '-5m', 'forever', '367d')
    .map((d) => d),
  fc
    .record({ depth: fc.integer({ min: 1, max: 150 }), asMap: fc.boolean() })
    .map(({ depth, asMap }) => nest(depth, 'x', asMap)),
  fc.nat(600).map((n) => Array.from({ length: n }, (_, i) => `item${i}@acme.io`)),
  fc.constantFrom(
    { weight: Infinity },
    { members: ['a@b.io', 'A@B.io'] },
    { hours: ' '.repeat(20_000) + 'x' },
    { hours: 'Mon-Fri 17:00-09:00' },
  ),
);

type Mutation =
  | { t: 'replace'; at: number; v: unknown }
  /** A pool, territory or queue renamed everywhere it appears, to a name JavaScript treats specially. */
  | { t: 'rename-everywhere'; at: number; to: string }
  | { t: 'duration'; at: number; v: string }
  /** Aimed at the numbers (weights, caps, thresholds) and texts (durations, hours, regexes, names). */
  | { t: 'number'; at: number; v: number }
  | { t: 'text'; at: number; v: string }
  | { t: 'unknown-key'; at: number; key: string; v: unknown }
  | { t: 'delete'; at: number }
  | { t: 'rename'; at: number; key: string };

const junkText = fc.oneof(
  nasty,
  fc.constantFrom(...BAD_REGEXES),
  fc.constantFrom('99999999999999999999999w', '1e400s', '367d', '53w', '0.0000001ms', '-5m', 'forever', '5'),
  fc.constantFrom(
    ' '.repeat(20_000) + 'x',
    'Mon-Fri 17:00-09:00',
    'Mon-Fri 09:00-25:00',
    '2026-02-30',
    '2027-01-02..2026-12-23',
    'Mars/Olympus',
  ),
  fc.constantFrom('__proto__', 'constructor', 'toString', 'A@B.IO', 'no-at-sign', 'DE ', 'XX', 'Deutschland'),
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('replace' as const), at: fc.nat(), v: junkValue }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('number' as const), at: fc.nat(), v: fc.constantFrom(...HUGE) }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('text' as const), at: fc.nat(), v: junkText }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('rename-everywhere' as const),
      at: fc.nat(),
      to: fc.oneof(
        { weight: 3, arbitrary: fc.constant('__proto__') },
        { weight: 2, arbitrary: fc.constantFrom('constructor', 'toString', 'valueOf', 'hasOwnProperty') },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('duration' as const),
      at: fc.nat(),
      v: fc.constantFrom(
        '99999999999999999999999w',
        '367d',
        '53w',
        '8784h1ms',
        '1e400s',
        '0.0000001ms',
        '-5m',
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('unknown-key' as const),
      at: fc.nat(),
      key: fc.oneof(
        nasty,
        fc.constantFrom('teritories', 'membrs', 'asign', 'fallbak', 'colour', '__proto__', '<<'),
      ),
      v: junkValue,
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('delete' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('rename' as const),
      at: fc.nat(),
      key: fc.constantFrom('__proto__', 'constructor', 'REPS', 'rep0@ACME.io', '1'),
    }),
  },
);

function valueAt(root: unknown, path: (string | number)[]): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], root);
}

function renameEverywhere(v: unknown, from: string, to: string): unknown {
  if (v === from) return to;
  if (Array.isArray(v)) return v.map((x) => renameEverywhere(x, from, to));
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v))
    // defineProperty: a plain assignment to "__proto__" would set the prototype instead of a key.
    Object.defineProperty(out, k === from ? to : k, {
      value: renameEverywhere(x, from, to),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return out;
}

function mutate(root: unknown, m: Mutation): unknown {
  const all = paths(root);
  const of = (type: string): (string | number)[][] => {
    const some = all.filter((p) => typeof valueAt(root, p) === type);
    return some.length > 0 ? some : all;
  };
  const pick = (list: (string | number)[][]): (string | number)[] => list[m.at % list.length] ?? [];
  const path = pick(all);
  switch (m.t) {
    case 'replace':
      return setAt(root, path, () => m.v);
    case 'number':
      return setAt(root, pick(of('number')), () => m.v);
    case 'duration': {
      const durations = all.filter((p) => {
        const v = valueAt(root, p);
        return typeof v === 'string' && /^[\d.]+(ms|s|m|h|d|w)/.test(v);
      });
      return setAt(root, pick(durations.length > 0 ? durations : of('string')), () => m.v);
    }
    case 'rename-everywhere': {
      const names = all.filter(
        (p) => p.length === 2 && ['pools', 'territories', 'queues'].includes(String(p[0])),
      );
      const target = names[m.at % Math.max(1, names.length)];
      if (target === undefined) return root;
      return renameEverywhere(root, String(target[1]), m.to);
    }
    case 'text':
      return setAt(root, pick(of('string')), () => m.v);
    case 'unknown-key':
      return setAt(root, path, (old) =>
        old !== null && typeof old === 'object' && !Array.isArray(old)
          ? { ...old, [m.key]: m.v }
          : { [m.key]: m.v },
      );
    case 'delete': {
      if (path.length === 0) return root;
      const parent = path.slice(0, -1);
      const last = path[path.length - 1]!;
      return setAt(root, parent, (old) => {
        if (Array.isArray(old)) return (old as unknown[]).filter((_x, i) => i !== last);
        const { [String(last)]: _drop, ...rest } = old as Record<string, unknown>;
        return rest;
      });
    }
    case 'rename': {
      if (path.length === 0) return root;
      const parent = path.slice(0, -1);
      const last = path[path.length - 1]!;
      return setAt(root, parent, (old) => {
        if (Array.isArray(old) || old === null || typeof old !== 'object') return old;
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(old))
          Object.defineProperty(out, k === String(last) ? m.key : k, {
            value: v,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        return out;
      });
    }
  }
}

/** Mutations of the text itself: what no YAML serializer would write. */
type TextMutation =
  | { t: 'none' }
  | { t: 'duplicate-line'; at: number }
  | { t: 'junk'; at: number; junk: string }
  | { t: 'truncate'; at: number }
  | { t: 'alias-bomb'; width: number; levels: number }
  | { t: 'alias-cycle'; which: number }
  | { t: 'yaml-1.1'; tag: string }
  | { t: 'tabs' }
  | { t: 'bom' }
  | { t: 'deep-flow'; depth: number }
  | { t: 'numeric-keys' };

const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ t: 'none' as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('duplicate-line' as const), at: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('junk' as const),
      at: fc.nat(),
      junk: fc.oneof(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }),
        fc.constantFrom(
          '\u0000',
          '\ufffe',
          '\t',
          '\r',
          '\u0085',
          ': : :',
          '{[',
          '"',
          "'",
          '|',
          '>',
          '%',
          '@',
          '`',
        ),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('alias-bomb' as const),
      width: fc.integer({ min: 2, max: 12 }),
      levels: fc.integer({ min: 2, max: 9 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('alias-cycle' as const), which: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('yaml-1.1' as const),
      tag: fc.constantFrom(
        '!!binary',
        '!!set',
        '!!omap',
        '!!timestamp',
        '!!js/function',
        '!!python/object',
        '!custom',
        '!!int',
        '!!float',
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'tabs' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'bom' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('deep-flow' as const),
      depth: fc.integer({ min: 10, max: 2_000 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'numeric-keys' as const }) },
);

/** Values that contain themselves, where the loader descends (a cycle under an unknown key is harmless). */
const CYCLES = [
  '  - { name: loop1, assign: none, when: &w { not: *w } }',
  '  - { name: loop2, assign: none, when: &w { any: [ { country: DE }, *w ] } }',
  '  - { name: loop3, assign: &d { account_owner: { fallback: *d } } }',
  '  - { name: loop4, assign: { hold: &h { fields: [country], timeout: 1h, then: { existing_owner: { fallback: *h } } } } }',
  '  - &r { name: loop5, assign: none, when: { all: [ *r ] } }',
];

function mutateText(text: string, m: TextMutation): string {
  const lines = text.split('\n');
  switch (m.t) {
    case 'none':
      return text;
    case 'duplicate-line': {
      const i = m.at % lines.length;
      return [...lines.slice(0, i + 1), lines[i] ?? '', ...lines.slice(i + 1)].join('\n');
    }
    case 'junk': {
      const i = m.at % (text.length + 1);
      return text.slice(0, i) + m.junk + text.slice(i);
    }
    case 'truncate':
      return text.slice(0, m.at % (text.length + 1));
    case 'alias-bomb': {
      const rows = [`b0: &b0 [${Array<string>(m.width).fill('x').join(', ')}]`];
      for (let l = 1; l < m.levels; l++)
        rows.push(
          `b${l}: &b${l} [${Array<string>(m.width)
            .fill(`*b${l - 1}`)
            .join(', ')}]`,
        );
      return `${rows.join('\n')}\n${text}`;
    }
    case 'alias-cycle':
      return text.includes('\nroutes:\n')
        ? text.replace('\nroutes:\n', `\nroutes:\n${CYCLES[m.which % CYCLES.length] ?? ''}\n`)
        : `x: &x [ *x ]\n${text}`;
    case 'yaml-1.1':
      return `%YAML 1.1\n---\n${text.replace(/^(\s*)(\w+): (\S.*)$/m, `$1$2: ${m.tag} $3`)}\nwhen_dates: { d: 2026-01-01, t: 2001-12-14t21:59:43.10-05:00, y: yes, o: 0o17, s: !!set { a, b } }\n`;
    case 'tabs':
      return text.replace(/^( +)/gm, (s) => '\t'.repeat(s.length / 2));
    case 'bom':
      return `\ufeff${text}`;
    case 'deep-flow':
      return `${text}\ndeep: ${'['.repeat(m.depth)}${']'.repeat(m.depth)}\n`;
    case 'numeric-keys':
      return `${text}\n1: a\n"1": b\n01: c\n`;
  }
}

// ---------------------------------------------------------------------------------------------------
// What every answer must satisfy.

const FILE = 'settings/règles ü.yaml';

/** Problems with a diagnostic: where it points and whether it names the field. */
function diagnosticProblems(d: Diagnostic, file: string): string[] {
  const out: string[] = [];
  const shown = formatDiagnostic(d);
  if (d.file !== file) out.push(`wrong file: ${shown}`);
  if (!Number.isInteger(d.line) || d.line < 1 || !Number.isInteger(d.column) || d.column < 1)
    out.push(`no line:column: ${shown}`);
  if (d.message.trim() === '') out.push(`empty message: ${shown}`);
  if (d.message.startsWith('internal error')) out.push(`the safety net caught a crash: ${shown}`);
  if (typeof d.path !== 'string') out.push(`path is not text: ${shown}`);
  // Only a file that is not YAML, or not a mapping, has no field to name.
  const fileLevel = d.message.startsWith('YAML:') || d.message.includes('must be a YAML mapping');
  if (!fileLevel && d.path === '') out.push(`no field path: ${shown}`);
  return out;
}

function destinations(d: Destination, out: Destination[] = []): Destination[] {
  out.push(d);
  if (d.kind === 'account_owner' || d.kind === 'existing_owner') destinations(d.fallback, out);
  if (d.kind === 'hold') destinations(d.then, out);
  return out;
}

function conditions(c: Condition, out: Condition[] = []): Condition[] {
  out.push(c);
  if (c.kind === 'all' || c.kind === 'any') c.of.forEach((x) => conditions(x, out));
  if (c.kind === 'not') conditions(c.of, out);
  return out;
}

const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function numbersIn(v: unknown, path: string, out: string[]): void {
  if (typeof v === 'number' && !Number.isFinite(v)) out.push(`${path} is ${v}`);
  else if (Array.isArray(v)) v.forEach((x, i) => numbersIn(x, `${path}[${i}]`, out));
  else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) numbersIn(x, `${path}.${k}`, out);
}

function durationOk(ms: number, what: string, out: string[]): void {
  if (!(ms >= 0 && ms <= YEAR_MS) || Number.isNaN(new Date(T0 + ms).getTime()))
    out.push(`${what} = ${ms} ms`);
}

/** What the rest of the app relies on in a loaded team. */
function teamProblems(team: Team): string[] {
  const out: string[] = [];
  numbersIn(team, 'team', out);
  for (const [email, rep] of Object.entries(team.reps)) {
    if (email !== rep.email || email !== email.toLowerCase()) out.push(`rep key ${email} vs ${rep.email}`);
    if (!(rep.weight >= 0 && rep.weight <= 1_000_000)) out.push(`${email} weight ${rep.weight}`);
    for (const h of rep.hours)
      if (!(h.start >= 0 && h.end <= 1440 && h.start < h.end))
        out.push(`${email} hours ${JSON.stringify(h)}`);
  }
  return out;
}

/** What the routing core relies on in a loaded rule set. */
function ruleSetProblems(rs: RuleSet, team: Team | undefined): string[] {
  const out: string[] = [];
  numbersIn({ ...rs, routes: rs.routes.map((r) => ({ ...r, when: null })) }, 'ruleSet', out);
  const all: Destination[] = [...destinations(rs.fallback)];
  for (const p of Object.values(rs.pools)) {
    all.push(...destinations(p.fallback));
    if (p.loadWindowMs !== undefined) durationOk(p.loadWindowMs, `pool ${p.name} window`, out);
    if (team !== undefined)
      for (const m of p.members)
        if (!own(team.reps, m)) out.push(`pool ${p.name} member ${m} not in the team`);
  }
  for (const r of rs.routes) {
    all.push(...destinations(r.assign));
    if (r.actions.task !== undefined) durationOk(r.actions.task.dueInMs, `${r.name} task due`, out);
    if (r.sla !== undefined) durationOk(r.sla.firstTouchMs, `${r.name} first touch`, out);
    for (const c of conditions(r.when)) {
      if (c.kind === 'territory' && !own(rs.territories, c.name)) out.push(`territory ${c.name} missing`);
      if (c.kind === 'within_hours' && c.pool !== undefined && !own(rs.pools, c.pool))
        out.push(`pool ${c.pool} missing`);
      if (
        c.kind === 'compare' &&
        (c.op === 'gt' || c.op === 'gte' || c.op === 'lt' || c.op === 'lte') &&
        !Number.isFinite(c.value)
      )
        out.push(`${c.op} ${c.value}`);
      if (
        c.kind === 'compare' &&
        c.op === 'between' &&
        !(Number.isFinite(c.min) && Number.isFinite(c.max) && c.min <= c.max)
      )
        out.push(`between ${c.min} ${c.max}`);
      // Linear-time matching: a catastrophic pattern on a long near-miss answers, and never throws.
      if (c.kind === 'compare' && c.op === 'regex') c.pattern.test(`${'a'.repeat(20_000)}!`);
    }
  }
  for (const d of all) {
    if (d.kind === 'pool' && !own(rs.pools, d.name)) out.push(`pool ${d.name} missing`);
    if (d.kind === 'rep' && team !== undefined && !own(team.reps, d.email))
      out.push(`rep ${d.email} missing`);
    const queues = team === undefined ? [] : Object.keys(team.queues);
    if (d.kind === 'queue' && queues.length > 0 && !queues.includes(d.name))
      out.push(`queue ${d.name} missing`);
    if (d.kind === 'hold') durationOk(d.timeoutMs, 'hold timeout', out);
  }
  if (team !== undefined) out.push(...teamProblems(team));
  // Rule sets are stored and compared as JSON.
  JSON.stringify(rs);
  return out;
}

function check(text: string, loaded?: { rules: boolean; team: boolean }): string[] {
  const problems: string[] = [];
  const t = loadTeam(text, FILE);
  const r = loadRuleSet(text, FILE, t.ok ? { team: t.team } : {});
  if (loaded !== undefined) Object.assign(loaded, { rules: r.ok, team: t.ok });
  for (const result of [t, r]) {
    if (!result.ok && result.errors.length === 0) problems.push('refused without an error');
    for (const d of [...(result.ok ? [] : result.errors), ...result.warnings])
      problems.push(...diagnosticProblems(d, FILE));
  }
  if (t.ok) problems.push(...teamProblems(t.team));
  if (r.ok) problems.push(...ruleSetProblems(r.ruleSet, t.ok ? t.team : r.ruleSet.team));
  return problems;
}

const fileText = (f: ValidFile): { rules: string; team: string } => ({
  rules: stringify(f.rules, { aliasDuplicateObjects: false }),
  team: stringify(f.team, { aliasDuplicateObjects: false }),
});

// ---------------------------------------------------------------------------------------------------

describe('valid rule and team files', () => {
  it('load, with every pool, territory, route and rep the file names', () => {
    fc.assert(
      fc.property(validFile, (f) => {
        const { rules, team } = fileText(f);
        const t = loadTeam(team, FILE);
        if (!t.ok) throw new Error(`team refused:\n${t.errors.map(formatDiagnostic).join('\n')}\n${team}`);
        const r = loadRuleSet(rules, FILE, f.inline ? {} : { team: t.team });
        if (!r.ok) throw new Error(`rules refused:\n${r.errors.map(formatDiagnostic).join('\n')}\n${rules}`);
        const rs = r.ruleSet;
        expect(Object.keys(rs.pools)).toEqual(f.spec.pools);
        expect(Object.keys(rs.territories)).toEqual(f.spec.territories);
        expect(rs.routes.map((x) => x.name)).toEqual(
          (f.rules['routes'] as { name: string }[]).map((x) => x.name),
        );
        expect(Object.keys(t.team.reps)).toEqual(f.spec.reps);
        expect(Object.keys(t.team.queues)).toEqual(f.spec.queues);
        if (f.inline) expect(rs.team).toEqual(t.team);
        expect(ruleSetProblems(rs, t.team)).toEqual([]);
        for (const d of [...r.warnings, ...t.warnings]) expect(diagnosticProblems(d, FILE)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('mutated rule and team files', () => {
  it('never throw; every refusal names file, line and field; whatever loads is sound', () => {
    const counts = { runs: 0, rulesRefused: 0, teamRefused: 0 };
    fc.assert(
      fc.property(
        validFile,
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        textMutation,
        fc.boolean(),
        (f, ms, tm, teamFile) => {
          const mutated = ms.reduce<unknown>((v, m) => mutate(v, m), teamFile ? f.team : f.rules);
          const text = mutateText(stringify(mutated, { aliasDuplicateObjects: false }), tm);
          const loaded = { rules: false, team: false };
          expect(check(text, loaded)).toEqual([]);
          counts.runs += 1;
          if (!loaded.rules) counts.rulesRefused += 1;
          if (!loaded.team) counts.teamRefused += 1;
        },
      ),
      { numRuns: 1_000 },
    );
    // Most mutations must be refused: a fuzzer whose inputs all load tests nothing.
    expect(counts.rulesRefused).toBeGreaterThan(counts.runs / 2);
  });

  it('never throw on text mutations of valid files alone', () => {
    fc.assert(
      fc.property(validFile, textMutation, (f, tm) => {
        expect(check(mutateText(fileText(f).rules, tm))).toEqual([]);
        expect(check(mutateText(fileText(f).team, tm))).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('never throw on arbitrary text, bytes decoded as UTF-8 included', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 400 }),
          fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('utf8')),
          fc
            .array(
              fc.constantFrom(
                'routes:',
                'fallback:',
                ' - ',
                ': ',
                '{',
                '}',
                '[',
                ']',
                '&a ',
                '*a',
                '\n',
                '  ',
                'reps:',
                '!!set',
                '? ',
                '---\n',
                '...\n',
                '%YAML 1.1\n',
              ),
              { maxLength: 60 },
            )
            .map((xs) => xs.join('')),
        ),
        (text) => {
          expect(check(text)).toEqual([]);
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
