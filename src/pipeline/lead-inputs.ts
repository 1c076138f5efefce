// What deciding a set of leads needs from the CRM, in batch calls: the leads, read with the fields the
// rule set uses, and the accounts matching their email and website domains. The worker and a bulk dry
// run read the same way, so a preview decides on what routing would see.
import type { CrmConnector } from '../../connectors/connector.js';
import { fieldsUsedBy } from '../core/fields.js';
import { isFreeMailDomain } from '../core/normalize.js';
import type { Account, Lead, RuleSet } from '../core/types.js';
import { crmPropertiesFor } from './properties.js';

/** Where a lead's accounts are looked up: the domains asked for → the accounts matching each. */
export type AccountSource = (domains: string[]) => Promise<Map<string, Account[]>>;

/**
 * The CRM itself, as fresh as its search: every domain in one lookup, which the connector splits into
 * its CRM's calls (profile.batchSizes.accountDomains) and may send side by side.
 */
export function crmAccounts(connector: CrmConnector): AccountSource {
  return (domains) =>
    domains.length === 0 ? Promise.resolve(new Map()) : connector.findAccountsByDomain(domains);
}

/** The domains an account may be matched by: the email's (not a free-mail one) and the website's. */
function domainsOf(lead: Lead): string[] {
  const out: string[] = [];
  if (lead.emailDomain !== undefined && !isFreeMailDomain(lead.emailDomain)) out.push(lead.emailDomain);
  if (lead.websiteDomain !== undefined) out.push(lead.websiteDomain);
  return out;
}

/**
 * The leads and the accounts matching their domains. `sourceOf` says where a lead's accounts are looked
 * up (absent or undefined: the CRM, through `crm`); a domain some lead looks up in the CRM is looked up
 * there only.
 */
export async function readLeadInputs(
  connector: CrmConnector,
  ruleSet: RuleSet,
  ids: readonly string[],
  sourceOf?: (leadId: string) => AccountSource | undefined,
  crm: AccountSource = crmAccounts(connector),
): Promise<{ leads: Map<string, Lead>; accounts: Account[] }> {
  const properties = crmPropertiesFor(connector.profile.leadFieldProperties, fieldsUsedBy(ruleSet));
  const leads = await connector.readLeads([...new Set(ids)], properties);
  const fresh = new Set<string>();
  const other = new Map<AccountSource, Set<string>>();
  for (const [id, lead] of leads) {
    const source = sourceOf?.(id);
    for (const domain of domainsOf(lead)) {
      if (source === undefined) fresh.add(domain);
      else other.set(source, (other.get(source) ?? new Set()).add(domain));
    }
  }
  const lookups: [AccountSource, string[]][] = [[crm, [...fresh]]];
  for (const [source, domains] of other) lookups.push([source, [...domains].filter((d) => !fresh.has(d))]);
  // Side by side: a batch waits one round trip whichever sources its leads use.
  const answers = await Promise.all(lookups.map(([source, domains]) => source(domains)));
  const accounts: Account[] = [];
  const seen = new Set<string>();
  for (const found of answers)
    for (const list of found.values())
      for (const a of list) if (!seen.has(a.id) && seen.add(a.id)) accounts.push(a);
  return { leads, accounts };
}
