// Secrets as earlier versions stored them, to prove they are still read and then rotated.
import { createCipheriv, randomBytes } from 'node:crypto';

/** A blob as versions before key ids wrote it: `v1.<iv>.<tag>.<ciphertext>`, AES-256-GCM, no additional data. */
export function legacyBlob(plaintext: string, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', ...[iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url'))].join('.');
}
