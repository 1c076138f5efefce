// Storage as the app and the CLI open it: PostgreSQL when DATABASE_URL is set, else SQLite in the data
// directory; secrets encrypted with AES-256-GCM under the configured keyring.
import { join } from 'node:path';
import { openStorage, type Storage } from '../storage/index.js';
import { tokenKeyring, type AppConfig } from './config.js';

/** The SQLite database file the app keeps in its data directory when no DATABASE_URL is set. */
export function sqliteFile(config: Pick<AppConfig, 'dataDir'>): string {
  return join(config.dataDir, 'lead-router.sqlite');
}

export async function openAppStorage(config: AppConfig): Promise<Storage> {
  return openStorage({
    url: config.databaseUrl,
    schema: config.databaseSchema,
    file: sqliteFile(config),
    cipher: await tokenKeyring(config),
  });
}
