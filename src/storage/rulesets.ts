// Rule sets: drafts saved by content hash, one published version active per tenant.
import type { Db } from './db.js';
import type { Ruleset } from './model.js';

interface RulesetRow {
  tenant_id: string;
  version: string;
  name: string;
  source: string;
  status: 'draft' | 'published';
  created_by: string | null;
  created_at: number;
  published_by: string | null;
  published_at: number | null;
}

const toRuleset = (r: RulesetRow): Ruleset => ({
  tenantId: r.tenant_id,
  version: r.version,
  name: r.name,
  source: r.source,
  status: r.status,
  createdBy: r.created_by,
  createdAt: r.created_at,
  publishedBy: r.published_by,
  publishedAt: r.published_at,
});

export class RulesetRepository {
  constructor(private readonly db: Db) {}

  /** Saves a draft; saving the same version again is a no-op (the version is the content hash). */
  async saveRulesetDraft(
    tenantId: string,
    input: { version: string; name: string; source: string; createdBy?: string | undefined },
    now: number,
  ): Promise<boolean> {
    const r = await this.db.run(
      `INSERT INTO rulesets (tenant_id, version, name, source, status, created_by, created_at)
       VALUES (?, ?, ?, ?, 'draft', ?, ?) ON CONFLICT DO NOTHING`,
      [tenantId, input.version, input.name, input.source, input.createdBy, now],
    );
    return r.changes === 1;
  }

  /** Publishes a saved version and makes it the tenant's active one (also to roll back to an older one). */
  async publishRuleset(
    tenantId: string,
    version: string,
    publishedBy: string,
    now: number,
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const r = await tx.run(
        `UPDATE rulesets SET status = 'published', published_by = ?, published_at = ?
         WHERE tenant_id = ? AND version = ?`,
        [publishedBy, now, tenantId, version],
      );
      if (r.changes !== 1) return false;
      await tx.run('UPDATE tenants SET active_ruleset_version = ?, updated_at = ? WHERE id = ?', [
        version,
        now,
        tenantId,
      ]);
      return true;
    });
  }

  async getRuleset(tenantId: string, version: string): Promise<Ruleset | null> {
    const row = await this.db.get<RulesetRow>('SELECT * FROM rulesets WHERE tenant_id = ? AND version = ?', [
      tenantId,
      version,
    ]);
    return row === undefined ? null : toRuleset(row);
  }

  async activeRuleset(tenantId: string): Promise<Ruleset | null> {
    const row = await this.db.get<RulesetRow>(
      `SELECT r.* FROM rulesets r JOIN tenants t ON t.id = r.tenant_id AND t.active_ruleset_version = r.version
       WHERE r.tenant_id = ?`,
      [tenantId],
    );
    return row === undefined ? null : toRuleset(row);
  }

  async listRulesets(tenantId: string): Promise<Ruleset[]> {
    return (
      await this.db.all<RulesetRow>(
        'SELECT * FROM rulesets WHERE tenant_id = ? ORDER BY created_at DESC, version',
        [tenantId],
      )
    ).map(toRuleset);
  }
}
