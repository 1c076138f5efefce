// Which CRM properties to read for a rule set, and which CRM property changes touch a held field.
import { CONTACT_FIELD_MAP } from '../../connectors/hubspot/connector.js';
import type { CrmConnector } from '../../connectors/connector.js';
import { leadFieldFor } from '../core/normalize.js';
import type { LeadField } from '../core/types.js';

type Provider = CrmConnector['provider'];

/** Lead field → the CRM property that feeds it, per provider (the inverse of the connector's map). */
function propertyByField(provider: Provider): Partial<Record<LeadField, string>> {
  if (provider === 'salesforce') return {};
  const out: Partial<Record<LeadField, string>> = { emailDomain: 'email' };
  for (const [prop, field] of Object.entries(CONTACT_FIELD_MAP)) out[field] ??= prop;
  return out;
}

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The CRM property a rule field reads: a standard lead field through the provider's map, a lead field
 * the CRM has no standard property for (productInterest) as its snake_case custom property, and any
 * other name as the custom property it names.
 */
export function crmPropertyFor(provider: Provider, field: string): string {
  const lead = leadFieldFor(field);
  if (lead === undefined) return field;
  return propertyByField(provider)[lead] ?? snake(lead);
}

/** Properties to request for a rule set's fields (the connector adds its standard ones). */
export function crmPropertiesFor(provider: Provider, fields: readonly string[]): string[] {
  return [...new Set(fields.map((f) => crmPropertyFor(provider, f)))];
}

/** Whether a changed CRM property feeds one of the (rule-spelled) fields a hold waits for. */
export function propertyFeedsFields(
  provider: Provider,
  property: string,
  fields: readonly string[],
): boolean {
  const p = property.toLowerCase();
  return fields.some((f) => f.toLowerCase() === p || crmPropertyFor(provider, f).toLowerCase() === p);
}
