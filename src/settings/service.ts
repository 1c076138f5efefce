// What the settings tab does for one tenant, apart from HTTP: validate a draft rule set with the CLI's
// own loader, publish it (or roll back) with a note, simulate it on leads, preview its impact on the
// tenant's last decided leads, edit the team, search the activity, and read the tenant's health.
// Every method takes the tenant id from the caller's access, never from a request body.
import { AccountIndex } from '../core/accounts.js';
import { checkRep } from '../core/availability.js';
import { decide } from '../core/decide.js';
import { pickFromPool } from '../core/distribution.js';
import { explainDecision } from '../core/explain.js';
import { toLead } from '../core/normalize.js';
import { applyStateChanges } from '../core/state.js';
import { distributionOfCounts } from '../reports/reports.js';
import type { Decision, Lead, ResolvedDestination, RoutingState, RuleSet, Team } from '../core/types.js';
import { InputError, leadProblems, parseCsv } from '../cli/records-file.js';
import type { AccountFields, ConnectorProfile, Directory } from '../../connectors/connector.js';
import { SingleFlightCache } from '../../connectors/shared/single-flight.js';
import { bulkEvent } from '../pipeline/bulk/purpose.js';
import { mergeDirectory } from '../pipeline/team.js';
import {
  hasInlineTeam,
  loadRuleSet,
  loadTeam,
  teamVersion,
  oncePerPerson,
  unknownOwnerWarnings,
  type CrmFacts,
  type Diagnostic,
} from '../rules/index.js';
import {
  DecisionInputRepository,
  PublicationRequestRepository,
  TenantConfigRepository,
  TenantHealthRepository,
  CrmCallRepository,
  type DecidedLead,
  type DecisionRecord,
  type Publication,
  type PublicationRequest,
  type PublishInput,
  type Storage,
  streamFailure,
  streamSilence,
  type StreamState,
  SUPERSEDED,
  type Tenant,
} from '../storage/index.js';
import { readableReason } from './dead-letters.js';
import { lineDiff } from './diff.js';
import {
  approvalSettingSchema,
  type Outcome,
  type activityQuerySchema,
  type approvalsResponseSchema,
  type decideResponseSchema,
  type diagnosticSchema,
  type publishResponseSchema,
  type activityResponseSchema,
  type healthResponseSchema,
  type leadDetailResponseSchema,
  type previewResponseSchema,
  type repPatchRequestSchema,
  type rulesResponseSchema,
  type simulateResponseSchema,
  type teamResponseSchema,
  type validateResponseSchema,
} from './schemas.js';
import { changedFields, editRep } from './team-edit.js';
import type { z } from 'zod';

const DAY_MS = 86_400_000;

const EMPTY_TEAM: Team = { reps: {}, queues: {} };
const RULES_FILE = 'rules.yaml';
const TEAM_FILE = 'team.yaml';

/** A request the tenant's configuration refuses: shown to the admin as is, nothing changed. */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  constructor(
    readonly status: 400 | 404 | 409 | 422,
    message: string,
    readonly diagnostics: Diagnostic[] = [],
  ) {
    super(message);
  }
}

export interface CrmStatus {
  ok: boolean;
  detail: string;
}

/** The Health page's window for CRM call outcomes: the minutes that started within the last hour. */
export const CRM_CALLS_WINDOW_MS = 60 * 60_000;

export interface SettingsServiceDeps {
  storage: Storage;
  clock: () => number;
  /** The team of a tenant with none stored (the TEAM file new installs start from). */
  defaultTeam?: Team | undefined;
  /** Told after work was enqueued (a re-route), so a worker in this process starts at once. */
  onEnqueued?: (() => void) | undefined;
  /**
   * The tenant's CRM users, listed live through its connector (the Team page's sync); absent, the
   * directory the worker last stored is shown. Never stored from here: the worker's refresh is what
   * notices a rep deactivated since its last one.
   */
  directory?: ((tenantId: string) => Promise<Directory>) | undefined;
  /** The tenant's CRM connection as the app sees it (a live check). */
  crmStatus?: ((tenantId: string) => Promise<CrmStatus>) | undefined;
  /**
   * The profile of the CRM a tenant's provider names: drafts are checked against it (its fields, and the
   * queue targets it can have). Absent, or none for the provider: checked without a CRM.
   */
  crmProfile?: ((provider: string) => ConnectorProfile | undefined) | undefined;
  /**
   * The fields the tenant's CRM account has on its routed records, read through its connector (cached
   * there): drafts are checked against this account's own fields. Absent, null, or slower than
   * ACCOUNT_FIELDS_WAIT_MS: checked against the profile alone.
   */
  accountFields?: ((tenantId: string) => Promise<AccountFields | null>) | undefined;
}

/** A check of a draft waits this long for the account's fields: the admin is waiting for the answer. */
export const ACCOUNT_FIELDS_WAIT_MS = 3000;

/** How long, and for how many tenants, a directory listed for a draft's check is reused. */
const LISTED_DIRECTORY_TTL_MS = 60_000;
const LISTED_DIRECTORY_TENANTS = 100;

/** A loader's diagnostic as the API answers it (an error or a warning). */
export const diagnosticView = (d: Diagnostic): z.infer<typeof diagnosticSchema> => ({
  file: d.file,
  line: d.line,
  column: d.column,
  path: d.path,
  message: d.message,
  ...(d.suggestion === undefined ? {} : { suggestion: d.suggestion }),
});

/** `rep ada@acme.io`, `queue EMEA`, `none`, `hold for country, employees`. */
export function resolvedText(d: ResolvedDestination): string {
  switch (d.kind) {
    case 'rep':
      return `rep ${d.email}`;
    case 'queue':
      return `queue ${d.name}`;
    case 'none':
      return 'none';
    case 'hold':
      return `hold for ${d.fields.join(', ')}`;
    default: {
      const never: never = d;
      return String(never);
    }
  }
}

/** What the admin compares between versions: who owns it, which sequence, how fast. */
export function outcomeOf(decision: Decision): Outcome {
  const dest = decision.destination;
  const sequence = decision.actions.find((a) => a.kind === 'enroll_sequence');
  return {
    route: decision.route?.name ?? null,
    destination: resolvedText(dest),
    owner: dest.kind === 'rep' ? dest.email : null,
    sequence: sequence === undefined ? null : (sequence.sequence.name ?? sequence.sequence.id ?? null),
    slaMinutes:
      decision.sla === undefined
        ? null
        : Math.round((decision.sla.firstTouchBy - decision.decidedAt) / 60_000),
  };
}

/** The matcher a past lead was decided with: the account it matched then, or none. */
function matcherFor(input: Pick<DecidedLead, 'account'>): AccountIndex | undefined {
  return input.account === null ? undefined : AccountIndex.build([input.account]);
}

export class SettingsService {
  private readonly config: TenantConfigRepository;
  private readonly inputs: DecisionInputRepository;
  private readonly health: TenantHealthRepository;
  private readonly crmCalls: CrmCallRepository;
  private readonly requests: PublicationRequestRepository;
  /** Directories listed live for drafts' checks, per tenant (ownerDirectory). */
  private readonly listedDirectories: SingleFlightCache<string, Directory>;

  constructor(private readonly deps: SettingsServiceDeps) {
    this.listedDirectories = new SingleFlightCache({
      now: deps.clock,
      ttlMs: LISTED_DIRECTORY_TTL_MS,
      idleMs: LISTED_DIRECTORY_TTL_MS,
      maxEntries: LISTED_DIRECTORY_TENANTS,
    });
    this.config = new TenantConfigRepository(deps.storage.db);
    this.requests = new PublicationRequestRepository(deps.storage.db);
    this.inputs = new DecisionInputRepository(deps.storage.db);
    this.health = new TenantHealthRepository(deps.storage.db);
    this.crmCalls = new CrmCallRepository(deps.storage.db);
  }

  private get storage(): Storage {
    return this.deps.storage;
  }

  // -------------------------------------------------------------------------------------------------
  // Configuration as stored

  /** The tenant's active team, with its version and text (null when the default team applies). */
  async activeTeam(tenantId: string): Promise<{ team: Team; version: string | null; source: string | null }> {
    const stored = await this.config.activeTeam(tenantId);
    if (stored === null) return { team: this.deps.defaultTeam ?? EMPTY_TEAM, version: null, source: null };
    const loaded = loadTeam(stored.source, TEAM_FILE);
    if (!loaded.ok) throw new SettingsError(422, 'the published team does not load', loaded.errors);
    return { team: loaded.team, version: stored.version, source: stored.source };
  }

  /**
   * A rule set's text loaded against the tenant's team, as the worker will load it, or its errors; with
   * its warnings either way. A draft to be put to work is also checked against the tenant's CRM (`crm`).
   */
  private load(
    source: string,
    team: Team,
    crm?: CrmFacts,
  ): { ruleSet: RuleSet; warnings: Diagnostic[] } | { errors: Diagnostic[]; warnings: Diagnostic[] } {
    const hasTeam = Object.keys(team.reps).length > 0 || Object.keys(team.queues).length > 0;
    const loaded = loadRuleSet(source, RULES_FILE, {
      team: hasTeam ? team : undefined,
      requireQueueTargets: true,
      crm,
    });
    return loaded.ok
      ? { ruleSet: loaded.ruleSet, warnings: loaded.warnings }
      : { errors: loaded.errors, warnings: loaded.warnings };
  }

  /**
   * The tenant's CRM's profile, when the app knows it, with the account's own fields and its users and
   * queues (or teams) when they come.
   */
  private async crm(tenantId: string): Promise<CrmFacts | undefined> {
    const tenant = await this.storage.getTenant(tenantId);
    const profile = tenant === null ? undefined : this.deps.crmProfile?.(tenant.provider);
    if (profile === undefined) return undefined;
    const [fields, directory] = await Promise.all([
      this.accountFields(tenantId),
      this.ownerDirectory(tenantId),
    ]);
    return {
      ...profile,
      ...(fields === undefined ? {} : { accountFields: fields }),
      ...(directory === undefined ? {} : { directory }),
    };
  }

  /**
   * The directory the people and queue owners of a draft are checked against: the one routing lands
   * queues with (the worker's stored copy, refreshed every few minutes), else the CRM's as listed now.
   * Never stored from here, as for the Team page. Absent, or slower than ACCOUNT_FIELDS_WAIT_MS: not
   * checked.
   */
  private async ownerDirectory(tenantId: string): Promise<Directory | undefined> {
    return (await this.storage.loadDirectory(tenantId)) ?? this.listedDirectory(tenantId);
  }

  /**
   * The CRM's users and queues as listed now, reused for LISTED_DIRECTORY_TTL_MS (the tab checks a draft
   * as the admin types); undefined when they cannot be listed within ACCOUNT_FIELDS_WAIT_MS.
   */
  private listedDirectory(tenantId: string): Promise<Directory | undefined> {
    const read = this.deps.directory;
    if (read === undefined) return Promise.resolve(undefined);
    return this.within(this.listedDirectories.get(tenantId, () => read(tenantId)));
  }

  /**
   * What `check` finds against the tenant's CRM (`crm`, as this.crm read it). The stored directory is up
   * to a refresh old: when the check warns of someone it lacks (a queue created in Setup a minute ago, a
   * user enabled again) and it is older than a listing is reused, the check runs once more against the
   * users and queues listed now. So a listing is asked only then, and at most once a minute.
   */
  private async checkedWith<T extends { warnings: Diagnostic[] }>(
    tenantId: string,
    crm: CrmFacts | undefined,
    check: (crm: CrmFacts | undefined) => T,
  ): Promise<T> {
    const first = check(crm);
    const directory = crm?.directory;
    if (crm === undefined || directory === undefined) return first;
    if (!first.warnings.some((d) => d.unknownOwner !== undefined)) return first;
    const fetchedAt =
      'fetchedAt' in directory && typeof directory.fetchedAt === 'number' ? directory.fetchedAt : 0;
    if (this.deps.clock() - fetchedAt <= LISTED_DIRECTORY_TTL_MS) return first;
    const listed = await this.listedDirectory(tenantId);
    return listed === undefined || listed === directory ? first : check({ ...crm, directory: listed });
  }

  private async accountFields(tenantId: string): Promise<AccountFields | undefined> {
    const read = this.deps.accountFields;
    return read === undefined ? undefined : this.within(read(tenantId));
  }

  /** What the CRM answers within ACCOUNT_FIELDS_WAIT_MS; undefined when it does not, or refuses. */
  private async within<T>(answer: Promise<T | null>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, ACCOUNT_FIELDS_WAIT_MS, undefined);
    });
    try {
      // An account that cannot be asked now only loses the check, never the validation or the publish.
      return (await Promise.race([answer.catch(() => null), late])) ?? undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The warnings of the stored team file's queue owners that the tenant's CRM account has no one for,
   * where the rules route with it (not with a team of their own, which their load checks).
   */
  private teamOwnerWarnings(
    rulesSource: string,
    teamSource: string | null,
    crm: CrmFacts | undefined,
  ): Diagnostic[] {
    if (crm === undefined || teamSource === null || hasInlineTeam(rulesSource)) return [];
    return unknownOwnerWarnings({ team: { path: TEAM_FILE, source: teamSource } }, crm);
  }

  /**
   * The rules loaded with `team` against the tenant's CRM, and every warning of them and of the team file
   * (`teamSource`) there; checked again on a listing now when the stored directory misses someone.
   */
  private loadAgainstCrm(
    tenantId: string,
    source: string,
    team: Team,
    teamSource: string | null,
    crm: CrmFacts | undefined,
  ) {
    return this.checkedWith(tenantId, crm, (facts) => {
      const loaded = this.load(source, team, facts);
      const warnings = [...loaded.warnings, ...this.teamOwnerWarnings(source, teamSource, facts)];
      return { loaded, warnings: oncePerPerson(warnings) };
    });
  }

  private async loadOrRefuse(
    tenantId: string,
    source: string,
  ): Promise<{ ruleSet: RuleSet; team: Team; warnings: Diagnostic[] }> {
    const [{ team, source: teamSource }, crm] = await Promise.all([
      this.activeTeam(tenantId),
      this.crm(tenantId),
    ]);
    const { loaded, warnings } = await this.loadAgainstCrm(tenantId, source, team, teamSource, crm);
    if ('errors' in loaded) throw new SettingsError(422, 'the rule set has errors', loaded.errors);
    return { ruleSet: loaded.ruleSet, team: loaded.ruleSet.team ?? team, warnings };
  }

  async rules(tenantId: string): Promise<z.infer<typeof rulesResponseSchema>> {
    const [active, versions, publications, requests] = await Promise.all([
      this.storage.activeRuleset(tenantId),
      this.storage.listRulesets(tenantId),
      this.config.publications(tenantId),
      this.requests.list(tenantId),
    ]);
    return {
      active: active === null ? null : { version: active.version, name: active.name, source: active.source },
      versions: versions.map((v) => ({
        version: v.version,
        name: v.name,
        createdBy: v.createdBy,
        createdAt: v.createdAt,
        active: v.version === active?.version,
      })),
      publications: publications.map(publicationView),
      requests: requests.map(requestView),
    };
  }

  async validate(tenantId: string, source: string): Promise<z.infer<typeof validateResponseSchema>> {
    const [{ team, source: teamSource }, active, crm] = await Promise.all([
      this.activeTeam(tenantId),
      this.storage.activeRuleset(tenantId),
      this.crm(tenantId),
    ]);
    const { loaded, warnings } = await this.loadAgainstCrm(tenantId, source, team, teamSource, crm);
    return {
      ok: !('errors' in loaded),
      errors: 'errors' in loaded ? loaded.errors.map(diagnosticView) : [],
      warnings: warnings.map(diagnosticView),
      diff: lineDiff(active?.source ?? '', source),
    };
  }

  async publish(
    tenantId: string,
    input: { source: string; note: string; basedOn: string | null },
    user: string,
  ): Promise<PublishOutcome> {
    const { ruleSet, warnings } = await this.loadOrRefuse(tenantId, input.source);
    return this.submit(
      tenantId,
      {
        rules: { version: ruleSet.version, name: ruleSet.name, source: input.source },
        publishedBy: user,
        note: input.note,
        basedOn: input.basedOn,
      },
      warnings,
    );
  }

  /** Makes an earlier rule set version active again (with the current team), if it still loads. */
  async rollback(tenantId: string, version: string, note: string, user: string): Promise<PublishOutcome> {
    const target = await this.storage.getRuleset(tenantId, version);
    if (target === null) throw new SettingsError(404, `no rule set version ${version}`);
    const { warnings } = await this.loadOrRefuse(tenantId, target.source);
    const active = await this.config.activeVersions(tenantId);
    return this.submit(
      tenantId,
      { rules: { version }, publishedBy: user, note, basedOn: active?.rules ?? null },
      warnings,
    );
  }

  /**
   * Publishes at once, or — when the tenant requires approval — records a request that a second admin
   * approves. Either way a publication based on a version that is no longer active is refused. The
   * warnings of what is published go back with the answer: they never stop it.
   */
  private async submit(
    tenantId: string,
    input: PublishInput & { basedOn: string | null },
    warnings: Diagnostic[],
  ): Promise<PublishOutcome> {
    const now = this.deps.clock();
    if (!(await this.approvalSetting(tenantId)).required)
      return {
        status: 'published',
        publication: publicationView(this.published(await this.config.publish(tenantId, input, now))),
        warnings: warnings.map(diagnosticView),
      };
    const active = await this.config.activeVersions(tenantId);
    if (input.basedOn !== (active?.rules ?? null))
      this.published({ status: 'conflict', active: active?.rules ?? null });
    const request = await this.requests.request(
      tenantId,
      { ...input, basedOnTeam: active?.team ?? null },
      now,
    );
    return {
      status: 'pending_approval',
      request: requestView(request),
      warnings: warnings.map(diagnosticView),
    };
  }

  // -------------------------------------------------------------------------------------------------
  // Approvals

  private async approvalSetting(tenantId: string): Promise<z.infer<typeof approvalSettingSchema>> {
    const tenant = await this.storage.getTenant(tenantId);
    const parsed = approvalSettingSchema.safeParse(tenant?.settings['approvals'] ?? { required: false });
    // A hand-edited setting that does not parse errs on the safe side.
    return parsed.success ? parsed.data : { required: true };
  }

  async approvals(tenantId: string): Promise<z.infer<typeof approvalsResponseSchema>> {
    const [setting, requests] = await Promise.all([
      this.approvalSetting(tenantId),
      this.requests.list(tenantId),
    ]);
    return { ...setting, requests: requests.map(requestView) };
  }

  /**
   * Turning approvals on takes effect at once. Turning them off while they are on takes two admins, as
   * a publication would: the first asks (`offRequestedBy`), a different one confirms.
   */
  async setApprovals(
    tenantId: string,
    required: boolean,
    user: string,
  ): Promise<z.infer<typeof approvalsResponseSchema>> {
    const tenant = await this.storage.getTenant(tenantId);
    if (tenant === null) throw new SettingsError(404, 'no such tenant');
    const current = await this.approvalSetting(tenantId);
    let next: z.infer<typeof approvalSettingSchema>;
    if (required) next = { required: true, changedBy: user };
    else if (!current.required) next = current;
    else if (current.offRequestedBy !== undefined && !sameUser(current.offRequestedBy, user))
      next = { required: false, changedBy: user };
    else next = { ...current, offRequestedBy: user };
    await this.storage.updateTenantSettings(
      tenantId,
      { ...tenant.settings, approvals: next },
      this.deps.clock(),
    );
    return this.approvals(tenantId);
  }

  /** A second admin approves (publishing it) or rejects a pending request. */
  async decideRequest(
    tenantId: string,
    id: number,
    decision: 'approve' | 'reject',
    user: string,
  ): Promise<z.infer<typeof decideResponseSchema>> {
    const request = await this.requests.get(tenantId, id);
    if (request === null) throw new SettingsError(404, `no publication request ${id} in this tenant`);
    if (decision === 'approve') await this.checkStillLoads(tenantId, request);
    const result = await this.requests.decide(tenantId, id, decision, user, this.deps.clock());
    switch (result.status) {
      case 'approved':
        return { status: 'published', publication: publicationView(result.publication) };
      case 'rejected':
        return { status: 'rejected', request: requestView(result.request) };
      case 'stale':
        throw new SettingsError(
          409,
          `request ${id} is stale: another version was published since it was made; request it again`,
        );
      case 'not_pending':
        throw new SettingsError(409, `request ${id} is already ${result.request.state}`);
      case 'own_request':
        throw new SettingsError(409, `you made request ${id}: a second admin must approve it`);
      case 'not_found':
        throw new SettingsError(404, `no publication request ${id} in this tenant`);
      default: {
        const never: never = result;
        throw new Error(`unexpected decision ${String(never)}`);
      }
    }
  }

  /** The requested rule set must still load against the team it would be published with. */
  private async checkStillLoads(tenantId: string, request: PublicationRequest): Promise<void> {
    const rules = await this.storage.getRuleset(tenantId, request.rulesetVersion);
    const teamSource =
      request.teamVersion === null
        ? null
        : ((await this.config.teamVersion(tenantId, request.teamVersion))?.source ?? null);
    let team = (await this.activeTeam(tenantId)).team;
    if (teamSource !== null) {
      const loaded = loadTeam(teamSource, TEAM_FILE);
      if (!loaded.ok) throw new SettingsError(422, 'the requested team does not load', loaded.errors);
      team = loaded.team;
    }
    if (rules === null) throw new SettingsError(404, `no rule set version ${request.rulesetVersion}`);
    const loaded = this.load(rules.source, team, await this.crm(tenantId));
    if ('errors' in loaded)
      throw new SettingsError(422, 'the requested rule set does not load any more', loaded.errors);
  }

  private published(result: Awaited<ReturnType<TenantConfigRepository['publish']>>): Publication {
    switch (result.status) {
      case 'published':
        return result.publication;
      case 'conflict':
        throw new SettingsError(
          409,
          `another version (${result.active ?? 'none'}) was published since you started: reload and apply your changes again`,
        );
      case 'unknown_version':
        throw new SettingsError(404, `no ${result.what} version ${result.version}`);
      default: {
        const never: never = result;
        throw new Error(`unexpected publish result ${String(never)}`);
      }
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Simulation and impact

  async simulate(
    tenantId: string,
    input: {
      source: string;
      leads?: Record<string, string | number | boolean | null>[] | undefined;
      csv?: string | undefined;
      limit: number;
    },
  ): Promise<z.infer<typeof simulateResponseSchema>> {
    const { ruleSet, team } = await this.loadOrRefuse(tenantId, input.source);
    const now = this.deps.clock();
    const problems: z.infer<typeof simulateResponseSchema>['problems'] = [];
    const given = (raw: Record<string, unknown>, name: string) => {
      const lead = toLead(raw);
      return { lead: lead.id === '' ? { ...lead, id: name } : lead, accounts: undefined, at: now };
    };
    let cases: { lead: Lead; accounts: AccountIndex | undefined; at: number }[];
    if (input.csv !== undefined) {
      const rows = csvLeads(input.csv);
      problems.push(...rows.problems);
      cases = rows.leads.map((r) => given(r.record, `row-${r.line}`));
    } else if (input.leads !== undefined) cases = input.leads.map((raw, i) => given(raw, `row-${i + 1}`));
    else
      cases = (await this.inputs.recent(tenantId, input.limit))
        .reverse()
        .map((d) => ({ lead: d.lead, accounts: matcherFor(d), at: d.decidedAt }));
    let state = (await this.storage.loadRoutingState(tenantId)).state;
    return {
      decisions: cases.map(({ lead, accounts, at }) => {
        const decision = decide(lead, ruleSet, { team, state, accounts }, at);
        state = applyStateChanges(state, decision.stateChanges);
        return {
          leadId: lead.id,
          email: lead.email ?? null,
          outcome: outcomeOf(decision),
          explanation: explainDecision(decision, lead, team),
        };
      }),
      problems,
    };
  }

  /**
   * The tenant's last `limit` decided leads decided again, oldest first, under the published rule set and
   * under the draft, each from the current rotation: every lead whose owner, sequence or SLA differs.
   * Both teams are joined with the CRM's users as routing joins them (and as the Team page shows them):
   * a rep the CRM deactivated gets no lead under either.
   */
  async preview(
    tenantId: string,
    source: string,
    limit: number,
  ): Promise<z.infer<typeof previewResponseSchema>> {
    const started = performance.now();
    const { ruleSet: draft, team } = await this.loadOrRefuse(tenantId, source);
    const active = await this.storage.activeRuleset(tenantId);
    if (active === null) throw new SettingsError(409, 'nothing is published yet to compare with');
    const { ruleSet: published, team: publishedTeam } = await this.loadOrRefuse(tenantId, active.source);
    const leads = (await this.inputs.recent(tenantId, limit)).reverse();
    const { state } = await this.storage.loadRoutingState(tenantId);
    const { directory } = await this.crmUsers(tenantId);
    const asRouted = (t: Team): Team => (directory === null ? t : mergeDirectory(t, directory).team);
    const result = comparePreview(
      leads,
      { ruleSet: published, team: asRouted(publishedTeam) },
      { ruleSet: draft, team: asRouted(team) },
      state,
    );
    return { ...result, ms: Math.round((performance.now() - started) * 10) / 10 };
  }

  // -------------------------------------------------------------------------------------------------
  // Team

  async team(tenantId: string): Promise<z.infer<typeof teamResponseSchema>> {
    const { team, version, source } = await this.activeTeam(tenantId);
    const active = await this.storage.activeRuleset(tenantId);
    const loaded = active === null ? null : this.load(active.source, team);
    const ruleSet = loaded !== null && 'ruleSet' in loaded ? loaded.ruleSet : null;
    const listed = ruleSet?.team ?? team;
    // The CRM's users joined in: new ones appear (available, weight 1, until edited here), and a rep
    // the CRM deactivated or does not know is marked, as routing sees them.
    const crm = await this.crmUsers(tenantId);
    const effective = crm.directory === null ? listed : mergeDirectory(listed, crm.directory).team;
    const { state } = await this.storage.loadRoutingState(tenantId);
    const now = this.deps.clock();
    const skipped = (email: string, respectHours: boolean): string | null => {
      const check = checkRep(effective.reps[email], email, state.reps[email], now, { respectHours });
      if (check.skipped === undefined) return null;
      const reason = check.skipped.replace(/_/g, ' ');
      // Details often start with the reason ("out of office 2026-12-23..2027-01-02"): say it once.
      if (check.detail === undefined) return reason;
      return check.detail.startsWith(reason) ? check.detail : `${reason}: ${check.detail}`;
    };
    // Each member's leads from the pool in the last 24 hours against the weighted target (the pool's
    // leads shared by weight, an inactive rep's share none), as the distribution report counts them from
    // the decisions: a rep's own day counter counts every route's leads, not the pool's.
    const counts = await this.storage.reports.poolAssignments(tenantId, {
      since: now - DAY_MS,
      until: now + 1,
    });
    const distribution = distributionOfCounts(counts, {
      team: effective,
      ...(ruleSet === null ? {} : { ruleSet }),
    });
    const share = new Map(distribution.rows.map((r) => [`${String(r['pool'])} ${String(r['rep'])}`, r]));
    const pools = Object.values(ruleSet?.pools ?? {}).map((pool) => {
      const owed = state.pools[pool.name]?.weighted?.owed ?? {};
      const members = pool.members.map((email) => {
        const row = share.get(`${pool.name} ${email}`);
        return {
          email,
          weight: effective.reps[email]?.weight ?? 0,
          assigned: Number(row?.['assigned'] ?? 0),
          target: Math.round(Number(row?.['expected'] ?? 0) * 10) / 10,
          owed: Math.round((owed[email] ?? 0) * 100) / 100,
          skippedNow: skipped(email, pool.respectHours),
        };
      });
      return {
        name: pool.name,
        strategy: pool.strategy,
        next: nextOf(pool.name, ruleSet, effective, state, now),
        members,
      };
    });
    return {
      version,
      source,
      reps: Object.values(effective.reps).map((rep) => ({
        email: rep.email,
        name: rep.name ?? null,
        timezone: rep.timezone,
        hours: rep.hours.map(formatHours),
        outOfOffice: rep.outOfOffice.map((r) => (r.from === r.to ? r.from : `${r.from}..${r.to}`)),
        weight: rep.weight,
        capPerDay: rep.caps.perDay ?? null,
        capPerWeek: rep.caps.perWeek ?? null,
        active: rep.active,
        inactiveReason: rep.active ? null : (rep.inactiveReason ?? 'inactive in the team file'),
        inTeam: Object.hasOwn(listed.reps, rep.email),
        skippedNow: skipped(rep.email, true),
      })),
      pools,
      crm: { syncedAt: crm.directory?.fetchedAt ?? null, error: crm.error },
    };
  }

  /** The CRM's users now, else as the worker last stored them (with why the live listing failed). */
  private async crmUsers(tenantId: string): Promise<{ directory: Directory | null; error: string | null }> {
    if (this.deps.directory === undefined)
      return { directory: await this.storage.loadDirectory(tenantId), error: null };
    try {
      return {
        directory: { ...(await this.deps.directory(tenantId)), fetchedAt: this.deps.clock() },
        error: null,
      };
    } catch (error) {
      return {
        directory: await this.storage.loadDirectory(tenantId),
        error: `the CRM's users could not be listed: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
  }

  /** Changes one rep and publishes the team as a new version (with the active rule set), if both load. */
  async editRep(
    tenantId: string,
    email: string,
    patch: z.infer<typeof repPatchRequestSchema>,
    user: string,
  ): Promise<PublishOutcome> {
    const { source, team: before } = await this.activeTeam(tenantId);
    if (source === null)
      throw new SettingsError(
        409,
        'this tenant routes with a team inside its rule set: edit it on the Rules page',
      );
    const active = await this.storage.activeRuleset(tenantId);
    if (active === null) throw new SettingsError(409, 'nothing is published yet');
    let edited: string;
    try {
      edited = editRep(source, email, patch);
    } catch (error) {
      throw new SettingsError(422, (error as Error).message);
    }
    const team = loadTeam(edited, TEAM_FILE);
    if (!team.ok) throw new SettingsError(422, 'the team would be invalid', team.errors);
    const rep = email.toLowerCase();
    // Checked as a publication is, against the tenant's CRM: the same warnings go with the answer.
    const crm = await this.crm(tenantId);
    const { loaded: rules, warnings } = await this.loadAgainstCrm(
      tenantId,
      active.source,
      team.team,
      edited,
      crm,
    );
    if ('errors' in rules)
      throw new SettingsError(422, 'the published rule set does not fit this team', rules.errors);
    return this.submit(
      tenantId,
      {
        rules: { version: active.version },
        team: { version: teamVersion(edited), source: edited },
        publishedBy: user,
        note: `team: ${rep} edited (${changedFields(patch, before.reps[rep], team.team.reps[rep]).join(', ') || 'nothing changed'})`,
        basedOn: active.version,
      },
      [...team.warnings, ...warnings],
    );
  }

  // -------------------------------------------------------------------------------------------------
  // Activity

  async activity(
    tenantId: string,
    query: z.infer<typeof activityQuerySchema>,
  ): Promise<z.infer<typeof activityResponseSchema>> {
    const found = await this.inputs.search(tenantId, {
      text: query.q,
      route: query.route,
      owner: query.owner,
      from: query.from,
      to: query.to,
      limit: query.limit,
    });
    const keys = found.map((f) => f.decisionKey);
    const [records, actions, dead] = await Promise.all([
      this.storage.findDecisions(tenantId, keys),
      this.storage.actionsForDecisions(tenantId, keys),
      this.health.deadLetteredLeads(
        tenantId,
        found.map((f) => f.leadId),
      ),
    ]);
    const writesOf = (
      leadId: string,
      decisionKey: string,
      decidedAt: number,
    ): z.infer<typeof activityResponseSchema>['leads'][number]['writes'] => {
      // A dead letter older than the decision is of work the lead was routed past since.
      const letter = dead.get(leadId);
      if (letter !== undefined && letter.at >= decidedAt)
        return { state: 'dead_letter', detail: letter.reason };
      const mine = actions.get(decisionKey) ?? [];
      const failed = mine.find((a) => a.status === 'failed');
      if (failed !== undefined)
        return { state: 'failed', detail: `${failed.kind}: ${failed.reason ?? 'no reason recorded'}` };
      if (mine.some((a) => a.status === 'planned')) return { state: 'pending', detail: null };
      return { state: 'done', detail: null };
    };
    return {
      leads: found.flatMap((f) => {
        const r = records.get(f.decisionKey);
        if (r === undefined) return [];
        return [
          {
            leadId: f.leadId,
            email: f.lead.email ?? null,
            name: [f.lead.firstName, f.lead.lastName].filter((x) => x !== undefined && x !== '').join(' '),
            company: f.lead.company ?? null,
            decidedAt: r.decidedAt,
            route: r.route?.name ?? null,
            owner: r.owner,
            destination: resolvedText(r.destination),
            rulesetVersion: r.ruleSet.version,
            summary: r.summary,
            writes: writesOf(f.leadId, f.decisionKey, r.decidedAt),
          },
        ];
      }),
    };
  }

  async lead(tenantId: string, leadId: string): Promise<z.infer<typeof leadDetailResponseSchema>> {
    const records = await this.storage.decisionsFor(tenantId, { leadId }, 20);
    if (records.length === 0) throw new SettingsError(404, `no decision recorded for lead ${leadId}`);
    const { team } = await this.activeTeam(tenantId);
    const actions = await this.storage.actionsForDecisions(
      tenantId,
      records.map((r) => r.decisionKey),
    );
    const kept = new Map(
      (await this.inputs.search(tenantId, { text: leadId, limit: 50 })).map((i) => [i.decisionKey, i.lead]),
    );
    return {
      leadId,
      decisions: records.map((r) => ({
        decisionKey: r.decisionKey,
        decidedAt: r.decidedAt,
        route: r.route?.name ?? null,
        destination: resolvedText(r.destination),
        rulesetVersion: r.ruleSet.version,
        summary: r.summary,
        explanation: explainRecord(r, kept.get(r.decisionKey), team),
        actions: (actions.get(r.decisionKey) ?? []).map((a) => ({
          kind: a.kind,
          status: a.status,
          crmId: a.crmId,
          error: a.status === 'done' ? null : a.reason,
          note: a.status === 'done' ? a.reason : null,
        })),
      })),
    };
  }

  /**
   * Routes a decided lead again under the active rules, through the worker as a one-lead bulk job: once,
   * and a decision that lands on an owner the lead may keep writes nothing. The job is named after the
   * lead's last decision, so a repeated click or a retried request re-routes it once (`queued: false`,
   * the same job); once that job has decided, the lead can be re-routed again.
   */
  async reroute(tenantId: string, leadId: string): Promise<{ queued: boolean; job: string }> {
    const [last] = await this.storage.decisionsFor(tenantId, { leadId }, 1);
    if (last === undefined) throw new SettingsError(404, `no decision recorded for lead ${leadId}`);
    const job = `reroute-${last.id}`;
    const queued =
      (
        await this.storage.enqueue(
          [{ tenantId, event: bulkEvent(job, leadId, this.deps.clock()) }],
          this.deps.clock(),
        )
      ).length > 0;
    if (queued) this.deps.onEnqueued?.();
    return { queued, job };
  }

  // -------------------------------------------------------------------------------------------------
  // Health

  async healthOf(tenantId: string): Promise<z.infer<typeof healthResponseSchema>> {
    const now = this.deps.clock();
    const read = this.storage.getTenant(tenantId);
    const [tenant, streams, stats, oldest, dead, failed, calls, crm] = await Promise.all([
      read,
      read.then((t) => (t === null ? null : this.streamsOf(t, now))),
      this.storage.inboxStats(tenantId),
      this.health.oldestPendingAt(tenantId),
      this.storage.deadLetters(tenantId, 50),
      this.health.failedActions(tenantId, 20),
      // Every process's calls, as recorded per minute in the database (see pipeline/crm-call-tally.ts).
      this.crmCalls.totalsSince(tenantId, now - CRM_CALLS_WINDOW_MS),
      this.deps.crmStatus?.(tenantId) ?? Promise.resolve({ ok: true, detail: 'not checked' }),
    ]);
    // Whom each dead letter is about, and whether Re-route can decide it again (it needs a decision).
    const decidedLeads = await this.storage.decisions.latestOf(
      tenantId,
      dead.map((d) => d.event.objectId),
    );
    const errors = {
      transient: calls.transient,
      auth: calls.auth,
      notFound: calls.not_found,
      invalid: calls.invalid,
      other: calls.other,
    };
    return {
      crm: { ok: crm.ok, detail: crm.detail },
      paused: tenant?.pause ?? null,
      inbox: {
        pending: stats.pending,
        leased: stats.leased,
        failed: stats.failed,
        oldestPendingAgeMs: oldest === null ? null : Math.max(0, now - oldest),
      },
      deadLetters: dead.map((d) => {
        const decided = decidedLeads.get(d.event.objectId);
        const detail = d.lastError ?? 'no reason recorded';
        return {
          id: d.id,
          leadId: d.event.objectId,
          email: decided?.email ?? null,
          reason: readableReason(detail),
          detail,
          attempts: d.attempts,
          failedAt: d.updatedAt,
          reroutable: decided !== undefined,
        };
      }),
      failedActions: failed,
      stream:
        streams === null
          ? null
          : {
              setupCheck: streams.setupCheck,
              channels: streams.states.map((st) => ({
                channel: st.channel,
                readSince: st.lease?.takenAt ?? null,
                lapsedAt: st.lapsedAt,
                subscribedAt: st.lease?.subscribedAt ?? null,
                notSubscribed: streamFailure(st, now),
                missed:
                  st.lease?.missed == null
                    ? null
                    : { ...st.lease.missed, recent: streamSilence(st, now) !== null },
                recordedAt: st.cursor?.updatedAt ?? null,
                lastEventAt: st.cursor?.replayAt ?? null,
                coveredUntil: st.cursor?.coveredUntil ?? null,
              })),
            },
      crmCalls: {
        windowMinutes: CRM_CALLS_WINDOW_MS / 60_000,
        ok: calls.ok,
        rateLimited: calls.rate_limited,
        error: Object.values(errors).reduce((a, b) => a + b, 0),
        errors,
      },
    };
  }

  /** The tenant's pulled stream on each channel its CRM's profile names; null for a CRM that pushes. */
  private async streamsOf(
    tenant: Pick<Tenant, 'id' | 'provider'>,
    now: number,
  ): Promise<{ setupCheck: string; states: StreamState[] } | null> {
    const pulled = this.deps.crmProfile?.(tenant.provider)?.pulledStream;
    if (pulled === undefined) return null;
    const channels = pulled.channels.map((channel) => ({ provider: tenant.provider, channel }));
    return {
      setupCheck: pulled.setupCheck,
      states: await this.storage.streamStates(channels, now, tenant.id),
    };
  }

  /**
   * Queues a dead letter again. One whose lead was routed again since is refused (409) and left as it
   * is: its writes would undo the newer decision, and Re-route is what decides the lead again.
   */
  async replay(tenantId: string, id: number): Promise<{ replayed: true }> {
    const outcome = await this.storage.replay(tenantId, id, this.deps.clock());
    if (outcome.status === 'unknown') throw new SettingsError(404, `no dead letter ${id} in this tenant`);
    if (outcome.status === 'superseded')
      throw new SettingsError(
        409,
        `dead letter ${id} not replayed: lead ${outcome.leadId} was ${outcome.reason.slice(SUPERSEDED.length)}, and a replay would write the older decision over it. To decide the lead again under the current rules, use Re-route on the Activity page.`,
      );
    return { replayed: true };
  }
}

function publicationView(p: Publication): z.infer<typeof rulesResponseSchema>['publications'][number] {
  return {
    id: p.id,
    rulesetVersion: p.rulesetVersion,
    teamVersion: p.teamVersion,
    publishedBy: p.publishedBy,
    publishedAt: p.publishedAt,
    note: p.note,
    approvedBy: p.approvedBy,
  };
}

function requestView(r: PublicationRequest): z.infer<typeof rulesResponseSchema>['requests'][number] {
  return {
    id: r.id,
    rulesetVersion: r.rulesetVersion,
    teamVersion: r.teamVersion,
    requestedBy: r.requestedBy,
    requestedAt: r.requestedAt,
    note: r.note,
    state: r.state,
    decidedBy: r.decidedBy,
    decidedAt: r.decidedAt,
  };
}

const sameUser = (a: string, b: string): boolean => a.trim().toLowerCase() === b.trim().toLowerCase();

export type PublishOutcome = z.infer<typeof publishResponseSchema>;

/** Most leads a CSV may hold: a simulation answers while the admin waits. */
export const MAX_CSV_LEADS = 1000;

/**
 * The leads of a CSV (the CLI's reader: a header row, quotes, a BOM), and its rows that do not read or
 * whose typed columns (employees, revenue, score, created) do not parse, each with line and column.
 * A CSV that cannot be read at all (an unclosed quote) is refused whole.
 */
export function csvLeads(text: string): {
  leads: { record: Record<string, unknown>; line: number }[];
  problems: { line: number; column: string | null; message: string }[];
} {
  let file: ReturnType<typeof parseCsv>;
  try {
    file = parseCsv(text, 'the CSV');
  } catch (error) {
    if (error instanceof InputError) throw new SettingsError(422, error.message);
    throw error;
  }
  if (file.rows.length > MAX_CSV_LEADS)
    throw new SettingsError(
      422,
      `the CSV has ${file.rows.length} leads; simulate at most ${MAX_CSV_LEADS} at a time (the impact preview takes up to 10,000 recent leads)`,
    );
  if (file.rows.length === 0 && file.problems.length === 0)
    throw new SettingsError(422, 'the CSV has no leads: a header row, then one lead per row');
  const problems = file.problems.map((p) => ({ line: p.line, column: p.column ?? null, message: p.message }));
  const leads = file.rows.filter((row) => {
    const bad = leadProblems(row, toLead(row.record));
    for (const p of bad) problems.push({ line: p.line, column: p.column ?? null, message: p.message });
    return bad.length === 0;
  });
  problems.sort((a, b) => a.line - b.line);
  return { leads, problems };
}

/** The stored decision explained, with the lead it was decided on when that was kept. */
function explainRecord(r: DecisionRecord, lead: Lead | undefined, team: Team): string {
  const decision: Decision = {
    leadId: r.leadId,
    ruleSet: r.ruleSet,
    decidedAt: r.decidedAt,
    route: r.route,
    destination: r.destination,
    actions: r.actions,
    sla: r.sla ?? undefined,
    trace: r.trace,
    fallbacks: [],
    stateChanges: { pools: {}, reps: {} },
  };
  return explainDecision(decision, lead ?? { id: r.leadId, email: r.email ?? undefined, fields: {} }, team);
}

const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const hhmm = (m: number): string =>
  `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/** Working hours in the team file's own notation (`Mon-Fri 09:00-17:30`), which it parses back. */
function formatHours(h: { days: number[]; start: number; end: number }): string {
  const days = [...h.days].sort((a, b) => a - b);
  const first = days[0] ?? 1;
  const last = days[days.length - 1] ?? 1;
  const contiguous = days.length > 1 && last - first + 1 === days.length;
  const dayText = contiguous
    ? `${DAYS[first - 1]}-${DAYS[last - 1]}`
    : days.map((d) => DAYS[d - 1]).join(',');
  return `${dayText} ${hhmm(h.start)}-${hhmm(h.end)}`;
}

/** Who a pool would pick now, without taking the turn. */
function nextOf(
  pool: string,
  ruleSet: RuleSet | null,
  team: Team,
  state: RoutingState,
  now: number,
): string | null {
  const spec = ruleSet?.pools[pool];
  return spec === undefined ? null : (pickFromPool(spec, team, state, now).chosen ?? null);
}

/** The preview's comparison: pure, so the bench measures it and the tests check it apart from HTTP. */
export function comparePreview(
  leads: readonly DecidedLead[],
  published: { ruleSet: RuleSet; team: Team },
  draft: { ruleSet: RuleSet; team: Team },
  state: RoutingState,
): Omit<z.infer<typeof previewResponseSchema>, 'ms'> {
  let before = state;
  let after = state;
  const changed: z.infer<typeof previewResponseSchema>['changed'] = [];
  const perRep = new Map<string, { published: number; draft: number }>();
  const count = (rep: string | null, which: 'published' | 'draft'): void => {
    if (rep === null) return;
    const c = perRep.get(rep) ?? { published: 0, draft: 0 };
    c[which]++;
    perRep.set(rep, c);
  };
  for (const input of leads) {
    const accounts = matcherFor(input);
    const a = decide(
      input.lead,
      published.ruleSet,
      { team: published.team, state: before, accounts },
      input.decidedAt,
    );
    const b = decide(
      input.lead,
      draft.ruleSet,
      { team: draft.team, state: after, accounts },
      input.decidedAt,
    );
    before = applyStateChanges(before, a.stateChanges);
    after = applyStateChanges(after, b.stateChanges);
    const was = outcomeOf(a);
    const will = outcomeOf(b);
    count(was.owner, 'published');
    count(will.owner, 'draft');
    const fields: ('owner' | 'sequence' | 'sla')[] = [];
    if (was.destination !== will.destination) fields.push('owner');
    if (was.sequence !== will.sequence) fields.push('sequence');
    if (was.slaMinutes !== will.slaMinutes) fields.push('sla');
    if (fields.length > 0)
      changed.push({
        leadId: input.leadId,
        email: input.lead.email ?? null,
        published: was,
        draft: will,
        fields,
      });
  }
  return {
    leads: leads.length,
    changed,
    perRep: [...perRep]
      .map(([rep, c]) => ({ rep, ...c }))
      .sort((x, y) => y.draft - y.published - (x.draft - x.published) || x.rep.localeCompare(y.rep)),
  };
}
