// The settings tab's pages: server-rendered shells with labelled forms, filled by one small bundled
// script through the JSON API. A signed link opens a tenant's session and lands on its Rules page;
// a page without that tenant's session says to open the tab from the CRM. Pages may be framed only by
// the allowed origins (the CRM's), and carry the session's CSRF token, never a secret.
import { fileURLToPath } from 'node:url';
import { Router, type Request, type Response } from 'express';
import { escapeHtml } from '../server/html.js';
import type { Storage, Tenant } from '../storage/index.js';
import { param } from './api.js';
import { cookieValue, sessionCookieName, sessionSetCookie, type SettingsAccess } from './access.js';
import { tenantFrameOrigins } from './frame-origins.js';

export const SETTINGS_PAGES = ['rules', 'simulate', 'team', 'activity', 'reports', 'health'] as const;
export type SettingsPage = (typeof SETTINGS_PAGES)[number];
const TITLES: Record<SettingsPage, string> = {
  rules: 'Rules',
  simulate: 'Simulate',
  team: 'Team',
  activity: 'Activity',
  reports: 'Reports',
  health: 'Health',
};

export const OPEN_PATH = '/settings/open';
const ASSET_PATH = '/settings/assets/app.js';

/** HubSpot's app domains: where the tab is framed by default (Salesforce orgs are added per tenant). */
export const DEFAULT_FRAME_ANCESTORS = [
  'https://app.hubspot.com',
  'https://app-eu1.hubspot.com',
  'https://app-na2.hubspot.com',
  'https://app-na3.hubspot.com',
  'https://app-ap1.hubspot.com',
] as const;

export interface SettingsPagesDeps {
  access: SettingsAccess;
  storage: Pick<Storage, 'getTenant'>;
  clock: () => number;
  /** Origins allowed to frame the tab (CSP frame-ancestors), besides a tenant's own (`settings.frameOrigins`). */
  frameAncestors: readonly string[];
}

export function contentSecurityPolicy(frameAncestors: readonly string[]): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    // CodeMirror styles its editor with injected <style> elements.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
    `frame-ancestors 'self' ${frameAncestors.join(' ')}`.trim(),
  ].join('; ');
}

let bundle: Promise<string> | undefined;

/** The pages' script, bundled once per process with esbuild from src/settings/client. */
export function clientBundle(): Promise<string> {
  bundle ??= (async () => {
    const { build, stop } = await import('esbuild');
    // Built once per process: esbuild's service child is stopped right after, so nothing outlives the
    // build (left running, it kept a test run's process alive after its last test).
    const out = await build({
      entryPoints: [fileURLToPath(new URL('./client/main.ts', import.meta.url))],
      bundle: true,
      format: 'esm',
      minify: true,
      target: 'es2022',
      write: false,
      legalComments: 'none',
    }).finally(() => stop());
    return out.outputFiles[0]?.text ?? '';
  })();
  bundle.catch(() => (bundle = undefined));
  return bundle;
}

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2733}
header{background:#22364a;color:#fff;padding:.5rem 1rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
header a{color:#fff;padding:.25rem .5rem;border-radius:4px}
header a[aria-current=page]{background:#fff;color:#22364a;font-weight:600}
main{padding:1rem;max-width:1200px}
button{font:inherit;padding:.3rem .8rem;cursor:pointer}
:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #d8dee4;text-align:left;padding:.25rem .5rem;vertical-align:top}
.error{color:#b00020}.ok{color:#0a7a3a}.warning{color:#8a4b00}
.diff-add{background:#e6ffed}.diff-del{background:#ffeef0}
pre{white-space:pre-wrap;background:#f6f8fa;padding:.5rem;overflow:auto}
.editor{border:1px solid #8c959f;min-height:20rem}
label{display:inline-block;margin:.25rem .5rem .25rem 0}
.bar{display:inline-block;height:.8rem;background:#4a90d9}.bar.draft{background:#d98c4a}.bar.swatch{width:1.5rem}
.chart{max-width:100%;height:auto;display:block;margin:.5rem 0}
fieldset label{margin-left:.25rem}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.dead-letters td{overflow-wrap:anywhere}
.dead-letters td:last-child{overflow-wrap:normal}
.dead-letters p{margin:0}
.row-actions{display:flex;flex-wrap:wrap;gap:.25rem}
`;

function shell(tenant: Tenant, page: SettingsPage, csrf: string, body: string): string {
  const nav = SETTINGS_PAGES.map(
    (p) =>
      `<a href="/settings/${encodeURIComponent(tenant.id)}/${p}"${p === page ? ' aria-current="page"' : ''}>${TITLES[p]}</a>`,
  ).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${TITLES[page]} · ${escapeHtml(tenant.name)} · lead-router</title>
<meta name="csrf-token" content="${escapeHtml(csrf)}">
<meta name="tenant-id" content="${escapeHtml(tenant.id)}">
<style>${STYLE}</style>
<script type="module" src="${ASSET_PATH}"></script>
</head><body data-page="${page}">
<header><strong>lead-router · ${escapeHtml(tenant.name)}</strong><nav aria-label="Settings">${nav}</nav></header>
<main id="main"><h1>${TITLES[page]}</h1>
${body}
<p id="status" role="status" aria-live="polite"></p>
</main></body></html>
`;
}

const BODIES: Record<SettingsPage, string> = {
  rules: `
<section aria-labelledby="draft-h"><h2 id="draft-h">Draft</h2>
<div id="editor" class="editor" aria-label="Rule set (YAML)"></div>
<div id="problems" aria-live="polite"></div>
<p><label for="note">Note for this publication</label><input id="note" name="note" size="60" required aria-describedby="publish-message">
<button id="publish" type="button">Publish</button></p>
<p id="publish-message" aria-live="polite"></p>
</section>
<section aria-labelledby="diff-h"><h2 id="diff-h">Changes against the published version</h2><pre id="diff"></pre></section>
<section aria-labelledby="history-h"><h2 id="history-h">Version history</h2>
<p id="history-message" aria-live="polite"></p>
<table><caption class="sr">Publications, latest first</caption><thead><tr><th>When</th><th>Who</th><th>Approved by</th><th>Rule set</th><th>Team</th><th>Note</th><th>Action</th></tr></thead>
<tbody id="history"></tbody></table></section>
<section aria-labelledby="approvals-h"><h2 id="approvals-h">Approvals</h2>
<p><input type="checkbox" id="require-approval"> <label for="require-approval">Publishing needs a second admin's approval</label></p>
<p id="approval-state"></p>
<table><caption class="sr">Publication requests, latest first</caption><thead><tr><th>Requested</th><th>By</th><th>Rule set</th><th>Team</th><th>Note</th><th>State</th><th>Action</th></tr></thead>
<tbody id="requests"></tbody></table></section>`,
  simulate: `
<p>The draft (the Rules page's editor content, kept in this browser) decided on leads, and its impact on recent leads.</p>
<form id="simulate-form"><fieldset><legend>Leads to simulate</legend>
<label for="leads-csv">Pasted leads (CSV with a header row; empty: the last decided leads)</label><br>
<textarea id="leads-csv" rows="4" cols="80"></textarea><br>
<label for="leads-file">Or upload a CSV file of leads</label><input id="leads-file" type="file" accept=".csv,text/csv"><br>
<label for="limit">How many recent leads</label><input id="limit" type="number" min="1" max="10000" value="200">
<button id="simulate" type="submit">Simulate</button>
<button id="preview" type="button">Impact preview</button>
</fieldset></form>
<div id="csv-problems" role="alert"></div>
<section aria-labelledby="impact-h"><h2 id="impact-h">Impact preview</h2><div id="impact"></div></section>
<section aria-labelledby="decisions-h"><h2 id="decisions-h">Decisions</h2><div id="decisions"></div></section>`,
  team: `
<section aria-labelledby="roster-h"><h2 id="roster-h">Roster</h2><div id="roster"></div></section>
<section aria-labelledby="edit-h"><h2 id="edit-h">Edit a rep</h2>
<form id="rep-form">
<label for="rep-email">Rep</label><select id="rep-email" required></select>
<label for="rep-weight">Weight</label><input id="rep-weight" type="number" min="0" step="0.5">
<label for="rep-cap-day">Cap per day</label><input id="rep-cap-day" type="number" min="0">
<label for="rep-cap-week">Cap per week</label><input id="rep-cap-week" type="number" min="0">
<label for="rep-timezone">Time zone</label><input id="rep-timezone">
<label for="rep-hours">Hours (comma separated, e.g. Mon-Fri 09:00-17:30)</label><input id="rep-hours" size="30">
<label for="rep-ooo">Out of office (comma separated, e.g. 2026-12-23..2027-01-02)</label><input id="rep-ooo" size="30">
<button type="submit">Save and publish</button>
<p id="rep-message" aria-live="polite"></p>
<div id="rep-problems" role="alert"></div>
</form></section>
<section aria-labelledby="pools-h"><h2 id="pools-h">Rotation per pool</h2><div id="pools"></div></section>`,
  activity: `
<form id="search-form" role="search">
<label for="q">Email, name or CRM id</label><input id="q" name="q">
<label for="route">Rule</label><input id="route" name="route">
<label for="owner">Rep email</label><input id="owner" name="owner">
<label for="from">From</label><input id="from" type="datetime-local">
<label for="to">To</label><input id="to" type="datetime-local">
<button type="submit">Search</button></form>
<div id="results"></div>
<section aria-labelledby="lead-h"><h2 id="lead-h">Lead</h2><div id="lead"></div></section>`,
  reports: `
<form id="report-form"><fieldset><legend>Window and grouping</legend>
<label for="report-window">Window</label><select id="report-window">
<option value="7">Last 7 days</option><option value="30">Last 30 days</option><option value="dates">From – to dates</option>
</select>
<span id="report-dates" hidden><label for="report-since">From (UTC date)</label><input id="report-since" type="date">
<label for="report-until">To (UTC date, included)</label><input id="report-until" type="date"></span>
<label for="report-by">Group by</label><select id="report-by">
<option value="rule">Rule</option><option value="pool">Pool</option><option value="rep">Rep</option>
</select>
<button type="submit">Show reports</button>
</fieldset></form>
<p>Over the leads decided in the window. Each report's rows download as CSV (the link below it), as <code>lead-router report &lt;kind&gt; --since … --by …</code> writes them; the API serves them as JSON.</p>
<section aria-labelledby="speed-h"><h2 id="speed-h">Speed to lead</h2><div id="speed"></div></section>
<section aria-labelledby="sla-h"><h2 id="sla-h">SLA attainment</h2><div id="sla"></div></section>
<section aria-labelledby="reroutes-h"><h2 id="reroutes-h">Re-routes and escalations</h2><div id="reroutes"></div></section>
<section aria-labelledby="fallbacks-h"><h2 id="fallbacks-h">Fallbacks</h2><div id="fallbacks"></div></section>`,
  health: `
<section aria-labelledby="crm-h"><h2 id="crm-h">CRM connection</h2><div id="crm"></div></section>
<section aria-labelledby="inbox-h"><h2 id="inbox-h">Inbox</h2><div id="inbox"></div></section>
<section aria-labelledby="dead-h"><h2 id="dead-h">Dead letters</h2><div id="dead"></div></section>
<section aria-labelledby="failed-h"><h2 id="failed-h">Recent CRM errors</h2><div id="failed"></div></section>`,
};

function isPage(p: string): p is SettingsPage {
  return (SETTINGS_PAGES as readonly string[]).includes(p);
}

export function settingsPages(deps: SettingsPagesDeps): Router {
  const router = Router();
  const frame = (tenant: Tenant | null): string =>
    contentSecurityPolicy([...deps.frameAncestors, ...(tenant === null ? [] : tenantFrameOrigins(tenant))]);
  const refuse = (res: Response, status: number, message: string): void => {
    res
      .status(status)
      .set('Content-Security-Policy', frame(null))
      .type('html')
      .send(
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>lead-router settings</title></head><body><main><h1>lead-router settings</h1><p>${escapeHtml(message)}</p></main></body></html>`,
      );
  };

  // A signed link: opens this tenant's session (a cookie of its own) and goes to its Rules page.
  router.get(OPEN_PATH, async (req: Request, res: Response) => {
    const granted = deps.access.verifyLink(req.query, deps.clock());
    const tenant = granted === null ? null : await deps.storage.getTenant(granted.tenantId);
    if (granted === null || tenant === null || tenant.uninstalledAt !== null)
      return refuse(res, 401, 'This link is not valid any more. Open the settings tab from your CRM again.');
    const { value, maxAgeS } = deps.access.openSession(granted, deps.clock());
    res
      .set('Set-Cookie', sessionSetCookie(tenant.id, value, maxAgeS))
      .set('Cache-Control', 'no-store')
      .set('Referrer-Policy', 'no-referrer')
      .redirect(303, `/settings/${encodeURIComponent(tenant.id)}/rules`);
  });

  router.get(ASSET_PATH, async (_req: Request, res: Response) => {
    res
      .type('application/javascript')
      .set('Cache-Control', 'no-cache')
      .send(await clientBundle());
  });

  router.get('/settings/:tenantId/:page', async (req: Request, res: Response) => {
    const tenantId = param(req, 'tenantId');
    const page = param(req, 'page');
    if (!isPage(page)) return refuse(res, 404, 'No such page.');
    const tenant = await deps.storage.getTenant(tenantId);
    const session =
      tenant === null
        ? null
        : deps.access.readSession(
            cookieValue(req.get('cookie'), sessionCookieName(tenantId)),
            tenantId,
            deps.clock(),
          );
    if (tenant === null || session === null || tenant.uninstalledAt !== null)
      return refuse(res, 401, 'Open the settings tab from your CRM to sign in to this portal.');
    res
      .set('Content-Security-Policy', frame(tenant))
      .set('Cache-Control', 'no-store')
      .set('Referrer-Policy', 'no-referrer')
      .set('X-Content-Type-Options', 'nosniff')
      .type('html')
      .send(shell(tenant, page, deps.access.csrfToken(session), BODIES[page]));
  });
  return router;
}
