// `lead-router keys rotate`, run as an operator would (the real CLI in its own process), on SQLite and
// on PostgreSQL: secrets written under an old key — and legacy ones from before key ids — are
// re-encrypted under the new key, after which the old key is no longer needed; a wrong or missing key
// is a clear error that changes nothing, never a stack trace.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyId } from '../../connectors/shared/crypto.js';
import { loadConfig } from '../../src/app/config.js';
import { openAppStorage } from '../../src/app/open-storage.js';
import type { Storage } from '../../src/storage/index.js';
import { createPgSchema, describeNeeding, PG_URL, type PgSchema, type SuiteFn } from '../support/services.js';
import { legacyBlob } from '../support/secrets.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(env: Record<string, string>, ...args: string[]): Promise<CliRun> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const name of ['TOKEN_ENCRYPTION_KEY', 'TOKEN_ENCRYPTION_KEYS_OLD'])
    if (!(name in env)) delete childEnv[name];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO, 'bin/lead-router.js'), ...args],
      { cwd: REPO, env: childEnv },
      (error, stdout, stderr) => {
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
          stdout,
          stderr,
        });
      },
    );
  });
}

const STACK = /^\s+at /m;
const token = (n: number) =>
  JSON.stringify({ accessToken: `access-${n}`, refreshToken: `refresh-${n}`, expiresAt: n });

const ENGINES: [string, SuiteFn, () => Promise<{ env: Record<string, string>; drop(): Promise<void> }>][] = [
  ['sqlite', describe, () => Promise.resolve({ env: {}, drop: () => Promise.resolve() })],
  [
    'postgres',
    describeNeeding(['postgres']),
    async () => {
      const schema: PgSchema = await createPgSchema();
      return { env: { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema.name }, drop: () => schema.drop() };
    },
  ],
];

for (const [engine, suite, database] of ENGINES) {
  suite(`lead-router keys rotate on ${engine}`, () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    let env: Record<string, string>;
    let cleanup: () => Promise<void>;

    const open = (keys: Record<string, string>): Promise<Storage> =>
      openAppStorage(loadConfig({ ...env, ...keys }));
    const blobs = async (storage: Storage) =>
      new Map(
        (
          await storage.db.all<{ id: string; token_blob: string | null }>(
            'SELECT id, token_blob FROM tenants ORDER BY id',
          )
        ).map((r) => [r.id, r.token_blob]),
      );

    beforeAll(async () => {
      const dir = await mkdtemp(join(tmpdir(), 'lead-router-keys-'));
      const db = await database();
      env = { DATA_DIR: dir, ...db.env };
      cleanup = async () => {
        await db.drop();
        await rm(dir, { recursive: true, force: true });
      };
      // Three tenants with tokens under the old key — one written by an earlier version (v1, no key
      // id, no context) — and one without a token.
      const storage = await open({ TOKEN_ENCRYPTION_KEY: oldKey.toString('hex') });
      try {
        for (const id of ['t1', 't2', 't3', 't4'])
          await storage.createTenant({ id, provider: 'hubspot', externalId: `portal-${id}`, name: id }, T0);
        await storage.setTenantToken('t1', token(1), T0);
        await storage.setTenantToken('t2', token(2), T0);
        await storage.db.run('UPDATE tenants SET token_blob = ? WHERE id = ?', [
          legacyBlob(token(3), oldKey),
          't3',
        ]);
      } finally {
        await storage.close();
      }
    });
    afterAll(() => cleanup());

    it('without the old key: names each secret it cannot read and the key it needs, changes nothing, exit 1', async () => {
      const storage = await open({ TOKEN_ENCRYPTION_KEY: oldKey.toString('hex') });
      const before = await blobs(storage);
      const r = await cli({ ...env, TOKEN_ENCRYPTION_KEY: newKey.toString('hex') }, 'keys', 'rotate');
      expect(r.code).toBe(1);
      expect(r.stderr).not.toMatch(STACK);
      expect(r.stderr).toContain(
        `tenant t1: not rotated: the secret for tenant:t1:oauth-token is encrypted under key ${keyId(oldKey)}, which is not configured`,
      );
      expect(r.stderr).toContain(
        'tenant t3: not rotated: the secret for tenant:t3:oauth-token (written by an earlier version',
      );
      expect(r.stderr).toContain(
        '3 secret(s) not rotated: configure the key they were written with in TOKEN_ENCRYPTION_KEYS_OLD',
      );
      expect(await blobs(storage)).toEqual(before);
      await storage.close();
    });

    it.each([
      [
        'missing',
        {},
        'error: TOKEN_ENCRYPTION_KEY is not set: keys rotate re-encrypts every stored secret under it',
      ],
      [
        'malformed',
        { TOKEN_ENCRYPTION_KEY: 'abcd' },
        'error: TOKEN_ENCRYPTION_KEY must be 32 bytes (64 hex chars or base64)',
      ],
      [
        'malformed old',
        { TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('hex'), TOKEN_ENCRYPTION_KEYS_OLD: 'x' },
        'error: TOKEN_ENCRYPTION_KEYS_OLD must be 32 bytes (64 hex chars or base64)',
      ],
    ])('a %s key: a clear error, no stack, exit 1', async (_what, keys, message) => {
      const r = await cli({ ...env, ...keys }, 'keys', 'rotate');
      expect(r.code).toBe(1);
      // One line: the error, and no stack trace.
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining(message)]);
      expect(r.stderr.startsWith(message)).toBe(true);
    });

    it('with the old key in TOKEN_ENCRYPTION_KEYS_OLD: every secret is re-encrypted under the new key', async () => {
      const r = await cli(
        {
          ...env,
          TOKEN_ENCRYPTION_KEY: newKey.toString('hex'),
          TOKEN_ENCRYPTION_KEYS_OLD: oldKey.toString('base64'),
        },
        'keys',
        'rotate',
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.split('\n')).toEqual([
        `re-encrypted 3 of 3 stored secrets under key ${keyId(newKey)}; 0 were under it already`,
        `every stored secret is under key ${keyId(newKey)}: the keys in TOKEN_ENCRYPTION_KEYS_OLD are no longer needed`,
        '',
      ]);
      // The new key alone reads every token now; at rest each is a v2 blob under the new key.
      const storage = await open({ TOKEN_ENCRYPTION_KEY: newKey.toString('hex') });
      try {
        for (const n of [1, 2, 3]) expect(await storage.getTenantToken(`t${n}`)).toBe(token(n));
        expect(await storage.getTenantToken('t4')).toBeNull();
        const rows = await blobs(storage);
        for (const id of ['t1', 't2', 't3'])
          expect(rows.get(id)).toMatch(new RegExp(`^v2\\.${keyId(newKey)}\\.`));
        expect(rows.get('t4')).toBeNull();
      } finally {
        await storage.close();
      }
      // Again: nothing left to do.
      const again = await cli({ ...env, TOKEN_ENCRYPTION_KEY: newKey.toString('hex') }, 'keys', 'rotate');
      expect(again.code).toBe(0);
      expect(again.stdout).toContain(
        `re-encrypted 0 of 3 stored secrets under key ${keyId(newKey)}; 3 were under it already`,
      );
    });

    it('a token row copied to another tenant does not decrypt there, and says why', async () => {
      const storage = await open({ TOKEN_ENCRYPTION_KEY: newKey.toString('hex') });
      try {
        await storage.db.run(
          'UPDATE tenants SET token_blob = (SELECT token_blob FROM tenants WHERE id = ?) WHERE id = ?',
          ['t1', 't2'],
        );
        await expect(storage.getTenantToken('t2')).rejects.toThrow(
          `the secret for tenant:t2:oauth-token failed authentication under key ${keyId(newKey)}: it was not encrypted for tenant:t2:oauth-token (copied from another tenant or purpose) or it was altered`,
        );
        expect(await storage.getTenantToken('t1')).toBe(token(1));
      } finally {
        await storage.close();
      }
    });
  });
}
