// AES-256-GCM for token blobs at rest. Format: `v1.<iv b64url>.<tag b64url>.<ciphertext b64url>`;
// the version prefix lets us rotate the algorithm or key later without guessing.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12; // GCM's recommended nonce size
const TAG_BYTES = 16;

export class TokenCryptoError extends Error {
  override readonly name = 'TokenCryptoError';
}

/** Reads a 32-byte key given as 64 hex chars or base64 (e.g. `TOKEN_ENCRYPTION_KEY`). */
export function parseKey(value: string | undefined): Buffer {
  if (value === undefined || value.trim() === '') throw new TokenCryptoError('encryption key is not set');
  const v = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(v) ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64');
  if (key.length !== 32)
    throw new TokenCryptoError('encryption key must be 32 bytes (64 hex chars or base64)');
  return key;
}

export function keyFromEnv(env: NodeJS.ProcessEnv = process.env, name = 'TOKEN_ENCRYPTION_KEY'): Buffer {
  return parseKey(env[name]);
}

/** `aad` binds the blob to its owner (e.g. `hubspot:<portalId>`) so blobs cannot be swapped between tenants. */
export function encrypt(plaintext: string, key: Buffer, aad?: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  if (aad !== undefined) cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [
    VERSION,
    iv.toString('base64url'),
    tag.toString('base64url'),
    ciphertext.toString('base64url'),
  ].join('.');
}

export function decrypt(blob: string, key: Buffer, aad?: string): string {
  const parts = blob.split('.');
  if (parts.length !== 4 || parts[0] !== VERSION) throw new TokenCryptoError('unknown token blob format');
  const iv = Buffer.from(parts[1] ?? '', 'base64url');
  const tag = Buffer.from(parts[2] ?? '', 'base64url');
  const ciphertext = Buffer.from(parts[3] ?? '', 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new TokenCryptoError('malformed token blob');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    if (aad !== undefined) decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    // Do not leak why: wrong key, tampered data and wrong owner all look the same.
    throw new TokenCryptoError('token blob failed authentication');
  }
}
