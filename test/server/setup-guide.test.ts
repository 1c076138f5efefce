// The setup guide is served by the app at the listing's support URL: the guide of each CRM the
// deployment serves, rendered from its Markdown, with the deployment's own address where a guide says
// what to paste.
import { readFile } from 'node:fs/promises';
import express from 'express';
import { listenOn, type RunningServer } from '../../src/server/index.js';
import {
  guideHtml,
  SETUP_GUIDE_PATH,
  SETUP_GUIDES,
  setupGuideRouter,
  type GuidedCrm,
} from '../../src/server/setup-guide.js';
import { PUBLIC_URL, startServer, type Harness } from './helpers.js';

const HUBSPOT_HEADINGS = [
  '## Install',
  '## What the app writes in HubSpot',
  '## How to read a routing note',
  '## Configure it',
  '## Uninstall',
];
const SALESFORCE_HEADINGS = [
  '## 1. Create the app in Salesforce',
  '## 2. Turn on Change Data Capture',
  '## 3. Run lead-router (the operator)',
  '## 4. Install into the org',
  '## 5. What the app writes in Salesforce',
  '## 6. The settings tab inside Salesforce',
];

/** A Markdown heading (`## Install`) as the page shows it (`<h2>Install</h2>`). */
function rendered(heading: string): string {
  const [hashes = '', ...words] = heading.split(' ');
  return `<h${hashes.length}>${words.join(' ')}</h${hashes.length}>`;
}

async function page(url: string): Promise<string> {
  const res = await fetch(url + SETUP_GUIDE_PATH);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/html');
  return res.text();
}

describe('GET /setup-guide', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('on a HubSpot server, serves docs/setup-guide.md rendered as an HTML page', async () => {
    h = await startServer();
    const html = await page(h.url);
    const guide = await readFile(SETUP_GUIDES[0].file, 'utf8');
    for (const heading of HUBSPOT_HEADINGS)
      expect([heading, guide.includes(heading), html.includes(rendered(heading))]).toEqual([
        heading,
        true,
        true,
      ]);
    expect(html).toContain('ana@acme.de → Ada Lovelace');
    expect(html).not.toContain('Salesforce');
    expect(html).not.toContain('<script');
  });
});

describe('a guide rendered', () => {
  it('shows HTML written in the Markdown as text, and code as code', () => {
    const html = guideHtml(
      '## Steps\n\n<script>alert(1)</script>\n\nPaste `<PUBLIC_URL>/x` and <img src=x onerror=alert(1)>.\n',
      'https://router.example.com',
    );
    expect(html).toContain('<h2>Steps</h2>');
    expect(html).toContain('<code>https://router.example.com/x</code>');
    expect(html).not.toMatch(/<script|<img/);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});

describe('the guides of the CRMs served', () => {
  let server: RunningServer;
  afterEach(() => server.close());

  async function serve(crms: GuidedCrm[]): Promise<string> {
    const app = express().use(setupGuideRouter({ crms, publicUrl: `${PUBLIC_URL}/` }));
    server = await listenOn(app, 0, '127.0.0.1');
    return page(server.url);
  }

  const HUBSPOT = rendered('# lead-router for HubSpot: setup guide');
  const SALESFORCE = rendered('# lead-router for Salesforce: setup guide');
  it.each<[string, GuidedCrm[], string[]]>([
    ['HubSpot only', ['hubspot'], [HUBSPOT]],
    ['Salesforce only', ['salesforce'], [SALESFORCE]],
    ['both', ['hubspot', 'salesforce'], [HUBSPOT, SALESFORCE]],
    ['none named: every guide', [], [HUBSPOT, SALESFORCE]],
  ])('%s', async (_name, crms, shown) => {
    const html = await serve(crms);
    expect([HUBSPOT, SALESFORCE].filter((title) => html.includes(title))).toEqual(shown);
    const headings = [
      ...(shown.includes(HUBSPOT) ? HUBSPOT_HEADINGS : []),
      ...(shown.includes(SALESFORCE) ? SALESFORCE_HEADINGS : []),
    ];
    for (const heading of headings)
      expect([heading, html.includes(rendered(heading))]).toEqual([heading, true]);
    // Several guides get links to each.
    expect(html.includes('<a href="#salesforce">Salesforce</a>')).toBe(shown.length > 1);
  });

  it("tells a Salesforce admin the app's settings, with this deployment's callback URL, and the operator the variables", async () => {
    const html = await serve(['salesforce']);
    for (const text of [
      'external client app',
      `callback URL</strong> <code>${PUBLIC_URL}/oauth/salesforce/callback</code>`,
      '<code>api refresh_token id</code>',
      'Require Proof Key for Code Exchange (PKCE)',
      `<code>${PUBLIC_URL}/oauth/salesforce/install</code>`,
      'SALESFORCE_CLIENT_ID',
      'SALESFORCE_CLIENT_SECRET',
      'SALESFORCE_LOGIN_URL',
      'TOKEN_ENCRYPTION_KEY',
      `PUBLIC_URL=${PUBLIC_URL}`,
    ])
      expect([text, html.includes(text)]).toEqual([text, true]);
    expect(html).not.toContain('&lt;PUBLIC_URL&gt;');
  });
});
