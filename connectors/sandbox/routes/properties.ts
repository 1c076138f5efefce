// Properties v3, read side: `GET /crm/v3/properties/contacts` lists a portal's contact properties, as
// the app's rule check and its lead reads (which split multiple checkboxes) read them (scope
// crm.schemas.contacts.read). The sandbox takes any property on a contact, so its portal has HubSpot's
// default contact properties, the custom ones its admin defined (the demo's; text or multiple
// checkboxes), and every other name its contacts carry, as a real portal would have defined them.
import { Router } from 'express';
import { authed, param, queryString, requireScopes } from '../context.js';
import { validation } from '../errors.js';
import type { CustomPropertyField, Portal } from '../store.js';

interface PropertyDefinition {
  name: string;
  label: string;
  type: 'string' | 'number' | 'datetime' | 'enumeration';
  fieldType: 'text' | 'textarea' | 'number' | 'date' | 'select' | 'checkbox' | 'booleancheckbox';
  groupName: string;
}

const text = (name: string, label: string): PropertyDefinition => ({
  name,
  label,
  type: 'string',
  fieldType: 'text',
  groupName: 'contactinformation',
});
const number = (name: string, label: string): PropertyDefinition => ({
  name,
  label,
  type: 'number',
  fieldType: 'number',
  groupName: 'contactinformation',
});
const select = (name: string, label: string): PropertyDefinition => ({
  name,
  label,
  type: 'enumeration',
  fieldType: 'select',
  groupName: 'contactinformation',
});

/** HubSpot's own contact properties the sandbox's contacts and the app's rules use (a real portal has more). */
const DEFAULT_CONTACT_PROPERTIES: readonly PropertyDefinition[] = [
  text('email', 'Email'),
  text('firstname', 'First Name'),
  text('lastname', 'Last Name'),
  text('jobtitle', 'Job Title'),
  text('company', 'Company Name'),
  text('website', 'Website URL'),
  text('phone', 'Phone Number'),
  text('mobilephone', 'Mobile Phone Number'),
  text('address', 'Street Address'),
  text('city', 'City'),
  text('state', 'State/Region'),
  text('zip', 'Postal Code'),
  text('country', 'Country/Region'),
  text('numemployees', 'Number of Employees'),
  number('annualrevenue', 'Annual Revenue'),
  select('industry', 'Industry'),
  select('lifecyclestage', 'Lifecycle Stage'),
  select('hs_lead_status', 'Lead Status'),
  select('hs_analytics_source', 'Original Traffic Source'),
  text('recent_conversion_event_name', 'Recent Conversion'),
  number('hubspotscore', 'HubSpot Score'),
  select('hubspot_owner_id', 'Contact owner'),
  select('hubspot_team_id', 'HubSpot Team'),
  text('hs_object_id', 'Record ID'),
  { ...text('createdate', 'Create Date'), type: 'datetime', fieldType: 'date' },
  { ...text('lastmodifieddate', 'Last Modified Date'), type: 'datetime', fieldType: 'date' },
];

/** A multiple checkbox: an enumeration whose value is the options checked, joined by `;`. */
const checkboxes = (name: string, label: string): PropertyDefinition => ({
  ...select(name, label),
  fieldType: 'checkbox',
});

function contactProperties(portal: Portal): PropertyDefinition[] {
  const defined = new Map(DEFAULT_CONTACT_PROPERTIES.map((p) => [p.name, p]));
  const custom = (name: string, field: CustomPropertyField = 'text') => {
    if (defined.has(name)) return;
    const definition = field === 'checkbox' ? checkboxes(name, name) : text(name, name);
    defined.set(name, { ...definition, groupName: 'custom' });
  };
  for (const [name, field] of portal.customContactProperties) custom(name, field);
  for (const contact of portal.objects.contacts.values())
    for (const name of Object.keys(contact.properties)) custom(name);
  return [...defined.values()];
}

export function propertiesRouter(): Router {
  const r = Router();
  const read = requireScopes('crm.schemas.contacts.read');

  r.get('/crm/v3/properties/:objectType', read, (req, res) => {
    const { portal } = authed(res);
    const objectType = param(req, 'objectType');
    if (objectType !== 'contacts' && objectType !== '0-1')
      throw validation(`Unable to infer object type from: ${objectType}`);
    const archived = queryString(req, 'archived') === 'true';
    const at = new Date(0).toISOString();
    res.json({
      results: archived
        ? []
        : contactProperties(portal).map((p, i) => ({
            ...p,
            description: '',
            options: [],
            displayOrder: i,
            hasUniqueValue: p.name === 'email' || p.name === 'hs_object_id',
            hidden: false,
            formField: p.groupName === 'contactinformation',
            hubspotDefined: p.groupName !== 'custom',
            calculated: false,
            externalOptions: false,
            createdAt: at,
            updatedAt: at,
            archived: false,
            modificationMetadata: {
              archivable: p.groupName === 'custom',
              readOnlyDefinition: p.groupName !== 'custom',
              readOnlyValue: p.name === 'hs_object_id' || p.name === 'createdate',
            },
          })),
    });
  });
  return r;
}
