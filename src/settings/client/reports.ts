// Reports: for a window (the last 7 or 30 days, or from–to dates) and a grouping (rule, pool or rep),
// speed to lead, SLA attainment, re-routes and escalations, and fallbacks — each a chart with a table of
// the same numbers — from the same JSON the API serves (GET /reports/<kind>) and the CLI writes as CSV.
import { reportResponseSchema } from '../schemas.js';
import { call, el, fail, status, tenantId } from './api.js';
import { barChart, type BarRow } from './chart.js';

type Report = Awaited<ReturnType<typeof load>>;
type Row = Report['rows'][number];
type Kind = 'speed' | 'sla' | 'reroutes' | 'fallbacks';
type Group = 'rule' | 'pool' | 'rep';

const DAY_MS = 86_400_000;
const GROUP_LABEL: Record<Group, string> = { rule: 'Rule', pool: 'Pool', rep: 'Rep' };

const query = (since: string, until: string | null, by: Group, extra: Record<string, string> = {}) =>
  new URLSearchParams({ since, by, ...(until === null ? {} : { until }), ...extra }).toString();

const load = (kind: Kind, since: string, until: string | null, by: Group) =>
  call(reportResponseSchema, `/reports/${kind}?${query(since, until, by)}`);

/** The same report as the CLI's CSV, downloaded with the page's session. */
const csvLink = (kind: Kind, title: string, since: string, until: string | null, by: Group) =>
  el(
    'p',
    {},
    el(
      'a',
      {
        href: `/api/tenants/${encodeURIComponent(tenantId)}/reports/${kind}?${query(since, until, by, { format: 'csv' })}`,
        download: '',
      },
      `Download ${title} as CSV`,
    ),
  );

const control = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

const num = (row: Row, key: string): number | null => {
  const v = row[key];
  return typeof v === 'number' ? v : null;
};

/** A duration in milliseconds as people read it. */
export function duration(ms: number | null): string {
  if (ms === null) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms < DAY_MS) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / DAY_MS).toFixed(1)} d`;
}
const percent = (r: number | null): string => (r === null ? '–' : `${Math.round(r * 1000) / 10} %`);
const count = (n: number | null): string => (n === null ? '–' : String(n));

interface Column {
  key: string;
  label: string;
  format: (v: number | null) => string;
}

/** The report's rows as a table; the group is each row's header. */
function reportTable(report: Report, columns: Column[], caption: string): HTMLTableElement {
  const group = report.columns[0] ?? '';
  return el(
    'table',
    {},
    el('caption', {}, caption),
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        el('th', { scope: 'col' }, GROUP_LABEL[report.by ?? 'rule']),
        ...columns.map((c) => el('th', { scope: 'col' }, c.label)),
      ),
    ),
    el(
      'tbody',
      {},
      ...report.rows.map((r) =>
        el(
          'tr',
          {},
          el('th', { scope: 'row' }, String(r[group] ?? '')),
          ...columns.map((c) => {
            const v = r[c.key];
            return el('td', {}, typeof v === 'string' ? v : c.format(v ?? null));
          }),
        ),
      ),
    ),
  );
}

const groupOf = (report: Report, r: Row): string => String(r[report.columns[0] ?? ''] ?? '');
const empty = (what: string) => el('p', {}, `No ${what} in this window.`);

function speed(report: Report, by: string): Node[] {
  if (report.rows.length === 0) return [empty('routed leads')];
  const rows = (keys: string[]): BarRow[] =>
    report.rows.map((r) => ({ label: groupOf(report, r), values: keys.map((k) => num(r, k)) }));
  const touched = report.rows.some((r) => (num(r, 'first_touched') ?? 0) > 0);
  return [
    el('h3', {}, 'CRM event → owner written'),
    barChart({
      title: `CRM event to owner written, by ${by}`,
      series: [
        { name: 'p50', color: '#4a90d9' },
        { name: 'p90', color: '#22364a' },
      ],
      rows: rows(['event_to_owner_p50_ms', 'event_to_owner_p90_ms']),
      layout: 'grouped',
      format: duration,
    }),
    el('h3', {}, 'Owner written → first touch'),
    touched
      ? barChart({
          title: `Owner written to first touch, by ${by}`,
          series: [
            { name: 'p50 wall time', color: '#4a90d9' },
            { name: 'p90 wall time', color: '#22364a' },
            { name: 'p50 working hours', color: '#7fb77e' },
            { name: 'p90 working hours', color: '#2e6b2d' },
          ],
          rows: rows([
            'owner_to_touch_p50_ms',
            'owner_to_touch_p90_ms',
            'owner_to_touch_working_p50_ms',
            'owner_to_touch_working_p90_ms',
          ]),
          layout: 'grouped',
          format: duration,
        })
      : el('p', {}, 'No first touch seen yet in this window (first touch is what the SLA timers record).'),
    reportTable(
      report,
      [
        { key: 'leads', label: 'Leads', format: count },
        { key: 'owner_written', label: 'Owner written', format: count },
        { key: 'event_to_owner_p50_ms', label: 'Event → owner p50', format: duration },
        { key: 'event_to_owner_p90_ms', label: 'Event → owner p90', format: duration },
        { key: 'event_to_owner_max_ms', label: 'Event → owner max', format: duration },
        { key: 'first_touched', label: 'First touched', format: count },
        { key: 'owner_to_touch_p50_ms', label: 'Owner → touch p50', format: duration },
        { key: 'owner_to_touch_p90_ms', label: 'Owner → touch p90', format: duration },
        { key: 'owner_to_touch_working_p50_ms', label: 'Working hours p50', format: duration },
        { key: 'owner_to_touch_working_p90_ms', label: 'Working hours p90', format: duration },
      ],
      `Speed to lead by ${by}`,
    ),
  ];
}

function sla(report: Report, by: string): Node[] {
  if (report.rows.length === 0) return [empty('leads with an SLA')];
  return [
    barChart({
      title: `SLA outcomes by ${by}`,
      series: [
        { name: 'met', color: '#2e8540' },
        { name: 'met late', color: '#f5a623' },
        { name: 'breached', color: '#b00020' },
        { name: 'open', color: '#8c959f' },
      ],
      rows: report.rows.map((r) => ({
        label: groupOf(report, r),
        values: ['met', 'met_late', 'breached', 'open'].map((k) => num(r, k)),
        note: num(r, 'attainment') === null ? 'none ended yet' : `${percent(num(r, 'attainment'))} attained`,
      })),
      layout: 'stacked',
      format: String,
    }),
    reportTable(
      report,
      [
        { key: 'with_sla', label: 'With an SLA', format: count },
        { key: 'met', label: 'Met', format: count },
        { key: 'met_late', label: 'Met late', format: count },
        { key: 'breached', label: 'Breached', format: count },
        { key: 'open', label: 'Open', format: count },
        { key: 'cancelled', label: 'Cancelled', format: count },
        { key: 'attainment', label: 'Attainment', format: percent },
      ],
      `SLA attainment by ${by}`,
    ),
  ];
}

function reroutes(report: Report, by: string): Node[] {
  if (report.rows.length === 0) return [empty('routed leads')];
  const steps = ['reminders', 'reroutes', 'escalations'];
  const any = report.rows.some((r) => steps.some((k) => (num(r, k) ?? 0) > 0));
  return [
    !any
      ? el('p', {}, 'No SLA reminders, re-routes or escalations in this window.')
      : barChart({
          title: `SLA reminders, re-routes and escalations by ${by}`,
          series: [
            { name: 'reminders', color: '#8c959f' },
            { name: 're-routes', color: '#d98c4a' },
            { name: 'escalations', color: '#b00020' },
          ],
          rows: report.rows.map((r) => ({
            label: groupOf(report, r),
            values: steps.map((k) => num(r, k)),
          })),
          layout: 'grouped',
          format: String,
        }),
    reportTable(
      report,
      [
        { key: 'leads', label: 'Leads', format: count },
        { key: 'breached', label: 'Breached (or met late)', format: count },
        { key: 'reminders', label: 'Reminders', format: count },
        { key: 'reroutes', label: 'Re-routes', format: count },
        { key: 'escalations', label: 'Escalations', format: count },
        { key: 'leads_rerouted', label: 'Leads re-routed', format: count },
        { key: 'leads_escalated', label: 'Leads escalated', format: count },
      ],
      `Re-routes and escalations by ${by}`,
    ),
  ];
}

function fallbacks(report: Report, by: string): Node[] {
  if (report.rows.length === 0) return [empty('routed leads')];
  const reasons = report.rows.filter((r) => r['reason'] !== '(any)');
  return [
    reasons.length === 0
      ? el('p', {}, 'No lead fell to a fallback in this window.')
      : barChart({
          title: `Leads that fell to a fallback, per reason, by ${by}`,
          series: [{ name: 'leads', color: '#d98c4a' }],
          rows: reasons.map((r) => ({
            label: `${groupOf(report, r)} · ${String(r['reason'])}`,
            values: [num(r, 'leads')],
            note: `of ${count(num(r, 'of_leads'))} (${percent(num(r, 'share'))})`,
          })),
          layout: 'grouped',
          format: String,
        }),
    reportTable(
      report,
      [
        { key: 'reason', label: 'Reason', format: count },
        { key: 'leads', label: 'Leads', format: count },
        { key: 'of_leads', label: 'Of leads', format: count },
        { key: 'share', label: 'Share', format: percent },
      ],
      `Fallbacks by ${by}`,
    ),
  ];
}

/** The window asked for: since and until (exclusive) as the API reads them, and how to say it. */
function windowOf(now: number): { since: string; until: string | null; text: string } | string {
  const choice = control<HTMLSelectElement>('report-window').value;
  if (choice !== 'dates') {
    const days = Number(choice);
    return {
      since: new Date(now - days * DAY_MS).toISOString(),
      until: null,
      text: `the last ${days} days`,
    };
  }
  const from = control<HTMLInputElement>('report-since').value;
  const to = control<HTMLInputElement>('report-until').value;
  if (from === '' || to === '') return 'Choose both dates (from and to).';
  if (to < from) return 'The "to" date must not be before the "from" date.';
  return { since: from, until: day(Date.parse(to) + DAY_MS), text: `${from} to ${to} (UTC, both included)` };
}

/** The latest request: an earlier one that answers later draws nothing. */
let shown = 0;

async function show(): Promise<void> {
  const asked = ++shown;
  const range = windowOf(Date.now());
  if (typeof range === 'string') {
    status(range, 'error');
    return;
  }
  const by = control<HTMLSelectElement>('report-by').value as Group;
  const label = GROUP_LABEL[by].toLowerCase();
  status(`Loading reports for ${range.text}, by ${label}…`);
  const kinds = ['speed', 'sla', 'reroutes', 'fallbacks'] as const;
  const [s, l, r, f] = await Promise.all(kinds.map((k) => load(k, range.since, range.until, by)));
  if (asked !== shown) return;
  const put = (kind: Kind, title: string, nodes: Node[]) =>
    document
      .getElementById(kind)!
      .replaceChildren(...nodes, csvLink(kind, title, range.since, range.until, by));
  put('speed', 'speed to lead', speed(s!, label));
  put('sla', 'SLA attainment', sla(l!, label));
  put('reroutes', 're-routes and escalations', reroutes(r!, label));
  put('fallbacks', 'fallbacks', fallbacks(f!, label));
  status(
    `Reports for ${range.text}, by ${label}: ${s!.rows.reduce((n, x) => n + (num(x, 'leads') ?? 0), 0)} decisions.`,
  );
}

export async function reportsPage(): Promise<void> {
  const choice = control<HTMLSelectElement>('report-window');
  const dates = control<HTMLElement>('report-dates');
  const refresh = () => void show().catch(fail);
  choice.addEventListener('change', () => {
    dates.hidden = choice.value !== 'dates';
    if (choice.value !== 'dates') return refresh();
    const since = control<HTMLInputElement>('report-since');
    const until = control<HTMLInputElement>('report-until');
    if (until.value === '') until.value = day(Date.now());
    if (since.value === '') since.value = day(Date.now() - 7 * DAY_MS);
    refresh();
  });
  control<HTMLSelectElement>('report-by').addEventListener('change', refresh);
  control<HTMLFormElement>('report-form').addEventListener('submit', (e) => {
    e.preventDefault();
    refresh();
  });
  await show();
}
