// Ids as an operator types them, in the form the app stores: Salesforce shows 15-character ids in Setup
// (Company Information's org id) and in record URLs, while the API answers, and the app stores, the
// 18-character form.
import { idChecksum, isSalesforceId } from '../../connectors/salesforce/soql.js';
import type { Tenant } from '../storage/index.js';

/** `id` in the form the app stores for `provider` (a 15-character Salesforce id gets its checksum). */
export function storedIdForm(provider: Tenant['provider'], id: string): string {
  return provider === 'salesforce' && id.length === 15 && isSalesforceId(id) ? id + idChecksum(id) : id;
}

/** What a tenant's CRM account is called: a HubSpot portal, a Salesforce org. */
export function crmAccountWord(provider: Tenant['provider']): string {
  return provider === 'salesforce' ? 'org' : 'portal';
}
