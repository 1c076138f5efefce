// What generic code needs to know about Salesforce, as data (the connector profile).
import type { ConnectorProfile } from '../connector.js';
import { CONTACT_CHANNEL, LEAD_CHANNEL } from './intake/change-events.js';
import { objectOfId, LEAD_FIELD_PROPERTIES } from './records.js';
import { idChecksum, isSalesforceId } from './soql.js';

/** sObject Collections: 200 records per call (salesforce.md §2.3). */
const COLLECTION_SIZE = 200;

export const SALESFORCE_PROFILE: ConnectorProfile = {
  crmName: 'Salesforce',
  accountNoun: 'org',
  storedId: (id) => (id.length === 15 && isSalesforceId(id) ? id + idChecksum(id) : id),
  recordNoun: (leadId) => (objectOfId(leadId) === 'Contact' ? 'contact' : 'lead'),
  batchSizes: {
    // One query per object per batch; ids are chunked under the URL limit inside readLeads.
    readLeads: COLLECTION_SIZE,
    // Domains per Account query (Website LIKE … OR Name LIKE …), far below SOQL's 100,000 characters.
    accountDomains: 100,
    owners: COLLECTION_SIZE,
    tasks: COLLECTION_SIZE,
    notes: COLLECTION_SIZE,
    enrollments: COLLECTION_SIZE,
  },
  // Salesforce has no per-second window: the org's daily allocation is watched through Sforce-Limit-Info
  // (usagePace), and only calls of 20 s or more count toward the 25 concurrent long-running requests
  // (salesforce.md §5). The bucket caps concurrency so one tenant's burst stays far below that.
  buckets: { general: { reservoir: 100, intervalMs: 1_000, maxConcurrent: 10 } },
  // A batch waits on a chain of single calls (read → accounts → owners → tasks → enrollments), each far
  // below the bucket's pace: ten batches in flight keep its ten concurrent calls busy (a 10,000-lead burst
  // 7.3 → 6.4 s against six; more than ten only queue on the bucket).
  batchesInFlight: 10,
  // SOQL reads its own writes: a task created is found by the next query.
  lookupLagMs: 0,
  leadFieldProperties: LEAD_FIELD_PROPERTIES,
  // New Leads and Contacts come through Change Data Capture, one channel each (intake/).
  pulledStream: {
    channels: [LEAD_CHANNEL, CONTACT_CHANNEL],
    // As the setup guide says (docs/setup-guide-salesforce.md, section 2).
    setupCheck:
      'Change Data Capture is enabled for Lead and Contact in Setup (Setup → Change Data Capture), with View All Records on both for the user who installed lead-router',
  },
  customFieldSuffix: '__c',
  // API names of standard fields (NumberOfEmployees, LeadSource); a relationship's with a dot.
  standardFieldName: {
    pattern: /^[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*$/,
    spelt: 'letters and digits, such as NumberOfEmployees',
  },
  // Salesforce has no teams: a queue's lead gets an owner (OwnerId), a user or a Lead queue.
  queueTargets: {
    teams: false,
    owner: "a user's email, or a Lead queue's name or id (00G…)",
    queuesOwnTasks: false,
  },
  // Notes are Task descriptions, plain text as sent.
  noteText: (stored) => stored,
};
