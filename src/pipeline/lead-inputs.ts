// What deciding a set of leads needs from the CRM, in batch calls: the leads, read with the fields the
// rule set uses, and the accounts matching their email and website domains. The worker and a bulk dry
// run read the same way, so a preview decides on what routing would see.
import type { CrmConnector } from '../../connectors/connector.js';
import { fieldsUsedBy } from '../core/fields.js';
import { isFreeMailDomain } from '../core/normalize.js';
import type { Account, Lead, RuleSet } from '../core/types.js';
import { crmPropertiesFor } from './properties.js';

/** Domains per account lookup call. */
const DOMAINS_PER_LOOKUP = 100;

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
  const all = [...domains];
  for (let at = 0; at < all.length; at += DOMAINS_PER_LOOKUP) {
    for (const list of (
      await connector.findAccountsByDomain(all.slice(at, at + DOMAINS_PER_LOOKUP))
    ).values())
      for (const a of list) if (!seen.has(a.id) && seen.add(a.id)) accounts.push(a);
  }
  return { leads, accounts };
}
