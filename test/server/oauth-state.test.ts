import { createOAuthStateStore } from '../../src/server/oauth-state.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

describe('OAuth state', () => {
  it('is accepted by another instance that holds the same client secret (no shared store)', () => {
    const issuer = createOAuthStateStore({ secret: 'app-secret' });
    const other = createOAuthStateStore({ secret: 'app-secret' });
    expect(other.consume(issuer.issue(T0), T0 + 1000)).toBe(true);
  });

  it('is refused when signed with another secret, altered, truncated or expired', () => {
    const issuer = createOAuthStateStore({ secret: 'app-secret', ttlMs: 60_000 });
    const verifier = createOAuthStateStore({ secret: 'app-secret', ttlMs: 60_000 });
    const foreign = createOAuthStateStore({ secret: 'another-secret' }).issue(T0);
    expect(verifier.consume(foreign, T0)).toBe(false);

    const state = issuer.issue(T0);
    const [expiry, nonce, mac] = state.split('.') as [string, string, string];
    // Pushing the expiry forward breaks the signature.
    expect(verifier.consume(`${Number(expiry) + 3_600_000}.${nonce}.${mac}`, T0)).toBe(false);
    expect(verifier.consume(`${expiry}.${nonce}.${mac.slice(0, -2)}`, T0)).toBe(false);
    expect(verifier.consume(`${expiry}.${nonce}`, T0)).toBe(false);
    expect(verifier.consume('', T0)).toBe(false);
    expect(verifier.consume(state, T0 + 60_000)).toBe(false);
    expect(verifier.consume(state, T0 + 59_999)).toBe(true);
  });

  it('is accepted once per instance', () => {
    const store = createOAuthStateStore({ secret: 's' });
    const state = store.issue(T0);
    expect(store.consume(state, T0)).toBe(true);
    expect(store.consume(state, T0)).toBe(false);
  });

  it('forgets the oldest states seen beyond its bound, never a fresh one', () => {
    const store = createOAuthStateStore({ secret: 's', maxStates: 3 });
    const states = Array.from({ length: 5 }, () => store.issue(T0));
    for (const s of states) expect(store.consume(s, T0)).toBe(true);
    // The most recent ones are still remembered.
    expect(store.consume(states[4]!, T0)).toBe(false);
    expect(store.consume(states[3]!, T0)).toBe(false);
  });
});
