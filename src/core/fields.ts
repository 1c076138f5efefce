// Which lead fields a rule set reads: connectors fetch exactly these, the CLI checks them against a file.
import type { Condition, Destination, RouteActions, RuleSet } from './types.js';

function fromCondition(c: Condition, out: Set<string>): void {
  switch (c.kind) {
    case 'compare':
      out.add(c.field);
      return;
    case 'all':
    case 'any':
      for (const child of c.of) fromCondition(child, out);
      return;
    case 'not':
      fromCondition(c.of, out);
      return;
    case 'territory':
      out.add('country').add('state').add('postalCode').add('city');
      return;
    case 'free_mail':
      out.add('email');
      return;
    case 'always':
    case 'account_matched':
    case 'account_owner_active':
    case 'within_hours':
      return;
    default: {
      const never: never = c;
      throw new Error(`unhandled condition ${JSON.stringify(never)}`);
    }
  }
}

function fromDestination(d: Destination, out: Set<string>): void {
  if (d.kind === 'hold') {
    for (const f of d.fields) out.add(f);
    fromDestination(d.then, out);
  } else if (d.kind === 'account_owner' || d.kind === 'existing_owner') {
    fromDestination(d.fallback, out);
  }
}

const PLACEHOLDER = /\{\{\s*([\w.-]+)\s*\}\}/g;
/** Placeholders filled from the decision rather than the lead. */
export const TEMPLATE_EXTRAS: readonly string[] = ['owner', 'route', 'reason'];

/** The lead fields a template's `{{…}}` placeholders name, as spelt. */
export function templateFields(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(PLACEHOLDER))
    if (m[1] !== undefined && !TEMPLATE_EXTRAS.includes(m[1])) out.push(m[1]);
  return out;
}

function fromActions(a: RouteActions, out: Set<string>): void {
  for (const text of [a.task?.subject, a.task?.body])
    if (text !== undefined) for (const f of templateFields(text)) out.add(f);
}

/** Field names as the rule set spells them (conditions, holds, templates), in first-use order. */
export function fieldsUsedBy(ruleSet: RuleSet): string[] {
  const out = new Set<string>();
  for (const route of ruleSet.routes) {
    fromCondition(route.when, out);
    fromDestination(route.assign, out);
    fromActions(route.actions, out);
  }
  fromDestination(ruleSet.fallback, out);
  fromActions(ruleSet.fallbackActions, out);
  return [...out];
}
