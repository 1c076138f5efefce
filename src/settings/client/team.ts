// Team: the roster (weight, caps, hours, time zone, out of office; who is skipped now and why), one rep
// edited and published at a time, and each pool's rotation: who is next, and each rep's leads today
// against its weighted share.
import { teamPublishResponseSchema, teamResponseSchema } from '../schemas.js';
import { call, el, fail, status, table } from './api.js';

type TeamView = Awaited<ReturnType<typeof load>>;
const load = () => call(teamResponseSchema, '/team');
const input = (id: string) => document.getElementById(id) as HTMLInputElement;
const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const num = (v: string): number | null => (v.trim() === '' ? null : Number(v));

function render(team: TeamView): void {
  document.getElementById('roster')!.replaceChildren(
    table(
      ['Rep', 'Weight', 'Caps (day / week)', 'Time zone', 'Hours', 'Out of office', 'Now'],
      team.reps.map((r) => [
        r.name === null ? r.email : `${r.name} (${r.email})`,
        String(r.weight),
        `${r.capPerDay ?? '–'} / ${r.capPerWeek ?? '–'}`,
        r.timezone,
        r.hours.join(', ') || 'always',
        r.outOfOffice.join(', '),
        r.active ? (r.skippedNow ?? 'available') : 'inactive',
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
      const max = Math.max(1, ...p.members.map((m) => m.assigned));
      return el(
        'section',
        { 'aria-label': `Pool ${p.name}` },
        el('h3', {}, `${p.name} (${p.strategy.replace(/_/g, ' ')}) — next: ${p.next ?? 'nobody available'}`),
        table(
          ['Rep', 'Weight', 'Leads today', 'Owed (weighted)', 'Skipped now'],
          p.members.map((m) => [
            m.email,
            String(m.weight),
            el(
              'span',
              {},
              el('span', {
                class: 'bar',
                style: `width:${Math.round((m.assigned / max) * 150)}px`,
                role: 'img',
                'aria-label': `${m.assigned} leads`,
              }),
              ` ${m.assigned}`,
            ),
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

export async function teamPage(): Promise<void> {
  let team = await load();
  render(team);
  document.getElementById('rep-email')!.addEventListener('change', () => fill(team));
  document.getElementById('rep-form')!.addEventListener('submit', (e) => {
    e.preventDefault();
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
        status(
          outcome.status === 'published'
            ? `Saved ${email}: team ${outcome.publication.teamVersion ?? ''} published.`
            : `Saved ${email}: team ${outcome.request.teamVersion ?? ''} waits for a second admin's approval (request ${outcome.request.id}).`,
        );
        team = await load();
        render(team);
      })
      .catch(fail);
  });
}
