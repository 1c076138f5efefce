// The rule file and its team checked against the CRM accounts that route with them, outside the settings
// tab: the tab warns of a rule naming a field the org lacks (the loader's check against the account's
// own fields) and of a team's rep, manager or queue owner, or a person a rule names, who is no active
// user or queue of it (against the account's directory), but an operator running from RULES and TEAM
// reads only the log. At start, and at an install while running, each such rule or person is logged;
// the check never stops or delays routing.
import type { AccountFields, ConnectorProfile, CrmConnector, Directory } from '../../connectors/connector.js';
import type { Team } from '../core/types.js';
import type { Logger } from '../log.js';
import {
  formatDiagnostic,
  loadRuleSet,
  OWNER_ROLES,
  teamVersion,
  unknownOwnerWarnings,
  type Diagnostic,
} from '../rules/index.js';
import type { Storage, Tenant, TeamVersion } from '../storage/index.js';

/** How long a check waits for an account's fields: a CRM that does not answer only loses the check. */
export const RULE_FIELDS_WAIT_MS = 30_000;

/** The rule file as the app routes with it. */
export interface RuleFile {
  path: string;
  source: string;
  /** Its content hash: a tenant whose active rule set has it routes with this file. */
  version: string;
  /** The team it is loaded against (TEAM, or a team.yaml beside the rules; else its own). */
  team: Team | undefined;
  /** That team's file and text, when it is one (else the team, if any, is inline in the rules). */
  teamFile?: { path: string; source: string } | undefined;
}

/**
 * The rules' warnings of the account's fields: a name it has no field of, and a field it gives as several
 * values compared as if it held one. The settings tab's check, on the file.
 */
export function accountFieldWarnings(
  rules: Omit<RuleFile, 'version'>,
  profile: ConnectorProfile,
  fields: AccountFields,
): Diagnostic[] {
  const loaded = loadRuleSet(rules.source, rules.path, {
    team: rules.team,
    requireQueueTargets: true,
    crm: { ...profile, accountFields: fields },
  });
  return loaded.warnings.filter((d) => d.missingField !== undefined || d.multiValueField !== undefined);
}

/**
 * The account's fields through its connector, waiting at most `waitMs`; why not, when they cannot be had.
 * Undefined when the connector cannot list them (any name may be a field there).
 */
export async function readAccountFields(
  connector: Pick<CrmConnector, 'accountFields'>,
  waitMs: number,
  /** Resolves when the wait should end now (the app stops). */
  stopped?: Promise<void>,
): Promise<AccountFields | { failed: string } | undefined> {
  const list = connector.accountFields?.bind(connector);
  if (list === undefined) return undefined;
  return readWithin(
    async () => (await list()) ?? { failed: 'the CRM would not list its fields' },
    waitMs,
    stopped,
  );
}

/** The account's users and queues (or teams) through its connector, as readAccountFields waits for them. */
export function readDirectory(
  connector: Pick<CrmConnector, 'directory'>,
  waitMs: number,
  stopped?: Promise<void>,
): Promise<Directory | { failed: string }> {
  return readWithin(() => connector.directory(), waitMs, stopped);
}

async function readWithin<T extends object>(
  read: () => Promise<T | { failed: string }>,
  waitMs: number,
  stopped: Promise<void> | undefined,
): Promise<T | { failed: string }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<{ failed: string }>((resolve) => {
    timer = setTimeout(resolve, waitMs, { failed: `no answer within ${Math.round(waitMs / 1000)} s` });
  });
  try {
    return await Promise.race([
      read().catch((error: unknown) => ({ failed: error instanceof Error ? error.message : String(error) })),
      late,
      ...(stopped === undefined ? [] : [stopped.then(() => ({ failed: 'stopped' }))]),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RuleFieldCheckOptions {
  rules: RuleFile;
  storage: Pick<Storage, 'listTenants' | 'getTenant'>;
  /** The team version the tenant routes with (TenantConfigRepository.activeTeam); null: none stored. */
  activeTeam: (tenantId: string) => Promise<Pick<TeamVersion, 'version' | 'source'> | null>;
  /** The profile of the CRM a tenant's provider names (undefined: none registered). */
  profile: (provider: string) => ConnectorProfile | undefined;
  /** The tenant's connector, as its work gets it. */
  connector: (tenant: Tenant) => Promise<Pick<CrmConnector, 'accountFields' | 'directory'>>;
  logger: Logger;
  waitMs?: number | undefined;
}

/**
 * Logs, per tenant routing with the rule file (not a version the settings tab published, which it
 * checked), each rule naming a field its CRM account lacks, each rep, manager and queue target of the
 * team it routes with (its own published version, else the file's) and each person the rules name that
 * names no one there. Only accounts whose connector lists their fields are checked (the directory is
 * read beside them). One tenant at a time in the background.
 */
export class RuleFieldCheck {
  private running: Promise<void> = Promise.resolve();
  private swept = false;
  private stopped = false;
  private readonly stopping: Promise<void>;
  private endWaits: () => void = () => undefined;
  /**
   * The warnings logged, per tenant, for the rules and team it routes with now: an org installed again
   * while the app runs is checked again, but a warning it was given already is not repeated (one line per
   * problem and process). Only the current versions' are kept, so a tenant whose team the settings tab
   * publishes again and again does not grow it.
   */
  private readonly logged = new Map<string, { versions: string; warnings: Set<string> }>();

  constructor(private readonly opts: RuleFieldCheckOptions) {
    this.stopping = new Promise((resolve) => {
      this.endWaits = resolve;
    });
  }

  /** Every installed tenant (at start, once its connectors can be built). */
  sweep(): void {
    this.swept = true;
    this.then(async () => {
      for (const tenant of await this.opts.storage.listTenants()) await this.check(tenant);
    });
  }

  /** A tenant installed while running; before the start-up sweep, it is left to the sweep. */
  installed(tenantId: string): void {
    if (!this.swept) return;
    this.then(async () => {
      const tenant = await this.opts.storage.getTenant(tenantId);
      if (tenant !== null) await this.check(tenant);
    });
  }

  /** Ends the checks at once (a CRM still asked is not waited for). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.endWaits();
    await this.running;
  }

  private then(step: () => Promise<void>): void {
    const logged = (): Promise<void> =>
      step().catch((error: unknown) => {
        if (!this.stopped) this.opts.logger.warn(`could not check rule fields: ${String(error)}`);
      });
    this.running = this.running.then(logged);
  }

  private async check(tenant: Tenant): Promise<void> {
    const { rules, logger } = this.opts;
    // A paused tenant's credentials are refused for now; its pause checks are what try them again.
    if (this.stopped || tenant.uninstalledAt !== null || !tenant.hasToken || tenant.pause !== null) return;
    if (tenant.activeRulesetVersion !== rules.version) {
      // Routing with rules the settings tab published: what it was told of the file is over.
      this.logged.delete(tenant.id);
      return;
    }
    const profile = this.opts.profile(tenant.provider);
    if (profile === undefined) return;
    const meta = {
      tenantId: tenant.id,
      provider: tenant.provider,
      account: tenant.externalId,
      file: rules.path,
    };
    let fields: Awaited<ReturnType<typeof readAccountFields>>;
    let directory: Directory | { failed: string } | undefined;
    try {
      const connector = await this.opts.connector(tenant);
      const waitMs = this.opts.waitMs ?? RULE_FIELDS_WAIT_MS;
      fields = await readAccountFields(connector, waitMs, this.stopping);
      if (fields !== undefined && !this.stopped)
        directory = await readDirectory(connector, waitMs, this.stopping);
    } catch (error) {
      fields = { failed: error instanceof Error ? error.message : String(error) };
    }
    if (fields === undefined || this.stopped) return;
    if ('failed' in fields) {
      logger.warn(`could not check rule fields: ${fields.failed}`, meta);
      return;
    }
    const problems = accountFieldWarnings(rules, profile, fields);
    const read = directory === undefined || 'failed' in directory ? undefined : directory;
    const team = await this.routedTeam(tenant);
    const isNew = this.unlogged(tenant.id, `${rules.version}/${team?.version ?? 'file'}`);
    for (const d of problems.filter(isNew))
      logger.warn(
        d.missingField !== undefined
          ? `rule names a field this ${profile.crmName} ${profile.accountNoun} does not have`
          : `rule compares a multi-select field of this ${profile.crmName} ${profile.accountNoun} as one value`,
        {
          ...meta,
          line: d.line,
          column: d.column,
          path: d.path,
          field: d.missingField ?? d.multiValueField,
          ...(d.suggestion === undefined ? {} : { suggestion: d.suggestion }),
          warning: formatDiagnostic(d),
        },
      );
    // The team's people where it routes with them, and the people the rule file itself names.
    const owners =
      read === undefined
        ? []
        : unknownOwnerWarnings(
            { team: team?.file, rules: { path: rules.path, source: rules.source, team: rules.team } },
            { ...profile, directory: read },
          );
    if (directory !== undefined && 'failed' in directory)
      logger.warn(`could not check the team's reps, managers and queue owners: ${directory.failed}`, meta);
    for (const d of owners.filter(isNew)) {
      const role = d.ownerRole ?? 'queue owner';
      const from = OWNER_ROLES[role];
      logger.warn(
        `${from} names ${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role} this ${profile.crmName} ${profile.accountNoun} does not have`,
        {
          ...meta,
          ...(from === 'team' && team?.version !== undefined ? { teamVersion: team.version } : {}),
          file: d.file,
          line: d.line,
          column: d.column,
          path: d.path,
          owner: d.unknownOwner,
          ...(d.suggestion === undefined ? {} : { suggestion: d.suggestion }),
          warning: formatDiagnostic(d),
        },
      );
    }
    logger.info('rule fields checked', { ...meta, problems: problems.length, owners: owners.length });
  }

  /**
   * Whether a warning is news to the tenant routing with `versions` (its rules and team): told once, it
   * is not told again while they stay; what it was told of earlier versions is forgotten.
   */
  private unlogged(tenantId: string, versions: string): (d: Diagnostic) => boolean {
    let seen = this.logged.get(tenantId);
    if (seen?.versions !== versions) {
      seen = { versions, warnings: new Set() };
      this.logged.set(tenantId, seen);
    }
    const { warnings } = seen;
    return (d) => {
      const key = formatDiagnostic(d);
      if (warnings.has(key)) return false;
      warnings.add(key);
      return true;
    };
  }

  /**
   * The team the tenant routes with, in the file that holds it: the version the settings tab published
   * since the install (publishedTeam), else the team file, else the rules when they carry their own
   * team. Undefined when there is none.
   */
  private async routedTeam(
    tenant: Tenant,
  ): Promise<{ file: { path: string; source: string }; version?: string } | undefined> {
    const { rules } = this.opts;
    const published = publishedTeam(await this.opts.activeTeam(tenant.id), rules.teamFile?.source);
    if (published !== undefined) return { file: published, version: published.version };
    if (rules.teamFile !== undefined) return { file: rules.teamFile };
    return rules.team === undefined ? { file: { path: rules.path, source: rules.source } } : undefined;
  }
}

/**
 * The team version a tenant routes with instead of the team file (`teamFile`: its text; undefined when
 * the team is the rules' own, or none): the one the settings tab published since the install, named
 * `team <version>` as routing names it. Undefined when none is stored, or when the stored one is still
 * the file's text (the install publishes the file as it was: its lines are the file's). What start-up and
 * `validate --tenant` check.
 */
export function publishedTeam(
  stored: Pick<TeamVersion, 'version' | 'source'> | null,
  teamFile: string | undefined,
): { path: string; source: string; version: string } | undefined {
  if (stored === null || (teamFile !== undefined && teamVersion(teamFile) === stored.version))
    return undefined;
  return { path: `team ${stored.version}`, source: stored.source, version: stored.version };
}
