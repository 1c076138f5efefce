// GET /setup-guide: the customer setup guide (docs/setup-guide.md), served by the app itself so the
// support and documentation URLs of the HubSpot listing always lead somewhere real on PUBLIC_URL.
import { readFile } from 'node:fs/promises';
import { Router } from 'express';
import { escapeHtml } from './html.js';

export const SETUP_GUIDE_PATH = '/setup-guide';
export const SETUP_GUIDE_FILE = new URL('../../docs/setup-guide.md', import.meta.url);

export function setupGuideRouter(file: URL = SETUP_GUIDE_FILE): Router {
  const router = Router();
  let html: Promise<string> | undefined;
  router.get(SETUP_GUIDE_PATH, async (_req, res) => {
    // Read once; Markdown shown as preformatted text keeps it readable without a renderer.
    html ??= readFile(file, 'utf8').then(
      (text) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lead-router setup guide</title></head>
<body><pre style="white-space: pre-wrap; max-width: 50rem">${escapeHtml(text)}</pre></body></html>
`,
    );
    res.type('html').send(await html);
  });
  return router;
}
