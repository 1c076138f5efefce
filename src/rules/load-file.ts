// File helpers around the loaders: read the file, report a read failure as a diagnostic.
import { readFile } from 'node:fs/promises';
import type { Diagnostic } from './diagnostics.js';
import {
  hasInlineTeam,
  loadRuleSet,
  loadTeam,
  type LoadOptions,
  type LoadResult,
  type TeamLoadOptions,
  type TeamLoadResult,
} from './load.js';

async function read(path: string): Promise<{ text: string } | { error: Diagnostic }> {
  try {
    return { text: await readFile(path, 'utf8') };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? 'file not found'
        : `cannot read file: ${e instanceof Error ? e.message : String(e)}`;
    return { error: { file: path, line: 0, column: 0, path: '', message } };
  }
}

/**
 * A rule file read once, loaded with options that may depend on its text: whether it carries its own
 * team decides which team it is checked against, whatever errors it has.
 */
export type RuleSetFile = ((opts?: LoadOptions) => LoadResult) & { hasInlineTeam: boolean };

export async function readRuleSetFile(path: string): Promise<RuleSetFile> {
  const r = await read(path);
  const load = (opts: LoadOptions = {}): LoadResult =>
    'error' in r ? { ok: false, errors: [r.error], warnings: [] } : loadRuleSet(r.text, path, opts);
  return Object.assign(load, { hasInlineTeam: 'text' in r && hasInlineTeam(r.text) });
}

export async function loadRuleSetFile(path: string, opts: LoadOptions = {}): Promise<LoadResult> {
  return (await readRuleSetFile(path))(opts);
}

export async function loadTeamFile(path: string, opts: TeamLoadOptions = {}): Promise<TeamLoadResult> {
  const r = await read(path);
  return 'error' in r ? { ok: false, errors: [r.error], warnings: [] } : loadTeam(r.text, path, opts);
}

/** Loads a team file (when given) and a rule file checked against it; the team file wins over an inline team. */
export async function loadRulesWithTeam(
  rulesPath: string,
  teamPath?: string,
): Promise<{ rules: LoadResult; team: TeamLoadResult | undefined }> {
  const team = teamPath === undefined ? undefined : await loadTeamFile(teamPath);
  const rules = await loadRuleSetFile(rulesPath, team?.ok === true ? { team: team.team } : {});
  return { rules, team };
}
