// Each CRM's connector profile by the name the CRM variable and `validate --crm` give it: the facts a
// rule file is checked against without connecting to the CRM.
import type { ConnectorProfile } from '../../connectors/connector.js';
import { HUBSPOT_PROFILE, hubspotProfile } from '../../connectors/hubspot/profile.js';
import { SALESFORCE_PROFILE } from '../../connectors/salesforce/profile.js';

export const CRM_PROFILES = {
  hubspot: HUBSPOT_PROFILE,
  salesforce: SALESFORCE_PROFILE,
} as const satisfies Record<string, ConnectorProfile>;

export type CrmName = keyof typeof CRM_PROFILES;

/** A stored tenant's CRM profile; undefined for a provider this build does not serve. */
export function crmProfile(provider: string): ConnectorProfile | undefined {
  return Object.hasOwn(CRM_PROFILES, provider) ? CRM_PROFILES[provider as CrmName] : undefined;
}

/** A CRM's profile with its rate budget as configured: HubSpot's sized for HUBSPOT_REQUESTS_PER_10S. */
export function budgetedProfile(crm: CrmName, hubspotRequestsPer10s: number | undefined): ConnectorProfile {
  return crm === 'hubspot' ? hubspotProfile(hubspotRequestsPer10s) : CRM_PROFILES[crm];
}
