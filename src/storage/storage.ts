// Durable state of the pipeline, one repository per table family (src/storage/<family>.ts) behind this
// thin façade. Every transition is a compare-and-set on the row's current state (and lease owner), so a
// slow or crashed worker can never overwrite what another one did; backoff is a stored `run_after`,
// leases expire and `reapExpired` returns them. Every tenant-facing query filters by tenant id. Time is
// always an argument (`now`, epoch ms) so tests run on a fixed clock. The façade's methods are the
// repositories' own (documented there); callers may use either.
import type { Db } from './db.js';
import type { Cipher } from './model.js';
import { ActionRepository } from './actions.js';
import { DecisionRepository } from './decisions.js';
import { DirectoryRepository } from './directory.js';
import { EffectRepository } from './effects.js';
import { HoldRepository } from './holds.js';
import { InboxRepository } from './inbox.js';
import { PrivacyRepository } from './privacy.js';
import { ReportRepository } from './reports.js';
import { RetentionRepository } from './retention.js';
import { RotationRepository } from './rotation.js';
import { RulesetRepository } from './rulesets.js';
import { SlaTimerRepository } from './sla-timers.js';
import { TenantRepository } from './tenants.js';
import { StreamRepository } from './streams.js';
import { NotificationRepository } from './notifications.js';

export interface StorageOptions {
  cipher?: Cipher | undefined;
}

export class Storage {
  readonly tenants: TenantRepository;
  readonly rulesets: RulesetRepository;
  readonly inbox: InboxRepository;
  readonly effects: EffectRepository;
  readonly rotation: RotationRepository;
  readonly decisions: DecisionRepository;
  readonly actions: ActionRepository;
  readonly holds: HoldRepository;
  readonly slaTimers: SlaTimerRepository;
  readonly directory: DirectoryRepository;
  readonly privacy: PrivacyRepository;
  readonly retention: RetentionRepository;
  readonly streams: StreamRepository;
  readonly notifications: NotificationRepository;
  readonly reports: ReportRepository;

  constructor(
    readonly db: Db,
    options: StorageOptions = {},
  ) {
    this.tenants = new TenantRepository(db, options.cipher);
    this.rulesets = new RulesetRepository(db);
    this.inbox = new InboxRepository(db);
    this.effects = new EffectRepository(db);
    this.rotation = new RotationRepository(db);
    this.actions = new ActionRepository(db);
    this.holds = new HoldRepository(db);
    this.slaTimers = new SlaTimerRepository(db);
    this.decisions = new DecisionRepository(db, {
      rotation: this.rotation,
      actions: this.actions,
      holds: this.holds,
      slaTimers: this.slaTimers,
    });
    this.directory = new DirectoryRepository(db);
    this.privacy = new PrivacyRepository(db);
    this.retention = new RetentionRepository(db);
    this.streams = new StreamRepository(db);
    this.notifications = new NotificationRepository(db);
    this.reports = new ReportRepository(db);
  }

  get engine(): 'sqlite' | 'postgres' {
    return this.db.dialect.name;
  }

  close(): Promise<void> {
    return this.db.close();
  }

  // Tenants and their tokens ----------------------------------------------------------------

  createTenant(
    ...args: Parameters<TenantRepository['createTenant']>
  ): ReturnType<TenantRepository['createTenant']> {
    return this.tenants.createTenant(...args);
  }

  getTenant(...args: Parameters<TenantRepository['getTenant']>): ReturnType<TenantRepository['getTenant']> {
    return this.tenants.getTenant(...args);
  }

  findTenant(
    ...args: Parameters<TenantRepository['findTenant']>
  ): ReturnType<TenantRepository['findTenant']> {
    return this.tenants.findTenant(...args);
  }

  renameTenant(
    ...args: Parameters<TenantRepository['renameTenant']>
  ): ReturnType<TenantRepository['renameTenant']> {
    return this.tenants.renameTenant(...args);
  }

  listTenants(
    ...args: Parameters<TenantRepository['listTenants']>
  ): ReturnType<TenantRepository['listTenants']> {
    return this.tenants.listTenants(...args);
  }

  updateTenantSettings(
    ...args: Parameters<TenantRepository['updateTenantSettings']>
  ): ReturnType<TenantRepository['updateTenantSettings']> {
    return this.tenants.updateTenantSettings(...args);
  }

  setTenantToken(
    ...args: Parameters<TenantRepository['setTenantToken']>
  ): ReturnType<TenantRepository['setTenantToken']> {
    return this.tenants.setTenantToken(...args);
  }

  markTenantUninstalled(
    ...args: Parameters<TenantRepository['markTenantUninstalled']>
  ): ReturnType<TenantRepository['markTenantUninstalled']> {
    return this.tenants.markTenantUninstalled(...args);
  }

  pauseTenant(
    ...args: Parameters<TenantRepository['pauseTenant']>
  ): ReturnType<TenantRepository['pauseTenant']> {
    return this.tenants.pauseTenant(...args);
  }

  resumeTenant(
    ...args: Parameters<TenantRepository['resumeTenant']>
  ): ReturnType<TenantRepository['resumeTenant']> {
    return this.tenants.resumeTenant(...args);
  }

  pausedTenants(
    ...args: Parameters<TenantRepository['pausedTenants']>
  ): ReturnType<TenantRepository['pausedTenants']> {
    return this.tenants.pausedTenants(...args);
  }

  takePauseCheck(
    ...args: Parameters<TenantRepository['takePauseCheck']>
  ): ReturnType<TenantRepository['takePauseCheck']> {
    return this.tenants.takePauseCheck(...args);
  }

  getTenantToken(
    ...args: Parameters<TenantRepository['getTenantToken']>
  ): ReturnType<TenantRepository['getTenantToken']> {
    return this.tenants.getTenantToken(...args);
  }

  reencryptSecrets(
    ...args: Parameters<TenantRepository['reencryptSecrets']>
  ): ReturnType<TenantRepository['reencryptSecrets']> {
    return this.tenants.reencryptSecrets(...args);
  }

  // Rule sets -------------------------------------------------------------------------------

  saveRulesetDraft(
    ...args: Parameters<RulesetRepository['saveRulesetDraft']>
  ): ReturnType<RulesetRepository['saveRulesetDraft']> {
    return this.rulesets.saveRulesetDraft(...args);
  }

  publishRuleset(
    ...args: Parameters<RulesetRepository['publishRuleset']>
  ): ReturnType<RulesetRepository['publishRuleset']> {
    return this.rulesets.publishRuleset(...args);
  }

  getRuleset(
    ...args: Parameters<RulesetRepository['getRuleset']>
  ): ReturnType<RulesetRepository['getRuleset']> {
    return this.rulesets.getRuleset(...args);
  }

  activeRuleset(
    ...args: Parameters<RulesetRepository['activeRuleset']>
  ): ReturnType<RulesetRepository['activeRuleset']> {
    return this.rulesets.activeRuleset(...args);
  }

  listRulesets(
    ...args: Parameters<RulesetRepository['listRulesets']>
  ): ReturnType<RulesetRepository['listRulesets']> {
    return this.rulesets.listRulesets(...args);
  }

  // Inbox -----------------------------------------------------------------------------------

  enqueue(...args: Parameters<InboxRepository['enqueue']>): ReturnType<InboxRepository['enqueue']> {
    return this.inbox.enqueue(...args);
  }

  claim(...args: Parameters<InboxRepository['claim']>): ReturnType<InboxRepository['claim']> {
    return this.inbox.claim(...args);
  }

  renewLeases(
    ...args: Parameters<InboxRepository['renewLeases']>
  ): ReturnType<InboxRepository['renewLeases']> {
    return this.inbox.renewLeases(...args);
  }

  complete(...args: Parameters<InboxRepository['complete']>): ReturnType<InboxRepository['complete']> {
    return this.inbox.complete(...args);
  }

  completeMany(
    ...args: Parameters<InboxRepository['completeMany']>
  ): ReturnType<InboxRepository['completeMany']> {
    return this.inbox.completeMany(...args);
  }

  retryLater(...args: Parameters<InboxRepository['retryLater']>): ReturnType<InboxRepository['retryLater']> {
    return this.inbox.retryLater(...args);
  }

  deadLetter(...args: Parameters<InboxRepository['deadLetter']>): ReturnType<InboxRepository['deadLetter']> {
    return this.inbox.deadLetter(...args);
  }

  tenantsToDeadLetter(
    ...args: Parameters<InboxRepository['tenantsToDeadLetter']>
  ): ReturnType<InboxRepository['tenantsToDeadLetter']> {
    return this.inbox.tenantsToDeadLetter(...args);
  }

  reapExpired(
    ...args: Parameters<InboxRepository['reapExpired']>
  ): ReturnType<InboxRepository['reapExpired']> {
    return this.inbox.reapExpired(...args);
  }

  getInboxItem(
    ...args: Parameters<InboxRepository['getInboxItem']>
  ): ReturnType<InboxRepository['getInboxItem']> {
    return this.inbox.getInboxItem(...args);
  }

  inboxStats(...args: Parameters<InboxRepository['inboxStats']>): ReturnType<InboxRepository['inboxStats']> {
    return this.inbox.inboxStats(...args);
  }

  queueDepth(...args: Parameters<InboxRepository['queueDepth']>): ReturnType<InboxRepository['queueDepth']> {
    return this.inbox.queueDepth(...args);
  }

  deadLetters(
    ...args: Parameters<InboxRepository['deadLetters']>
  ): ReturnType<InboxRepository['deadLetters']> {
    return this.inbox.deadLetters(...args);
  }

  replay(...args: Parameters<InboxRepository['replay']>): ReturnType<InboxRepository['replay']> {
    return this.inbox.replay(...args);
  }

  /**
   * Takes back every lease at once — inbox items and planned actions — instead of waiting for them to
   * expire. Only for a process that knows it is the only one working on this database (one app on its
   * SQLite file, restarted after a crash): the leases can only be its dead predecessor's.
   */
  async takeOverLeases(
    now: number,
    options: Omit<NonNullable<Parameters<InboxRepository['reapExpired']>[1]>, 'leasedUntil'> = {},
  ): Promise<Awaited<ReturnType<InboxRepository['reapExpired']>> & { actions: number }> {
    const reaped = await this.inbox.reapExpired(now, { ...options, leasedUntil: Number.MAX_SAFE_INTEGER });
    return { ...reaped, actions: await this.actions.releaseAllLeases(now) };
  }

  // Effect keys -----------------------------------------------------------------------------

  claimEffect(
    ...args: Parameters<EffectRepository['claimEffect']>
  ): ReturnType<EffectRepository['claimEffect']> {
    return this.effects.claimEffect(...args);
  }

  claimEffects(
    ...args: Parameters<EffectRepository['claimEffects']>
  ): ReturnType<EffectRepository['claimEffects']> {
    return this.effects.claimEffects(...args);
  }

  // Rotation state --------------------------------------------------------------------------

  loadRoutingState(
    ...args: Parameters<RotationRepository['loadRoutingState']>
  ): ReturnType<RotationRepository['loadRoutingState']> {
    return this.rotation.loadRoutingState(...args);
  }

  saveRoutingState(
    ...args: Parameters<RotationRepository['saveRoutingState']>
  ): ReturnType<RotationRepository['saveRoutingState']> {
    return this.rotation.saveRoutingState(...args);
  }

  // Decisions -------------------------------------------------------------------------------

  commitDecision(
    ...args: Parameters<DecisionRepository['commitDecision']>
  ): ReturnType<DecisionRepository['commitDecision']> {
    return this.decisions.commitDecision(...args);
  }

  commitDecisions(
    ...args: Parameters<DecisionRepository['commitDecisions']>
  ): ReturnType<DecisionRepository['commitDecisions']> {
    return this.decisions.commitDecisions(...args);
  }

  findDecision(
    ...args: Parameters<DecisionRepository['findDecision']>
  ): ReturnType<DecisionRepository['findDecision']> {
    return this.decisions.findDecision(...args);
  }

  findDecisions(
    ...args: Parameters<DecisionRepository['findDecisions']>
  ): ReturnType<DecisionRepository['findDecisions']> {
    return this.decisions.findDecisions(...args);
  }

  decisionsFor(
    ...args: Parameters<DecisionRepository['decisionsFor']>
  ): ReturnType<DecisionRepository['decisionsFor']> {
    return this.decisions.decisionsFor(...args);
  }

  recentDecisions(
    ...args: Parameters<DecisionRepository['recentDecisions']>
  ): ReturnType<DecisionRepository['recentDecisions']> {
    return this.decisions.recentDecisions(...args);
  }

  // Actions ---------------------------------------------------------------------------------

  planActions(
    ...args: Parameters<ActionRepository['planActions']>
  ): ReturnType<ActionRepository['planActions']> {
    return this.actions.planActions(...args);
  }

  actionsForDecision(
    ...args: Parameters<ActionRepository['actionsForDecision']>
  ): ReturnType<ActionRepository['actionsForDecision']> {
    return this.actions.actionsForDecision(...args);
  }

  actionsForDecisions(
    ...args: Parameters<ActionRepository['actionsForDecisions']>
  ): ReturnType<ActionRepository['actionsForDecisions']> {
    return this.actions.actionsForDecisions(...args);
  }

  pendingActions(
    ...args: Parameters<ActionRepository['pendingActions']>
  ): ReturnType<ActionRepository['pendingActions']> {
    return this.actions.pendingActions(...args);
  }

  markActionDone(
    ...args: Parameters<ActionRepository['markActionDone']>
  ): ReturnType<ActionRepository['markActionDone']> {
    return this.actions.markActionDone(...args);
  }

  markActionsDone(
    ...args: Parameters<ActionRepository['markActionsDone']>
  ): ReturnType<ActionRepository['markActionsDone']> {
    return this.actions.markActionsDone(...args);
  }

  plannedActionsOfKind(
    ...args: Parameters<ActionRepository['plannedActionsOfKind']>
  ): ReturnType<ActionRepository['plannedActionsOfKind']> {
    return this.actions.plannedActionsOfKind(...args);
  }

  markActionFailed(
    ...args: Parameters<ActionRepository['markActionFailed']>
  ): ReturnType<ActionRepository['markActionFailed']> {
    return this.actions.markActionFailed(...args);
  }

  claimActionsOfKind(
    ...args: Parameters<ActionRepository['claimActionsOfKind']>
  ): ReturnType<ActionRepository['claimActionsOfKind']> {
    return this.actions.claimActionsOfKind(...args);
  }

  claimActions(
    ...args: Parameters<ActionRepository['claimActions']>
  ): ReturnType<ActionRepository['claimActions']> {
    return this.actions.claimActions(...args);
  }

  markActionsSent(
    ...args: Parameters<ActionRepository['markActionsSent']>
  ): ReturnType<ActionRepository['markActionsSent']> {
    return this.actions.markActionsSent(...args);
  }

  releaseActions(
    ...args: Parameters<ActionRepository['releaseActions']>
  ): ReturnType<ActionRepository['releaseActions']> {
    return this.actions.releaseActions(...args);
  }

  // Holds -----------------------------------------------------------------------------------

  placeHold(...args: Parameters<HoldRepository['placeHold']>): ReturnType<HoldRepository['placeHold']> {
    return this.holds.placeHold(...args);
  }

  activeHold(...args: Parameters<HoldRepository['activeHold']>): ReturnType<HoldRepository['activeHold']> {
    return this.holds.activeHold(...args);
  }

  dueHolds(...args: Parameters<HoldRepository['dueHolds']>): ReturnType<HoldRepository['dueHolds']> {
    return this.holds.dueHolds(...args);
  }

  releaseHold(...args: Parameters<HoldRepository['releaseHold']>): ReturnType<HoldRepository['releaseHold']> {
    return this.holds.releaseHold(...args);
  }

  // SLA timers ------------------------------------------------------------------------------

  dueSlaTimers(
    ...args: Parameters<SlaTimerRepository['dueSlaTimers']>
  ): ReturnType<SlaTimerRepository['dueSlaTimers']> {
    return this.slaTimers.dueSlaTimers(...args);
  }

  slaTimersFor(
    ...args: Parameters<SlaTimerRepository['slaTimersFor']>
  ): ReturnType<SlaTimerRepository['slaTimersFor']> {
    return this.slaTimers.slaTimersFor(...args);
  }

  setSlaState(
    ...args: Parameters<SlaTimerRepository['setSlaState']>
  ): ReturnType<SlaTimerRepository['setSlaState']> {
    return this.slaTimers.setSlaState(...args);
  }

  // Directory cache -------------------------------------------------------------------------

  saveDirectory(
    ...args: Parameters<DirectoryRepository['saveDirectory']>
  ): ReturnType<DirectoryRepository['saveDirectory']> {
    return this.directory.saveDirectory(...args);
  }

  loadDirectory(
    ...args: Parameters<DirectoryRepository['loadDirectory']>
  ): ReturnType<DirectoryRepository['loadDirectory']> {
    return this.directory.loadDirectory(...args);
  }

  // Pulled event streams --------------------------------------------------------------------

  streamStates(...args: Parameters<StreamRepository['states']>): ReturnType<StreamRepository['states']> {
    return this.streams.states(...args);
  }

  // Privacy deletions -----------------------------------------------------------------------

  purgeContact(
    ...args: Parameters<PrivacyRepository['purgeContact']>
  ): ReturnType<PrivacyRepository['purgeContact']> {
    return this.privacy.purgeContact(...args);
  }

  privacyDeletionStats(
    ...args: Parameters<PrivacyRepository['privacyDeletionStats']>
  ): ReturnType<PrivacyRepository['privacyDeletionStats']> {
    return this.privacy.privacyDeletionStats(...args);
  }

  // Retention -------------------------------------------------------------------------------

  purgeExpired(
    ...args: Parameters<RetentionRepository['purgeExpired']>
  ): ReturnType<RetentionRepository['purgeExpired']> {
    return this.retention.purgeExpired(...args);
  }
}
