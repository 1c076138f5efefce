// The customer setup guide is served by the app at the listing's support URL.
import { readFile } from 'node:fs/promises';
import { SETUP_GUIDE_FILE, SETUP_GUIDE_PATH } from '../../src/server/setup-guide.js';
import { startServer, type Harness } from './helpers.js';

let h: Harness;
afterEach(async () => {
  await h.close();
});

it('GET /setup-guide serves docs/setup-guide.md as an escaped HTML page', async () => {
  h = await startServer();
  const res = await fetch(h.url + SETUP_GUIDE_PATH);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/html');
  const html = await res.text();
  const guide = await readFile(SETUP_GUIDE_FILE, 'utf8');
  for (const heading of [
    '## Install',
    '## What the app writes in HubSpot',
    '## How to read a routing note',
    '## Configure it',
    '## Uninstall',
  ])
    expect([heading, guide.includes(heading), html.includes(heading)]).toEqual([heading, true, true]);
  expect(html).toContain('ana@acme.de → Ada Lovelace');
  expect(html).not.toMatch(/<h2>|<script/);
});
