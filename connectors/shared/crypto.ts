// AES-256-GCM for secrets at rest (OAuth token sets), under a keyring that can be rotated.
//
// Format v2: `v2.<key id>.<iv b64url>.<tag b64url>.<ciphertext b64url>`. The key id names the key that
// sealed the blob, so an old key can stay readable while `lead-router keys rotate` re-encrypts under the
// current one. Every blob is bound to a context naming its owner and purpose (`tenant:<id>:oauth-token`)
// through GCM's additional data: a blob copied to another tenant, or to another use, fails to decrypt.
//
// Format v1 (`v1.<iv>.<tag>.<ciphertext>`, no key id, no additional data) is what earlier versions
// wrote: it is still read, with any configured key, and re-encrypted as v2 by the next write or rotation.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const IV_BYTES = 12; // GCM's recommended nonce size
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export class TokenCryptoError extends Error {
  override readonly name = 'TokenCryptoError';
}

/** Reads a 32-byte key given as 64 hex chars or base64; `name` (the variable) is used in errors. */
export function parseKey(value: string | undefined, name = 'encryption key'): Buffer {
  if (value === undefined || value.trim() === '') throw new TokenCryptoError(`${name} is not set`);
  const v = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(v) ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64');
  if (key.length !== KEY_BYTES)
    throw new TokenCryptoError(`${name} must be 32 bytes (64 hex chars or base64)`);
  return key;
}

/** Several keys separated by commas or white space (e.g. `TOKEN_ENCRYPTION_KEYS_OLD`); empty is none. */
export function parseKeyList(value: string | undefined, name: string): Buffer[] {
  const items = (value ?? '').split(/[\s,]+/).filter((item) => item !== '');
  return items.map((item, i) => parseKey(item, items.length === 1 ? name : `${name} (key ${i + 1})`));
}

/**
 * A key's public name: 12 hex chars of a domain-separated SHA-256 of the key. It tells keys apart in
 * blobs, logs and config; it reveals nothing usable about a random 256-bit key.
 */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('lead-router token key id\0').update(key).digest('hex').slice(0, 12);
}

function seal(plaintext: string, key: Buffer, aad: string | undefined) {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  if (aad !== undefined) cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

/** The plaintext, or null when authentication fails (wrong key, wrong context, altered data). */
function open(parts: readonly string[], key: Buffer, aad: string | undefined): string | null {
  const [ivText, tagText, ctText] = parts;
  const iv = Buffer.from(ivText ?? '', 'base64url');
  const tag = Buffer.from(tagText ?? '', 'base64url');
  const ciphertext = Buffer.from(ctText ?? '', 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new TokenCryptoError('malformed secret blob');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    if (aad !== undefined) decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/** The additional data of a v2 blob: the format, the key id and the context are all authenticated. */
const additionalData = (id: string, context: string): string => `lead-router:v2:${id}:${context}`;

/**
 * The current key (every new blob is sealed with it) and old keys that are still read. Implements the
 * storage's `Cipher`.
 */
export class Keyring {
  readonly currentId: string;
  private readonly keys = new Map<string, Buffer>();

  constructor(
    private readonly current: Buffer,
    old: readonly Buffer[] = [],
  ) {
    if (current.length !== KEY_BYTES) throw new TokenCryptoError('encryption key must be 32 bytes');
    this.currentId = keyId(current);
    this.keys.set(this.currentId, current);
    for (const key of old) {
      if (key.length !== KEY_BYTES) throw new TokenCryptoError('encryption key must be 32 bytes');
      if (!this.keys.has(keyId(key))) this.keys.set(keyId(key), key);
    }
  }

  /** The ids of every key this keyring reads, the current one first. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /** Seals `plaintext` under the current key, bound to `context` (owner and purpose). */
  encrypt(plaintext: string, context: string): string {
    const { iv, tag, ciphertext } = seal(plaintext, this.current, additionalData(this.currentId, context));
    return ['v2', this.currentId, iv, tag, ciphertext]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  decrypt(blob: string, context: string): string {
    const parts = blob.split('.');
    if (parts[0] === 'v2' && parts.length === 5) {
      const id = parts[1] ?? '';
      const key = this.keys.get(id);
      if (key === undefined) {
        throw new TokenCryptoError(
          `the secret for ${context} is encrypted under key ${id}, which is not configured ` +
            `(TOKEN_ENCRYPTION_KEY or TOKEN_ENCRYPTION_KEYS_OLD; configured: ${this.keyIds.join(', ')})`,
        );
      }
      const plain = open(parts.slice(2), key, additionalData(id, context));
      if (plain === null) {
        throw new TokenCryptoError(
          `the secret for ${context} failed authentication under key ${id}: it was not encrypted for ` +
            `${context} (copied from another tenant or purpose) or it was altered`,
        );
      }
      return plain;
    }
    if (parts[0] === 'v1' && parts.length === 4) {
      // Written before key ids and contexts: try every key, without additional data.
      for (const key of this.keys.values()) {
        const plain = open(parts.slice(1), key, undefined);
        if (plain !== null) return plain;
      }
      throw new TokenCryptoError(
        `the secret for ${context} (written by an earlier version, without a key id) does not decrypt ` +
          `with any configured key (${this.keyIds.join(', ')}): set the key it was written with in ` +
          `TOKEN_ENCRYPTION_KEY or TOKEN_ENCRYPTION_KEYS_OLD, or it was altered`,
      );
    }
    throw new TokenCryptoError(`the secret for ${context} is not in a known format`);
  }

  /** Whether the blob is sealed in the current format under the current key (else rotation rewrites it). */
  isCurrent(blob: string): boolean {
    return blob.startsWith(`v2.${this.currentId}.`);
  }
}
