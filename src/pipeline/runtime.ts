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
   * After the CRM refused the tenant's credentials: whether that is because its CRM account uninstalled the
   * app (then the tenant is marked so). Absent: never.
   */
  confirmUninstalled?(tenantId: string): Promise<boolean>;
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
