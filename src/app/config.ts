// Configuration from the environment, validated once. With no HubSpot credentials the app runs against
// the bundled sandbox CRM, so `npm start` works on a fresh clone with nothing set.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { parseKey } from '../../connectors/shared/crypto.js';

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  /** The public base URL HubSpot calls (webhooks are signed over it). */
  PUBLIC_URL: z.string().url().optional(),
  DATABASE_URL: z.string().optional(),
  DATA_DIR: z.string().default('data'),
  RULES: z.string().default('rules/hubspot-demo/rules.yaml'),
  TEAM: z.string().default('rules/hubspot-demo/team.yaml'),
  TOKEN_ENCRYPTION_KEY: z.string().optional(),
  HUBSPOT_CLIENT_ID: z.string().optional(),
  HUBSPOT_CLIENT_SECRET: z.string().optional(),
  HUBSPOT_APP_ID: z.string().optional(),
  /** Where the HubSpot API is; the sandbox sets its own. */
  HUBSPOT_API_BASE: z.string().url().default('https://api.hubapi.com'),
  SANDBOX_PORT: z.coerce.number().int().min(0).max(65535).default(3100),
  /** Demo contacts created per second in sandbox mode. */
  DEMO_RATE: z.coerce.number().min(0).max(100).default(0.5),
  REDIS_URL: z.string().optional(),
});

export interface AppConfig {
  port: number;
  host: string;
  publicUrl: string | undefined;
  databaseUrl: string | undefined;
  dataDir: string;
  rulesPath: string;
  teamPath: string | undefined;
  encryptionKey: string | undefined;
  hubspot: { clientId: string; clientSecret: string; appId: string; apiBase: string } | undefined;
  sandboxPort: number;
  demoRate: number;
  redisUrl: string | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid environment: ${issues}`);
  }
  const e = parsed.data;
  const creds = [e.HUBSPOT_CLIENT_ID, e.HUBSPOT_CLIENT_SECRET, e.HUBSPOT_APP_ID];
  if (creds.some((c) => c !== undefined) && creds.some((c) => c === undefined)) {
    throw new ConfigError(
      'set all of HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET and HUBSPOT_APP_ID, or none (sandbox mode)',
    );
  }
  const hubspot =
    e.HUBSPOT_CLIENT_ID !== undefined &&
    e.HUBSPOT_CLIENT_SECRET !== undefined &&
    e.HUBSPOT_APP_ID !== undefined
      ? {
          clientId: e.HUBSPOT_CLIENT_ID,
          clientSecret: e.HUBSPOT_CLIENT_SECRET,
          appId: e.HUBSPOT_APP_ID,
          apiBase: e.HUBSPOT_API_BASE,
        }
      : undefined;
  if (hubspot !== undefined && e.TOKEN_ENCRYPTION_KEY === undefined) {
    throw new ConfigError(
      'TOKEN_ENCRYPTION_KEY is required with a real HubSpot app (32 bytes, hex or base64)',
    );
  }
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: e.PUBLIC_URL,
    databaseUrl: e.DATABASE_URL === '' ? undefined : e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    rulesPath: e.RULES,
    teamPath: e.TEAM === '' ? undefined : e.TEAM,
    encryptionKey: e.TOKEN_ENCRYPTION_KEY,
    hubspot,
    sandboxPort: e.SANDBOX_PORT,
    demoRate: e.DEMO_RATE,
    redisUrl: e.REDIS_URL === '' ? undefined : e.REDIS_URL,
  };
}

/**
 * The token encryption key: from the environment, or — in sandbox mode only — a key generated once
 * and kept in the data directory with owner-only permissions, so a fresh clone needs no set-up.
 */
export async function encryptionKey(config: AppConfig): Promise<Buffer> {
  if (config.encryptionKey !== undefined) return parseKey(config.encryptionKey);
  const file = join(config.dataDir, 'sandbox-encryption.key');
  try {
    return parseKey((await readFile(file, 'utf8')).trim());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = randomBytes(32).toString('hex');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, key + '\n', { mode: 0o600 });
  await chmod(file, 0o600);
  return parseKey(key);
}
