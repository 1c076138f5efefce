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
import { LEAD_FIELDS } from './types.js';
import type { Condition, ConditionTrace, Lead, LeadField, LeadValue, RuleSet } from './types.js';

const LEAD_FIELD_NAMES: ReadonlySet<string> = new Set(LEAD_FIELDS);

type Values = Record<string, LeadValue | undefined>;

/** Per-decision memo. Reused between decisions (stamped), so a decision allocates none of it. */
class Scope {
  env!: ConditionEnv;
  private stamp = 0;
  private readonly tested: Int32Array;
  private readonly inside: Uint8Array;
  private readonly failStamp: Int32Array;
  private readonly failures: (ConditionTrace | undefined)[];
  /** Stamped for the country-bound territories that name the lead's country. */
  private readonly named: Int32Array;
  private namedStamp = 0;
  private location: Values | undefined;
  private freeMail = -1;

  constructor(private readonly compiled: CompiledRules) {
    const n = compiled.territoryMatchers.length;
    this.tested = new Int32Array(n);
    this.inside = new Uint8Array(n);
    this.failStamp = new Int32Array(n);
    this.failures = new Array<ConditionTrace | undefined>(n).fill(undefined);
    this.named = new Int32Array(n);
  }

  begin(env: ConditionEnv): void {
    this.env = env;
    this.stamp = (this.stamp + 1) | 0;
    if (this.stamp === 0) {
      // Wrapped around: forget every stamp rather than trust an old one.
      this.tested.fill(0);
      this.failStamp.fill(0);
      this.named.fill(0);
      this.namedStamp = 0;
      this.stamp = 1;
    }
    this.location = undefined;
    this.freeMail = -1;
  }

  inTerritory(slot: number): boolean {
    if (this.tested[slot] !== this.stamp) {
      const compiled = this.compiled;
      const matcher = compiled.territoryMatchers[slot];
      // A territory whose every clause names countries cannot hold a lead from any other country.
      const possible = compiled.countryBound[slot] !== 1 || this.namesCountry(slot);
      this.inside[slot] = possible && matcher !== undefined && matcher(this.env.lead) ? 1 : 0;
      this.tested[slot] = this.stamp;
    }
    return this.inside[slot] === 1;
  }

  private namesCountry(slot: number): boolean {
    if (this.namedStamp !== this.stamp) {
      const country = this.env.lead.country;
      const slots = country === undefined ? undefined : this.compiled.byCountry.get(country);
      if (slots !== undefined) for (const s of slots) this.named[s] = this.stamp;
      this.namedStamp = this.stamp;
    }
    return this.named[slot] === this.stamp;
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

/** Receives the routes a scan passes over, in order. */
export interface FailureSink {
  /** The next `count` routes failed, each with the trace `condition`. */
  failed(condition: ConditionTrace, count: number): void;
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
  /** Set when the rule names a normalized lead field exactly, which `fieldValue` reads directly. */
  private readonly direct: LeadField | undefined;

  constructor(
    private readonly text: string,
    private readonly c: Extract<Condition, { kind: 'compare' }>,
  ) {
    this.direct = LEAD_FIELD_NAMES.has(c.field) ? (c.field as LeadField) : undefined;
  }
  private value(s: Scope): LeadValue | undefined {
    return this.direct !== undefined ? s.env.lead[this.direct] : fieldValue(s.env.lead, this.c.field);
  }
  holds(s: Scope): boolean {
    return compareHolds(this.c, this.value(s));
  }
  fail(s: Scope): ConditionTrace | null {
    const value = this.value(s);
    return compareHolds(this.c, value) ? null : this.traceWith(value, false);
  }
  trace(s: Scope): ConditionTrace {
    const value = this.value(s);
    return this.traceWith(value, compareHolds(this.c, value));
  }
  private traceWith(value: LeadValue | undefined, result: boolean): ConditionTrace {
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
  /** Per territory slot: 1 when every clause lists countries (the lead's country must be one of them). */
  readonly countryBound: number[] = [];
  /** Country code → the country-bound territory slots that list it. */
  readonly byCountry = new Map<string, number[]>();
  /** One node per route, in route order. */
  readonly routes: Node[];
  /**
   * Per route: the territory slot of its first conjunct, or -1. When the lead is outside it, that
   * territory's failure is the route's failure, so most routes are ruled out without walking the tree.
   */
  private readonly guards: Int32Array;
  private readonly guardTexts: string[];
  /** Per guarded route: where its run of consecutive routes with the same guard ends (exclusive). */
  private readonly runEnds: Int32Array;
  private readonly territorySlots = new Map<string, number>();
  private spare: Scope | undefined;

  constructor(ruleSet: RuleSet) {
    this.routes = ruleSet.routes.map((route) => this.compile(route.when, ruleSet));
    this.guards = new Int32Array(this.routes.length).fill(-1);
    this.guardTexts = ruleSet.routes.map((route, i) => {
      const first = route.when.kind === 'all' ? route.when.of[0] : route.when;
      if (first?.kind !== 'territory') return '';
      this.guards[i] = this.territorySlot(first.name, ruleSet);
      return describeCondition(first);
    });
    this.runEnds = new Int32Array(this.routes.length);
    for (let i = this.routes.length - 1; i >= 0; i--) {
      const next = i + 1 < this.routes.length && this.guards[i + 1] === this.guards[i];
      this.runEnds[i] = next ? (this.runEnds[i + 1] as number) : i + 1;
    }
  }

  /**
   * Evaluates routes `from` … `end - 1` in order and returns the index of the first that matches (`end`
   * when none does). The routes passed over are reported to `sink` in order, each with its failure
   * trace exactly as its node's `fail` gives it; a run of routes that fail the same way comes as one
   * call with its length.
   */
  scan(s: Scope, from: number, end: number, sink: FailureSink): number {
    const routes = this.routes;
    const guards = this.guards;
    const last = Math.min(end, routes.length);
    let i = from;
    while (i < last) {
      const guard = guards[i] as number;
      if (guard >= 0 && !s.inTerritory(guard)) {
        // The whole run with this guard fails the same way (routes for one territory come together).
        const runEnd = Math.min(this.runEnds[i] as number, last);
        sink.failed(s.territoryFailure(guard, this.guardTexts[i] as string), runEnd - i);
        i = runEnd;
        continue;
      }
      const failure = (routes[i] as Node).fail(s);
      if (failure === null) return i;
      sink.failed(failure, 1);
      i++;
    }
    return last;
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
      const bound = territory.clauses.every((clause) => clause.country !== undefined);
      this.countryBound.push(bound ? 1 : 0);
      if (bound) {
        for (const country of new Set(territory.clauses.flatMap((clause) => clause.country ?? []))) {
          const slots = this.byCountry.get(country);
          if (slots === undefined) this.byCountry.set(country, [slot]);
          else slots.push(slot);
        }
      }
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

export type { Node, Scope };

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
