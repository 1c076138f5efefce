// The pages' one way to the JSON API: same-origin fetch with the session cookie, the CSRF token on
// state-changing requests, and answers parsed with the server's own schemas.
import type { z } from 'zod';
import type { diagnosticSchema } from '../schemas.js';

export type Problem = z.infer<typeof diagnosticSchema>;

const meta = (name: string): string =>
  document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';

export const tenantId = meta('tenant-id');
const csrf = meta('csrf-token');

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: Problem[] = [],
  ) {
    super(message);
  }
}

export async function call<S extends z.ZodTypeAny>(
  schema: S,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<z.output<S>> {
  const method = init.method ?? 'GET';
  const res = await fetch(`/api/tenants/${encodeURIComponent(tenantId)}${path}`, {
    method,
    credentials: 'same-origin',
    headers: {
      ...(method === 'GET' ? {} : { 'x-csrf-token': csrf }),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  const value: unknown = text === '' ? {} : JSON.parse(text);
  if (!res.ok) {
    const e = value as { error?: string; errors?: ApiError['errors'] };
    throw new ApiError(res.status, e.error ?? `request failed (${res.status})`, e.errors ?? []);
  }
  return schema.parse(value) as z.output<S>;
}

/**
 * Says something in a live region (read out by screen readers): the page's status line at its bottom,
 * or `where`, a region beside the control whose answer it is, brought into view if it is not.
 */
export function status(message: string, kind: 'ok' | 'error' = 'ok', where = 'status'): void {
  const region = document.getElementById(where);
  if (region === null) return;
  region.replaceChildren(message);
  region.className = kind;
  if (where !== 'status') bringIntoView(region);
}

/** Scrolls `node` to the middle of the window unless all of it is in view already. */
export function bringIntoView(node: HTMLElement): void {
  const r = node.getBoundingClientRect();
  if (r.top < 0 || r.bottom > window.innerHeight) node.scrollIntoView({ block: 'center' });
}

/**
 * A loader's problem in words: `Line 12, column 7: …` in the file the page edits (`editing`), else
 * `team.yaml, line 24, column 20: …`, with its path and suggestion.
 */
export function describe(p: Problem, editing?: string): string {
  const hint = p.suggestion === undefined ? '' : ` (did you mean "${p.suggestion}"?)`;
  const at = p.line > 0 ? `line ${p.line}, column ${p.column}` : '';
  const where =
    p.file === editing ? at.replace(/^l/, 'L') : [p.file, at].filter((part) => part !== '').join(', ');
  return `${where === '' ? '' : `${where}: `}${p.path === '' ? '' : `${p.path}: `}${p.message}${hint}`;
}

/** An element with text children only: page data never becomes markup. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

export function table(headers: string[], rows: (Node | string)[][], caption: string): HTMLTableElement {
  return el(
    'table',
    {},
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c))))),
  );
}

export const when = (ms: number): string =>
  new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';

export function fail(error: unknown, where = 'status'): void {
  status(error instanceof Error ? error.message : String(error), 'error', where);
}
