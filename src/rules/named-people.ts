// Every person a rule file names by email, at the path that names them, so a check against the CRM
// account's users (queue-owners.ts) can point at the rule's line: each `{ rep }` destination (a route's
// assign and every fallback inside it, a pool's fallback, the rule set's fallback), each escalation rep
// (on_breach and steps), each sequence's sender, and the pools' members where no team lists them (a
// team's rep check covers those it does).
import type { SequenceSpec, SlaEscalation, Team } from '../core/types.js';
import type { PathSegment } from './diagnostics.js';
import type { DraftDestination } from './parse-destination.js';
import type { RulePerson } from './queue-owners.js';
import type { RawRuleSet } from './schema.js';

export interface NamedPerson {
  path: PathSegment[];
  person: RulePerson;
}

/**
 * The people `raw` names. `team`: the team the rules route with; where there is one, it lists the pools'
 * members, so they are left out.
 */
export function namedPeople(raw: RawRuleSet, team: Team | undefined): NamedPerson[] {
  const out: NamedPerson[] = [];
  const destination = (d: DraftDestination | undefined, at: PathSegment[], ruleSetFallback = false): void => {
    switch (d?.kind) {
      case undefined:
      case 'pool':
      case 'queue':
      case 'none':
        return;
      case 'rep':
        out.push({
          path: [...at, 'rep'],
          person: { role: 'destination rep', email: d.email, ruleSetFallback },
        });
        return;
      case 'account_owner':
      case 'existing_owner':
        return destination(d.fallback, [...at, d.kind, 'fallback'], ruleSetFallback);
      case 'hold':
        return destination(d.then, [...at, 'hold', 'then'], ruleSetFallback);
      default: {
        const never: never = d;
        return never;
      }
    }
  };
  const escalation = (to: SlaEscalation, at: PathSegment[]): void => {
    if (to.kind === 'rep')
      out.push({ path: [...at, 'escalate', 'rep'], person: { role: 'escalation rep', email: to.email } });
  };
  const sender = (sequence: SequenceSpec | undefined, at: PathSegment[]): void => {
    if (sequence?.sender !== undefined)
      out.push({
        path: [...at, 'sequence', 'sender'],
        person: { role: 'sequence sender', email: sequence.sender },
      });
  };

  for (const [name, pool] of Object.entries(raw.pools ?? {})) {
    if (team === undefined)
      pool.members.forEach((email, i) =>
        out.push({ path: ['pools', name, 'members', i], person: { role: 'pool member', email, pool: name } }),
      );
    destination(pool.fallback, ['pools', name, 'fallback']);
  }
  raw.routes.forEach((route, i) => {
    const at = ['routes', i];
    destination(route.assign, [...at, 'assign']);
    sender(route.sequence, at);
    const breach = route.sla?.on_breach;
    if (breach?.kind === 'escalate') escalation(breach.to, [...at, 'sla', 'on_breach']);
    route.sla?.steps?.forEach((step, j) => {
      if (step.kind === 'escalate') escalation(step.to, [...at, 'sla', 'steps', j]);
    });
  });
  destination(raw.fallback, ['fallback'], true);
  sender(raw.fallback_actions?.sequence, ['fallback_actions']);
  return out;
}
