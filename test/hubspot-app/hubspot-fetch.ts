// `hubspot.fetch` as HubSpot serves it to a UI extension (hubspot.md §9.1), in front of the real settings
// server: only URLs under the permitted app URL; the portal, user and app ids appended to the query; a
// JSON body; the request signed (v3, the app's client secret) over the public URI. Whether HubSpot
// appends exactly these parameters is still to be checked on a real portal (hubspot.md §11.5).
import type { hubspot } from '@hubspot/ui-extensions';
import { PUBLIC_URL, type SettingsHarness } from '../settings/support.js';

export type Fetch = typeof hubspot.fetch;

export function hubspotFetch(
  h: SettingsHarness,
  portalId: string,
  user: { id: number; email: string } = { id: 7, email: 'ada@acme.io' },
): { fetch: Fetch; calls: string[] } {
  const calls: string[] = [];
  const fetchVia: Fetch = async (url, options = {}) => {
    const target = new URL(String(url));
    if (target.origin !== PUBLIC_URL) throw new Error(`${target.origin} is not in permittedUrls.fetch`);
    target.searchParams.append('userId', String(user.id));
    target.searchParams.append('userEmail', user.email);
    target.searchParams.append('portalId', portalId);
    target.searchParams.append('appId', '42');
    const method = options.method ?? 'GET';
    const body = options.body === undefined ? '' : JSON.stringify(options.body);
    const path = target.pathname + target.search;
    calls.push(`${method} ${target.pathname}`);
    return fetch(h.url + path, {
      method,
      headers: h.hubspotHeaders(method, path, body),
      body: body === '' ? null : body,
    });
  };
  return { fetch: fetchVia, calls };
}
