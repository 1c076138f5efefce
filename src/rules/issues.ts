// Bridges zod and the hand-written parsers: every problem becomes a zod issue with a path relative
// to the value being parsed, plus optional `suggestion` and `at: 'key'` (point at the key, not the
// value) in `params`. Warnings are collected on the side with absolute paths.
import { z } from 'zod';
import type { AccountFields, ConnectorProfile } from '../../connectors/connector.js';
import { closest, type OwnerRole, type PathSegment } from './diagnostics.js';
import type { OwnerDirectory } from './queue-owners.js';

/**
 * What rules are checked against when the CRM they route for is known: its connector profile's facts,
 * and, when the rules are put to work in one account of it that could be asked, that account's fields.
 */
export type CrmFacts = Pick<
  ConnectorProfile,
  | 'crmName'
  | 'accountNoun'
  | 'leadFieldProperties'
  | 'customFieldSuffix'
  | 'standardFieldName'
  | 'queueTargets'
  | 'storedId'
> & {
  readonly accountFields?: AccountFields | undefined;
  /**
   * The account's users and queues (or teams), when the rules are put to work in one account that could
   * be asked: a team queue's target that names no one there is a warning (queue-owners.ts).
   */
  readonly directory?: OwnerDirectory | undefined;
};

export interface Known {
  territories: ReadonlySet<string>;
  pools: ReadonlySet<string>;
  /** Lower-cased rep emails; undefined when no team is known (rep checks are skipped). */
  reps: ReadonlySet<string> | undefined;
  /** Queue names the team gives a CRM target; undefined where no destination can be written. */
  queues: ReadonlySet<string> | undefined;
  /** The CRM the rules route for; undefined when not known (fields are checked against every lead field). */
  crm: CrmFacts | undefined;
}

export interface RawWarning {
  path: PathSegment[];
  message: string;
  suggestion?: string | undefined;
  atKey?: boolean | undefined;
  missingField?: string | undefined;
  multiValueField?: string | undefined;
  unknownOwner?: string | undefined;
  ownerRole?: OwnerRole | undefined;
}

/** What a warning about a field of the CRM account says of it, by the name the rules spell. */
export type AccountFieldWarning = { missingField: string } | { multiValueField: string };

export interface IssueOptions {
  suggestion?: string | undefined;
  /** Point at the key of the last path segment rather than its value. */
  atKey?: boolean;
}

/** What a parser needs: a way to report errors and warnings relative to where it is, and known names. */
export interface Scope {
  readonly known: Known;
  error(path: readonly PathSegment[], message: string, opts?: IssueOptions): void;
  /**
   * Warnings point at the key of the last path segment; `field`: the field of the CRM account it is
   * about, when it is one the account lacks or one compared as a single value though it holds several.
   */
  warn(path: readonly PathSegment[], message: string, suggestion?: string, field?: AccountFieldWarning): void;
  /** A scope whose paths are prefixed by `path`. */
  at(...path: PathSegment[]): Scope;
}

export function makeScope(
  ctx: z.RefinementCtx,
  known: Known,
  warnings: RawWarning[],
  prefix: readonly PathSegment[] = [],
): Scope {
  return {
    known,
    error(path, message, opts) {
      const params: Record<string, unknown> = {};
      if (opts?.suggestion !== undefined) params['suggestion'] = opts.suggestion;
      if (opts?.atKey === true) params['atKey'] = true;
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...prefix, ...path], message, params });
    },
    warn(path, message, suggestion, field) {
      warnings.push({
        path: [...ctx.path, ...prefix, ...path],
        message,
        suggestion,
        atKey: true,
        ...field,
      });
    },
    at(...path) {
      return makeScope(ctx, known, warnings, [...prefix, ...path]);
    },
  };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function describeType(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${v}`;
  return typeof v;
}

/** Reports every key of `value` that is not in `allowed`, with the closest allowed key as suggestion. */
export function checkKeys(value: Record<string, unknown>, allowed: readonly string[], scope: Scope): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      scope.error([key], `unknown key "${key}" (allowed: ${allowed.join(', ')})`, {
        suggestion: closest(key, allowed),
        atKey: true,
      });
  }
}

/** A strict object: unknown keys are errors with a "did you mean", and the other keys are still checked. */
export function strictObject<S extends z.ZodRawShape>(shape: S) {
  const allowed = Object.keys(shape);
  return z.preprocess((value, ctx) => {
    if (isPlainObject(value)) checkKeys(value, allowed, makeScope(ctx, EMPTY_KNOWN, []));
    return value;
  }, z.object(shape));
}

export const EMPTY_KNOWN: Known = {
  territories: new Set(),
  pools: new Set(),
  reps: undefined,
  queues: undefined,
  crm: undefined,
};

/** Messages in our voice for zod's built-in issues. */
export const errorMap: z.ZodErrorMap = (issue, ctx) => {
  // eslint-disable-next-line @typescript-eslint/switch-exhaustiveness-check -- the rest keep zod's wording
  switch (issue.code) {
    case z.ZodIssueCode.invalid_type:
      if (issue.received === 'undefined') {
        const key = issue.path[issue.path.length - 1];
        return { message: typeof key === 'string' ? `missing required key "${key}"` : 'missing value' };
      }
      return { message: `expected ${article(issue.expected)}, got ${describeType(ctx.data)}` };
    case z.ZodIssueCode.invalid_enum_value:
      return { message: `must be one of ${issue.options.join(', ')}, got ${describeType(issue.received)}` };
    case z.ZodIssueCode.too_small:
      if (issue.type === 'array') return { message: `needs at least ${String(issue.minimum)} item(s)` };
      if (issue.type === 'string') return { message: 'must not be empty' };
      return { message: `must be at least ${String(issue.minimum)}` };
    default:
      // Other issue kinds keep zod's own wording.
      return { message: ctx.defaultError };
  }
};

function article(expected: string): string {
  switch (expected) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'integer':
      return 'a whole number';
    default:
      return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
  }
}

/** Runs a zod schema on a nested value and re-reports its issues into `scope`. */
export function subParse<T>(
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  value: unknown,
  scope: Scope,
): T | undefined {
  const r = schema.safeParse(value, { errorMap });
  if (r.success) return r.data;
  for (const issue of r.error.issues) scope.error(issue.path, issue.message, issueExtras(issue));
  return undefined;
}

/** The suggestion and key-pointing flag carried by an issue (custom ones in params, enums computed). */
export function issueExtras(issue: z.ZodIssue): { suggestion: string | undefined; atKey: boolean } {
  if (issue.code === z.ZodIssueCode.custom) {
    const params: Record<string, unknown> = issue.params ?? {};
    const suggestion = typeof params['suggestion'] === 'string' ? params['suggestion'] : undefined;
    return { suggestion, atKey: params['atKey'] === true };
  }
  if (issue.code === z.ZodIssueCode.invalid_enum_value)
    return { suggestion: closest(String(issue.received), issue.options.map(String)), atKey: false };
  return { suggestion: undefined, atKey: false };
}
