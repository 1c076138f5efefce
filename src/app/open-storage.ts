// Storage as the app and the CLI open it: PostgreSQL when DATABASE_URL is set, else SQLite in the data
// directory; tokens encrypted with AES-256-GCM under the configured key.
import { join } from 'node:path';
import { decrypt, encrypt } from '../../connectors/shared/crypto.js';
import { openStorage, type Storage } from '../storage/index.js';
import { encryptionKey, type AppConfig } from './config.js';

export async function openAppStorage(config: AppConfig): Promise<Storage> {
  const key = await encryptionKey(config);
  return openStorage({
    url: config.databaseUrl,
    schema: config.databaseSchema,
    file: join(config.dataDir, 'lead-router.sqlite'),
    cipher: { encrypt: (text) => encrypt(text, key), decrypt: (blob) => decrypt(blob, key) },
  });
}
