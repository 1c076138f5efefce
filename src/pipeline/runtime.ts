// What the worker needs to route one tenant's leads: its connector and its rules. The composition root
// builds these (tokens, limiter, rule set version); the worker only asks for them by tenant id.
import { CrmError, type CrmConnector } from '../../connectors/connector.js';
import type { RuleSet, Team } from '../core/types.js';

export interface TenantRuntime {
  tenantId: string;
  connector: CrmConnector;
  ruleSet: RuleSet;
  /** The team from the rule set or team file; the worker merges in the CRM directory per batch. */
  team: Team;
}

export interface TenantRegistry {
  /** Throws a CrmError('auth') when the tenant is not installed or its tokens are gone. */
  runtime(tenantId: string): Promise<TenantRuntime>;
  /**
   * The tenant's published rule set alone, without its connector: it names a notification's channels
   * when the runtime cannot be built (tokens gone, CRM unreachable) or need not be. Absent: the runtime's.
   */
  ruleSet?(tenantId: string): Promise<RuleSet>;
  /**
   * After the CRM refused the tenant's credentials (`refusal`): whether that is because its CRM account
   * uninstalled the app (then the tenant is marked so). Absent: never.
   */
  confirmUninstalled?(tenantId: string, refusal: CrmError): Promise<boolean>;
  /**
   * After the CRM refused the tenant's credentials: whether its CRM account's own policy turns us away for
   * now (then the tenant is marked paused, and said so once: its work waits, unclaimed, until the
   * credentials are accepted again). Absent: never.
   */
  confirmPaused?(tenantId: string, refusal: CrmError): Promise<boolean>;
  /** Tries the credentials of the paused tenants whose check is due; those the CRM accepts resume. */
  checkPaused?(now: number): Promise<void>;
  /** Drops the runtimes of tenants idle for a while; returns how many it dropped. */
  evictIdle?(): number;
}

/**
 * The tenant's CRM account uninstalled the app (or had before): its work waits for a reinstall instead of
 * failing, and is no longer claimed meanwhile.
 */
export class TenantUninstalledError extends CrmError {
  constructor(tenantId: string) {
    super('auth', `tenant ${tenantId} uninstalled the app`);
  }
}

/**
 * The tenant's CRM account refuses our credentials for now, by a policy of its own (login hours, IP
 * ranges): its work waits, unclaimed, until they are accepted again.
 */
export class TenantPausedError extends CrmError {
  constructor(tenantId: string, reason: string) {
    super('auth', `tenant ${tenantId} is paused: ${reason}`);
  }
}

/**
 * The rule set whose channels hear of the tenant's notifications — its published one when the registry
 * can load it on its own, else its runtime's — or why none could be loaded.
 */
export async function notifyingRuleSet(
  registry: TenantRegistry,
  tenantId: string,
): Promise<{ ruleSet: RuleSet } | { error: string }> {
  try {
    return {
      ruleSet:
        registry.ruleSet === undefined
          ? (await registry.runtime(tenantId)).ruleSet
          : await registry.ruleSet(tenantId),
    };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}
