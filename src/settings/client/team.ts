// Team: the roster (weight, caps, hours, time zone, out of office; who is skipped now and why), one rep
// edited and published at a time, and each pool's rotation: who is next, and each rep's leads from the
// pool in the last 24 hours against its weighted target, as a chart. The roster includes the CRM's
// users: new ones, and deactivated ones marked.
import { teamPublishResponseSchema, teamResponseSchema } from '../schemas.js';
import { ApiError, bringIntoView, call, describe, el, status, table, type Problem } from './api.js';
import { svg } from './chart.js';

type TeamView = Awaited<ReturnType<typeof load>>;
const load = () => call(teamResponseSchema, '/team');
const input = (id: string) => document.getElementById(id) as HTMLInputElement;
const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const num = (v: string): number | null => (v.trim() === '' ? null : Number(v));

type Pool = TeamView['pools'][number];

/**
 * Fairness made visible: each member's leads in the current window (bar) against the weighted target
 * (a dark mark). The chart is one image with a text alternative listing the same numbers.
 */
export function fairnessChart(pool: Pool): SVGSVGElement {
  const labelW = 170;
  const barW = 300;
  const rowH = 22;
  const max = Math.max(1, ...pool.members.flatMap((m) => [m.assigned, m.target]));
  const x = (n: number) => labelW + (n / max) * barW;
  const summary = pool.members.map((m) => `${m.email}: ${m.assigned} leads, target ${m.target}`).join('; ');
  const id = `fair-${pool.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return svg(
    'svg',
    {
      class: 'fairness',
      role: 'img',
      'aria-labelledby': `${id}-t ${id}-d`,
      width: labelW + barW + 60,
      height: pool.members.length * rowH + 24,
      viewBox: `0 0 ${labelW + barW + 60} ${pool.members.length * rowH + 24}`,
    },
    svg(
      'title',
      { id: `${id}-t` },
      `Leads in the last 24 hours against the weighted target in pool ${pool.name}`,
    ),
    svg('desc', { id: `${id}-d` }, summary),
    ...pool.members.flatMap((m, i) => {
      const y = i * rowH + 4;
      const behind = m.assigned < m.target - 0.5;
      return [
        svg('text', { x: 0, y: y + 13, 'font-size': 12 }, m.email),
        svg('rect', {
          x: labelW,
          y,
          width: Math.max(1, x(m.assigned) - labelW),
          height: rowH - 8,
          fill: behind ? '#d98c4a' : '#4a90d9',
        }),
        svg('line', {
          x1: x(m.target),
          x2: x(m.target),
          y1: y - 2,
          y2: y + rowH - 6,
          stroke: '#1d2733',
          'stroke-width': 2,
        }),
        svg('text', { x: labelW + barW + 8, y: y + 13, 'font-size': 12 }, `${m.assigned} / ${m.target}`),
      ];
    }),
    svg(
      'text',
      { x: labelW, y: pool.members.length * rowH + 18, 'font-size': 11 },
      'bar: leads from the pool in the last 24 hours · mark: weighted target',
    ),
  );
}

function render(team: TeamView): void {
  const synced =
    team.crm.syncedAt === null
      ? "The CRM's users have not been listed yet."
      : `CRM users listed ${new Date(team.crm.syncedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC; reps marked "CRM only" are routed with weight 1 until you edit them here.`;
  document.getElementById('roster')!.replaceChildren(
    el('p', { class: team.crm.error === null ? '' : 'error' }, team.crm.error ?? synced),
    table(
      ['Rep', 'Source', 'Weight', 'Caps (day / week)', 'Time zone', 'Hours', 'Out of office', 'Now'],
      team.reps.map((r) => [
        r.name === null ? r.email : `${r.name} (${r.email})`,
        r.inTeam ? 'team' : 'CRM only (new)',
        String(r.weight),
        `${r.capPerDay ?? '–'} / ${r.capPerWeek ?? '–'}`,
        r.timezone,
        r.hours.join(', ') || 'always',
        r.outOfOffice.join(', '),
        r.active ? (r.skippedNow ?? 'available') : `inactive: ${r.inactiveReason ?? ''}`,
      ]),
      `Team ${team.version ?? '(default)'}`,
    ),
  );
  const select = document.getElementById('rep-email') as HTMLSelectElement;
  const chosen = select.value;
  select.replaceChildren(...team.reps.map((r) => el('option', { value: r.email }, r.email)));
  if (chosen !== '') select.value = chosen;
  fill(team);
  document.getElementById('pools')!.replaceChildren(
    ...team.pools.map((p) => {
      return el(
        'section',
        { 'aria-label': `Pool ${p.name}` },
        el('h3', {}, `${p.name} (${p.strategy.replace(/_/g, ' ')}) — next: ${p.next ?? 'nobody available'}`),
        fairnessChart(p),
        table(
          ['Rep', 'Weight', 'Leads (24 h)', 'Weighted target', 'Owed (weighted)', 'Skipped now'],
          p.members.map((m) => [
            m.email,
            String(m.weight),
            String(m.assigned),
            String(m.target),
            String(m.owed),
            m.skippedNow ?? '',
          ]),
          `Rotation of ${p.name}`,
        ),
      );
    }),
  );
}

function fill(team: TeamView): void {
  const rep = team.reps.find(
    (r) => r.email === (document.getElementById('rep-email') as HTMLSelectElement).value,
  );
  if (rep === undefined) return;
  input('rep-weight').value = String(rep.weight);
  input('rep-cap-day').value = rep.capPerDay === null ? '' : String(rep.capPerDay);
  input('rep-cap-week').value = rep.capPerWeek === null ? '' : String(rep.capPerWeek);
  input('rep-timezone').value = rep.timezone;
  input('rep-hours').value = rep.hours.join(', ');
  input('rep-ooo').value = rep.outOfOffice.join(', ');
}

/** Where an edit's outcome is said, under the Save button: saved (polite), or why not (an alert). */
const REP_MESSAGE = 'rep-message';
const REP_PROBLEMS = 'rep-problems';

/** The team file's keys of a rep (after `reps["…"].`) → the form's field for them. */
const FIELD_OF: [RegExp, string][] = [
  [/^out_of_office\b/, 'rep-ooo'],
  [/^hours\b/, 'rep-hours'],
  [/^timezone\b/, 'rep-timezone'],
  [/^weight\b/, 'rep-weight'],
  [/^cap\.per_day\b/, 'rep-cap-day'],
  [/^cap\.per_week\b/, 'rep-cap-week'],
];
const FIELDS = FIELD_OF.map(([, id]) => id);

/** The form's field a problem of `email`'s entry is about, or undefined (a problem elsewhere). */
function fieldOf(p: Problem, email: string): string | undefined {
  const prefix = `reps["${email.toLowerCase()}"].`;
  if (!p.path.startsWith(prefix)) return undefined;
  const key = p.path.slice(prefix.length);
  return FIELD_OF.find(([re]) => re.test(key))?.[1];
}

const labelOf = (id: string): string =>
  (document.querySelector(`label[for="${id}"]`)?.textContent ?? id).replace(/\s*\(.*$/, '');

/**
 * A refused edit's reasons under the Save button, each said by the field it is about (which is marked
 * invalid) or else with its place in the team file; read out as they appear.
 */
function showRefusal(error: unknown, email: string): void {
  const problems = error instanceof ApiError ? error.errors : [];
  for (const p of problems) {
    const field = fieldOf(p, email);
    if (field === undefined) continue;
    input(field).setAttribute('aria-invalid', 'true');
    input(field).setAttribute('aria-describedby', REP_PROBLEMS);
  }
  const message = error instanceof Error ? error.message : String(error);
  const region = document.getElementById(REP_PROBLEMS)!;
  region.className = 'error';
  region.replaceChildren(
    el('p', {}, problems.length === 0 ? message : `Not saved: ${message}:`),
    ...(problems.length === 0
      ? []
      : [
          el(
            'ul',
            { 'aria-label': 'Why the edit was not saved' },
            ...problems.map((p) => {
              const field = fieldOf(p, email);
              return el('li', {}, field === undefined ? describe(p) : `${labelOf(field)}: ${p.message}`);
            }),
          ),
        ]),
  );
  bringIntoView(region);
}

export async function teamPage(): Promise<void> {
  let team = await load();
  render(team);
  const clearInvalid = () => {
    for (const id of FIELDS) {
      input(id).removeAttribute('aria-invalid');
      input(id).removeAttribute('aria-describedby');
    }
    document.getElementById(REP_PROBLEMS)!.replaceChildren();
  };
  document.getElementById('rep-email')!.addEventListener('change', () => {
    clearInvalid();
    fill(team);
  });
  document.getElementById('rep-form')!.addEventListener('submit', (e) => {
    e.preventDefault();
    clearInvalid();
    document.getElementById(REP_MESSAGE)!.replaceChildren();
    const email = (document.getElementById('rep-email') as HTMLSelectElement).value;
    call(teamPublishResponseSchema, `/team/reps/${encodeURIComponent(email)}`, {
      method: 'PATCH',
      body: {
        weight: num(input('rep-weight').value),
        capPerDay: num(input('rep-cap-day').value),
        capPerWeek: num(input('rep-cap-week').value),
        timezone: input('rep-timezone').value.trim() || null,
        hours: list(input('rep-hours').value),
        outOfOffice: list(input('rep-ooo').value),
      },
    })
      .then(async (outcome) => {
        // The rule set's warnings with this team (they never stop a save), said with the outcome.
        const warnings = outcome.warnings.map((w) => `Warning: ${describe(w)}`);
        status(
          [
            outcome.status === 'published'
              ? `Saved ${email}: team ${outcome.publication.teamVersion ?? ''} published.`
              : `Saved ${email}: team ${outcome.request.teamVersion ?? ''} waits for a second admin's approval (request ${outcome.request.id}).`,
            ...warnings,
          ].join(' '),
          'ok',
          REP_MESSAGE,
        );
        team = await load();
        render(team);
      })
      .catch((error: unknown) => showRefusal(error, email));
  });
}
