// GET /setup-guide: the setup guide of each CRM the deployment serves (docs/setup-guide.md for HubSpot,
// docs/setup-guide-salesforce.md for Salesforce), served by the app itself so the support and
// documentation URLs of a listing always lead somewhere real on PUBLIC_URL.
import { readFile } from 'node:fs/promises';
import { Router } from 'express';
import { Marked } from 'marked';
import { escapeHtml } from './html.js';
import { normalizeOrigin } from './types.js';

export const SETUP_GUIDE_PATH = '/setup-guide';

/** Each CRM's guide, in the order a page with several shows them. */
export const SETUP_GUIDES = [
  { crm: 'hubspot', title: 'HubSpot', file: new URL('../../docs/setup-guide.md', import.meta.url) },
  {
    crm: 'salesforce',
    title: 'Salesforce',
    file: new URL('../../docs/setup-guide-salesforce.md', import.meta.url),
  },
] as const;

export type GuidedCrm = (typeof SETUP_GUIDES)[number]['crm'];

/** Where a guide says the deployment's own address (a callback URL to paste): filled in when served. */
const PUBLIC_URL_MARK = '<PUBLIC_URL>';

/** GitHub-flavoured Markdown to HTML; HTML written in a guide is shown as text, never as markup. */
const markdown = new Marked({
  gfm: true,
  async: false,
  renderer: { html: ({ text }) => escapeHtml(text) },
});

/** A guide's Markdown, with this deployment's address filled in, as an HTML section. */
export function guideHtml(text: string, publicUrl: string): string {
  return markdown.parse(text.replaceAll(PUBLIC_URL_MARK, publicUrl), { async: false });
}

/**
 * The guides of the CRMs served, each in its own block with a link to it when there are several. A
 * deployment that names none (a bare server in tests) shows them all.
 */
export function setupGuideRouter(opts: { crms: readonly GuidedCrm[]; publicUrl: string }): Router {
  const guides = SETUP_GUIDES.filter((g) => opts.crms.length === 0 || opts.crms.includes(g.crm));
  const publicUrl = normalizeOrigin(opts.publicUrl);
  const router = Router();
  let html: Promise<string> | undefined;
  router.get(SETUP_GUIDE_PATH, async (_req, res) => {
    // Read and rendered once.
    html ??= Promise.all(
      guides.map(
        async (g) =>
          `<section id="${g.crm}">\n${guideHtml(await readFile(g.file, 'utf8'), publicUrl)}</section>`,
      ),
    ).then((blocks) => {
      const contents =
        guides.length < 2
          ? ''
          : `<p>${guides.map((g) => `<a href="#${g.crm}">${g.title}</a>`).join(' · ')}</p>\n`;
      return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lead-router setup guide</title>
<style>body { font: 16px/1.5 system-ui, sans-serif; max-width: 50rem; margin: 2rem auto; padding: 0 1rem }
pre { background: #f4f5f7; padding: .75rem; overflow-x: auto } code { font-size: .9em }</style></head>
<body>${contents}${blocks.join('\n')}</body></html>
`;
    });
    res.type('html').send(await html);
  });
  return router;
}
