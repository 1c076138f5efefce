// A tenant's own framing origins: the CRM pages that may show its settings tab in a frame besides the
// deployment's list (a Salesforce org's Lightning and Visualforce domains). Kept in the tenant's settings
// as `frameOrigins`; set with `lead-router frame-origins`.
import type { Tenant } from '../storage/model.js';

/** An https origin (scheme, host, optional port; a leading `*.` wildcard allowed), nothing after it. */
const ORIGIN = /^https:\/\/(\*\.)?[a-z0-9.-]+(:\d+)?$/i;

export function isFrameOrigin(value: string): boolean {
  return ORIGIN.test(value);
}

/** The tenant's framing origins, only well-formed ones (settings may have been edited by hand). */
export function tenantFrameOrigins(tenant: Pick<Tenant, 'settings'>): string[] {
  const listed = tenant.settings['frameOrigins'];
  return Array.isArray(listed)
    ? listed.filter((o): o is string => typeof o === 'string' && isFrameOrigin(o))
    : [];
}
