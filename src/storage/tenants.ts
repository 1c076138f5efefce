// Tenants (one CRM account each) and their OAuth tokens, encrypted at rest under a context that binds
// each blob to its tenant; `reencryptSecrets` moves them to the current key.
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';
import { StorageError } from './errors.js';
import {
  providerSchema,
  settingsSchema,
  type Cipher,
  type NewTenant,
  type Provider,
  type ReencryptReport,
  type Tenant,
  type TenantPause,
} from './model.js';
import { KEY_CHUNK, readJson, validate } from './shared.js';

interface TenantRow {
  id: string;
  provider: Provider;
  external_id: string;
  name: string;
  token_blob: string | null;
  webhook_secret_ref: string | null;
  settings: string;
  active_ruleset_version: string | null;
  uninstalled_at: number | null;
  paused_at: number | string | null;
  paused_until: number | string | null;
  pause_reason: string | null;
  created_at: number;
  updated_at: number;
}

/** The context a tenant's OAuth token is bound to: its owner and purpose. */
const tokenContext = (tenantId: string): string => `tenant:${tenantId}:oauth-token`;

const toTenant = (r: TenantRow): Tenant => ({
  id: r.id,
  provider: r.provider,
  externalId: r.external_id,
  name: r.name,
  hasToken: r.token_blob !== null,
  webhookSecretRef: r.webhook_secret_ref,
  settings: readJson(r.settings, `tenants.settings of tenant ${r.id}`, settingsSchema),
  activeRulesetVersion: r.active_ruleset_version,
  uninstalledAt: r.uninstalled_at,
  pause:
    r.paused_at == null
      ? null
      : {
          since: Number(r.paused_at),
          reason: r.pause_reason ?? 'no reason recorded',
          checkAt: Number(r.paused_until ?? r.paused_at),
        },
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class TenantRepository {
  constructor(
    private readonly db: Db,
    private readonly cipher: Cipher | undefined,
  ) {}

  async createTenant(input: NewTenant, now: number): Promise<Tenant> {
    const id = input.id ?? randomUUID();
    validate(providerSchema, input.provider, 'tenant provider');
    const settings = JSON.stringify(validate(settingsSchema, input.settings ?? {}, 'tenant settings'));
    const inserted = await this.db.run(
      `INSERT INTO tenants (id, provider, external_id, name, token_blob, webhook_secret_ref, settings,
         active_ruleset_version, created_at, updated_at)
       VALUES (?, ?, ?, ?, NULL, ?, ?, NULL, ?, ?) ON CONFLICT DO NOTHING`,
      [id, input.provider, input.externalId, input.name, input.webhookSecretRef, settings, now, now],
    );
    if (inserted.changes === 0) {
      throw new StorageError('invalid', `a tenant with this id or ${input.provider} account already exists`);
    }
    const tenant = await this.getTenant(id);
    if (tenant === null) throw new StorageError('corrupt', 'tenant vanished right after insert');
    return tenant;
  }

  async getTenant(id: string): Promise<Tenant | null> {
    const row = await this.db.get<TenantRow>('SELECT * FROM tenants WHERE id = ?', [id]);
    return row === undefined ? null : toTenant(row);
  }

  async findTenant(provider: Provider, externalId: string): Promise<Tenant | null> {
    const row = await this.db.get<TenantRow>('SELECT * FROM tenants WHERE provider = ? AND external_id = ?', [
      provider,
      externalId,
    ]);
    return row === undefined ? null : toTenant(row);
  }

  async listTenants(): Promise<Tenant[]> {
    return (await this.db.all<TenantRow>('SELECT * FROM tenants ORDER BY created_at, id')).map(toTenant);
  }

  /** The name the tenant is shown by (its CRM account's name, read again at a reinstall). */
  async renameTenant(id: string, name: string, now: number): Promise<boolean> {
    const r = await this.db.run('UPDATE tenants SET name = ?, updated_at = ? WHERE id = ?', [name, now, id]);
    return r.changes === 1;
  }

  async updateTenantSettings(id: string, settings: Record<string, unknown>, now: number): Promise<boolean> {
    const json = JSON.stringify(validate(settingsSchema, settings, 'tenant settings'));
    const r = await this.db.run('UPDATE tenants SET settings = ?, updated_at = ? WHERE id = ?', [
      json,
      now,
      id,
    ]);
    return r.changes === 1;
  }

  /**
   * Stores the OAuth token set (any string, usually JSON) encrypted; `null` forgets it. Storing a token
   * is an install: an uninstalled tenant is installed again (its rules and rotation were kept).
   */
  async setTenantToken(id: string, token: string | null, now: number): Promise<boolean> {
    const blob = token === null ? null : this.requireCipher().encrypt(token, tokenContext(id));
    const reinstall = token === null ? '' : ', uninstalled_at = NULL';
    const r = await this.db.run(
      `UPDATE tenants SET token_blob = ?${reinstall}, updated_at = ? WHERE id = ?`,
      [blob, now, id],
    );
    return r.changes === 1;
  }

  /**
   * The portal uninstalled the app: its tokens are deleted and its work is no longer claimed; rules,
   * rotation and history stay for a reinstall. A pause ends with it (the uninstall says more). False
   * when the tenant does not exist or was already.
   */
  async markTenantUninstalled(id: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE tenants SET token_blob = NULL, uninstalled_at = ?, paused_at = NULL, paused_until = NULL,
         pause_reason = NULL, updated_at = ?
       WHERE id = ? AND uninstalled_at IS NULL`,
      [now, now, id],
    );
    return r.changes === 1;
  }

  /**
   * The CRM account refuses the tenant's credentials for a policy reason: its routing pauses, or stays
   * paused with this reason and next check. `began`: this call paused it (one caller among concurrent
   * ones); `continued`: it was paused already; null: no installed tenant has this id.
   */
  async pauseTenant(
    id: string,
    pause: Pick<TenantPause, 'reason' | 'checkAt'>,
    now: number,
  ): Promise<'began' | 'continued' | null> {
    const began = await this.db.run(
      `UPDATE tenants SET paused_at = ?, paused_until = ?, pause_reason = ?, updated_at = ?
       WHERE id = ? AND uninstalled_at IS NULL AND paused_at IS NULL`,
      [now, pause.checkAt, pause.reason, now, id],
    );
    if (began.changes === 1) return 'began';
    const continued = await this.db.run(
      `UPDATE tenants SET paused_until = ?, pause_reason = ?, updated_at = ?
       WHERE id = ? AND uninstalled_at IS NULL AND paused_at IS NOT NULL`,
      [pause.checkAt, pause.reason, now, id],
    );
    return continued.changes === 1 ? 'continued' : null;
  }

  /** The CRM accepts the tenant's credentials again: its routing resumes. False when it was not paused. */
  async resumeTenant(id: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE tenants SET paused_at = NULL, paused_until = NULL, pause_reason = NULL, updated_at = ?
       WHERE id = ? AND paused_at IS NOT NULL`,
      [now, id],
    );
    return r.changes === 1;
  }

  /** Paused tenants — those whose credentials are due to be tried again by `dueBy` — the longest due first. */
  async pausedTenants(dueBy = Number.MAX_SAFE_INTEGER): Promise<Tenant[]> {
    const rows = await this.db.all<TenantRow>(
      `SELECT * FROM tenants WHERE paused_at IS NOT NULL AND paused_until <= ? ORDER BY paused_until, id`,
      [dueBy],
    );
    return rows.map(toTenant);
  }

  /**
   * Takes the due check of a paused tenant, moving its next check to `nextCheckAt`: a compare-and-set on
   * the check it read, so of the processes that found it due, one tries the credentials.
   */
  async takePauseCheck(id: string, checkAt: number, nextCheckAt: number, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE tenants SET paused_until = ?, updated_at = ?
       WHERE id = ? AND paused_at IS NOT NULL AND paused_until = ?`,
      [nextCheckAt, now, id, checkAt],
    );
    return r.changes === 1;
  }

  async getTenantToken(id: string): Promise<string | null> {
    const row = await this.db.get<{ token_blob: string | null }>(
      'SELECT token_blob FROM tenants WHERE id = ?',
      [id],
    );
    if (row?.token_blob == null) return null;
    return this.requireCipher().decrypt(row.token_blob, tokenContext(id));
  }

  /**
   * Re-encrypts every stored secret not sealed under the current key and format (`lead-router keys
   * rotate`), a page of tenants at a time. Each rewrite is a compare-and-set on the blob it read, so a
   * token refreshed meanwhile (already under the current key) is left as it is. A secret that cannot be
   * read is reported and left unchanged.
   */
  async reencryptSecrets(): Promise<ReencryptReport> {
    const cipher = this.requireCipher();
    const report: ReencryptReport = { reencrypted: [], current: 0, failed: [] };
    let after = '';
    for (;;) {
      const rows = await this.db.all<{ id: string; token_blob: string }>(
        'SELECT id, token_blob FROM tenants WHERE token_blob IS NOT NULL AND id > ? ORDER BY id LIMIT ?',
        [after, KEY_CHUNK],
      );
      for (const row of rows) {
        if (cipher.isCurrent(row.token_blob)) {
          report.current += 1;
          continue;
        }
        let blob: string;
        try {
          blob = cipher.encrypt(cipher.decrypt(row.token_blob, tokenContext(row.id)), tokenContext(row.id));
        } catch (error) {
          report.failed.push({
            tenantId: row.id,
            reason: error instanceof Error ? error.message : String(error),
          });
          continue;
        }
        const r = await this.db.run('UPDATE tenants SET token_blob = ? WHERE id = ? AND token_blob = ?', [
          blob,
          row.id,
          row.token_blob,
        ]);
        if (r.changes === 1) report.reencrypted.push(row.id);
        else report.current += 1;
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < KEY_CHUNK) return report;
      after = last.id;
    }
  }

  private requireCipher(): Cipher {
    if (this.cipher === undefined) {
      throw new StorageError('config', 'no cipher configured: tokens are never stored in clear text');
    }
    return this.cipher;
  }
}
