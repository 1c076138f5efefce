// A tenant's configuration published as an install publishes it: the rule set's and team's texts with
// the versions the app computes, in the tenant configuration repository.
import { readFileSync } from 'node:fs';
import { ruleSetVersion, teamVersion } from '../../src/rules/index.js';
import { TenantConfigRepository, type Db } from '../../src/storage/index.js';

export interface ConfigTexts {
  rules: string;
  team?: string | undefined;
}

/** The texts of an example under rules/<name>/ (its rules.yaml and team.yaml). */
export function exampleTexts(name: string): { rules: string; team: string } {
  return {
    rules: readFileSync(`rules/${name}/rules.yaml`, 'utf8'),
    team: readFileSync(`rules/${name}/team.yaml`, 'utf8'),
  };
}

export async function publishConfig(
  db: Db,
  tenantId: string,
  { rules, team }: ConfigTexts,
  at: number,
  { note = '' }: { note?: string } = {},
): Promise<void> {
  await new TenantConfigRepository(db).publish(
    tenantId,
    {
      rules: { version: ruleSetVersion(rules), name: 'demo', source: rules },
      ...(team === undefined ? {} : { team: { version: teamVersion(team), source: team } }),
      publishedBy: 'install',
      note,
    },
    at,
  );
}
