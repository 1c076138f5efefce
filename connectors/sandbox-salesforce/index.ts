// The Salesforce-flavoured sandbox CRM: public entry point.
export { createSalesforceSandbox, type SalesforceSandbox, type SalesforceSandboxOptions } from './server.js';
export {
  seedDemoOrg,
  DEMO_QUEUES,
  DEMO_CADENCES,
  DEMO_ORG_NAME,
  DEMO_FORMS_CLIENT,
  INTEGRATION_USERNAME,
  type DemoOrg,
} from './seed.js';
export {
  Org,
  Transaction,
  sfDateTime,
  type SRecord,
  type RecordChange,
  type WriteContext,
  type LeadAssignmentRule,
  DEFAULT_TASK_STATUSES,
  type TaskStatusValue,
} from './org.js';
export { DEFAULT_SF_APP, type ConnectedApp, type SfSession } from './oauth.js';
export { toId18, checksum, keyPrefix } from './ids.js';
export { SOBJECTS } from './schema.js';
export {
  targetEffects,
  type SfWriteRecord,
  type SfWriteKind,
  type SfWriteSource,
  type TargetEffects,
} from './write-log.js';
export { COLLECTION_LIMIT } from './routes/rest.js';
