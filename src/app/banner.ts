// What `npm start` prints when it is up: where the app is, where the sandbox CRM is, which rules and
// team it routes with. Pure, so the wording is tested without starting anything.
import type { AppConfig } from './config.js';
import type { RunningApp, TeamSource } from './start.js';

/**
 * "demo contacts every 2.0 s" below one per second, "20 demo contacts per second" from one up (leads
 * for the Salesforce demo org).
 */
export function demoRateText(ratePerSec: number, noun: 'contact' | 'lead' = 'contact'): string {
  if (ratePerSec <= 0) return `no demo ${noun}s (DEMO_RATE=0)`;
  if (ratePerSec < 1) return `demo ${noun}s every ${(1 / ratePerSec).toFixed(1)} s`;
  const rate = Number.isInteger(ratePerSec) ? String(ratePerSec) : ratePerSec.toFixed(1);
  return `${rate} demo ${noun}${rate === '1' ? '' : 's'} per second`;
}

export function teamText(team: TeamSource): string {
  switch (team.kind) {
    case 'file':
      return `team ${team.path}`;
    case 'inline':
      return 'its own team (inline)';
    case 'none':
      return 'no team file (set TEAM)';
    default: {
      const never: never = team;
      throw new Error(`unknown team source ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Which rules and team the app routes with: the files, or for the sandbox's demo account what its
 * settings tab published since (kept while the files are the ones it was installed with).
 */
function rulesLine(rules: RunningApp['rules']): string {
  const tab = rules.publishedInTab;
  const ruleSet =
    tab?.ruleSet === undefined
      ? `${rules.path} ("${rules.name}")`
      : `rule set ${tab.ruleSet.version} ("${tab.ruleSet.name}")`;
  const team = tab?.team === undefined ? teamText(rules.team) : `team ${tab.team}`;
  if (tab === undefined) return `  rules ${ruleSet} with ${team}`;
  const files = [
    ...(tab.ruleSet === undefined ? [] : [`RULES=${rules.path}`]),
    ...(tab.team === undefined ? [] : [rules.team.kind === 'file' ? rules.team.path : 'its team']),
  ].join(' and ');
  return `  rules ${ruleSet} with ${team}, as published in the settings tab: ${files} unchanged since the install (a changed file is routed with at the next start)`;
}

export function bannerLines(
  config: Pick<AppConfig, 'role' | 'demoRate'>,
  app: Pick<RunningApp, 'url' | 'sandbox' | 'rules' | 'settingsUrl'> &
    Partial<Pick<RunningApp, 'salesforceSandbox'>>,
  pid: number,
  /** The real CRMs served (no sandbox): HubSpot, Salesforce, or both. */
  crms: { hubspot: boolean; salesforce: boolean } = { hubspot: true, salesforce: false },
): string[] {
  const rules = rulesLine(app.rules);
  if (config.role === 'worker')
    return [`lead-router worker running (pid ${pid}): routing leads from the shared database`, rules];
  const lines = [`lead-router ${config.role === 'web' ? 'intake (no worker) ' : ''}is running at ${app.url}`];
  const resumedText = ', continued from DATA_DIR; npm run demo:reset starts afresh';
  const sf = app.salesforceSandbox;
  if (app.sandbox !== undefined) {
    lines.push(
      `  sandbox CRM at ${app.sandbox.url} (portal ${app.sandbox.portalId}${app.sandbox.resumed ? resumedText : ''}), ${demoRateText(config.demoRate)}`,
      `  writes the app made in the CRM: ${app.sandbox.url}/_sandbox/writes?source=api`,
    );
  } else if (sf !== undefined) {
    lines.push(
      `  Salesforce sandbox at ${sf.url} (org ${sf.orgId}${sf.resumed ? resumedText : ''}), ${demoRateText(config.demoRate, 'lead')}`,
      `  writes the app made in the CRM: ${sf.url}/_sandbox/writes?source=api`,
    );
  } else {
    if (crms.hubspot)
      lines.push(
        `  serving HubSpot; webhooks: ${app.url}/webhooks/hubspot, install: ${app.url}/oauth/hubspot/install`,
      );
    if (crms.salesforce)
      lines.push(
        `  serving Salesforce; install: ${app.url}/oauth/salesforce/install (change events read per org)`,
      );
  }
  if (app.settingsUrl !== undefined)
    lines.push(
      `  settings tab of the demo ${sf !== undefined ? 'org' : 'portal'} (link valid for an hour): ${app.settingsUrl}`,
    );
  lines.push(
    rules,
    `  health: ${app.url}/healthz · why a lead went where it did: npm run cli -- explain <email>`,
  );
  return lines;
}
