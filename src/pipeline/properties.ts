// Which CRM properties to read for a rule set, and which CRM property changes touch a held field. The
// connector's profile names the property behind each standard lead field; generic code names none.
import type { ConnectorProfile } from '../../connectors/connector.js';
import { leadFieldFor } from '../core/normalize.js';

type Properties = ConnectorProfile['leadFieldProperties'];

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The CRM property a rule field reads: a standard lead field through the connector's map, a lead field
 * the CRM has no standard property for (productInterest) as its snake_case custom property, and any
 * other name as the custom property it names.
 */
export function crmPropertyFor(properties: Properties, field: string): string {
  const lead = leadFieldFor(field);
  if (lead === undefined) return field;
  return properties[lead] ?? snake(lead);
}

/** Properties to request for a rule set's fields (the connector adds its standard ones). */
export function crmPropertiesFor(properties: Properties, fields: readonly string[]): string[] {
  return [...new Set(fields.map((f) => crmPropertyFor(properties, f)))];
}

/** Whether a changed CRM property feeds one of the (rule-spelled) fields a hold waits for. */
export function propertyFeedsFields(
  properties: Properties,
  property: string,
  fields: readonly string[],
): boolean {
  const p = property.toLowerCase();
  return fields.some((f) => f.toLowerCase() === p || crmPropertyFor(properties, f).toLowerCase() === p);
}
