// Each tenant's configuration with versions: its rule sets (the `rulesets` table) and its team
// (`team_versions`), and the publications that made a pair of them active, by whom and why. A
// publication is one transaction: the versions it names are stored if new, marked active on the
// tenant, and recorded in the history, or nothing is. Workers read the active versions per batch, so a
// publication takes effect on their next batch.
import type { Db } from './db.js';
import { StorageError } from './errors.js';

export interface TeamVersion {
  tenantId: string;
  version: string;
  /** The team as YAML, in the team file's format (what the loader validates). */
  source: string;
  createdBy: string | null;
  createdAt: number;
}

export interface Publication {
  id: number;
  tenantId: string;
  rulesetVersion: string;
  teamVersion: string | null;
  publishedBy: string;
  publishedAt: number;
  note: string;
  /** The second admin who approved it, when the tenant requires approval. */
  approvedBy: string | null;
}

/** What a publication makes active: a rule set version (new or stored), and a team version or not. */
export interface PublishInput {
  rules: { version: string; name: string; source: string } | { version: string };
  /** Absent: the active team stays. */
  team?: { version: string; source: string } | { version: string } | undefined;
  publishedBy: string;
  note: string;
  /**
   * The active rule set version the publisher saw; when another publication came in between, nothing
   * is written and the result is `conflict` (two admins publishing at once).
   */
  basedOn?: string | null | undefined;
  /** The active team version the publisher saw, checked like `basedOn` when given. */
  basedOnTeam?: string | null | undefined;
  /** Who approved it (a request approved by a second admin). */
  approvedBy?: string | undefined;
}

export type PublishResult =
  | { status: 'published'; publication: Publication }
  | { status: 'conflict'; active: string | null }
  | { status: 'unknown_version'; what: 'rules' | 'team'; version: string };

interface TeamRow {
  tenant_id: string;
  version: string;
  source: string;
  created_by: string | null;
  created_at: number | string;
}

interface PublicationRow {
  id: number | string;
  tenant_id: string;
  ruleset_version: string;
  team_version: string | null;
  published_by: string;
  published_at: number | string;
  note: string;
  approved_by: string | null;
}

const toTeamVersion = (r: TeamRow): TeamVersion => ({
  tenantId: r.tenant_id,
  version: r.version,
  source: r.source,
  createdBy: r.created_by,
  createdAt: Number(r.created_at),
});

const toPublication = (r: PublicationRow): Publication => ({
  id: Number(r.id),
  tenantId: r.tenant_id,
  rulesetVersion: r.ruleset_version,
  teamVersion: r.team_version,
  publishedBy: r.published_by,
  publishedAt: Number(r.published_at),
  note: r.note,
  approvedBy: r.approved_by,
});

export class TenantConfigRepository {
  constructor(private readonly db: Db) {}

  async activeTeam(tenantId: string): Promise<TeamVersion | null> {
    const row = await this.db.get<TeamRow>(
      `SELECT v.* FROM team_versions v JOIN tenants t ON t.id = v.tenant_id AND t.active_team_version = v.version
       WHERE v.tenant_id = ?`,
      [tenantId],
    );
    return row === undefined ? null : toTeamVersion(row);
  }

  async teamVersion(tenantId: string, version: string): Promise<TeamVersion | null> {
    const row = await this.db.get<TeamRow>(
      'SELECT * FROM team_versions WHERE tenant_id = ? AND version = ?',
      [tenantId, version],
    );
    return row === undefined ? null : toTeamVersion(row);
  }

  /** The active versions, read together (what a worker's batch routes with). */
  async activeVersions(tenantId: string): Promise<{ rules: string | null; team: string | null } | null> {
    const row = await this.db.get<{
      active_ruleset_version: string | null;
      active_team_version: string | null;
    }>('SELECT active_ruleset_version, active_team_version FROM tenants WHERE id = ?', [tenantId]);
    return row === undefined ? null : { rules: row.active_ruleset_version, team: row.active_team_version };
  }

  /** Latest first. */
  async publications(tenantId: string, limit = 50): Promise<Publication[]> {
    return (
      await this.db.all<PublicationRow>(
        'SELECT * FROM config_publications WHERE tenant_id = ? ORDER BY id DESC LIMIT ?',
        [tenantId, limit],
      )
    ).map(toPublication);
  }

  async publish(tenantId: string, input: PublishInput, now: number): Promise<PublishResult> {
    if (input.publishedBy === '') throw new StorageError('invalid', 'a publication names who published it');
    return this.db
      .transaction(async (tx): Promise<PublishResult> => {
        const tenant = await tx.get<{
          active_ruleset_version: string | null;
          active_team_version: string | null;
        }>('SELECT active_ruleset_version, active_team_version FROM tenants WHERE id = ?', [tenantId]);
        if (tenant === undefined) throw new StorageError('invalid', `tenant ${tenantId} does not exist`);
        if (
          (input.basedOn !== undefined && input.basedOn !== tenant.active_ruleset_version) ||
          (input.basedOnTeam !== undefined && input.basedOnTeam !== tenant.active_team_version)
        )
          return { status: 'conflict', active: tenant.active_ruleset_version };

        const { rules, team } = input;
        await storeVersions(tx, tenantId, input, now);
        const marked = await tx.run(
          `UPDATE rulesets SET status = 'published', published_by = ?, published_at = ?
         WHERE tenant_id = ? AND version = ?`,
          [input.publishedBy, now, tenantId, rules.version],
        );
        if (marked.changes !== 1) return { status: 'unknown_version', what: 'rules', version: rules.version };

        let teamVersion = tenant.active_team_version;
        if (team !== undefined) {
          if (!('source' in team) && (await this.teamVersionWith(tx, tenantId, team.version)) === undefined)
            // Nothing was written that the rollback below would not undo: the transaction rolls back.
            throw new UnknownTeamVersion(team.version);
          teamVersion = team.version;
        }
        await tx.run(
          'UPDATE tenants SET active_ruleset_version = ?, active_team_version = ?, updated_at = ? WHERE id = ?',
          [rules.version, teamVersion, now, tenantId],
        );
        const row = await tx.get<PublicationRow>(
          `INSERT INTO config_publications (tenant_id, ruleset_version, team_version, published_by, published_at, note, approved_by)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
          [
            tenantId,
            rules.version,
            teamVersion,
            input.publishedBy,
            now,
            input.note,
            input.approvedBy ?? null,
          ],
        );
        if (row === undefined) throw new StorageError('corrupt', 'a publication was not recorded');
        return { status: 'published', publication: toPublication(row) };
      })
      .catch((error: unknown) => {
        if (error instanceof UnknownTeamVersion)
          return { status: 'unknown_version', what: 'team', version: error.version } as const;
        throw error;
      });
  }

  private teamVersionWith(tx: Db, tenantId: string, version: string): Promise<unknown> {
    return tx.get('SELECT version FROM team_versions WHERE tenant_id = ? AND version = ?', [
      tenantId,
      version,
    ]);
  }
}

/**
 * Stores the new versions a publication (or a request for one) names, as drafts; a version already
 * stored is kept as it is (versions are content hashes).
 */
export async function storeVersions(
  tx: Db,
  tenantId: string,
  input: Pick<PublishInput, 'rules' | 'team' | 'publishedBy'>,
  now: number,
): Promise<void> {
  const { rules, team } = input;
  if ('source' in rules)
    await tx.run(
      `INSERT INTO rulesets (tenant_id, version, name, source, status, created_by, created_at)
       VALUES (?, ?, ?, ?, 'draft', ?, ?) ON CONFLICT DO NOTHING`,
      [tenantId, rules.version, rules.name, rules.source, input.publishedBy, now],
    );
  if (team !== undefined && 'source' in team)
    await tx.run(
      `INSERT INTO team_versions (tenant_id, version, source, created_by, created_at)
       VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      [tenantId, team.version, team.source, input.publishedBy, now],
    );
}

/** Aborts a publication's transaction when it names a team version that is not stored. */
class UnknownTeamVersion extends Error {
  constructor(readonly version: string) {
    super(`unknown team version ${version}`);
  }
}
