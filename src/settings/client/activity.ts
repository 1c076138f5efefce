// Activity: routed leads found by email, name, CRM id, rule or rep over a time range; one lead's
// decisions with their traces, actions and results.
import { activityResponseSchema, leadDetailResponseSchema, rerouteResponseSchema } from '../schemas.js';
import { call, el, fail, status, table, when } from './api.js';

const value = (id: string) => (document.getElementById(id) as HTMLInputElement).value.trim();

async function open(leadId: string): Promise<void> {
  const lead = await call(leadDetailResponseSchema, `/activity/${encodeURIComponent(leadId)}`);
  const reroute = el('button', { type: 'button' }, 'Re-route under the current rules');
  reroute.addEventListener('click', () => {
    call(rerouteResponseSchema, `/activity/${encodeURIComponent(leadId)}/reroute`, { method: 'POST' })
      .then((r) =>
        status(r.queued ? `Lead ${leadId} queued to be routed again.` : `Lead ${leadId} is already queued.`),
      )
      .catch(fail);
  });
  document.getElementById('lead')!.replaceChildren(
    el('h3', {}, `Lead ${lead.leadId}`),
    reroute,
    ...lead.decisions.map((d) =>
      el(
        'article',
        { 'aria-label': `Decision ${d.decisionKey}` },
        el(
          'p',
          {},
          `${when(d.decidedAt)} · ${d.route ?? 'fallback'} → ${d.destination} · rule set ${d.rulesetVersion}`,
        ),
        el('pre', { class: 'trace' }, d.explanation),
        table(
          ['Action', 'Status', 'CRM id', 'Error or note'],
          d.actions.map((a) => [a.kind, a.status, a.crmId ?? '', a.error ?? a.note ?? '']),
          'Actions and their results',
        ),
      ),
    ),
  );
  document.getElementById('lead-h')!.focus();
}

type Found = Awaited<ReturnType<typeof activityResponseSchema.parse>>['leads'][number];

/** Whether the decision reached the CRM, in words: a dead-lettered or failed lead is not taken for routed. */
function writesText(w: Found['writes']): string {
  switch (w.state) {
    case 'done':
      return 'written';
    case 'pending':
      return 'waiting to be written';
    case 'failed':
      return `failed: ${w.detail ?? ''}`;
    case 'dead_letter':
      return `dead-lettered (see Health): ${w.detail ?? ''}`;
    default: {
      const never: never = w.state;
      return String(never);
    }
  }
}

const leads = (n: number): string => `${n} routed ${n === 1 ? 'lead' : 'leads'}`;

/** `3 routed leads, 1 of them dead-lettered, 1 with a failed CRM write`. */
function foundText(found: Found[]): string {
  const dead = found.filter((l) => l.writes.state === 'dead_letter').length;
  const failed = found.filter((l) => l.writes.state === 'failed').length;
  return [
    leads(found.length),
    ...(dead === 0 ? [] : [`${dead} of them dead-lettered`]),
    ...(failed === 0 ? [] : [`${failed} with a failed CRM write`]),
  ].join(', ');
}

async function search(): Promise<void> {
  const params = new URLSearchParams();
  for (const k of ['q', 'route', 'owner']) if (value(k) !== '') params.set(k, value(k));
  for (const k of ['from', 'to']) if (value(k) !== '') params.set(k, String(Date.parse(value(k) + 'Z')));
  const found = await call(activityResponseSchema, `/activity?${params.toString()}`);
  document.getElementById('results')!.replaceChildren(
    table(
      ['When', 'Lead', 'Rule', 'Destination', 'CRM write', 'Rule set', ''],
      found.leads.map((l) => {
        const button = el('button', { type: 'button', 'aria-label': `Open ${l.email ?? l.leadId}` }, 'Open');
        button.addEventListener('click', () => {
          open(l.leadId).catch(fail);
        });
        return [
          when(l.decidedAt),
          `${l.email ?? l.leadId} ${l.name}`.trim(),
          l.route ?? 'fallback',
          l.destination,
          el(
            'span',
            { class: l.writes.state === 'failed' || l.writes.state === 'dead_letter' ? 'error' : '' },
            writesText(l.writes),
          ),
          l.rulesetVersion,
          button,
        ];
      }),
      foundText(found.leads),
    ),
  );
  status(`${foundText(found.leads)} found.`);
}

export function activityPage(): Promise<void> {
  document.getElementById('lead-h')!.setAttribute('tabindex', '-1');
  document.getElementById('search-form')!.addEventListener('submit', (e) => {
    e.preventDefault();
    search().catch(fail);
  });
  return search();
}
