// The trace a decision returns. A decision tries routes in order until one matches, and with hundreds
// of routes most are failures: recording each as a RouteTrace object cost more than evaluating it.
// So the routes tried are kept compact (runs of routes that failed the same way, in route order) and
// `routes` is built on first read. It is an own enumerable property, so JSON, spreads, Object.keys and deep
// equality see the same plain data as before; only the building is deferred.
import type { AssignmentTrace, ConditionTrace, Route, RouteTrace, Trace } from './types.js';

type AccountTrace = Exclude<Trace['account'], undefined>;

/** Shared by every trace, so they all keep one hidden class. */
const ROUTES: PropertyDescriptor = {
  get(this: DecisionTrace): RouteTrace[] {
    return this.builtRoutes();
  },
  set(this: DecisionTrace, routes: RouteTrace[]): void {
    this.replaceRoutes(routes);
  },
  enumerable: true,
  configurable: true,
};

export class DecisionTrace implements Trace {
  declare routes: RouteTrace[];
  declare account: AccountTrace;
  declare assignments: AssignmentTrace[];
  declare steps: string[];

  /** The routes of the rule set: routes are tried in order, so the k-th tried is `#rules[k]`. */
  readonly #rules: readonly Route[];
  /**
   * The routes tried, as runs: `#counts[j]` consecutive routes that failed with the condition trace
   * `#items[j]` (routes for one territory usually fail together), or, where `#counts[j]` is 0, one
   * route with an entry of its own in `#items[j]` (the match, a hold not needed).
   */
  readonly #items: (ConditionTrace | RouteTrace)[] = [];
  readonly #counts: number[] = [];
  #built: RouteTrace[] | undefined;

  constructor(rules: readonly Route[], account: AccountTrace) {
    // Defined first so that `routes` stays the first key, as in a plain trace.
    Object.defineProperty(this, 'routes', ROUTES);
    this.account = account;
    this.assignments = [];
    this.steps = [];
    this.#rules = rules;
  }

  /** The next `count` routes tried failed with `condition` (see `CompiledRules.scan`). */
  failed(condition: ConditionTrace, count: number): void {
    if (this.#built !== undefined) {
      for (let c = 0; c < count; c++) this.#built.push(this.#failure(this.#built.length, condition));
      return;
    }
    const last = this.#items.length - 1;
    if (last >= 0 && this.#items[last] === condition && (this.#counts[last] as number) > 0) {
      this.#counts[last] = (this.#counts[last] as number) + count;
    } else {
      this.#items.push(condition);
      this.#counts.push(count);
    }
  }

  /** Records the next route tried with an entry of its own (matched, or passed over with a note). */
  enter(entry: RouteTrace): void {
    if (this.#built !== undefined) {
      this.#built.push(entry);
      return;
    }
    this.#items.push(entry);
    this.#counts.push(0);
  }

  builtRoutes(): RouteTrace[] {
    if (this.#built === undefined) {
      const built: RouteTrace[] = [];
      for (let j = 0; j < this.#items.length; j++) {
        const count = this.#counts[j] as number;
        if (count === 0) {
          built.push(this.#items[j] as RouteTrace);
          continue;
        }
        const condition = this.#items[j] as ConditionTrace;
        for (let c = 0; c < count; c++) built.push(this.#failure(built.length, condition));
      }
      this.#built = built;
    }
    return this.#built;
  }

  /** The entry of the k-th route tried when it failed with `condition`. */
  #failure(k: number, condition: ConditionTrace): RouteTrace {
    const route = this.#rules[k] as Route;
    return { index: route.index, name: route.name, matched: false, condition };
  }

  replaceRoutes(routes: RouteTrace[]): void {
    this.#built = routes;
  }

  /** What console.log and util.inspect show: the plain data, not the accessor. */
  [Symbol.for('nodejs.util.inspect.custom')](): Trace {
    return {
      routes: this.routes,
      account: this.account,
      assignments: this.assignments,
      steps: this.steps,
    };
  }
}
