// The CRMs this app routes for, by provider key. The composition root registers one wiring per CRM
// (HubSpot, Salesforce, or both), and everything generic — the tenant runtimes, the intakes —
// finds a tenant's CRM here by the provider stored with the tenant, never by naming one.
import {
  CrmError,
  type ConnectorProfile,
  type CrmConnector,
  type CrmProvider,
} from '../../connectors/connector.js';
import type { PulledIntake } from '../../connectors/pulled-intake.js';
import type { PulledChannel, Tenant } from '../storage/index.js';

/** A tenant's connector and what it holds (its rate limiter), kept while the tenant is active. */
export interface TenantConnection {
  connector: CrmConnector;
  /** True while calls are queued or running: the connection must stay (a second would double the pace). */
  busy(): boolean;
  /** Lets go of what it holds; called once the tenant went idle. */
  release(): Promise<void>;
}

/** What the tenant runtimes are told when a tenant's credentials cannot be had. */
export interface CredentialHooks {
  /**
   * Getting the tenant's credentials failed; `revoked`: the CRM says the grant is gone for good (the app
   * was uninstalled). Always throws: the error, or TenantUninstalledError once the tenant is marked.
   */
  failed(error: unknown, revoked: boolean): Promise<never>;
}

/** What a tenant's stream is told when the CRM refuses the tenant's credentials. */
export interface StreamCredentialHooks {
  /**
   * The CRM account's policy refuses the credentials for now (CrmWiring.policyRefusal's `reason`): the
   * tenant pauses. Resolves with when its credentials are tried again (epoch ms), the time the stream
   * waits for; null when the tenant cannot pause (it uninstalled meanwhile).
   */
  paused(reason: string): Promise<number | null>;
}

/** How the app reaches one CRM. */
export interface CrmWiring {
  readonly provider: CrmProvider;
  readonly profile: ConnectorProfile;
  /** The tenant's connector, on its own credentials and rate budget. */
  connect(tenant: Tenant, credentials: CredentialHooks): TenantConnection;
  /**
   * After the CRM refused a tenant's credentials: whether that is because the grant is gone (the app
   * was uninstalled). Only a plain answer from the CRM counts; anything else is false.
   */
  grantRevoked(tenant: Tenant): Promise<boolean>;
  /**
   * Why a refusal of the tenant's credentials is its CRM account's own policy turning us away for now
   * (outside login hours or IP ranges, a user not pre-authorized), leaving the grant standing: the
   * tenant's routing then pauses until they are accepted again. Undefined for any other failure; absent
   * for a CRM without such refusals.
   */
  policyRefusal?(error: unknown): string | undefined;
  /**
   * The CRM turned down a token refresh (its answer carries no 401): the grant may be gone, so whether
   * the app was uninstalled is asked as after a 401. Absent: only a 401 asks.
   */
  refusedRefresh?(error: unknown): boolean;
  /** Asks the CRM for new credentials now: resolves once it gives them, throws its refusal. */
  refreshCredentials?(tenant: Tenant): Promise<void>;
  /**
   * A CRM whose events are pulled rather than pushed: the tenant's stream, which the app reads in one
   * process at a time (src/pipeline/stream-intake.ts). Absent for a CRM that pushes webhooks.
   */
  pulledIntake?(tenant: Tenant, credentials: StreamCredentialHooks): Promise<PulledIntake>;
  /** Drops what the wiring keeps for the tenant besides its connection (new tokens, an uninstall). */
  forget?(tenant: Tenant): void;
}

export class CrmRegistry {
  private readonly wirings = new Map<CrmProvider, CrmWiring>();

  constructor(wirings: readonly CrmWiring[] = []) {
    for (const w of wirings) this.register(w);
  }

  register(wiring: CrmWiring): void {
    if (this.wirings.has(wiring.provider))
      throw new Error(`a CRM is already registered for provider '${wiring.provider}'`);
    this.wirings.set(wiring.provider, wiring);
  }

  /** The wiring for a tenant's provider; a provider nobody registered is the tenant's error, not a crash. */
  get(provider: CrmProvider): CrmWiring {
    const wiring = this.wirings.get(provider);
    if (wiring === undefined)
      throw new CrmError('invalid', `no CRM connector is registered for provider '${provider}'`);
    return wiring;
  }

  get providers(): CrmProvider[] {
    return [...this.wirings.keys()];
  }

  /** Whether a wiring is registered for the provider. */
  has(provider: CrmProvider): boolean {
    return this.wirings.has(provider);
  }

  /** The provider's wiring, or undefined when none is registered. */
  find(provider: CrmProvider): CrmWiring | undefined {
    return this.wirings.get(provider);
  }

  /** Every channel a tenant of a registered CRM has a pulled stream on (its profile's `pulledStream`). */
  pulledChannels(): PulledChannel[] {
    return [...this.wirings.values()].flatMap((w) =>
      (w.profile.pulledStream?.channels ?? []).map((channel) => ({ provider: w.provider, channel })),
    );
  }
}
