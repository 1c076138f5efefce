import { randomBytes } from 'node:crypto';
import {
  Keyring,
  keyId,
  parseKey,
  parseKeyList,
  TokenCryptoError,
} from '../../../connectors/shared/crypto.js';
import { legacyBlob } from '../../support/secrets.js';

const key = randomBytes(32);
const oldKey = randomBytes(32);
const blob = JSON.stringify({ accessToken: 'CIrT-access', refreshToken: '1e8f-refresh', expiresAt: 1 });
const A = 'tenant:a:oauth-token';
const B = 'tenant:b:oauth-token';

function flip(s: string, part: number): string {
  const parts = s.split('.');
  const bytes = Buffer.from(parts[part]!, 'base64url');
  bytes[0] = bytes[0]! ^ 1;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

describe('keyring', () => {
  const ring = new Keyring(key, [oldKey]);

  it('round-trips under the current key, with its key id and a fresh IV each time', () => {
    const a = ring.encrypt(blob, A);
    const b = ring.encrypt(blob, A);
    expect(a).not.toBe(b);
    expect(a.startsWith(`v2.${keyId(key)}.`)).toBe(true);
    expect(a).not.toContain('refresh');
    expect(ring.decrypt(a, A)).toBe(blob);
    expect(ring.isCurrent(a)).toBe(true);
  });

  it('refuses a blob bound to another tenant or purpose, saying so', () => {
    const enc = ring.encrypt(blob, A);
    expect(() => ring.decrypt(enc, B)).toThrow(
      new TokenCryptoError(
        `the secret for ${B} failed authentication under key ${keyId(key)}: it was not encrypted for ${B} (copied from another tenant or purpose) or it was altered`,
      ),
    );
    expect(() => ring.decrypt(enc, 'tenant:a:webhook-secret')).toThrow(TokenCryptoError);
  });

  it.each([
    ['ciphertext', (s: string) => flip(s, 4)],
    ['auth tag', (s: string) => flip(s, 3)],
    ['iv', (s: string) => flip(s, 2)],
    ['version', (s: string) => s.replace(/^v2/, 'v9')],
    ['truncation', (s: string) => s.split('.').slice(0, 4).join('.')],
  ])('detects tampering with the %s', (_n, tamper) => {
    expect(() => ring.decrypt(tamper(ring.encrypt(blob, A)), A)).toThrow(TokenCryptoError);
  });

  it('detects a key id swapped for another configured key', () => {
    const enc = ring.encrypt(blob, A).replace(keyId(key), keyId(oldKey));
    expect(() => ring.decrypt(enc, A)).toThrow(/failed authentication/);
  });

  it('reads blobs of an old key (not current), and names a key it does not have', () => {
    const before = new Keyring(oldKey).encrypt(blob, A);
    expect(ring.decrypt(before, A)).toBe(blob);
    expect(ring.isCurrent(before)).toBe(false);
    const stranger = new Keyring(randomBytes(32));
    expect(() => stranger.decrypt(before, A)).toThrow(
      new RegExp(
        `^the secret for ${A} is encrypted under key ${keyId(oldKey)}, which is not configured \\(TOKEN_ENCRYPTION_KEY or TOKEN_ENCRYPTION_KEYS_OLD; configured: ${stranger.currentId}\\)$`,
      ),
    );
  });

  it('reads legacy v1 blobs (no key id, no context) with any configured key; never current', () => {
    expect(ring.decrypt(legacyBlob(blob, key), A)).toBe(blob);
    expect(ring.decrypt(legacyBlob(blob, oldKey), A)).toBe(blob);
    expect(ring.isCurrent(legacyBlob(blob, key))).toBe(false);
    expect(() => new Keyring(randomBytes(32)).decrypt(legacyBlob(blob, key), A)).toThrow(
      /written by an earlier version, without a key id\) does not decrypt with any configured key/,
    );
    expect(() => ring.decrypt(flip(legacyBlob(blob, key), 3), A)).toThrow(TokenCryptoError);
  });

  it('gives each key a stable id that is not the key', () => {
    expect(keyId(key)).toBe(keyId(Buffer.from(key)));
    expect(keyId(key)).not.toBe(keyId(oldKey));
    expect(keyId(key)).toMatch(/^[0-9a-f]{12}$/);
    expect(key.toString('hex')).not.toContain(keyId(key));
    expect(ring.keyIds).toEqual([keyId(key), keyId(oldKey)]);
  });
});

describe('key parsing', () => {
  it('reads hex and base64 keys, and lists of them', () => {
    expect(parseKey(key.toString('hex')).equals(key)).toBe(true);
    expect(parseKey(key.toString('base64')).equals(key)).toBe(true);
    const list = parseKeyList(`${key.toString('hex')}, ${oldKey.toString('base64')}`, 'OLD');
    expect(list.map((k) => k.toString('hex'))).toEqual([key.toString('hex'), oldKey.toString('hex')]);
    expect(parseKeyList(undefined, 'OLD')).toEqual([]);
    expect(parseKeyList(' ', 'OLD')).toEqual([]);
  });

  it.each([undefined, '', 'abcd', randomBytes(16).toString('base64')])(
    'rejects the key %p, naming it',
    (value) => {
      expect(() => parseKey(value, 'TOKEN_ENCRYPTION_KEY')).toThrow(
        /^TOKEN_ENCRYPTION_KEY (is not set|must be 32 bytes)/,
      );
    },
  );

  it('names the bad key of a list', () => {
    expect(() => parseKeyList(`${key.toString('hex')},abcd`, 'TOKEN_ENCRYPTION_KEYS_OLD')).toThrow(
      'TOKEN_ENCRYPTION_KEYS_OLD (key 2) must be 32 bytes (64 hex chars or base64)',
    );
  });
});
