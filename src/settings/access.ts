// Who may see a tenant's settings tab. A person arrives through the CRM: with a short-lived link the app
// signed for one tenant and one user (HMAC-SHA256), which opens a session for that tenant alone, or with
// a request the CRM signed itself (checked by the composition root's verifier). Sessions are signed
// cookies, one per tenant, so a session of one tenant never reads another's. State-changing requests
// of a session carry a CSRF token derived from it. Nothing here is secret-bearing on a page: the link
// and cookie carry only ids, times and MACs.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Default lifetime of a signed link: long enough to click, short enough that a leaked one is useless. */
export const LINK_TTL_MS = 5 * 60_000;
/** Default lifetime of a session opened by a link. */
export const SESSION_TTL_MS = 8 * 60 * 60_000;

export interface Access {
  tenantId: string;
  /** The CRM user (email or id) the link or signed request named; recorded on publications. */
  user: string;
}

export interface Session extends Access {
  expiresAt: number;
  /** Random per session: the CSRF token is derived from it. */
  nonce: string;
}

export interface SignedLink {
  tenant: string;
  user: string;
  exp: string;
  sig: string;
}

const b64url = (buf: Buffer): string => buf.toString('base64url');

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The cookie of one tenant's session (`lr_s_<tenant id>`, characters a cookie name allows). */
export function sessionCookieName(tenantId: string): string {
  return `lr_s_${tenantId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

export class SettingsAccess {
  constructor(
    private readonly secret: Buffer,
    private readonly options: { linkTtlMs?: number; sessionTtlMs?: number } = {},
  ) {
    if (secret.length < 32) throw new Error('the settings signing secret must have at least 32 bytes');
  }

  private mac(purpose: string, ...parts: string[]): string {
    const h = createHmac('sha256', this.secret);
    // Length-prefixed parts: `a|bc` and `ab|c` never sign the same.
    for (const p of [purpose, ...parts]) h.update(`${Buffer.byteLength(p)}:${p};`);
    return b64url(h.digest());
  }

  /** A link's query parameters for `user` of `tenantId`, valid until now + ttl. */
  signLink(access: Access, now: number, ttlMs = this.options.linkTtlMs ?? LINK_TTL_MS): SignedLink {
    const exp = String(now + ttlMs);
    return {
      tenant: access.tenantId,
      user: access.user,
      exp,
      sig: this.mac('link', access.tenantId, access.user, exp),
    };
  }

  /** The access a link grants, or null when it is forged, altered or expired (no reason is told). */
  verifyLink(link: Partial<Record<keyof SignedLink, unknown>>, now: number): Access | null {
    const { tenant, user, exp, sig } = link;
    if (
      typeof tenant !== 'string' ||
      typeof user !== 'string' ||
      typeof exp !== 'string' ||
      typeof sig !== 'string'
    )
      return null;
    if (tenant === '' || user === '' || !/^\d{1,15}$/.test(exp)) return null;
    if (!safeEqual(this.mac('link', tenant, user, exp), sig)) return null;
    if (Number(exp) <= now) return null;
    return { tenantId: tenant, user };
  }

  /** A new session's cookie value for the access a link granted. */
  openSession(access: Access, now: number): { value: string; session: Session; maxAgeS: number } {
    const ttl = this.options.sessionTtlMs ?? SESSION_TTL_MS;
    const session: Session = { ...access, expiresAt: now + ttl, nonce: b64url(randomBytes(16)) };
    const body = b64url(
      Buffer.from(JSON.stringify([session.tenantId, session.user, session.expiresAt, session.nonce])),
    );
    return { value: `${body}.${this.mac('session', body)}`, session, maxAgeS: Math.floor(ttl / 1000) };
  }

  /** The session a cookie value holds, only for `tenantId`, only while it lasts. */
  readSession(value: string | undefined, tenantId: string, now: number): Session | null {
    if (value === undefined) return null;
    const dot = value.indexOf('.');
    if (dot <= 0) return null;
    const body = value.slice(0, dot);
    if (!safeEqual(this.mac('session', body), value.slice(dot + 1))) return null;
    let parts: unknown;
    try {
      parts = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    if (!Array.isArray(parts) || parts.length !== 4) return null;
    const [tenant, user, expiresAt, nonce] = parts as unknown[];
    if (typeof tenant !== 'string' || typeof user !== 'string' || typeof nonce !== 'string') return null;
    if (typeof expiresAt !== 'number' || expiresAt <= now || tenant !== tenantId) return null;
    return { tenantId: tenant, user, expiresAt, nonce };
  }

  /** The CSRF token of a session: rendered into its pages, required on its state-changing requests. */
  csrfToken(session: Session): string {
    return this.mac('csrf', session.tenantId, session.nonce);
  }

  checkCsrf(session: Session, token: string | undefined): boolean {
    return token !== undefined && safeEqual(this.csrfToken(session), token);
  }
}

/** `Set-Cookie` for a tenant's session: sent inside the CRM's iframe (third-party, partitioned). */
export function sessionSetCookie(tenantId: string, value: string, maxAgeS: number): string {
  return `${sessionCookieName(tenantId)}=${value}; Path=/; Max-Age=${maxAgeS}; HttpOnly; Secure; SameSite=None; Partitioned`;
}

/** One cookie's value from a `Cookie` header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
