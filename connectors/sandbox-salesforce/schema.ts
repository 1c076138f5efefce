// The sObjects the sandbox org holds and their fields: types, references (with relationship names for
// SOQL's Owner.Email), what the API may create or update, and what is required. Field names and key
// prefixes follow Salesforce's object reference (salesforce.md §3, §5); only the fields lead routing uses.

export type FieldType =
  | 'id'
  | 'string'
  | 'email'
  | 'url'
  | 'phone'
  | 'textarea'
  | 'picklist'
  | 'boolean'
  | 'int'
  | 'double'
  | 'currency'
  | 'date'
  | 'datetime'
  | 'reference';

export interface FieldDef {
  name: string;
  type: FieldType;
  /** Objects a reference may point to (the first is the usual one). */
  referenceTo?: readonly string[];
  /** `Owner` for `OwnerId`: the name SOQL uses to reach the parent. */
  relationshipName?: string;
  createable: boolean;
  updateable: boolean;
  /** Must be given on create (not nillable, no default). */
  required: boolean;
  picklist?: readonly string[];
  /** A picklist whose values are the org's own rows of this object (Task's Status: TaskStatus). */
  picklistFrom?: 'TaskStatus';
}

export interface ObjectDef {
  name: string;
  keyPrefix: string;
  label: string;
  labelPlural: string;
  fields: ReadonlyMap<string, FieldDef>;
  /** Values the org fills in on create when the caller leaves them out. */
  defaults: Readonly<Record<string, string | number | boolean>>;
}

type Spec = [name: string, type: FieldType, flags?: string, extra?: Partial<FieldDef>];

/** flags: r = required, n = not createable, u = not updateable. */
function fields(specs: readonly Spec[]): Map<string, FieldDef> {
  const system: Spec[] = [
    ['Id', 'id', 'nu'],
    ['IsDeleted', 'boolean', 'nu'],
    ['CreatedDate', 'datetime', 'nu'],
    ['CreatedById', 'reference', 'nu', { referenceTo: ['User'], relationshipName: 'CreatedBy' }],
    ['LastModifiedDate', 'datetime', 'nu'],
    ['LastModifiedById', 'reference', 'nu', { referenceTo: ['User'], relationshipName: 'LastModifiedBy' }],
    ['SystemModstamp', 'datetime', 'nu'],
  ];
  return new Map(
    [...system, ...specs].map(([name, type, flags = '', extra = {}]) => [
      name,
      {
        name,
        type,
        createable: !flags.includes('n'),
        updateable: !flags.includes('u'),
        required: flags.includes('r'),
        ...extra,
      },
    ]),
  );
}

const owner = (to: readonly string[]): Spec => [
  'OwnerId',
  'reference',
  '',
  { referenceTo: to, relationshipName: 'Owner' },
];
const ref = (name: string, to: readonly string[], relationshipName: string, flags = ''): Spec => [
  name,
  'reference',
  flags,
  { referenceTo: to, relationshipName },
];

const def = (
  name: string,
  keyPrefix: string,
  labelPlural: string,
  specs: readonly Spec[],
  defaults: ObjectDef['defaults'] = {},
): ObjectDef => ({ name, keyPrefix, label: name, labelPlural, fields: fields(specs), defaults });

export const LEAD_STATUSES = ['Open - Not Contacted', 'Working - Contacted', 'Closed - Converted'];

const OBJECTS: readonly ObjectDef[] = [
  def(
    'Lead',
    '00Q',
    'Leads',
    [
      ['FirstName', 'string'],
      ['LastName', 'string', 'r'],
      ['Name', 'string', 'nu'],
      ['Company', 'string', 'r'],
      ['Email', 'email'],
      ['Phone', 'phone'],
      ['Title', 'string'],
      ['Website', 'url'],
      ['Street', 'textarea'],
      ['City', 'string'],
      ['State', 'string'],
      ['PostalCode', 'string'],
      ['Country', 'string'],
      ['NumberOfEmployees', 'int'],
      ['AnnualRevenue', 'currency'],
      ['LeadSource', 'picklist'],
      ['Industry', 'picklist'],
      ['Status', 'picklist', '', { picklist: LEAD_STATUSES }],
      ['Description', 'textarea'],
      ['IsConverted', 'boolean', 'u'],
      // Set by Convert alone: no API write may set them (Lead field reference).
      ['ConvertedDate', 'date', 'nu'],
      ref('ConvertedAccountId', ['Account'], 'ConvertedAccount', 'nu'),
      ref('ConvertedContactId', ['Contact'], 'ConvertedContact', 'nu'),
      ['Product_Interest__c', 'string'],
      ['Demo_Requested__c', 'boolean'],
      owner(['User', 'Group']),
    ],
    { Status: 'Open - Not Contacted', IsConverted: false, Demo_Requested__c: false },
  ),
  def('Contact', '003', 'Contacts', [
    ['FirstName', 'string'],
    ['LastName', 'string', 'r'],
    ['Name', 'string', 'nu'],
    ['Email', 'email'],
    ['Phone', 'phone'],
    ['Title', 'string'],
    ['Department', 'string'],
    ['MailingCity', 'string'],
    ['MailingState', 'string'],
    ['MailingPostalCode', 'string'],
    ['MailingCountry', 'string'],
    ['LeadSource', 'picklist'],
    ['Description', 'textarea'],
    ['Product_Interest__c', 'string'],
    ['Demo_Requested__c', 'boolean'],
    ref('AccountId', ['Account'], 'Account'),
    owner(['User']),
  ]),
  def('Account', '001', 'Accounts', [
    ['Name', 'string', 'r'],
    ['Website', 'url'],
    ['Industry', 'picklist'],
    ['NumberOfEmployees', 'int'],
    ['AnnualRevenue', 'currency'],
    ['BillingCity', 'string'],
    ['BillingState', 'string'],
    ['BillingPostalCode', 'string'],
    ['BillingCountry', 'string'],
    ['Type', 'picklist'],
    owner(['User']),
  ]),
  // The org itself, one record whose Id is the org id; read-only through the API.
  def('Organization', '00D', 'Organizations', [['Name', 'string', 'nu']]),
  def(
    'User',
    '005',
    'Users',
    [
      ['Username', 'string', 'r'],
      ['Email', 'email', 'r'],
      ['FirstName', 'string'],
      ['LastName', 'string', 'r'],
      ['Name', 'string', 'nu'],
      ['Alias', 'string'],
      ['Title', 'string'],
      ['Department', 'string'],
      ['IsActive', 'boolean'],
      ['TimeZoneSidKey', 'picklist', 'r'],
      ['UserType', 'picklist', 'nu'],
      ref('ManagerId', ['User'], 'Manager'),
    ],
    { IsActive: true, UserType: 'Standard' },
  ),
  def(
    'Group',
    '00G',
    'Groups',
    [
      ['Name', 'string', 'r'],
      ['DeveloperName', 'string'],
      ['Type', 'picklist', 'u', { picklist: ['Regular', 'Queue'] }],
      ['Email', 'email'],
      ['DoesSendEmailToMembers', 'boolean'],
      ['DoesIncludeBosses', 'boolean'],
    ],
    { Type: 'Regular', DoesSendEmailToMembers: false, DoesIncludeBosses: false },
  ),
  def('QueueSobject', '03g', 'Queue Sobjects', [
    ref('QueueId', ['Group'], 'Queue', 'ru'),
    ['SobjectType', 'picklist', 'ru'],
  ]),
  def('GroupMember', '011', 'Group Members', [
    ref('GroupId', ['Group'], 'Group', 'ru'),
    ref('UserOrGroupId', ['User', 'Group'], 'UserOrGroup', 'ru'),
  ]),
  def(
    'Task',
    '00T',
    'Tasks',
    [
      ['Subject', 'string'],
      ['Description', 'textarea'],
      ['ActivityDate', 'date'],
      // The exact due time (ActivityDate has no time part): what a task is told apart by.
      ['ReminderDateTime', 'datetime'],
      ['IsReminderSet', 'boolean'],
      ['Priority', 'picklist', '', { picklist: ['High', 'Normal', 'Low'] }],
      ['Status', 'picklist', '', { picklistFrom: 'TaskStatus' }],
      ['Type', 'picklist'],
      ['IsClosed', 'boolean', 'nu'],
      ref('WhoId', ['Lead', 'Contact'], 'Who'),
      ref('WhatId', ['Account'], 'What'),
      owner(['User']),
    ],
    // Status: the org's default TaskStatus.
    { Priority: 'Normal', IsClosed: false, IsReminderSet: false },
  ),
  // The org's Task Status picklist values, read-only through the API (describeSObjects, query,
  // retrieve): https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_taskstatus.htm
  // Key prefix UNCONFIRMED.
  def('TaskStatus', '01J', 'Task Status Values', [
    ['ApiName', 'string', 'nu'],
    ['MasterLabel', 'string', 'nu'],
    ['IsClosed', 'boolean', 'nu'],
    ['IsDefault', 'boolean', 'nu'],
    ['SortOrder', 'int', 'nu'],
  ]),
  def('Event', '00U', 'Events', [
    ['Subject', 'string'],
    ['Description', 'textarea'],
    ['StartDateTime', 'datetime'],
    ['EndDateTime', 'datetime'],
    ['ActivityDateTime', 'datetime'],
    ['DurationInMinutes', 'int'],
    ref('WhoId', ['Lead', 'Contact'], 'Who'),
    ref('WhatId', ['Account'], 'What'),
    owner(['User']),
  ]),
  def('Territory2Model', '0MA', 'Territory Models', [
    ['Name', 'string', 'r'],
    ['DeveloperName', 'string', 'r'],
    ['Description', 'textarea'],
    ['State', 'picklist', 'nu', { picklist: ['Planning', 'Active', 'Archived'] }],
    ['ActivatedDate', 'datetime', 'nu'],
  ]),
  def('Territory2', '0MI', 'Territories', [
    ['Name', 'string', 'r'],
    ['DeveloperName', 'string', 'r'],
    ['Description', 'textarea'],
    ref('Territory2ModelId', ['Territory2Model'], 'Territory2Model', 'ru'),
    ref('ParentTerritory2Id', ['Territory2'], 'ParentTerritory2'),
  ]),
  def(
    'UserTerritory2Association',
    '0R0',
    'User Territory Associations',
    [
      ref('UserId', ['User'], 'User', 'ru'),
      ref('Territory2Id', ['Territory2'], 'Territory2', 'ru'),
      ['RoleInTerritory2', 'picklist'],
      ['IsActive', 'boolean'],
    ],
    { IsActive: true },
  ),
  def('ObjectTerritory2Association', '0R1', 'Object Territory Associations', [
    ref('ObjectId', ['Account', 'Lead'], 'Object', 'ru'),
    ref('Territory2Id', ['Territory2'], 'Territory2', 'ru'),
    ['AssociationCause', 'picklist', 'ru', { picklist: ['Territory2AssignmentRule', 'Territory2Manual'] }],
    ['SobjectType', 'string', 'nu'],
  ]),
  // Sales Engagement: cadences, and the tracker a target gets when assigned to one (the action creates it).
  // Key prefixes of these two are UNCONFIRMED.
  def(
    'ActionCadence',
    '77C',
    'Cadences',
    [
      ['Name', 'string', 'r'],
      ['State', 'picklist', '', { picklist: ['Draft', 'Active', 'Inactive'] }],
    ],
    { State: 'Active' },
  ),
  def(
    'ActionCadenceTracker',
    '7c3',
    'Cadence Trackers',
    [
      ref('ActionCadenceId', ['ActionCadence'], 'ActionCadence', 'u'),
      ref('TargetId', ['Lead', 'Contact'], 'Target', 'u'),
      ['State', 'picklist', '', { picklist: ['Initializing', 'Running', 'Paused', 'Complete', 'Error'] }],
      owner(['User']),
    ],
    { State: 'Running' },
  ),
];

export const SOBJECTS: ReadonlyMap<string, ObjectDef> = new Map(OBJECTS.map((o) => [o.name, o]));

const BY_PREFIX = new Map(OBJECTS.map((o) => [o.keyPrefix, o]));
export const objectOfPrefix = (prefix: string): ObjectDef | undefined => BY_PREFIX.get(prefix);

/** Case-insensitive lookup, as the API and SOQL resolve names. */
export function objectDef(name: string): ObjectDef | undefined {
  const exact = SOBJECTS.get(name);
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  return OBJECTS.find((o) => o.name.toLowerCase() === lower);
}

export function fieldDef(obj: ObjectDef, name: string): FieldDef | undefined {
  const exact = obj.fields.get(name);
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  for (const f of obj.fields.values()) if (f.name.toLowerCase() === lower) return f;
  return undefined;
}

/** The reference field a relationship name reaches through (`Owner` → `OwnerId`). */
export function relationshipField(obj: ObjectDef, relationship: string): FieldDef | undefined {
  const lower = relationship.toLowerCase();
  for (const f of obj.fields.values())
    if (f.relationshipName !== undefined && f.relationshipName.toLowerCase() === lower) return f;
  return undefined;
}
