// The HubSpot-flavoured sandbox CRM: public entry point.
export {
  createHubSpotSandbox,
  type HubSpotSandbox,
  type SandboxOptions,
  type CreatePortalInput,
} from './server.js';
export { ManualClock, Prng, systemClock, type Clock } from '../sandbox-kit/clock.js';
export {
  seedDemoPortal,
  ensureOwners,
  ensureTeams,
  ensureSequences,
  generatorIntervalMs,
  DEMO_OWNERS,
  DEMO_TEAMS,
  DEMO_SEQUENCES,
  DEMO_DOMAIN,
  type DemoOwner,
  type DemoPortal,
} from './seed.js';
export { signV1, signV3, decodeSignedUri } from './signature.js';
export type {
  WebhookConfig,
  WebhookEvent,
  WebhookSubscription,
  WebhookTiming,
  DeliveryAttempt,
  ScheduledRetry,
} from './webhooks.js';
export { DEFAULT_SUBSCRIPTIONS, SUBSCRIPTION_ID_BASE } from './webhooks.js';
export type { WriteRecord, WriteKind, WriteSource, WriteFilter, ContactEffects } from './write-log.js';
export { contactEffects } from './write-log.js';
export { CallStats, callKind, totalCalls, type PortalCallStats } from './call-stats.js';
export type { Portal, Owner, CrmObject, CustomPropertyField, Sequence, Enrollment } from './store.js';
export type { FaultOptions, FaultKind } from '../sandbox-kit/faults.js';
export type { RateLimitOptions } from './rate-limit.js';
export type { SandboxApp, AccessToken } from './tokens.js';
