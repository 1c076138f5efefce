// The Salesforce session's token store over the tenant rows: one org is one tenant (external id = the
// org id from the identity URL), its token set sealed by storage's keyring like every tenant secret.
import { CrmError } from '../../connectors/connector.js';
import {
  decodeSalesforceTokens,
  encodeSalesforceTokens,
  type SalesforceTokenStore,
} from '../../connectors/salesforce/auth.js';
import type { Storage } from '../storage/index.js';

export const SALESFORCE_PROVIDER = 'salesforce';

export function salesforceTokenStore(storage: Storage, clock: () => number): SalesforceTokenStore {
  return {
    async load(orgId) {
      const tenant = await storage.findTenant(SALESFORCE_PROVIDER, orgId);
      if (tenant === null) return null;
      const text = await storage.getTenantToken(tenant.id);
      return text === null ? null : decodeSalesforceTokens(text);
    },
    async save(orgId, tokens) {
      const tenant = await storage.findTenant(SALESFORCE_PROVIDER, orgId);
      if (tenant === null) throw new CrmError('auth', `Salesforce org ${orgId} is not installed`);
      await storage.setTenantToken(tenant.id, encodeSalesforceTokens(tokens), clock());
    },
  };
}
