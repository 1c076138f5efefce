// A rule set compiled once for `decide`: each route's condition becomes a small tree of nodes with the
// texts precomputed, and per decision every territory is tested at most once and free mail looked up at
// most once, however many routes ask. The results are the same as `conditionHolds`,
// `evaluateCondition` and `explainFailure` over the plain conditions; those stay the reference.
import {
  compareHolds,
  describeCondition,
  leafHolds,
  leafTrace,
  type ConditionEnv,
  type Leaf,
} from './conditions.js';
import { fieldValue } from './normalize.js';
import { compileTerritory } from './territories.js';
import type { Condition, ConditionTrace, FieldValue, Lead, RuleSet } from './types.js';

type Values = Record<string, FieldValue | undefined>;

/** Per-decision memo. Reused between decisions (stamped), so a decision allocates none of it. */
class Scope {
  env!: ConditionEnv;
  private stamp = 0;
  private readonly tested: Int32Array;
  private readonly inside: Uint8Array;
  private readonly failStamp: Int32Array;
  private readonly failures: (ConditionTrace | undefined)[];
  private location: Values | undefined;
  private freeMail = -1;

  constructor(private readonly compiled: CompiledRules) {
    const n = compiled.territoryMatchers.length;
    this.tested = new Int32Array(n);
    this.inside = new Uint8Array(n);
    this.failStamp = new Int32Array(n);
    this.failures = new Array<ConditionTrace | undefined>(n).fill(undefined);
  }

  begin(env: ConditionEnv): void {
    this.env = env;
    this.stamp = (this.stamp + 1) | 0;
    if (this.stamp === 0) {
      // Wrapped around: forget every stamp rather than trust an old one.
      this.tested.fill(0);
      this.failStamp.fill(0);
      this.stamp = 1;
    }
    this.location = undefined;
    this.freeMail = -1;
  }

  inTerritory(slot: number): boolean {
    if (this.tested[slot] !== this.stamp) {
      const matcher = this.compiled.territoryMatchers[slot];
      this.inside[slot] = matcher !== undefined && matcher(this.env.lead) ? 1 : 0;
      this.tested[slot] = this.stamp;
    }
    return this.inside[slot] === 1;
  }

  /** The failing trace of a territory condition; the same for every route naming that territory. */
  territoryFailure(slot: number, text: string): ConditionTrace {
    if (this.failStamp[slot] === this.stamp) {
      const hit = this.failures[slot];
      if (hit !== undefined) return hit;
    }
    const failure: ConditionTrace = { text, result: false, values: this.locationValues() };
    this.failures[slot] = failure;
    this.failStamp[slot] = this.stamp;
    return failure;
  }

  /** What a territory condition looked at (as `leafValues` reports it), built once per decision. */
  locationValues(): Values {
    if (this.location === undefined) {
      const lead: Lead = this.env.lead;
      const values: Values = { country: lead.country };
      if (lead.state !== undefined) values.state = lead.state;
      if (lead.postalCode !== undefined) values.postalCode = lead.postalCode;
      if (lead.city !== undefined) values.city = lead.city;
      this.location = values;
    }
    return this.location;
  }

  isFreeMail(domain: string): boolean {
    if (this.freeMail < 0) this.freeMail = this.env.isFreeMail(domain) ? 1 : 0;
    return this.freeMail === 1;
  }
}

interface Node {
  holds(s: Scope): boolean;
  /** `explainFailure`: null when the condition holds. */
  fail(s: Scope): ConditionTrace | null;
  /** `evaluateCondition`. */
  trace(s: Scope): ConditionTrace;
}

class AllNode implements Node {
  constructor(
    private readonly text: string,
    private readonly of: readonly Node[],
  ) {}
  holds(s: Scope): boolean {
    for (const child of this.of) if (!child.holds(s)) return false;
    return true;
  }
  fail(s: Scope): ConditionTrace | null {
    for (const child of this.of) {
      const failure = child.fail(s);
      if (failure !== null) return failure;
    }
    return null;
  }
  trace(s: Scope): ConditionTrace {
    const children: ConditionTrace[] = [];
    for (const child of this.of) {
      const t = child.trace(s);
      children.push(t);
      if (!t.result) return { text: this.text, result: false, children };
    }
    return { text: this.text, result: true, children };
  }
}

class AnyNode implements Node {
  constructor(
    private readonly text: string,
    private readonly of: readonly Node[],
  ) {}
  holds(s: Scope): boolean {
    for (const child of this.of) if (child.holds(s)) return true;
    return false;
  }
  fail(s: Scope): ConditionTrace | null {
    const children: ConditionTrace[] = [];
    for (const child of this.of) {
      const failure = child.fail(s);
      if (failure === null) return null;
      children.push(failure);
    }
    return { text: this.text, result: false, children };
  }
  trace(s: Scope): ConditionTrace {
    const children: ConditionTrace[] = [];
    for (const child of this.of) {
      const t = child.trace(s);
      children.push(t);
      if (t.result) return { text: this.text, result: true, children };
    }
    return { text: this.text, result: false, children };
  }
}

class NotNode implements Node {
  constructor(
    private readonly text: string,
    private readonly of: Node,
  ) {}
  holds(s: Scope): boolean {
    return !this.of.holds(s);
  }
  fail(s: Scope): ConditionTrace | null {
    return this.of.holds(s) ? this.trace(s) : null;
  }
  trace(s: Scope): ConditionTrace {
    const t = this.of.trace(s);
    return { text: this.text, result: !t.result, children: [t] };
  }
}

class TerritoryNode implements Node {
  constructor(
    private readonly text: string,
    /** Index into the compiled territories; -1 when the rule set has no such territory. */
    private readonly slot: number,
  ) {}
  holds(s: Scope): boolean {
    return this.slot >= 0 && s.inTerritory(this.slot);
  }
  fail(s: Scope): ConditionTrace | null {
    if (this.holds(s)) return null;
    return this.slot >= 0
      ? s.territoryFailure(this.slot, this.text)
      : { text: this.text, result: false, values: s.locationValues() };
  }
  trace(s: Scope): ConditionTrace {
    return { text: this.text, result: this.holds(s), values: s.locationValues() };
  }
}

class FreeMailNode implements Node {
  constructor(
    private readonly text: string,
    private readonly value: boolean,
  ) {}
  holds(s: Scope): boolean {
    const domain = s.env.lead.emailDomain;
    return domain !== undefined && s.isFreeMail(domain) === this.value;
  }
  fail(s: Scope): ConditionTrace | null {
    return this.holds(s) ? null : this.traceWith(s, false);
  }
  trace(s: Scope): ConditionTrace {
    return this.traceWith(s, this.holds(s));
  }
  private traceWith(s: Scope, result: boolean): ConditionTrace {
    return { text: this.text, result, values: { emailDomain: s.env.lead.emailDomain } };
  }
}

class CompareNode implements Node {
  constructor(
    private readonly text: string,
    private readonly c: Extract<Condition, { kind: 'compare' }>,
  ) {}
  holds(s: Scope): boolean {
    return compareHolds(this.c, fieldValue(s.env.lead, this.c.field));
  }
  fail(s: Scope): ConditionTrace | null {
    const value = fieldValue(s.env.lead, this.c.field);
    return compareHolds(this.c, value) ? null : this.traceWith(value, false);
  }
  trace(s: Scope): ConditionTrace {
    const value = fieldValue(s.env.lead, this.c.field);
    return this.traceWith(value, compareHolds(this.c, value));
  }
  private traceWith(value: FieldValue | undefined, result: boolean): ConditionTrace {
    return { text: this.text, result, values: { [this.c.field]: value } };
  }
}

/** Leaves that are rare in rule files (always, account and hours tests) go through the reference code. */
class LeafNode implements Node {
  constructor(private readonly c: Leaf) {}
  holds(s: Scope): boolean {
    return leafHolds(this.c, s.env);
  }
  fail(s: Scope): ConditionTrace | null {
    return leafHolds(this.c, s.env) ? null : leafTrace(this.c, s.env, false);
  }
  trace(s: Scope): ConditionTrace {
    return leafTrace(this.c, s.env, leafHolds(this.c, s.env));
  }
}

export class CompiledRules {
  readonly territoryMatchers: ((lead: Lead) => boolean)[] = [];
  /** One node per route, in route order. */
  readonly routes: Node[];
  private readonly territorySlots = new Map<string, number>();
  private spare: Scope | undefined;

  constructor(ruleSet: RuleSet) {
    this.routes = ruleSet.routes.map((route) => this.compile(route.when, ruleSet));
  }

  private compile(c: Condition, ruleSet: RuleSet): Node {
    const text = describeCondition(c);
    switch (c.kind) {
      case 'all':
        return new AllNode(
          text,
          c.of.map((x) => this.compile(x, ruleSet)),
        );
      case 'any':
        return new AnyNode(
          text,
          c.of.map((x) => this.compile(x, ruleSet)),
        );
      case 'not':
        return new NotNode(text, this.compile(c.of, ruleSet));
      case 'territory':
        return new TerritoryNode(text, this.territorySlot(c.name, ruleSet));
      case 'free_mail':
        return new FreeMailNode(text, c.value);
      case 'compare':
        return new CompareNode(text, c);
      case 'always':
      case 'account_matched':
      case 'account_owner_active':
      case 'within_hours':
        return new LeafNode(c);
      default: {
        const never: never = c;
        throw new Error(`unhandled condition ${JSON.stringify(never)}`);
      }
    }
  }

  private territorySlot(name: string, ruleSet: RuleSet): number {
    let slot = this.territorySlots.get(name);
    if (slot === undefined) {
      const territory = Object.hasOwn(ruleSet.territories, name) ? ruleSet.territories[name] : undefined;
      if (territory === undefined) return -1;
      slot = this.territoryMatchers.length;
      this.territoryMatchers.push(compileTerritory(territory));
      this.territorySlots.set(name, slot);
    }
    return slot;
  }

  /** A scope for one decision; give it back with `release` (a nested decision gets a fresh one). */
  acquire(env: ConditionEnv): Scope {
    const scope = this.spare ?? new Scope(this);
    this.spare = undefined;
    scope.begin(env);
    return scope;
  }

  release(scope: Scope): void {
    this.spare = scope;
  }
}

export type { Scope };

const compiledCache = new WeakMap<RuleSet, CompiledRules>();

/** Rule sets are treated as immutable once loaded: a changed file arrives as a new object. */
export function compiledRules(ruleSet: RuleSet): CompiledRules {
  let compiled = compiledCache.get(ruleSet);
  if (compiled === undefined) {
    compiled = new CompiledRules(ruleSet);
    compiledCache.set(ruleSet, compiled);
  }
  return compiled;
}
