// OAuth `state` values for the install flow (CSRF protection): the callback accepts only a state we
// signed, recently. The state carries its own expiry and an HMAC under the app's client secret, so any
// instance behind a load balancer can check a state another instance issued — no shared store, no
// sticky sessions. Each instance also refuses a state it has already seen; across instances a replay
// still fails at the code exchange, because HubSpot accepts an authorization code only once.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const DEFAULT_STATE_TTL_MS = 10 * 60_000;
/** Bounds the memory of states seen; the oldest are forgotten first (they expire first too). */
export const DEFAULT_MAX_STATES = 10_000;

export interface OAuthStateStore {
  issue(now: number): string;
  /** True once for a state that we signed and that has not expired; false ever after. */
  consume(state: string, now: number): boolean;
}

export function createOAuthStateStore(options: {
  /** The HMAC key: the app's client secret, which every instance of the app has. */
  secret: string;
  ttlMs?: number;
  maxStates?: number;
}): OAuthStateStore {
  const ttl = options.ttlMs ?? DEFAULT_STATE_TTL_MS;
  const max = options.maxStates ?? DEFAULT_MAX_STATES;
  const sign = (payload: string): Buffer =>
    createHmac('sha256', options.secret).update(`oauth-state:${payload}`).digest();
  // state → expiry; Map keeps insertion order, which is expiry order.
  const seen = new Map<string, number>();

  const forget = (now: number): void => {
    for (const [state, expiresAt] of seen) {
      if (expiresAt > now && seen.size < max) break;
      seen.delete(state);
    }
  };

  return {
    issue(now) {
      const payload = `${now + ttl}.${randomBytes(18).toString('base64url')}`;
      return `${payload}.${sign(payload).toString('base64url')}`;
    },
    consume(state, now) {
      const cut = state.lastIndexOf('.');
      if (cut <= 0) return false;
      const payload = state.slice(0, cut);
      const given = Buffer.from(state.slice(cut + 1), 'base64url');
      const expected = sign(payload);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
      const expiresAt = Number(payload.slice(0, payload.indexOf('.')));
      if (!Number.isFinite(expiresAt) || expiresAt <= now || seen.has(state)) return false;
      forget(now);
      seen.set(state, expiresAt);
      return true;
    },
  };
}
