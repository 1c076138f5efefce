// What deciding a set of leads needs from the CRM, in batch calls: the leads, read with the fields the
// rule set uses, and the accounts matching their email and website domains. The worker and a bulk dry
// run read the same way, so a preview decides on what routing would see.
import type { CrmConnector } from '../../connectors/connector.js';
import { fieldsUsedBy } from '../core/fields.js';
import { isFreeMailDomain } from '../core/normalize.js';
import type { Account, Lead, RuleSet } from '../core/types.js';
import { crmPropertiesFor } from './properties.js';

export async function readLeadInputs(
  connector: CrmConnector,
  ruleSet: RuleSet,
  ids: readonly string[],
): Promise<{ leads: Map<string, Lead>; accounts: Account[] }> {
  const properties = crmPropertiesFor(connector.profile.leadFieldProperties, fieldsUsedBy(ruleSet));
  const leads = await connector.readLeads([...new Set(ids)], properties);
  const domains = new Set<string>();
  for (const lead of leads.values()) {
    if (lead.emailDomain !== undefined && !isFreeMailDomain(lead.emailDomain)) domains.add(lead.emailDomain);
    if (lead.websiteDomain !== undefined) domains.add(lead.websiteDomain);
  }
  const accounts: Account[] = [];
  const seen = new Set<string>();
  // One lookup for every domain: the connector splits it into its CRM's calls (profile.batchSizes
  // .accountDomains) and may send them side by side.
  const found =
    domains.size === 0 ? new Map<string, Account[]>() : await connector.findAccountsByDomain([...domains]);
  for (const list of found.values())
    for (const a of list) if (!seen.has(a.id) && seen.add(a.id)) accounts.push(a);
  return { leads, accounts };
}
