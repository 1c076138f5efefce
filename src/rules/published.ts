// A tenant's published configuration, loaded from the sources storage keeps: the active rule set with
// the active team (or, when no team is published, the team the app was started with). The worker's
// runtime and the reports read it the same way.
import type { RuleSet, Team } from '../core/types.js';
import { formatDiagnostic } from './diagnostics.js';
import { loadRuleSet, loadTeam } from './load.js';

export type PublishedConfig =
  { ok: true; ruleSet: RuleSet; team: Team | undefined } | { ok: false; message: string };

export function loadPublished(
  ruleset: { version: string; source: string },
  storedTeam: { version: string; source: string } | null,
  defaultTeam: Team | undefined,
): PublishedConfig {
  let team = defaultTeam;
  if (storedTeam !== null) {
    const loadedTeam = loadTeam(storedTeam.source, `team ${storedTeam.version}`);
    if (!loadedTeam.ok)
      return {
        ok: false,
        message: `published team does not load: ${loadedTeam.errors.map(formatDiagnostic).join('; ')}`,
      };
    team = loadedTeam.team;
  }
  const loaded = loadRuleSet(ruleset.source, `rule set ${ruleset.version}`, {
    team,
    requireQueueTargets: true,
  });
  if (!loaded.ok)
    return {
      ok: false,
      message: `published rule set does not load: ${loaded.errors.map(formatDiagnostic).join('; ')}`,
    };
  return { ok: true, ruleSet: loaded.ruleSet, team };
}
