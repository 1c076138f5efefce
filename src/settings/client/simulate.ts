// Simulate: the draft decided on pasted leads or the last decided ones, each with its full trace; and
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

type Cell = string | number | boolean | null;

/** A small CSV reader for pasted leads: a header row, comma-separated, double quotes for commas. */
export function parseCsv(text: string): Record<string, Cell>[] {
  const rows = text
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const cells: string[] = [];
      let cur = '';
      let quoted = false;
      for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (c === '"' && quoted && line[i + 1] === '"') {
          cur += '"';
          i++;
        } else if (c === '"') quoted = !quoted;
        else if (c === ',' && !quoted) {
          cells.push(cur.trim());
          cur = '';
        } else cur += c;
      }
      cells.push(cur.trim());
      return cells;
    });
  const [header, ...body] = rows;
  if (header === undefined) return [];
  return body.map((cells) => Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ''])));
}

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

async function simulate(): Promise<void> {
  const csv = (document.getElementById('leads-csv') as HTMLTextAreaElement).value;
  const leads = csv.trim() === '' ? undefined : parseCsv(csv);
  const result = await call(simulateResponseSchema, '/simulate', {
    method: 'POST',
    body: {
      source: await draftSource(),
      ...(leads === undefined ? {} : { leads }),
      limit: Math.min(limit(), 1000),
    },
  });
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
  status(`Simulated ${result.decisions.length} leads.`);
}

async function preview(): Promise<void> {
  const p = await call(previewResponseSchema, '/preview', {
    method: 'POST',
    body: { source: await draftSource(), limit: limit() },
  });
  const max = Math.max(1, ...p.perRep.flatMap((r) => [r.published, r.draft]));
  const bar = (n: number, label: string) =>
    el('span', {
      class: 'bar',
      style: `width:${Math.round((n / max) * 200)}px`,
      role: 'img',
      'aria-label': label,
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
    table(
      ['Rep', 'Published', 'Draft', ''],
      p.perRep.map((r) => [
        r.rep,
        String(r.published),
        String(r.draft),
        el(
          'span',
          {},
          bar(r.published, `published ${r.published}`),
          el('br'),
          bar(r.draft, `draft ${r.draft}`),
        ),
      ]),
      'Leads per rep',
    ),
  );
  status(`Impact preview: ${p.changed.length} of ${p.leads} leads would change.`);
}

export function simulatePage(): Promise<void> {
  document.getElementById('simulate-form')!.addEventListener('submit', (e) => {
    e.preventDefault();
    simulate().catch(fail);
  });
  document.getElementById('preview')!.addEventListener('click', () => {
    preview().catch(fail);
  });
  return Promise.resolve();
}
