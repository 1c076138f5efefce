// The zod schemas of the rule file and the team file. Objects are strict (unknown keys are errors
// with a "did you mean"); the polymorphic parts (conditions, destinations, durations) are parsed by
// hand inside transforms so that their errors carry exact paths too.
import countries from 'i18n-iso-countries';
import { z } from 'zod';
import type {
  Condition,
  DateRange,
  PostalRange,
  Queue,
  QueueTarget,
  Rep,
  SequenceSpec,
  SlaBreach,
  SlaStep,
  TaskSpec,
  Team,
  TouchSignal,
  TerritoryClause,
  WorkingHours,
} from '../core/types.js';
import { TOUCH_SIGNALS } from '../core/types.js';
import { closest, type PathSegment } from './diagnostics.js';
import {
  checkKeys,
  describeType,
  EMPTY_KNOWN,
  isPlainObject,
  makeScope,
  strictObject,
  subParse,
  type CrmFacts,
  type Known,
  type RawWarning,
  type Scope,
} from './issues.js';
import { checkFieldReference, parseCondition } from './parse-condition.js';
import { managerProblem, queueTargetProblem, repProblem } from './queue-owners.js';
import { TEMPLATE_EXTRAS, templateFields } from '../core/fields.js';
import {
  parseDestination,
  parseDurationValue,
  type DestinationRules,
  type DraftDestination,
} from './parse-destination.js';
import { isValidTimeZone, parseDateRange, parseHours } from './time.js';

/** A field parsed by a hand-written function that reports into a scope. */
function custom<T>(
  known: Known,
  warnings: RawWarning[],
  parse: (value: unknown, scope: Scope) => T | undefined,
) {
  return z.unknown().transform((value, ctx) => {
    if (value === undefined) {
      const key = ctx.path[ctx.path.length - 1];
      ctx.addIssue({
        code: 'custom',
        message: typeof key === 'string' ? `missing required key "${key}"` : 'missing value',
      });
      return z.NEVER;
    }
    const out = parse(value, makeScope(ctx, known, warnings));
    return out === undefined ? z.NEVER : out;
  });
}

const EMAIL = /^[^@\s]+@[^@\s]+$/;
export const MAX_WEIGHT = 1_000_000;

function textList(value: unknown, scope: Scope, what: string): string[] | undefined {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((v) => typeof v === 'string' || typeof v === 'number')) {
    scope.error([], `expected ${what} or a list of them, got ${describeType(value)}`);
    return undefined;
  }
  return list.map((v) => String(v).trim());
}

const ALPHA2 = new Set(Object.keys(countries.getAlpha2Codes()));
const COUNTRY_ALIASES: Record<string, string> = { UK: 'GB', USA: 'US' };

/** ISO 3166-1 alpha-2, accepting alpha-3 and English names too ("USA", "Germany") since people write those. */
function country(value: string, scope: Scope): string | undefined {
  const upper = value.toUpperCase();
  if (ALPHA2.has(upper)) return upper;
  const alias =
    COUNTRY_ALIASES[upper] ??
    (upper.length === 3 ? countries.alpha3ToAlpha2(upper) : undefined) ??
    countries.getAlpha2Code(value, 'en');
  if (alias !== undefined) return alias;
  scope.error([], `unknown country "${value}"; use ISO 3166-1 codes such as DE, US, GB`, {
    suggestion: closest(upper, ALPHA2),
  });
  return undefined;
}

function countryList(value: unknown, scope: Scope): string[] | undefined {
  const list = textList(value, scope, 'a country code');
  if (list === undefined) return undefined;
  const out = list.map((c, i) => country(c, Array.isArray(value) ? scope.at(i) : scope));
  return out.every((c): c is string => c !== undefined) ? out : undefined;
}

function postalRange(value: unknown, scope: Scope): PostalRange | undefined {
  if (isPlainObject(value)) {
    return subParse(
      strictObject({
        from: z.union([z.string(), z.number()]),
        to: z.union([z.string(), z.number()]),
      }).transform((r) => ({
        from: String(r.from),
        to: String(r.to),
      })),
      value,
      scope,
    );
  }
  if (typeof value === 'string') {
    const parts = value.includes('..') ? value.split('..') : value.split('-');
    if (parts.length === 2 && parts[0]?.trim() && parts[1]?.trim()) {
      const from = parts[0].trim();
      const to = parts[1].trim();
      if (to < from) scope.error([], `postal range "${value}" ends before it starts`);
      return { from, to };
    }
  }
  scope.error([], `a postal range is "90000-96199", "A..B" or { from, to }, got ${describeType(value)}`);
  return undefined;
}

function postal(
  value: unknown,
  scope: Scope,
): Pick<TerritoryClause, 'postalPrefix' | 'postalRange'> | undefined {
  if (!isPlainObject(value)) {
    const prefixes = textList(value, scope, 'a postal code prefix');
    return prefixes === undefined ? undefined : { postalPrefix: prefixes };
  }
  const parsed = subParse(
    strictObject({ prefix: z.unknown().optional(), range: z.unknown().optional() }),
    value,
    scope,
  );
  if (parsed === undefined) return undefined;
  const out: Pick<TerritoryClause, 'postalPrefix' | 'postalRange'> = {};
  if (parsed.prefix !== undefined) {
    const p = textList(parsed.prefix, scope.at('prefix'), 'a postal code prefix');
    if (p !== undefined) out.postalPrefix = p;
  }
  if (parsed.range !== undefined) {
    const list = Array.isArray(parsed.range) ? parsed.range : [parsed.range];
    const ranges = list.map((r, i) =>
      postalRange(r, Array.isArray(parsed.range) ? scope.at('range', i) : scope.at('range')),
    );
    if (ranges.every((r): r is PostalRange => r !== undefined)) out.postalRange = ranges;
  }
  if (parsed.prefix === undefined && parsed.range === undefined)
    scope.error([], 'postal_code needs prefix or range');
  return out;
}

function clause(value: unknown, scope: Scope): TerritoryClause | undefined {
  const raw = subParse(
    strictObject({ country: z.unknown(), state: z.unknown(), city: z.unknown(), postal_code: z.unknown() }),
    value,
    scope,
  );
  if (raw === undefined) return undefined;
  const out: TerritoryClause = {};
  if (raw.country !== undefined) out.country = countryList(raw.country, scope.at('country'));
  if (raw.state !== undefined)
    out.state = textList(raw.state, scope.at('state'), 'a state or region code')?.map((s) => s.toUpperCase());
  if (raw.city !== undefined) out.city = textList(raw.city, scope.at('city'), 'a city');
  if (raw.postal_code !== undefined) Object.assign(out, postal(raw.postal_code, scope.at('postal_code')));
  if (Object.values(raw).every((v) => v === undefined)) {
    scope.error([], 'a territory clause needs at least one of country, state, city, postal_code');
    return undefined;
  }
  return out;
}

function territory(value: unknown, scope: Scope): TerritoryClause[] | undefined {
  if (Array.isArray(value)) {
    if (value.length === 0) {
      scope.error([], 'a territory needs at least one clause');
      return undefined;
    }
    const clauses = value.map((c, i) => clause(c, scope.at(i)));
    return clauses.every((c): c is TerritoryClause => c !== undefined) ? clauses : undefined;
  }
  const c = clause(value, scope);
  return c === undefined ? undefined : [c];
}

const durationField = (key: string) => custom(EMPTY_KNOWN, [], (v, s) => parseDurationValue(v, s, key));

function sequence(value: unknown, scope: Scope): SequenceSpec | undefined {
  if (typeof value === 'string' && value !== '') return { name: value };
  if (typeof value === 'number') return { id: String(value) };
  const id = z.union([z.string().min(1), z.number().transform(String)]);
  return subParse(
    strictObject({
      id: id.optional(),
      name: z.string().min(1).optional(),
      sender: z
        .string()
        .regex(EMAIL)
        .transform((s) => s.toLowerCase())
        .optional(),
    })
      .refine((s) => s.id !== undefined || s.name !== undefined, 'a sequence needs an id or a name')
      .transform((s): SequenceSpec => {
        const out: SequenceSpec = {};
        if (s.id !== undefined) out.id = s.id;
        if (s.name !== undefined) out.name = s.name;
        if (s.sender !== undefined) out.sender = s.sender;
        return out;
      }),
    value,
    scope,
  );
}

const taskSchema = strictObject({
  subject: z.string().min(1),
  body: z.string().optional(),
  due: durationField('due').optional(),
  priority: z.enum(['low', 'medium', 'high']).default('medium'),
}).transform((t): TaskSpec => {
  // A task without a due time is due within a day: late enough not to nag, early enough to matter.
  const out: TaskSpec = { subject: t.subject, dueInMs: t.due ?? 86_400_000, priority: t.priority };
  if (t.body !== undefined) out.body = t.body;
  return out;
});

/** A placeholder the lead never fills leaves a hole in every task: checked as a condition's field is. */
function checkTemplates(task: TaskSpec, scope: Scope): void {
  for (const [key, text] of [
    ['subject', task.subject],
    ['body', task.body],
  ] as const)
    if (text !== undefined)
      for (const field of templateFields(text)) checkFieldReference(field, scope.at(key), TEMPLATE_EXTRAS);
}

function breach(value: unknown, scope: Scope): SlaBreach | undefined {
  if (value === 'remind' || value === 'reroute') return { kind: value };
  // The current owner's manager (team file `manager:`, or the CRM's user record).
  if (isPlainObject(value) && Object.keys(value).length === 1 && value['escalate'] === 'manager')
    return { kind: 'escalate', to: { kind: 'manager' } };
  if (isPlainObject(value) && Object.keys(value).length === 1 && isPlainObject(value['escalate'])) {
    const to = parseDestination(value['escalate'], scope.at('escalate'), { allowHold: false });
    if (to === undefined) return undefined;
    if (to.kind === 'rep' || to.kind === 'queue') return { kind: 'escalate', to };
    scope.error(['escalate'], 'escalate to { rep: email }, { queue: name } or manager');
    return undefined;
  }
  scope.error(
    [],
    `on_breach is remind, reroute, { escalate: { rep: email } }, { escalate: { queue: name } } or { escalate: manager }, got ${describeType(value)}`,
    {
      suggestion: typeof value === 'string' ? closest(value, ['remind', 'reroute', 'escalate']) : undefined,
    },
  );
  return undefined;
}

const STEP_ACTIONS = ['remind', 'reroute', 'escalate'] as const;
const MAX_SLA_STEPS = 10;

/** `{ after: 5m, remind: task | notify }`, `{ after: 15m, reroute: true }`, `{ after: 1h, escalate: { rep | queue } | manager }`. */
function slaStep(value: unknown, scope: Scope): SlaStep | undefined {
  if (!isPlainObject(value)) {
    scope.error([], `a step is { after: 15m, remind | reroute | escalate: … }, got ${describeType(value)}`);
    return undefined;
  }
  checkKeys(value, ['after', ...STEP_ACTIONS], scope);
  const afterMs = parseDurationValue(value['after'], scope.at('after'), 'after');
  const named = STEP_ACTIONS.filter((k) => value[k] !== undefined);
  if (named.length !== 1) {
    scope.error(
      [],
      `a step takes exactly one of remind, reroute, escalate; got ${named.length === 0 ? 'none' : named.join(' and ')}`,
    );
    return undefined;
  }
  if (afterMs === undefined) return undefined;
  const kind = named[0]!;
  const v = value[kind];
  if (kind === 'remind') {
    if (v === 'task' || v === 'notify') return { afterMs, kind, via: v };
    scope.error([kind], `remind is task or notify, got ${describeType(v)}`, {
      suggestion: typeof v === 'string' ? closest(v, ['task', 'notify']) : undefined,
    });
    return undefined;
  }
  if (kind === 'reroute') {
    if (v === true) return { afterMs, kind };
    scope.error([kind], `reroute takes true, got ${describeType(v)}`);
    return undefined;
  }
  const to = breach({ escalate: v }, scope);
  return to?.kind === 'escalate' ? { afterMs, kind, to: to.to } : undefined;
}

function slaSteps(value: unknown, scope: Scope): SlaStep[] | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_SLA_STEPS) {
    scope.error([], `steps takes a list of 1 to ${MAX_SLA_STEPS} steps, got ${describeType(value)}`);
    return undefined;
  }
  const out: SlaStep[] = [];
  value.forEach((v, i) => {
    const step = slaStep(v, scope.at(i));
    if (step === undefined) return;
    const before = out[out.length - 1];
    if (before !== undefined && step.afterMs <= before.afterMs)
      scope.error([i, 'after'], 'steps run in order: each step comes after the one before it');
    else if (step.kind !== 'remind' && out.some((s) => s.kind === 'escalate'))
      scope.error([i], 'nothing follows an escalation but reminders: the lead has left the rotation');
    out.push(step);
  });
  return out.length === value.length ? out : undefined;
}

function touchSignals(value: unknown, scope: Scope): TouchSignal[] | undefined {
  const list = Array.isArray(value) ? value : [value];
  const out: TouchSignal[] = [];
  list.forEach((v, i) => {
    const at = Array.isArray(value) ? scope.at(i) : scope;
    const signal = TOUCH_SIGNALS.find((t) => t === v);
    if (signal === undefined)
      at.error([], `a touch is one of ${TOUCH_SIGNALS.join(', ')}; got ${describeType(v)}`, {
        suggestion: typeof v === 'string' ? closest(v, TOUCH_SIGNALS) : undefined,
      });
    else if (!out.includes(signal)) out.push(signal);
  });
  return out.length > 0 && list.length > 0 ? out : undefined;
}

function members(value: unknown, scope: Scope): string[] | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    const got = Array.isArray(value) ? 'an empty list' : describeType(value);
    scope.error([], `members takes a non-empty list of rep emails, got ${got}`);
    return undefined;
  }
  const out: string[] = [];
  const seen = new Set<string>();
  value.forEach((m, i) => {
    if (typeof m !== 'string' || !EMAIL.test(m.trim()))
      return scope.error([i], `expected a rep email, got ${describeType(m)}`);
    const email = m.trim().toLowerCase();
    const reps = scope.known.reps;
    if (seen.has(email)) scope.error([i], `"${email}" is listed twice`);
    else if (reps !== undefined && !reps.has(email)) {
      const close = closest(email, reps);
      // A near miss may be the team's own misspelling as well: the hint names both places.
      const where =
        close === undefined ? 'not in the team' : 'not in the team: misspelt here, or in the team';
      scope.error([i], `unknown rep "${email}" (${where})`, { suggestion: close });
    }
    seen.add(email);
    out.push(email);
  });
  return out.length === value.length ? out : undefined;
}

export interface DraftActions {
  task?: TaskSpec | undefined;
  sequence?: SequenceSpec | undefined;
  note: boolean;
}

function schemas(known: Known, warnings: RawWarning[]) {
  const c = <T>(parse: (value: unknown, scope: Scope) => T | undefined) => custom(known, warnings, parse);
  const dest = (rules: DestinationRules) => c<DraftDestination>((v, s) => parseDestination(v, s, rules));
  const actions = {
    task: taskSchema
      .superRefine((task, ctx) => checkTemplates(task, makeScope(ctx, known, warnings)))
      .optional(),
    sequence: c(sequence).optional(),
    note: z.boolean().default(false),
  };
  const route = strictObject({
    name: z.string().min(1).optional(),
    when: c<Condition>((v, s) => parseCondition(v, s)).optional(),
    assign: dest({ allowHold: true }),
    ...actions,
    notify: z.array(z.string().min(1)).optional(),
    sla: strictObject({
      first_touch: durationField('first_touch'),
      clock: z.enum(['wall', 'working_hours']).default('wall'),
      on_breach: c(breach).optional(),
      steps: c(slaSteps).optional(),
    })
      .superRefine((sla, ctx) => {
        if (sla.on_breach !== undefined && sla.steps !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['steps'],
            message: 'give on_breach (one step at first_touch) or steps, not both',
            params: { atKey: true },
          });
      })
      .optional(),
  });
  const pool = strictObject({
    members: c(members),
    strategy: z.enum(['round_robin', 'weighted', 'least_loaded']).default('round_robin'),
    window: durationField('window').optional(),
    respect_hours: z.boolean().default(true),
    fallback: dest({ allowHold: false }).optional(),
    notify: z.array(z.string().min(1)).optional(),
  }).superRefine((p, ctx) => {
    if (p.window !== undefined && p.strategy !== 'least_loaded')
      ctx.addIssue({
        code: 'custom',
        path: ['window'],
        message: 'window only applies to strategy least_loaded',
        params: { atKey: true },
      });
  });
  return { route, pool, actions, dest };
}

/** The team file's schema; with the CRM known, its queues' targets are ones that CRM can have. */
export function teamSchema(warnings: RawWarning[], crm?: CrmFacts) {
  const hours = custom<WorkingHours[]>(EMPTY_KNOWN, warnings, (v, s) => {
    if (v === null || v === undefined) return [];
    if (typeof v !== 'string' && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) {
      s.error(
        [],
        `hours are a text like "Mon-Fri 09:00-17:30", a list of them, or "24/7"; got ${describeType(v)}`,
      );
      return undefined;
    }
    const r = parseHours(v);
    if (!r.ok) s.error([], r.message);
    return r.ok ? r.value : undefined;
  });
  const ooo = custom<DateRange[]>(EMPTY_KNOWN, warnings, (v, s) => {
    if (v === null || v === undefined) return [];
    const list = Array.isArray(v) ? v : [v];
    const out: DateRange[] = [];
    list.forEach((entry, i) => {
      const at = Array.isArray(v) ? s.at(i) : s;
      if (typeof entry !== 'string')
        return at.error(
          [],
          `expected a date like 2026-12-23 or 2026-12-23..2027-01-02, got ${describeType(entry)}`,
        );
      const r = parseDateRange(entry);
      if (r.ok) out.push(r.value);
      else at.error([], r.message);
    });
    return out.length === list.length ? out : undefined;
  });
  const timezone = z
    .string()
    .refine(isValidTimeZone, 'unknown time zone; use an IANA name such as Europe/Berlin');
  const count = z.number().int().nonnegative();
  const rep = strictObject({
    name: z.string().optional(),
    timezone: timezone.optional(),
    hours: hours.optional(),
    out_of_office: ooo.optional(),
    // A ratio between reps. `.inf` would silently count as 0, and huge ones overflow the pool's total.
    weight: z
      .number()
      .nonnegative()
      .max(MAX_WEIGHT, `a weight is a ratio such as 1, 2 or 0.5; at most ${MAX_WEIGHT}`)
      .default(1),
    cap: strictObject({ per_day: count.optional(), per_week: count.optional() }).optional(),
    active: z.boolean().default(true),
    /** Who `escalate: manager` hands this rep's untouched leads to. */
    manager: z.string().trim().toLowerCase().regex(EMAIL, 'a manager is named by email').optional(),
  }).superRefine((r, ctx) => {
    // Hours without a zone would silently be read as UTC.
    if (r.hours !== undefined && r.hours.length > 0 && r.timezone === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['timezone'],
        message: 'missing required key "timezone" (needed to read hours)',
      });
  });
  // A target the CRM account's directory (when given) has no one for is a warning at its value.
  const checkedTarget = (target: QueueTarget, at: readonly PathSegment[], asId = false): QueueTarget => {
    const directory = crm?.directory;
    const problem =
      crm === undefined || directory === undefined
        ? undefined
        : queueTargetProblem(String(at[at.length - 1]), target, crm, directory);
    if (problem !== undefined)
      warnings.push({
        path: [...at, asId ? 'id' : problem.key],
        message: problem.message,
        suggestion: problem.suggestion,
        unknownOwner: problem.name,
        ownerRole: 'queue owner',
      });
    return target;
  };
  // A rep (one the file does not mark inactive) and their manager who are no active user of the CRM
  // account (when its directory is given) are warnings at the rep's key and the manager's value.
  const checkPeople = (
    key: string,
    email: string,
    r: { active: boolean; manager?: string | undefined },
    at: readonly PathSegment[],
  ): void => {
    const directory = crm?.directory;
    if (crm === undefined || directory === undefined) return;
    const rep = r.active ? repProblem(email, crm, directory) : undefined;
    if (rep !== undefined)
      warnings.push({
        path: [...at, 'reps', key],
        ...rep,
        atKey: true,
        unknownOwner: email,
        ownerRole: 'rep',
      });
    const manager = r.manager === undefined ? undefined : managerProblem(email, r.manager, crm, directory);
    if (manager !== undefined)
      warnings.push({
        path: [...at, 'reps', key, 'manager'],
        ...manager,
        unknownOwner: r.manager,
        ownerRole: 'manager',
      });
  };
  // A CRM id may be written as a YAML number; ids are kept as strings.
  const crmRef = z.union([z.string().trim().min(1), z.number().int().nonnegative()]).transform(String);
  const queue = z
    .preprocess(
      // `name: {}` and `name:` alike: reported as a queue without a target below.
      (v) => v ?? {},
      strictObject({
        owner: crmRef.optional(),
        team: crmRef.optional(),
        /** Before targets were named: a CRM team id. */
        id: crmRef.optional(),
        name: z.string().optional(),
      }),
    )
    .transform((q, ctx): QueueTarget | undefined => {
      if (q.id !== undefined)
        warnings.push({
          path: [...ctx.path, 'id'],
          message: `"id" is read as a CRM team; write team: '${q.id}'`,
          suggestion: `team: '${q.id}'`,
          atKey: true,
        });
      const team = q.team ?? q.id;
      if (q.owner !== undefined && team !== undefined) {
        ctx.addIssue({
          code: 'custom',
          message: 'a queue lands on one CRM target: give owner or team, not both',
        });
        return undefined;
      }
      // Emails are case-insensitive; CRM ids (a Salesforce queue id) are not.
      if (q.owner !== undefined)
        return checkedTarget(
          { kind: 'owner', owner: q.owner.includes('@') ? q.owner.toLowerCase() : q.owner },
          ctx.path,
        );
      if (team !== undefined && crm?.queueTargets.teams === false) {
        const queue = String(ctx.path[ctx.path.length - 1]);
        ctx.addIssue({
          code: 'custom',
          path: [q.team === undefined ? 'id' : 'team'],
          message: `${crm.crmName} has no teams, so queue "${queue}" cannot land on team ${team}: give it an owner instead, { owner: ${crm.queueTargets.owner} }`,
        });
        return undefined;
      }
      if (team !== undefined) return checkedTarget({ kind: 'team', team }, ctx.path, q.team === undefined);
      ctx.addIssue({
        code: 'custom',
        message:
          'a queue needs a CRM target, or its leads would be left unowned: { owner: email or owner id } or { team: team id or name }',
      });
      return undefined;
    });
  return strictObject({
    reps: z
      .preprocess((v, ctx) => {
        // Emails are case-insensitive: Ada@ and ada@ are the same rep.
        const seen = new Set<string>();
        for (const key of isPlainObject(v) ? Object.keys(v) : []) {
          const email = key.trim().toLowerCase();
          if (seen.has(email))
            ctx.addIssue({
              code: 'custom',
              path: [key],
              message: `rep "${email}" is listed twice`,
              params: { atKey: true },
            });
          seen.add(email);
        }
        return v;
      }, z.record(rep))
      .nullish(),
    queues: z.record(queue).nullish(),
    /** Opt-in: a rep deactivated in the CRM has their open leads routed again, on the next directory refresh. */
    reassign_deactivated: z.boolean().optional(),
  }).transform((t, ctx): Team => {
    const reps: Record<string, Rep> = {};
    for (const [key, r] of Object.entries(t.reps ?? {})) {
      const email = key.trim().toLowerCase();
      if (!EMAIL.test(email))
        ctx.addIssue({
          code: 'custom',
          path: ['reps', key],
          message: `"${key}" is not an email`,
          params: { atKey: true },
        });
      else checkPeople(key, email, r, ctx.path);
      const rep: Rep = {
        email,
        timezone: r.timezone ?? 'UTC',
        hours: r.hours ?? [],
        outOfOffice: r.out_of_office ?? [],
        weight: r.weight,
        caps: {},
        active: r.active,
      };
      if (r.name !== undefined) rep.name = r.name;
      if (r.manager !== undefined) rep.manager = r.manager;
      if (r.cap?.per_day !== undefined) rep.caps.perDay = r.cap.per_day;
      if (r.cap?.per_week !== undefined) rep.caps.perWeek = r.cap.per_week;
      reps[email] = rep;
    }
    const queues: Record<string, Queue> = {};
    for (const [name, target] of Object.entries(t.queues ?? {}))
      if (target !== undefined) queues[name] = { name, target };
    return t.reassign_deactivated === true ? { reps, queues, reassignDeactivated: true } : { reps, queues };
  });
}

export function ruleSetSchema(known: Known, warnings: RawWarning[]) {
  const s = schemas(known, warnings);
  return strictObject({
    name: z.string().min(1).optional(),
    description: z.string().optional(),
    territories: z.record(custom(known, warnings, territory)).nullish(),
    pools: z.record(s.pool).nullish(),
    routes: z.array(s.route),
    fallback: s.dest({ allowHold: false }),
    fallback_actions: strictObject(s.actions).optional(),
    touch: custom(known, warnings, touchSignals).optional(),
    notifications: z.record(notifyChannelSchema).optional(),
    team: teamSchema(warnings, known.crm).optional(),
  }).superRefine((r, ctx) => {
    // Every channel a route or pool names is one the file defines.
    const defined = Object.keys(r.notifications ?? {});
    const check = (names: string[] | undefined, path: (string | number)[]): void =>
      names?.forEach((name, i) => {
        if (!defined.includes(name))
          ctx.addIssue({
            code: 'custom',
            path: [...path, 'notify', i],
            message: `unknown notification channel "${name}" (define it under notifications)`,
            params: { suggestion: closest(name, defined) },
          });
      });
    r.routes.forEach((route, i) => check(route.notify, ['routes', i]));
    for (const [name, pool] of Object.entries(r.pools ?? {})) check(pool.notify, ['pools', name]);
  });
}

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const envName = z.string().regex(ENV_NAME, 'the name of an environment variable, such as SLACK_WEBHOOK_URL');

const notifyChannelSchema = strictObject({
  on: z
    .array(z.enum(['assignment', 'reminder', 'reroute', 'escalation', 'dead_letter']))
    .min(1)
    .optional(),
  slack: strictObject({ url_env: envName }).optional(),
  webhook: strictObject({
    url: z
      .string()
      .url()
      .regex(/^https?:\/\//, 'an http(s) URL'),
    secret_env: envName,
  }).optional(),
}).refine((c) => c.slack !== undefined || c.webhook !== undefined, 'a channel needs slack, webhook or both');

export type RawRuleSet = z.output<ReturnType<typeof ruleSetSchema>>;
export type RawTeam = z.output<ReturnType<typeof teamSchema>>;
