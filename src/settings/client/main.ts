// The settings pages' script: each page fills itself from the JSON API.
import { activityPage } from './activity.js';
import { fail } from './api.js';
import { healthPage } from './health.js';
import { reportsPage } from './reports.js';
import { rulesPage } from './rules.js';
import { simulatePage } from './simulate.js';
import { teamPage } from './team.js';

const pages: Record<string, () => Promise<void>> = {
  rules: rulesPage,
  simulate: simulatePage,
  team: teamPage,
  activity: activityPage,
  reports: reportsPage,
  health: healthPage,
};

const run = pages[document.body.dataset['page'] ?? ''];
if (run !== undefined) run().catch(fail);
