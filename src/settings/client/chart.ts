// Charts as inline SVG built from page data (text nodes only, never markup): each one is an image
// (role="img") named by its title and the numbers it shows, and the page puts a table with the same
// numbers next to it. No chart library: bars, marks and text.
const SVG = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  ...children: (Node | string)[]
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
}

export interface Series {
  name: string;
  color: string;
}

export interface BarRow {
  label: string;
  /** One value per series, in the series' order; null: nothing to draw (shown as "–"). */
  values: (number | null)[];
  /** Written after the bar(s), e.g. "83 % attained"; default: the values. */
  note?: string;
}

export interface BarChartOptions {
  title: string;
  series: Series[];
  rows: BarRow[];
  /** Stacked: one bar per row with a segment per series; grouped: a thin bar per series. */
  layout: 'stacked' | 'grouped';
  format: (n: number) => string;
}

const LABEL_W = 230;
const BAR_W = 400;
const NOTE_W = 150;
const MAX_LABEL = 32;

const clip = (s: string): string => (s.length > MAX_LABEL ? `${s.slice(0, MAX_LABEL - 1)}…` : s);

/** Horizontal bars, one row per group, with a legend; its accessible name carries every number. */
export function barChart(o: BarChartOptions): SVGSVGElement {
  const fmt = (v: number | null) => (v === null ? '–' : o.format(v));
  const perRow = (r: BarRow): number[] => r.values.map((v) => v ?? 0);
  const max = Math.max(
    1,
    ...o.rows.map((r) =>
      o.layout === 'stacked' ? perRow(r).reduce((a, b) => a + b, 0) : Math.max(0, ...perRow(r)),
    ),
  );
  const scale = (n: number) => (n / max) * BAR_W;
  const sub = 11;
  const rowH = o.layout === 'stacked' ? 24 : o.series.length * (sub + 2) + 10;
  const legendY = o.rows.length * rowH + 16;
  const width = LABEL_W + BAR_W + NOTE_W;
  const height = legendY + 12;
  const summary = o.rows
    .map(
      (r) =>
        `${r.label}: ${o.series.map((s, i) => `${s.name} ${fmt(r.values[i] ?? null)}`).join(', ')}${r.note === undefined ? '' : ` (${r.note})`}`,
    )
    .join('; ');
  const parts: SVGElement[] = [svg('title', {}, o.title)];
  o.rows.forEach((r, i) => {
    const y = i * rowH + 4;
    parts.push(
      svg(
        'text',
        { x: 0, y: y + (o.layout === 'stacked' ? 13 : rowH / 2), 'font-size': 12 },
        svg('title', {}, r.label),
        clip(r.label),
      ),
    );
    if (o.layout === 'stacked') {
      let x = LABEL_W;
      r.values.forEach((v, s) => {
        if (v === null || v <= 0) return;
        const w = Math.max(1, scale(v));
        parts.push(svg('rect', { x, y, width: w, height: 16, fill: o.series[s]?.color ?? '#4a90d9' }));
        x += w;
      });
      parts.push(
        svg(
          'text',
          { x: LABEL_W + BAR_W + 8, y: y + 13, 'font-size': 12 },
          r.note ?? r.values.map(fmt).join(' / '),
        ),
      );
    } else {
      r.values.forEach((v, s) => {
        const sy = y + s * (sub + 2);
        const w = v === null ? 0 : Math.max(v > 0 ? 1 : 0, scale(v));
        parts.push(
          svg('rect', { x: LABEL_W, y: sy, width: w, height: sub, fill: o.series[s]?.color ?? '#4a90d9' }),
          svg('text', { x: LABEL_W + w + 4, y: sy + sub - 1, 'font-size': 10 }, fmt(v)),
        );
      });
      if (r.note !== undefined)
        parts.push(svg('text', { x: LABEL_W + BAR_W + 8, y: y + rowH / 2, 'font-size': 12 }, r.note));
    }
  });
  let lx = LABEL_W;
  for (const s of o.series) {
    parts.push(
      svg('rect', { x: lx, y: legendY - 9, width: 10, height: 10, fill: s.color }),
      svg('text', { x: lx + 14, y: legendY, 'font-size': 11 }, s.name),
    );
    lx += 24 + s.name.length * 6.5;
  }
  return svg(
    'svg',
    {
      class: 'chart',
      role: 'img',
      'aria-label': `${o.title}. ${summary}`,
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
    },
    ...parts,
  );
}
