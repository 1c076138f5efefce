import { randomBytes } from 'node:crypto';
import {
  decrypt,
  encrypt,
  keyFromEnv,
  parseKey,
  TokenCryptoError,
} from '../../../connectors/shared/crypto.js';

const key = randomBytes(32);
const blob = JSON.stringify({ accessToken: 'CIrT-access', refreshToken: '1e8f-refresh', expiresAt: 1 });

describe('token crypto', () => {
  it('round-trips, with a fresh IV each time', () => {
    const a = encrypt(blob, key, 'hubspot:62515');
    const b = encrypt(blob, key, 'hubspot:62515');
    expect(a).not.toBe(b);
    expect(a.startsWith('v1.')).toBe(true);
    expect(a).not.toContain('refresh');
    expect(decrypt(a, key, 'hubspot:62515')).toBe(blob);
  });

  function flip(s: string, part: number): string {
    const parts = s.split('.');
    const bytes = Buffer.from(parts[part]!, 'base64url');
    bytes[0] = bytes[0]! ^ 1;
    parts[part] = bytes.toString('base64url');
    return parts.join('.');
  }

  it.each([
    ['ciphertext', (s: string) => flip(s, 3)],
    ['auth tag', (s: string) => flip(s, 2)],
    ['iv', (s: string) => flip(s, 1)],
    ['version', (s: string) => s.replace(/^v1/, 'v9')],
    ['truncation', (s: string) => s.split('.').slice(0, 3).join('.')],
  ])('detects tampering with the %s', (_n, tamper) => {
    expect(() => decrypt(tamper(encrypt(blob, key)), key)).toThrow(TokenCryptoError);
  });

  it('fails with the wrong key or the wrong owner', () => {
    const enc = encrypt(blob, key, 'hubspot:1');
    expect(() => decrypt(enc, randomBytes(32), 'hubspot:1')).toThrow(TokenCryptoError);
    expect(() => decrypt(enc, key, 'hubspot:2')).toThrow(TokenCryptoError);
  });

  it('reads hex and base64 keys from the environment', () => {
    expect(parseKey(key.toString('hex')).equals(key)).toBe(true);
    expect(keyFromEnv({ TOKEN_ENCRYPTION_KEY: key.toString('base64') }).equals(key)).toBe(true);
  });

  it.each([undefined, '', 'abcd', randomBytes(16).toString('base64')])('rejects the key %p', (value) => {
    expect(() => parseKey(value)).toThrow(TokenCryptoError);
  });
});
