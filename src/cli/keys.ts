// `lead-router keys rotate`: re-encrypts every stored secret under the current key, so the old keys can
// be retired. Run it after every process has been given the new TOKEN_ENCRYPTION_KEY with the old one
// in TOKEN_ENCRYPTION_KEYS_OLD; a secret refreshed meanwhile is already under the new key.
import type { Storage } from '../storage/index.js';

export interface RotateOutcome {
  out: string[];
  /** One line per secret left unchanged because it could not be read. */
  errors: string[];
}

export async function rotateKeys(storage: Storage, currentKeyId: string): Promise<RotateOutcome> {
  const report = await storage.reencryptSecrets();
  const total = report.reencrypted.length + report.current + report.failed.length;
  const out = [
    `re-encrypted ${report.reencrypted.length} of ${total} stored secrets under key ${currentKeyId}; ${report.current} were under it already`,
  ];
  const errors = report.failed.map((f) => `tenant ${f.tenantId}: not rotated: ${f.reason}`);
  if (report.failed.length === 0)
    out.push(
      `every stored secret is under key ${currentKeyId}: the keys in TOKEN_ENCRYPTION_KEYS_OLD are no longer needed`,
    );
  else
    errors.push(
      `${report.failed.length} secret(s) not rotated: configure the key they were written with in TOKEN_ENCRYPTION_KEYS_OLD and run again`,
    );
  return { out, errors };
}
