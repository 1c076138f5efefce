// One-use OAuth `state` values, kept server-side with an expiry: the callback accepts only a state we
// handed out, recently, and only once (CSRF protection for the install flow).
// In memory, so the callback must reach the instance that served the install link; a multi-instance
// deployment needs sticky routing for /oauth/* or a shared store behind the same interface.
import { randomBytes } from 'node:crypto';

export const DEFAULT_STATE_TTL_MS = 10 * 60_000;
/** Bounds memory when someone hammers the install link; the oldest states are evicted first. */
export const DEFAULT_MAX_STATES = 10_000;

export interface OAuthStateStore {
  issue(now: number): string;
  /** True once for a state that was issued and has not expired; false ever after. */
  consume(state: string, now: number): boolean;
}

export function createOAuthStateStore(
  options: { ttlMs?: number; maxStates?: number; random?: () => string } = {},
): OAuthStateStore {
  const ttl = options.ttlMs ?? DEFAULT_STATE_TTL_MS;
  const max = options.maxStates ?? DEFAULT_MAX_STATES;
  const random = options.random ?? (() => randomBytes(24).toString('base64url'));
  // Map keeps insertion order, and expiry grows with insertion time: the first entries expire first.
  const states = new Map<string, number>();

  const prune = (now: number): void => {
    for (const [state, expiresAt] of states) {
      if (expiresAt > now && states.size < max) break;
      states.delete(state);
    }
  };

  return {
    issue(now) {
      prune(now);
      const state = random();
      states.set(state, now + ttl);
      return state;
    },
    consume(state, now) {
      const expiresAt = states.get(state);
      if (expiresAt === undefined) return false;
      states.delete(state);
      return expiresAt > now;
    },
  };
}
