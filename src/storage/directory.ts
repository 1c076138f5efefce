// The CRM directory (owners, teams, queues) cached per tenant.
import type { Directory } from '../../connectors/connector.js';
import type { Db } from './db.js';
import { directorySchema } from './model.js';
import { readJson, validate } from './shared.js';

export class DirectoryRepository {
  constructor(private readonly db: Db) {}

  async saveDirectory(tenantId: string, directory: Directory): Promise<void> {
    const valid = validate(directorySchema, directory, 'directory');
    await this.db.run(
      `INSERT INTO directory_cache (tenant_id, directory, fetched_at) VALUES (?, ?, ?)
       ON CONFLICT (tenant_id) DO UPDATE SET directory = excluded.directory, fetched_at = excluded.fetched_at`,
      [tenantId, JSON.stringify(valid), valid.fetchedAt],
    );
  }

  async loadDirectory(tenantId: string): Promise<Directory | null> {
    const row = await this.db.get<{ directory: string }>(
      'SELECT directory FROM directory_cache WHERE tenant_id = ?',
      [tenantId],
    );
    return row === undefined
      ? null
      : readJson(row.directory, `directory_cache.directory of tenant ${tenantId}`, directorySchema);
  }
}
