// Renders decisions for people: one line for logs and notes, a full explanation for `explain`.
import { fieldValue } from './normalize.js';
import { describeStep, escalationTarget } from './sla.js';
import type {
  Action,
  ConditionTrace,
  Decision,
  LeadValue,
  Lead,
  QueueTarget,
  ResolvedDestination,
  Team,
  Trace,
} from './types.js';

const timeFormats = new Map<string, Intl.DateTimeFormat>();
/**
 * Per zone, the last minute rendered and its text: formatToParts costs tens of microseconds, and a
 * burst's tasks fall due in the same few minutes. Zone offsets change on whole minutes, so a minute has
 * one text.
 */
const lastMinute = new Map<string, { minute: number; text: string }>();

/**
 * `2026-11-23 10:45 CET` in the given zone (UTC when none), for due times in lines and notes: a time
 * without its date and zone reads like the past to anyone in another zone or on another day.
 */
export function localDateTime(ms: number, timezone = 'UTC'): string {
  const minute = Math.floor(ms / 60_000);
  const last = lastMinute.get(timezone);
  if (last?.minute === minute) return last.text;
  let fmt = timeFormats.get(timezone);
  if (fmt === undefined) {
    fmt = new Intl.DateTimeFormat('en-GB', {
      timeZone: timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'short',
    });
    timeFormats.set(timezone, fmt);
  }
  const part: Partial<Record<Intl.DateTimeFormatPartTypes, string>> = {};
  for (const p of fmt.formatToParts(new Date(ms))) part[p.type] = p.value;
  const text = `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute} ${part.timeZoneName}`;
  lastMinute.set(timezone, { minute, text });
  return text;
}

function show(v: LeadValue | undefined): string {
  if (Array.isArray(v)) return v.length === 0 ? '∅' : v.join('; ');
  return v === undefined || v === null || v === '' ? '∅' : String(v);
}

/** A template split once into literal text (even indexes) and placeholder names (odd indexes). */
const parsedTemplates = new Map<string, readonly string[]>();
/** Templates come from rule files, so they are few; the bound only guards against generated ones. */
const MAX_PARSED_TEMPLATES = 1000;

function parseTemplate(template: string): readonly string[] {
  let parts = parsedTemplates.get(template);
  if (parts === undefined) {
    const out: string[] = [];
    let last = 0;
    for (const m of template.matchAll(/\{\{\s*([\w.-]+)\s*\}\}/g)) {
      out.push(template.slice(last, m.index), m[1] ?? '');
      last = m.index + m[0].length;
    }
    out.push(template.slice(last));
    parts = out;
    if (parsedTemplates.size >= MAX_PARSED_TEMPLATES) parsedTemplates.clear();
    parsedTemplates.set(template, parts);
  }
  return parts;
}

/** Fills `{{field}}` placeholders from the lead (any field name a rule may use) and the extras. */
export function renderTemplate(template: string, lead: Lead, extras: Record<string, string>): string {
  const parts = parseTemplate(template);
  let out = parts[0] ?? '';
  for (let i = 1; i < parts.length; i += 2) {
    const name = parts[i] ?? '';
    const extra = extras[name];
    if (extra !== undefined) {
      out += extra;
    } else {
      const value = fieldValue(lead, name);
      out +=
        value === undefined || value === null ? '' : Array.isArray(value) ? value.join(', ') : String(value);
    }
    out += parts[i + 1] ?? '';
  }
  return out;
}

function repName(team: Team, email: string): string {
  return team.reps[email]?.name ?? email;
}

function destinationText(dest: ResolvedDestination, team: Team): string {
  switch (dest.kind) {
    case 'rep':
      return repName(team, dest.email);
    case 'queue':
      return `queue ${dest.name}`;
    case 'none':
      return 'no owner (automated path)';
    case 'hold':
      return `held for ${dest.fields.join(', ')} until ${new Date(dest.until).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
    default: {
      const never: never = dest;
      return String(never);
    }
  }
}

function targetText(target: QueueTarget | undefined): string {
  if (target === undefined) return 'no CRM target';
  return target.kind === 'owner' ? `owner ${target.owner}` : `team ${target.team}`;
}

function actionText(a: Action, team: Team): string {
  switch (a.kind) {
    case 'set_owner':
      return `owner ${repName(team, a.email)}`;
    case 'set_queue':
      return `queue ${a.queue} (${targetText(a.target)})`;
    case 'create_task':
      return `task due ${localDateTime(a.dueAt, team.reps[a.assignee]?.timezone)}`;
    case 'queue_task':
      return `queue task due ${localDateTime(a.dueAt)}`;
    case 'enroll_sequence':
      return `sequence ${a.sequence.name ?? a.sequence.id ?? '?'}`;
    case 'write_note':
      return 'note';
    default: {
      const never: never = a;
      return String(never);
    }
  }
}

/**
 * Why a lead went where it did, in one line: the route that matched (`fallback` for the rule set's), the
 * last pool and how it picked, and up to three reps it skipped and why. The routing note's parentheses
 * and the `{{reason}}` of a task, so the rep reads the same reason on the task as in the note.
 */
export function routingReason(
  routeName: string,
  trace: Pick<Trace, 'assignments' | 'steps'>,
  team: Team,
): string {
  const why: string[] = [routeName];
  // A person the rule named who could not take the lead (inactive, out of office, at a cap): why it
  // went to the fallback instead.
  for (const step of trace.steps) if (step.includes(' skipped: ')) why.push(step.split(' → ')[0] ?? step);
  const last = trace.assignments.at(-1);
  if (last !== undefined) {
    why.push(`pool ${last.pool}, ${last.reason}`);
    const skipped = last.candidates.filter((c) => c.skipped !== undefined);
    for (const c of skipped.slice(0, 3))
      why.push(`${repName(team, c.email)} ${(c.skipped ?? '').replace(/_/g, ' ')}`);
    if (skipped.length > 3) why.push(`${skipped.length - 3} more skipped`);
  }
  return why.join('; ');
}

/** "ana@acme.de → Bo Berg (Enterprise demo DACH; pool emea-ae, weighted 2:1; Ada out of office) · task due 2026-11-23 10:45 CET · sequence enterprise-demo" */
export function summarizeDecision(decision: Decision, lead: Lead, team: Team): string {
  const who = lead.email ?? `lead ${lead.id}`;
  const why = routingReason(decision.route?.name ?? 'fallback', decision.trace, team);
  const parts = [`${who} → ${destinationText(decision.destination, team)} (${why})`];
  for (const a of decision.actions) {
    if (a.kind === 'create_task' || a.kind === 'queue_task' || a.kind === 'enroll_sequence')
      parts.push(actionText(a, team));
  }
  return parts.join(' · ');
}

function conditionLines(t: ConditionTrace, depth: number, out: string[]): void {
  const values =
    t.values === undefined
      ? ''
      : ` [${Object.entries(t.values)
          .map(([k, v]) => `${k}=${show(v)}`)
          .join(', ')}]`;
  out.push(`${'  '.repeat(depth)}${t.result ? '✓' : '✗'} ${t.text}${values}`);
  for (const child of t.children ?? []) conditionLines(child, depth + 1, out);
}

/** The full human explanation: every route tried, the account match, every candidate, every step. */
export function explainDecision(decision: Decision, lead: Lead, team: Team): string {
  const out: string[] = [];
  out.push(
    `Lead ${lead.email ?? lead.id} (id ${lead.id}) decided ${new Date(decision.decidedAt).toISOString()} by rule set "${decision.ruleSet.name}" ${decision.ruleSet.version}`,
  );
  const acct = decision.trace.account;
  if (acct === null || acct === undefined) {
    out.push('Account: none matched');
  } else {
    const by = acct.by.replace(/_/g, ' ');
    const tie =
      acct.tieBreak === undefined ? '' : `; ${acct.candidates} candidates, decided by ${acct.tieBreak}`;
    out.push(
      `Account: ${acct.accountName} (${acct.accountId}) by ${by}${acct.by === 'company_name' ? ` (similarity ${acct.score.toFixed(2)})` : ''}, owner ${acct.owner ?? 'none'}${tie}`,
    );
  }
  out.push('Routes:');
  for (const r of decision.trace.routes) {
    out.push(
      `  ${r.matched ? '✓' : '✗'} ${r.index + 1}. ${r.name}${r.note === undefined ? '' : ` — ${r.note}`}`,
    );
    conditionLines(r.condition, 3, out);
  }
  if (decision.route === null) out.push('  (no route matched: rule set fallback)');
  for (const a of decision.trace.assignments) {
    out.push(`Pool ${a.pool} (${a.strategy.replace(/_/g, ' ')}):`);
    for (const c of a.candidates) {
      const mark =
        c.email === a.chosen
          ? '→ chosen'
          : c.skipped !== undefined
            ? `skipped: ${c.detail ?? c.skipped.replace(/_/g, ' ')}`
            : 'eligible';
      out.push(`  ${repName(team, c.email)} <${c.email}> ${mark}`);
    }
    out.push(`  ${a.fellBack ? 'nobody eligible: fallback used' : a.reason}`);
  }
  for (const s of decision.trace.steps) out.push(`Step: ${s}`);
  out.push(`Outcome: ${destinationText(decision.destination, team)}`);
  for (const a of decision.actions) {
    switch (a.kind) {
      case 'create_task':
        out.push(
          `Action: task "${a.subject}" for ${repName(team, a.assignee)}, due ${new Date(a.dueAt).toISOString()} (${a.priority})`,
        );
        break;
      case 'queue_task':
        out.push(
          `Action: task "${a.subject}" for queue ${a.queue} (${targetText(a.target)}), due ${new Date(a.dueAt).toISOString()} (${a.priority})`,
        );
        break;
      case 'enroll_sequence':
        out.push(`Action: enroll in sequence ${a.sequence.name ?? a.sequence.id ?? '?'} sent by ${a.sender}`);
        break;
      case 'write_note':
        out.push(`Action: note "${a.text}"`);
        break;
      case 'set_owner':
      case 'set_queue':
        out.push(`Action: ${actionText(a, team)}`);
        break;
      default: {
        const never: never = a;
        out.push(String(never));
      }
    }
  }
  if (decision.sla !== undefined) {
    const sla = decision.sla;
    if (sla.steps !== undefined) {
      const clock = sla.clock === 'working_hours' ? ' (on the owner’s working hours)' : '';
      out.push(`SLA: first touch by ${new Date(sla.firstTouchBy).toISOString()}${clock}`);
      for (const step of sla.steps) out.push(`SLA step: ${describeStep(step)}`);
    } else {
      const breach =
        sla.onBreach.kind === 'escalate'
          ? `escalate to ${escalationTarget(sla.onBreach.to)}`
          : sla.onBreach.kind === 'reroute'
            ? 're-route'
            : 'remind';
      out.push(`SLA: first touch by ${new Date(sla.firstTouchBy).toISOString()}, on breach ${breach}`);
    }
  }
  return out.join('\n');
}
