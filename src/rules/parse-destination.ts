// Destinations: `account_owner`, `existing_owner`, `none`, `{ rep }`, `{ pool }`, `{ queue }`,
// `{ account_owner: { fallback } }`, `{ existing_owner: { fallback } }`, `{ hold: { fields, timeout, then } }`.
// A fallback left out means "the rule set's fallback", filled in once the whole file is read.
import type { Destination } from '../core/types.js';
import { closest } from './diagnostics.js';
import { canonicalField, checkFieldReference } from './parse-condition.js';
import { parseDuration } from './time.js';
import { checkKeys, describeType, isPlainObject, type Scope } from './issues.js';

type Simple = Extract<Destination, { kind: 'rep' | 'pool' | 'queue' | 'none' }>;
export type DraftDestination =
  | Simple
  | { kind: 'account_owner' | 'existing_owner'; fallback: DraftDestination | undefined }
  | { kind: 'hold'; fields: string[]; timeoutMs: number; then: DraftDestination | undefined };

const WORDS = ['account_owner', 'existing_owner', 'none'] as const;
const KEYS = ['rep', 'pool', 'queue', 'account_owner', 'existing_owner', 'hold'] as const;
const HINT =
  'account_owner, existing_owner, none, or { rep | pool | queue | account_owner | existing_owner | hold: … }';

export interface DestinationRules {
  /** Holds are only meaningful on a route's `assign`. */
  allowHold: boolean;
}

export function parseDestination(
  value: unknown,
  scope: Scope,
  rules: DestinationRules,
): DraftDestination | undefined {
  if (typeof value === 'string') {
    if (value === 'none') return { kind: 'none' };
    if (value === 'account_owner' || value === 'existing_owner') return { kind: value, fallback: undefined };
    const suggestion = value.includes('@') ? `{ rep: ${value} }` : closest(value, [...WORDS, 'hold']);
    scope.error([], `unknown destination "${value}"; write ${HINT}`, { suggestion });
    return undefined;
  }
  if (!isPlainObject(value) || Object.keys(value).length !== 1) {
    scope.error([], `a destination is ${HINT}; got ${describeType(value)}`);
    return undefined;
  }
  const [key, arg] = Object.entries(value)[0] ?? ['', undefined];
  const inner = scope.at(key);
  switch (key) {
    case 'rep': {
      if (typeof arg !== 'string' || !arg.includes('@')) {
        inner.error([], `"rep" takes a rep's email, got ${describeType(arg)}`);
        return undefined;
      }
      const email = arg.trim().toLowerCase();
      checkRef(email, inner.known.reps, 'rep', inner);
      return { kind: 'rep', email };
    }
    case 'pool':
    case 'queue': {
      if (typeof arg !== 'string' || arg === '') {
        inner.error([], `"${key}" takes a ${key} name, got ${describeType(arg)}`);
        return undefined;
      }
      if (key === 'pool') checkRef(arg, inner.known.pools, key, inner);
      else checkQueue(arg, inner);
      return { kind: key, name: arg };
    }
    case 'account_owner':
    case 'existing_owner': {
      if (arg === null || arg === undefined) return { kind: key, fallback: undefined };
      if (!isPlainObject(arg)) {
        inner.error([], `expected { fallback: destination } or nothing, got ${describeType(arg)}`);
        return undefined;
      }
      checkKeys(arg, ['fallback'], inner);
      const fallback =
        arg['fallback'] === undefined
          ? undefined
          : parseDestination(arg['fallback'], inner.at('fallback'), { allowHold: false });
      return { kind: key, fallback };
    }
    case 'hold':
      if (!rules.allowHold) {
        inner.error([], 'a hold can only be a route\'s "assign", not a fallback', { atKey: true });
        return undefined;
      }
      return parseHold(arg, inner);
    default:
      scope.error([key], `unknown destination "${key}"; write ${HINT}`, {
        suggestion: closest(key, KEYS),
        atKey: true,
      });
      return undefined;
  }
}

function parseHold(arg: unknown, scope: Scope): DraftDestination | undefined {
  if (!isPlainObject(arg)) {
    scope.error(
      [],
      `"hold" takes { fields: [...], timeout: 2h, then: destination }, got ${describeType(arg)}`,
    );
    return undefined;
  }
  checkKeys(arg, ['fields', 'timeout', 'then'], scope);
  const rawFields = arg['fields'];
  let fields: string[] | undefined;
  if (
    Array.isArray(rawFields) &&
    rawFields.length > 0 &&
    rawFields.every((f) => typeof f === 'string' && f !== '')
  ) {
    fields = rawFields.map(canonicalField);
    // A hold waiting for a field the CRM never fills holds every lead until its timeout.
    rawFields.forEach((f: string, i) => checkFieldReference(f, scope.at('fields', i)));
  } else if (rawFields === undefined)
    scope.error(['fields'], 'missing required key "fields"', { atKey: true });
  else
    scope.error(['fields'], `"fields" takes a non-empty list of field names, got ${describeType(rawFields)}`);
  const timeoutMs = parseDurationValue(arg['timeout'], scope.at('timeout'), 'timeout');
  const then =
    arg['then'] === undefined
      ? undefined
      : parseDestination(arg['then'], scope.at('then'), { allowHold: false });
  if (fields === undefined || timeoutMs === undefined) return undefined;
  return { kind: 'hold', fields, timeoutMs, then };
}

/** A queue's leads must land somewhere real in the CRM: only queues the team gives a target will do. */
function checkQueue(name: string, scope: Scope): void {
  const known = scope.known.queues;
  if (known === undefined || known.has(name)) return;
  const where =
    scope.known.reps === undefined
      ? "no team is given; list it under the team's queues:"
      : "list it under the team's queues:";
  scope.error(
    [],
    `queue "${name}" has no CRM target: ${where} ${name}: { owner: email or owner id } or { team: team id or name }`,
    { suggestion: closest(name, known) },
  );
}

function checkRef(name: string, known: ReadonlySet<string> | undefined, what: string, scope: Scope): void {
  if (known !== undefined && !known.has(name))
    scope.error([], `unknown ${what} "${name}"`, { suggestion: closest(name, known) });
}

/** A duration value from YAML; a bare number gets a "did you mean 900s" rather than a guess. */
export function parseDurationValue(value: unknown, scope: Scope, key: string): number | undefined {
  if (typeof value === 'string') {
    const r = parseDuration(value);
    if (r.ok) return r.value;
    scope.error([], r.message);
    return undefined;
  }
  if (value === undefined) {
    scope.error([], `missing required key "${key}"`);
    return undefined;
  }
  scope.error([], `a duration needs a unit (90s, 15m, 2h, 1d, 1w), got ${describeType(value)}`, {
    suggestion: typeof value === 'number' ? `${value}s` : undefined,
  });
  return undefined;
}

/** Replaces every left-out fallback with the rule set's fallback. */
export function finalizeDestination(d: DraftDestination, fallback: Destination): Destination {
  switch (d.kind) {
    case 'account_owner':
    case 'existing_owner':
      return {
        kind: d.kind,
        fallback: d.fallback === undefined ? fallback : finalizeDestination(d.fallback, fallback),
      };
    case 'hold':
      return {
        kind: 'hold',
        fields: d.fields,
        timeoutMs: d.timeoutMs,
        then: d.then === undefined ? fallback : finalizeDestination(d.then, fallback),
      };
    case 'rep':
    case 'pool':
    case 'queue':
    case 'none':
      return d;
  }
}
