// The settings pages' script: each page fills itself from the JSON API.
import { fail } from './api.js';
import { healthPage } from './health.js';

const pages: Record<string, () => Promise<void>> = {
  health: healthPage,
};

const run = pages[document.body.dataset['page'] ?? ''];
if (run !== undefined) run().catch(fail);
