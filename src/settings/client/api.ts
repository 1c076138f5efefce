// The pages' one way to the JSON API: same-origin fetch with the session cookie, the CSRF token on
// state-changing requests, and answers parsed with the server's own schemas.
import type { z } from 'zod';
import type { diagnosticSchema } from '../schemas.js';

const meta = (name: string): string =>
  document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';

export const tenantId = meta('tenant-id');
const csrf = meta('csrf-token');

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: z.infer<typeof diagnosticSchema>[] = [],
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

/** Says something in the page's live status region (read out by screen readers). */
export function status(message: string, kind: 'ok' | 'error' = 'ok'): void {
  const el = document.getElementById('status');
  if (el === null) return;
  el.textContent = message;
  el.className = kind;
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

export function fail(error: unknown): void {
  status(error instanceof Error ? error.message : String(error), 'error');
}
