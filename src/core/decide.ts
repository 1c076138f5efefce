// The routing decision: pure and deterministic. Given a lead, a rule set, the team and the rotation
// state at time `now`, it returns who owns the lead, what happens next, and why.
import { isBlank, type ConditionEnv } from './conditions.js';
import { compiledRules, type Node } from './compiled-rules.js';
import { checkRep, recordAssignment } from './availability.js';
import { pickFromPool } from './distribution.js';
import { fieldValue, isFreeMailDomain } from './normalize.js';
import { renderTemplate, routingReason, summarizeDecision } from './explain.js';
import { applyStateChanges, emptyChanges } from './state.js';
import { DecisionTrace } from './trace.js';
import { addSlaTime, slaSteps } from './sla.js';
import type {
  AccountMatch,
  Action,
  Decision,
  DecisionContext,
  Destination,
  FallbackReason,
  Lead,
  ResolvedDestination,
  Route,
  RouteActions,
  RoutingState,
  RoutingStateChanges,
  RuleSet,
  SlaSpec,
  Team,
  Trace,
} from './types.js';

/** Pool fallbacks may chain; a chain this long can only be a cycle the loader did not catch. */
const MAX_FALLBACK_DEPTH = 8;

const keepWindowCache = new WeakMap<RuleSet, number>();

/** How long rep assignment times must be kept: the longest least-loaded window of the rule set. */
function keepWindowMs(ruleSet: RuleSet): number {
  let ms = keepWindowCache.get(ruleSet);
  if (ms === undefined) {
    ms = Math.max(0, ...Object.values(ruleSet.pools).map((p) => p.loadWindowMs ?? 0));
    keepWindowCache.set(ruleSet, ms);
  }
  return ms;
}

function formatDuration(ms: number): string {
  const units: [number, string][] = [
    [604_800_000, 'w'],
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
  ];
  let rest = ms;
  let out = '';
  for (const [size, unit] of units) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out === '' ? '0s' : out;
}

function describeDestination(d: Destination): string {
  switch (d.kind) {
    case 'rep':
      return `rep ${d.email}`;
    case 'pool':
      return `pool ${d.name}`;
    case 'queue':
      return `queue ${d.name}`;
    case 'account_owner':
      return 'account owner';
    case 'existing_owner':
      return 'existing owner';
    case 'none':
      return 'no owner (automated path)';
    case 'hold':
      return `hold for ${d.fields.join(', ')}`;
    default:
      return exhaustive(d);
  }
}

function exhaustive(value: never): never {
  throw new Error(`unhandled destination ${JSON.stringify(value)}`);
}

/** The fallback reason when a named rep of this role cannot take the lead. */
const UNAVAILABLE = {
  rep: 'rep_unavailable',
  'account owner': 'account_owner_unavailable',
  'existing owner': 'existing_owner_unavailable',
} as const satisfies Record<string, FallbackReason>;

/** Carries the evolving trace and state changes through one decision. */
class Resolver {
  readonly changes: RoutingStateChanges = emptyChanges();
  readonly trace: Trace;

  constructor(
    private readonly lead: Lead,
    private readonly ruleSet: RuleSet,
    private readonly context: DecisionContext,
    private readonly now: number,
    private readonly account: AccountMatch | null,
    trace: Trace,
  ) {
    this.trace = trace;
  }

  /** False until this decision records a change: most decisions read the state as given. */
  private changed = false;

  /** The state as this decision has changed it so far (a copy only after a second assignment step). */
  private get state(): RoutingState {
    return this.changed ? applyStateChanges(this.context.state, this.changes) : this.context.state;
  }

  /** Each fallback taken, in order; allocated only when one is. */
  fallbacks: FallbackReason[] | undefined;

  fellBack(reason: FallbackReason): void {
    (this.fallbacks ??= []).push(reason);
  }

  private record(changes: RoutingStateChanges): void {
    Object.assign(this.changes.pools, changes.pools);
    Object.assign(this.changes.reps, changes.reps);
    this.changed = true;
  }

  /** Resolves a destination to a rep, a queue or nobody, following fallbacks; records every step. */
  resolve(dest: Destination, depth = 0): ResolvedDestination {
    if (depth > MAX_FALLBACK_DEPTH) {
      this.trace.steps.push('fallback chain too long: left unassigned');
      this.fellBack('fallback_chain_too_long');
      return { kind: 'none' };
    }
    switch (dest.kind) {
      case 'rep':
        return this.directRep(dest.email, 'rep', this.ruleSet.fallback, depth);
      case 'queue':
        return { kind: 'queue', name: dest.name };
      case 'none':
        return { kind: 'none' };
      case 'pool': {
        const pool = this.ruleSet.pools[dest.name];
        if (pool === undefined) {
          this.trace.steps.push(`unknown pool ${dest.name} → rule set fallback`);
          this.fellBack('unknown_pool');
          return this.resolve(this.ruleSet.fallback, depth + 1);
        }
        const picked = pickFromPool(pool, this.context.team, this.state, this.now, this.context.excludeReps, {
          keepWindowMs: keepWindowMs(this.ruleSet),
        });
        this.trace.assignments.push(picked.trace);
        this.record(picked.changes);
        if (picked.chosen !== undefined) return { kind: 'rep', email: picked.chosen };
        this.trace.steps.push(`pool ${pool.name}: nobody eligible → ${describeDestination(pool.fallback)}`);
        this.fellBack('pool_nobody_eligible');
        return this.resolve(pool.fallback, depth + 1);
      }
      case 'account_owner': {
        const owner = this.account?.account.owner;
        if (owner === undefined) {
          const why =
            this.account === null
              ? 'no account matched'
              : `account ${this.account.account.name} has no owner`;
          this.trace.steps.push(`${why} → ${describeDestination(dest.fallback)}`);
          this.fellBack(this.account === null ? 'no_account_matched' : 'account_has_no_owner');
          return this.resolve(dest.fallback, depth + 1);
        }
        return this.directRep(owner, 'account owner', dest.fallback, depth);
      }
      case 'existing_owner': {
        const owner = this.lead.owner;
        if (owner === undefined) {
          this.trace.steps.push(`lead has no owner → ${describeDestination(dest.fallback)}`);
          this.fellBack('lead_has_no_owner');
          return this.resolve(dest.fallback, depth + 1);
        }
        return this.directRep(owner, 'existing owner', dest.fallback, depth);
      }
      case 'hold':
        // Holds are decided at route level (they depend on which fields are missing).
        this.trace.steps.push('hold used as a fallback → treated as its timeout destination');
        return this.resolve(dest.then, depth + 1);
      default:
        return exhaustive(dest);
    }
  }

  /** A named rep gets the lead if active, present and under cap; working hours do not apply to named reps. */
  private directRep(
    email: string,
    role: keyof typeof UNAVAILABLE,
    fallback: Destination,
    depth: number,
  ): ResolvedDestination {
    const rep = this.context.team.reps[email];
    const exclude = this.context.excludeReps === undefined ? undefined : new Set(this.context.excludeReps);
    const counters = this.changes.reps[email] ?? this.context.state.reps[email];
    const check = checkRep(rep, email, counters, this.now, {
      respectHours: false,
      ...(exclude ? { exclude } : {}),
    });
    if (check.skipped !== undefined || rep === undefined) {
      this.trace.steps.push(
        `${role} ${email} skipped: ${check.detail ?? check.skipped ?? 'unknown rep'} → ${describeDestination(fallback)}`,
      );
      this.fellBack(UNAVAILABLE[role]);
      return this.resolve(fallback, depth + 1);
    }
    this.trace.steps.push(`${role} ${email} is available`);
    this.changes.reps[email] = recordAssignment(counters, rep, this.now, keepWindowMs(this.ruleSet));
    this.changed = true;
    return { kind: 'rep', email };
  }
}

/** The template placeholders a decision fills besides the lead's fields (see TaskSpec). */
interface DecisionExtras {
  route: string;
  reason: string;
}

/**
 * A rep's task whose route writes no body says why the lead came to them: the CRM shows the task
 * body (HubSpot's task body, Salesforce's Description) to the rep who opens it.
 */
const DEFAULT_TASK_BODY = 'Why this lead is yours: {{reason}}';

/** Who the lead is, in a task's words: its email, else its id. */
const leadLabel = (lead: Lead): string => lead.email ?? `lead ${lead.id}`;

/**
 * A task's subject from its template; one whose fields are all empty on this lead (`{{company}}` with no
 * company) says whom to follow up, as a task listed by a blank subject tells the rep nothing.
 */
function taskSubject(template: string, lead: Lead, extras: Record<string, string>): string {
  const subject = renderTemplate(template, lead, extras);
  return subject.trim() === '' ? `Follow up ${leadLabel(lead)}` : subject;
}

function plannedActions(
  lead: Lead,
  dest: ResolvedDestination,
  actions: RouteActions,
  sla: SlaSpec | undefined,
  team: Team,
  why: DecisionExtras,
  now: number,
  trace: Trace,
): Action[] {
  const out: Action[] = [];
  const owner = dest.kind === 'rep' ? dest.email : undefined;
  if (dest.kind === 'rep') out.push({ kind: 'set_owner', email: dest.email });
  if (dest.kind === 'queue') queueActions(lead, dest.name, team, actions, sla, why, now, trace, out);
  else if (actions.task !== undefined) {
    if (owner === undefined) {
      trace.steps.push('task not created: no single owner to assign it to');
    } else {
      const extras = { ...why, owner };
      out.push({
        kind: 'create_task',
        subject: taskSubject(actions.task.subject, lead, extras),
        body: renderTemplate(actions.task.body ?? DEFAULT_TASK_BODY, lead, extras),
        dueAt: now + actions.task.dueInMs,
        priority: actions.task.priority,
        assignee: owner,
      });
    }
  }
  if (actions.sequence !== undefined) {
    const sender = owner ?? actions.sequence.sender ?? lead.owner;
    if (sender === undefined) {
      trace.steps.push(
        `sequence ${actions.sequence.name ?? actions.sequence.id ?? ''} not enrolled: no owner and no sender configured`,
      );
    } else {
      out.push({ kind: 'enroll_sequence', sequence: actions.sequence, sender });
    }
  }
  return out;
}

/**
 * A queue's lead lands on the queue's CRM target: its owner, or its team plus a task naming the team
 * (due as the route's task says, else by the SLA's first touch, else now). A route's task goes to the
 * queue's owner. Never nothing: that would be the silent catch-all.
 */
function queueActions(
  lead: Lead,
  queue: string,
  team: Team,
  actions: RouteActions,
  sla: SlaSpec | undefined,
  why: DecisionExtras,
  now: number,
  trace: Trace,
  out: Action[],
): void {
  const target = team.queues[queue]?.target;
  if (target === undefined) trace.steps.push(`queue ${queue} has no CRM target in the team`);
  out.push(target === undefined ? { kind: 'set_queue', queue } : { kind: 'set_queue', queue, target });
  const task = actions.task;
  if (task === undefined && target?.kind !== 'team') return;
  const extras = { ...why, owner: queue };
  const queueTask: Action = {
    kind: 'queue_task',
    queue,
    subject:
      task === undefined
        ? `Pick up ${leadLabel(lead)} from queue ${queue}`
        : taskSubject(task.subject, lead, extras),
    body: renderTemplate(
      task?.body ?? `Routed by "${why.route}" to queue ${queue}: pick it up.`,
      lead,
      extras,
    ),
    dueAt: now + (task?.dueInMs ?? sla?.firstTouchMs ?? 0),
    priority: task?.priority ?? 'medium',
  };
  if (target !== undefined) queueTask.target = target;
  out.push(queueTask);
}

/**
 * The decision's SLA: the first-touch deadline on the SLA's clock (on working hours, the chosen rep's),
 * and the policy its timer follows.
 */
function slaFor(
  dest: ResolvedDestination,
  sla: SlaSpec | undefined,
  team: Team,
  now: number,
): Decision['sla'] {
  if (sla === undefined || (dest.kind !== 'rep' && dest.kind !== 'queue')) return undefined;
  const owner = dest.kind === 'rep' ? team.reps[dest.email] : undefined;
  const out: NonNullable<Decision['sla']> = {
    firstTouchBy: addSlaTime(now, sla.firstTouchMs, sla.clock, owner),
    onBreach: sla.onBreach,
  };
  if (sla.clock !== undefined || sla.steps !== undefined) {
    out.clock = sla.clock ?? 'wall';
    out.steps = slaSteps(sla);
    out.firstTouchMs = sla.firstTouchMs;
  }
  return out;
}

/**
 * Decides one lead. Routes are tried top to bottom; the first that matches wins; when none does, the
 * rule set's fallback applies. `now` is the decision time in epoch milliseconds.
 */
export function decide(lead: Lead, ruleSet: RuleSet, context: DecisionContext, now: number): Decision {
  const account = context.accounts?.match(lead) ?? null;
  const trace = new DecisionTrace(
    ruleSet.routes,
    account === null
      ? null
      : {
          accountId: account.account.id,
          accountName: account.account.name,
          owner: account.account.owner,
          by: account.by,
          score: account.score,
          candidates: account.candidates,
          tieBreak: account.tieBreak,
        },
  );
  const env: ConditionEnv = {
    lead,
    now,
    territories: ruleSet.territories,
    pools: ruleSet.pools,
    team: context.team,
    account,
    isFreeMail: context.isFreeMail ?? isFreeMailDomain,
  };
  const resolver = new Resolver(lead, ruleSet, context, now, account, trace);
  const deciding: Deciding = { lead, ruleSet, context, now, resolver };
  const compiled = compiledRules(ruleSet);
  const scope = compiled.acquire(env);
  try {
    const routes = ruleSet.routes;
    for (let from = 0; ;) {
      const i = compiled.scan(scope, from, routes.length, trace);
      if (i >= routes.length) break;
      if (i >= compiled.routes.length)
        throw new RangeError(`rule set ${ruleSet.name}: routes changed after compiling`);
      const route = routes[i] as Route;
      const node = compiled.routes[i] as Node;
      const condition = node.trace(scope);
      const assign = route.assign;
      if (assign.kind === 'hold') {
        const missing = assign.fields.filter((f) => isBlank(fieldValue(lead, f)));
        if (missing.length === 0) {
          trace.enter({
            index: route.index,
            name: route.name,
            matched: false,
            condition,
            note: `hold not needed: ${assign.fields.join(', ')} present`,
          });
          from = i + 1;
          continue;
        }
        trace.enter({ index: route.index, name: route.name, matched: true, condition });
        const since = context.hold?.route === route.name ? context.hold.since : now;
        const until = since + assign.timeoutMs;
        if (now < until) {
          trace.steps.push(
            `held for enrichment: waiting for ${missing.join(', ')} up to ${formatDuration(assign.timeoutMs)}`,
          );
          return finish(deciding, route, { kind: 'hold', fields: missing, until });
        }
        trace.steps.push(
          `hold timed out after ${formatDuration(assign.timeoutMs)} still missing ${missing.join(', ')} → ${describeDestination(assign.then)}`,
        );
        resolver.fellBack('hold_timed_out');
        return finish(deciding, route, resolver.resolve(assign.then));
      }
      trace.enter({ index: route.index, name: route.name, matched: true, condition });
      return finish(deciding, route, resolver.resolve(assign));
    }
  } finally {
    compiled.release(scope);
  }
  trace.steps.push(`no route matched → rule set fallback: ${describeDestination(ruleSet.fallback)}`);
  resolver.fellBack('no_route_matched');
  return finish(deciding, null, resolver.resolve(ruleSet.fallback));
}

/** Builds the decision once the destination is resolved (the planned actions may add trace steps). */
/** One decision in progress: its inputs and the resolver carrying its trace and state changes. */
interface Deciding {
  lead: Lead;
  ruleSet: RuleSet;
  context: DecisionContext;
  now: number;
  resolver: Resolver;
}

/** The decision for a matched route (or the rule set's fallback when `route` is null). */
function finish(
  { lead, ruleSet, context, now, resolver }: Deciding,
  route: Route | null,
  dest: ResolvedDestination,
): Decision {
  const actions: RouteActions = route?.actions ?? ruleSet.fallbackActions;
  const sla: SlaSpec | undefined = route?.sla;
  const trace = resolver.trace;
  const routeName = route?.name ?? 'fallback';
  const decision: Decision = {
    leadId: lead.id,
    ruleSet: { name: ruleSet.name, version: ruleSet.version },
    decidedAt: now,
    route: route === null ? null : { index: route.index, name: route.name },
    destination: dest,
    actions:
      dest.kind === 'hold'
        ? []
        : plannedActions(
            lead,
            dest,
            actions,
            sla,
            context.team,
            { route: routeName, reason: routingReason(routeName, trace, context.team) },
            now,
            trace,
          ),
    sla: slaFor(dest, sla, context.team, now),
    trace,
    stateChanges: resolver.changes,
  };
  if (resolver.fallbacks !== undefined) decision.fallbacks = resolver.fallbacks;
  if (actions.note && dest.kind !== 'hold') {
    decision.actions.push({ kind: 'write_note', text: summarizeDecision(decision, lead, context.team) });
  }
  return decision;
}

export { describeDestination, formatDuration };
