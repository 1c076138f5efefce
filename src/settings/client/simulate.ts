// Simulate: the draft decided on pasted or uploaded CSV leads (rows that do not read are listed with
// their line and column) or the last decided ones, each with its full trace; and
// the impact preview: the last N leads under the draft and under the published version, every lead
// whose owner, sequence or SLA would change, and the counts per rep.
import {
  previewResponseSchema,
  rulesResponseSchema,
  simulateResponseSchema,
  type Outcome,
} from '../schemas.js';
import { call, el, fail, status, table } from './api.js';
import { loadDraft } from './draft.js';

const outcomeText = (o: Outcome): string =>
  [
    o.destination,
    o.sequence === null ? '' : `sequence ${o.sequence}`,
    o.slaMinutes === null ? '' : `SLA ${o.slaMinutes} min`,
  ]
    .filter((x) => x !== '')
    .join(' · ');

async function draftSource(): Promise<string> {
  return loadDraft() ?? (await call(rulesResponseSchema, '/rules')).active?.source ?? '';
}

function limit(): number {
  return Number((document.getElementById('limit') as HTMLInputElement).value) || 200;
}

/** Rows of the CSV that were skipped, each with its line and column, or nothing when every row read. */
function showProblems(problems: { line: number; column: string | null; message: string }[]): void {
  const box = document.getElementById('csv-problems')!;
  box.replaceChildren(
    ...(problems.length === 0
      ? []
      : [
          el('p', { class: 'error' }, `${problems.length} rows of the CSV were skipped:`),
          el(
            'ul',
            { class: 'error', 'aria-label': 'Rows skipped' },
            ...problems.map((p) =>
              el('li', {}, `Line ${p.line}${p.column === null ? '' : `, column ${p.column}`}: ${p.message}`),
            ),
          ),
        ]),
  );
}

async function simulate(): Promise<void> {
  const csv = (document.getElementById('leads-csv') as HTMLTextAreaElement).value;
  showProblems([]);
  const result = await call(simulateResponseSchema, '/simulate', {
    method: 'POST',
    body: {
      source: await draftSource(),
      ...(csv.trim() === '' ? {} : { csv }),
      limit: Math.min(limit(), 1000),
    },
  });
  showProblems(result.problems);
  document.getElementById('decisions')!.replaceChildren(
    table(
      ['Lead', 'Rule', 'Outcome', 'Trace'],
      result.decisions.map((d) => [
        d.email ?? d.leadId,
        d.outcome.route ?? 'fallback',
        outcomeText(d.outcome),
        el('details', {}, el('summary', {}, 'Trace'), el('pre', {}, d.explanation)),
      ]),
      `${result.decisions.length} leads decided under the draft`,
    ),
  );
  status(
    `Simulated ${result.decisions.length} leads${result.problems.length === 0 ? '' : `; ${result.problems.length} rows skipped`}.`,
    result.problems.length === 0 ? 'ok' : 'error',
  );
}

async function preview(): Promise<void> {
  const p = await call(previewResponseSchema, '/preview', {
    method: 'POST',
    body: { source: await draftSource(), limit: limit() },
  });
  const max = Math.max(1, ...p.perRep.flatMap((r) => [r.published, r.draft]));
  const bar = (n: number, which: 'published' | 'draft') =>
    el('span', {
      class: `bar ${which}`,
      style: `width:${Math.round((n / max) * 200)}px`,
      role: 'img',
      'aria-label': `${which} ${n}`,
    });
  document.getElementById('impact')!.replaceChildren(
    el(
      'p',
      { id: 'impact-summary' },
      `${p.changed.length} of ${p.leads} leads would change (computed in ${p.ms} ms).`,
    ),
    table(
      ['Lead', 'Changes', 'Published', 'Draft'],
      p.changed
        .slice(0, 200)
        .map((c) => [
          c.email ?? c.leadId,
          c.fields.join(', '),
          outcomeText(c.published),
          outcomeText(c.draft),
        ]),
      'Leads that would change (first 200)',
    ),
    // Which bar is which, in words as well as colour.
    el(
      'p',
      { id: 'impact-legend' },
      'Bars per rep: ',
      el('span', { class: 'bar published swatch', 'aria-hidden': 'true' }),
      ' top, Published (the version routing uses now); ',
      el('span', { class: 'bar draft swatch', 'aria-hidden': 'true' }),
      ' bottom, Draft.',
    ),
    table(
      ['Rep', 'Published', 'Draft', ''],
      p.perRep.map((r) => [
        r.rep,
        String(r.published),
        String(r.draft),
        el('span', {}, bar(r.published, 'published'), el('br'), bar(r.draft, 'draft')),
      ]),
      'Leads per rep',
    ),
  );
  status(`Impact preview: ${p.changed.length} of ${p.leads} leads would change.`);
}

export function simulatePage(): Promise<void> {
  // An uploaded CSV is read in the browser into the leads box, where it can be seen and corrected.
  const file = document.getElementById('leads-file') as HTMLInputElement;
  file.addEventListener('change', () => {
    const chosen = file.files?.[0];
    if (chosen === undefined) return;
    chosen
      .text()
      .then((text) => {
        (document.getElementById('leads-csv') as HTMLTextAreaElement).value = text;
        status(`${chosen.name} loaded: press Simulate.`);
      })
      .catch(fail);
  });
  document.getElementById('simulate-form')!.addEventListener('submit', (e) => {
    e.preventDefault();
    simulate().catch(fail);
  });
  document.getElementById('preview')!.addEventListener('click', () => {
    preview().catch(fail);
  });
  return Promise.resolve();
}
