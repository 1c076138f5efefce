// OAuth apps, authorization codes and tokens. Access tokens live 1800 s (hubspot.md §8.2).
import type { Clock, Prng } from '../sandbox-kit/clock.js';

export interface SandboxApp {
  appId: number;
  clientId: string;
  clientSecret: string;
  /** Empty: any redirect URI is accepted. */
  redirectUris?: string[] | undefined;
}

export interface AccessToken {
  token: string;
  refreshToken: string;
  portalId: number;
  scopes: string[];
  appId: number;
  clientId: string;
  expiresAt: number;
  userId: number;
  userEmail: string;
}

interface AuthCode {
  code: string;
  app: SandboxApp;
  redirectUri: string;
  portalId: number;
  scopes: string[];
  expiresAt: number;
  used: boolean;
}

export const ACCESS_TOKEN_TTL_S = 1800;

export const ALL_SCOPES = [
  'oauth',
  'crm.objects.contacts.read',
  'crm.objects.contacts.write',
  'crm.objects.companies.read',
  'crm.objects.companies.write',
  'crm.objects.owners.read',
  'automation.sequences.read',
  'automation.sequences.enrollments.write',
];

export const DEFAULT_APP: SandboxApp = {
  appId: 1000001,
  clientId: 'sandbox-client-id',
  clientSecret: 'sandbox-client-secret',
};

export class TokenStore {
  private access = new Map<string, AccessToken>();
  private refresh = new Map<string, AccessToken>();
  private codes = new Map<string, AuthCode>();
  private withheld = new Map<number, Set<string>>();
  /** Every grant ever issued, revoked ones too. */
  private issued: AccessToken[] = [];
  private counter = 1;

  constructor(
    readonly apps: SandboxApp[],
    private readonly clock: Clock,
    private readonly prng: Prng,
  ) {}

  app(clientId: string): SandboxApp | undefined {
    return this.apps.find((a) => a.clientId === clientId);
  }

  private random(prefix: string): string {
    return `${prefix}-${this.counter++}-${this.prng.uuid()}`;
  }

  /** Without scopes the code grants all of them (a Marketplace install consents to the app's scopes). */
  createCode(app: SandboxApp, redirectUri: string, portalId: number, scopes: string[] = ALL_SCOPES): string {
    const code = this.random('code');
    this.codes.set(code, {
      code,
      app,
      redirectUri,
      portalId,
      scopes,
      expiresAt: this.clock.now() + 600_000,
      used: false,
    });
    return code;
  }

  /** Single use, bound to app and redirect URI. */
  redeemCode(code: string, app: SandboxApp, redirectUri: string): AuthCode | undefined {
    const c = this.codes.get(code);
    if (
      c === undefined ||
      c.used ||
      c.app !== app ||
      c.redirectUri !== redirectUri ||
      c.expiresAt < this.clock.now()
    ) {
      return undefined;
    }
    c.used = true;
    return c;
  }

  issue(input: {
    portalId: number;
    scopes?: string[];
    app?: SandboxApp;
    userId?: number;
    userEmail?: string;
  }): AccessToken {
    const app = input.app ?? this.apps[0] ?? DEFAULT_APP;
    const withheld = this.withheld.get(input.portalId);
    const token: AccessToken = {
      token: this.random(`sandbox-at-${input.portalId}`),
      refreshToken: this.random(`sandbox-rt-${input.portalId}`),
      portalId: input.portalId,
      scopes: (input.scopes ?? ALL_SCOPES).filter((s) => withheld?.has(s) !== true),
      appId: app.appId,
      clientId: app.clientId,
      expiresAt: this.clock.now() + ACCESS_TOKEN_TTL_S * 1000,
      userId: input.userId ?? 1,
      userEmail: input.userEmail ?? 'installer@example.com',
    };
    this.access.set(token.token, token);
    this.refresh.set(token.refreshToken, token);
    this.issued.push(token);
    return token;
  }

  /** A new access token for the same grant; the refresh token stays the same, as HubSpot's does. */
  refreshGrant(refreshToken: string, app: SandboxApp): AccessToken | undefined {
    const prev = this.refresh.get(refreshToken);
    if (prev?.clientId !== app.clientId) return undefined;
    const next: AccessToken = {
      ...prev,
      token: this.random(`sandbox-at-${prev.portalId}`),
      expiresAt: this.clock.now() + ACCESS_TOKEN_TTL_S * 1000,
    };
    this.access.set(next.token, next);
    this.issued.push(next);
    return next;
  }

  /**
   * The portal stops granting these scopes (as a portal without Sales Hub does not grant the optional
   * sequence scopes): grants issued from now on lack them. Grants issued before keep theirs, and so do
   * their refreshes: HubSpot fixes an install's scopes when it is authorized.
   */
  withholdScopes(portalId: number, scopes: string[]): void {
    const set = this.withheld.get(portalId) ?? new Set<string>();
    for (const s of scopes) set.add(s);
    this.withheld.set(portalId, set);
  }

  /** The portal grants these scopes again, to installs authorized from now on. */
  allowScopes(portalId: number, scopes: string[]): void {
    const set = this.withheld.get(portalId);
    for (const s of scopes) set?.delete(s);
  }

  /** Every token issued for the portal (or all), refreshed and revoked ones included, oldest first. */
  grants(portalId?: number): AccessToken[] {
    return this.issued.filter((t) => portalId === undefined || t.portalId === portalId);
  }

  lookup(token: string): AccessToken | undefined {
    return this.access.get(token);
  }

  lookupRefresh(token: string): AccessToken | undefined {
    return this.refresh.get(token);
  }

  revokeRefresh(token: string): boolean {
    return this.refresh.delete(token);
  }

  revokeAccess(token: string): boolean {
    return this.access.delete(token);
  }

  /**
   * The portal uninstalled the app: its access and refresh tokens stop working (a refresh then answers
   * BAD_REFRESH_TOKEN). Returns how many tokens were revoked.
   */
  uninstall(portalId: number, clientId: string): number {
    let revoked = 0;
    for (const map of [this.access, this.refresh]) {
      for (const [key, t] of map) {
        if (t.portalId !== portalId || t.clientId !== clientId) continue;
        map.delete(key);
        revoked += 1;
      }
    }
    return revoked;
  }
}
