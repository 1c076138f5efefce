// The `lead-router` command line. `main` returns the exit code so tests can run it in-process.
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { formatDiagnostic, type Diagnostic } from '../rules/diagnostics.js';
import { loadTeamFile, readRuleSetFile, type RuleSetFile } from '../rules/load-file.js';
import { loadTeam, oncePerPerson, type LoadOptions, type TeamLoadResult } from '../rules/load.js';
import type { RuleSet, Team } from '../core/types.js';
import { TokenCryptoError } from '../../connectors/shared/crypto.js';
import { ConfigError, loadConfig, teamFileBeside, tokenKeyring, type AppConfig } from '../app/config.js';
import { CRM_PROFILES, crmProfile, type CrmName } from '../app/crm-profiles.js';
import { operatorConnection, sandboxReachHint } from '../app/operator-crms.js';
import { publishedTeam, readAccountFields, readDirectory, RULE_FIELDS_WAIT_MS } from '../app/rule-fields.js';
import type { CrmFacts } from '../rules/index.js';
import { buildHubSpotProject, writeHubSpotProject } from '../app/hubspot-project.js';
import { holdProperties } from '../app/webhook-subscriptions.js';
import { openAppStorage, sqliteFile } from '../app/open-storage.js';
import { TenantConfigRepository, type Storage, type TeamVersion } from '../storage/index.js';
import { rotateKeys } from './keys.js';
import {
  explainLead,
  pickLeadTenant,
  frameOrigins,
  listDeadLetters,
  listTenants,
  pickTenant,
  replayDeadLetters,
} from './operate.js';
import { InputError } from './records-file.js';
import { simulate } from './simulate.js';
import { writeCsv } from '../reports/csv.js';
import { REPORT_GROUPS, REPORT_KINDS } from '../reports/reports.js';
import { parseReportRequest, ReportError, runReport } from '../reports/run.js';
import { followJob, parseSince, startBackfill, startReassignFrom } from './bulk.js';
import type { ProgressStream } from './progress.js';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  clock: () => number;
  /** Raw output (CSV, with its own line ends); without it, lines go to `out`. */
  write?: ((chunk: string) => void) | undefined;
  /** Where progress bars go (default stderr): redrawn on a terminal, plain lines elsewhere. */
  progress?: ProgressStream | undefined;
}

const defaultIo: Io = {
  out: (line) => process.stdout.write(line + '\n'),
  write: (chunk) => process.stdout.write(chunk),
  err: (line) => process.stderr.write(line + '\n'),
  clock: () => Date.now(),
  progress: process.stderr,
};

/** The clone this command runs from: where `npm start` keeps its data and finds the demo team. */
const CLONE = fileURLToPath(new URL('../..', import.meta.url));

function version(): string {
  const pkg = JSON.parse(readFileSync(resolve(CLONE, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/**
 * The app's configuration as the operator commands read it. Defaults that are paths (DATA_DIR, TEAM) are
 * taken in the clone, where `npm start` runs, so `explain` finds the app's data from any directory;
 * paths the operator sets are taken as given.
 */
function operatorConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const config = loadConfig(env);
  return {
    ...config,
    dataDir: env.DATA_DIR === undefined ? resolve(CLONE, config.dataDir) : config.dataDir,
    teamPath:
      env.TEAM === undefined && config.teamPath !== undefined
        ? resolve(CLONE, config.teamPath)
        : config.teamPath,
  };
}

/** `--tenant` of every command that reads one tenant's data. */
const TENANT_HELP = 'tenant id, HubSpot portal id or Salesforce org id (needed when several are installed)';

/** Exit codes: 0 ok, 1 invalid rules or input, 2 usage error. */
class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function report(io: Io, errors: Diagnostic[], warnings: Diagnostic[]): void {
  for (const d of errors) io.err(`error: ${formatDiagnostic(d)}`);
  for (const d of warnings) io.err(`warning: ${formatDiagnostic(d)}`);
}

async function loadTeamOrFail(io: Io, path: string): Promise<Team> {
  return teamOrFail(io, await loadTeamFile(path));
}

/** The team loaded, its warnings reported (unless `later`: with the rules'); else its errors, and exit 1. */
function teamOrFail(io: Io, result: TeamLoadResult, later = false): Team {
  if (!result.ok) {
    report(io, result.errors, result.warnings);
    throw new ExitCode(1);
  }
  if (!later) report(io, [], result.warnings);
  return result.team;
}

function loadRulesOrFail(
  io: Io,
  path: string,
  file: RuleSetFile,
  team: Team | undefined,
  crm?: LoadOptions['crm'],
  /** The team file's warnings, reported first: a person it and the rules name is warned of once there. */
  teamWarnings: Diagnostic[] = [],
): RuleSet {
  // With a team (given or inline) every queue needs a CRM target there; without one, validate says
  // that reps and queues were not checked.
  const result = file({ team, crm });
  // oncePerPerson keeps every team warning, in place, and drops only rule warnings.
  const warnings = oncePerPerson([...teamWarnings, ...result.warnings]);
  report(io, [], warnings.slice(0, teamWarnings.length));
  const ruleWarnings = warnings.slice(teamWarnings.length);
  if (!result.ok) {
    report(io, result.errors, ruleWarnings);
    io.err(`${path}: ${result.errors.length} error(s)`);
    throw new ExitCode(1);
  }
  report(io, [], ruleWarnings);
  return result.ruleSet;
}

/**
 * The team file a rule file routes with when none is given, as \`npm start\` finds it: a team.yaml beside
 * it, unless the rules carry their own team (told from the text, so rules with errors are still checked
 * against their own team).
 */
function teamFileFor(rulesPath: string, file: RuleSetFile): string | undefined {
  return file.hasInlineTeam ? undefined : teamFileBeside(rulesPath);
}

function program(io: Io): Command {
  const cli = new Command('lead-router')
    .description('Route new CRM leads to the right owner, and explain why.')
    .version(version(), '-V, --version', 'print the lead-router version')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .addHelpText(
      'after',
      `
Run \`lead-router help <command>\` for a command's options and examples.
explain and dead-letters read the running app's database: SQLite in DATA_DIR (default: data/ in the
clone) or PostgreSQL at DATABASE_URL, as \`npm start\` was given.`,
    );

  cli
    .command('validate')
    .description('check a rule file: errors with file:line:col, exit 1 on error')
    .argument('<rules>', 'rule set (YAML)')
    .option('--team <file>', 'team file to check rep references against')
    .addOption(
      new Option('--crm <crm>', 'the CRM the rules route for, to check fields and queues against').choices(
        Object.keys(CRM_PROFILES),
      ),
    )
    .option(
      '--tenant <id>',
      `also check the fields and people the rules name, and the reps, managers and queue owners of the team this tenant routes with, against its own CRM account: ${TENANT_HELP}`,
    )
    .addHelpText(
      'after',
      `
Reps and queues are checked against the team \`npm start\` would route with: --team, else the team
inline in the rules, else a team.yaml beside the rule file; with none, they are not checked, and the
OK line says so. With --tenant and no --team, against the team that tenant routes with: the version
stored for it when it is not that file's text (one the settings tab published, or the file as it was
when the tenant was installed; named team <version> in the warnings and the OK line). With --team, that
file, and the OK line says which version the tenant routes with meanwhile.

Fields are checked against the lead fields the CRM named by --crm reads: one it gives no value is a
warning, and a "did you mean" names only fields it reads (on Salesforce a custom field such as
Demo_Requested__c is read by its name). Without --crm, against every lead field. With --crm, a queue
must target what that CRM has: Salesforce has no teams, so its queues name an owner, a user's email or a
Lead queue's name or id.

With --tenant, the rules are checked for that tenant's CRM (as --crm) and a field its account does not
have is a warning with a "did you mean" among its own fields, as the settings tab warns: a Salesforce
org's Lead and Contact fields, a HubSpot portal's contact properties (an install that granted the
optional scope crm.schemas.contacts.read), asked through the tokens the app stored (the database as for
explain; the sandbox's org or portal while \`npm start\` runs). So is a team queue whose owner is neither a user (by email or
id) nor a Lead queue (by name, label or id) of the org, with a "did you mean" among its queues: its
leads would be dead letters; and a rep or a rep's manager who is no active user of the org, with a
"did you mean" among its active users: routing skips such a rep, and an escalation to such a manager
fails. So is each person the rules name, at the rule's line: a { rep } destination, an escalation rep,
a sequence's sender (and a pool member where no team lists them). An org that cannot be asked is an
error (exit 1).

Examples:
  lead-router validate rules/follow-the-sun/rules.yaml
  lead-router validate rules/salesforce-demo/rules.yaml --crm salesforce
  lead-router validate rules/salesforce-demo/rules.yaml --tenant 00D5g000004abcd`,
    )
    .action(async (rulesPath: string, opts: { team?: string; crm?: CrmName; tenant?: string }) => {
      const account = opts.tenant === undefined ? undefined : await tenantCrm(opts.tenant, opts.crm);
      const crm = account?.crm ?? (opts.crm === undefined ? undefined : CRM_PROFILES[opts.crm]);
      // Read once: looked in for an inline team, then loaded against the team found.
      const file = await readRuleSetFile(rulesPath);
      const teamPath = opts.team ?? teamFileFor(rulesPath, file);
      // The tenant routes with the team version stored for it (the tab's, or the file's at its install),
      // as start-up checks.
      const stored =
        account === undefined
          ? undefined
          : publishedTeam(
              account.team,
              teamPath === undefined ? undefined : await readFile(teamPath, 'utf8').catch(() => undefined),
            );
      // A team file named with --team is the one asked about (an edit about to be deployed, say): it is
      // checked, and the OK line says the tenant routes with another version still.
      const published = opts.team === undefined ? stored : undefined;
      const teamLoad =
        published !== undefined
          ? loadTeam(published.source, published.path, { crm })
          : teamPath === undefined
            ? undefined
            : await loadTeamFile(teamPath, { crm });
      const team = teamLoad === undefined ? undefined : teamOrFail(io, teamLoad, true);
      const rules = loadRulesOrFail(io, rulesPath, file, team, crm, teamLoad?.warnings);
      const counts = `${rules.routes.length} routes, ${Object.keys(rules.pools).length} pools, ${Object.keys(rules.territories).length} territories`;
      // Without a team the loader cannot tell a mistyped rep or queue from a real one.
      const checked =
        published !== undefined
          ? `; team: ${published.path}, the version ${opts.tenant ?? 'the tenant'} routes with${teamPath === undefined ? '' : ` (not ${teamPath})`}`
          : team === undefined && rules.team === undefined
            ? '; reps and queues NOT checked: no team (give --team <file>, put team: in the rules or a team.yaml beside them)'
            : opts.team === undefined && teamPath !== undefined
              ? `; team: ${teamPath}`
              : stored !== undefined
                ? `; team: ${teamPath}, checked as asked (${opts.tenant ?? 'the tenant'} routes with ${stored.path} until it is published)`
                : '';
      io.out(
        `${rulesPath}: OK — "${rules.name}" ${rules.version} (${counts})${checked}${account?.note ?? ''}`,
      );
    });

  cli
    .command('simulate')
    .description('route a file of sample leads and show each decision')
    .requiredOption('--rules <file>', 'rule set (YAML)')
    .requiredOption('--leads <file>', 'leads (.csv or .jsonl), decided in file order')
    .option('--team <file>', 'team file (default: a team inline in the rules, else team.yaml beside them)')
    .option('--accounts <file>', 'accounts (.csv or .jsonl) to match leads against')
    .option('--at <time>', 'decision time (ISO 8601) for leads without their own creation time')
    .option('--state <file>', 'rotation state: read if present, written back after the run')
    .option('--json', 'one JSON line per lead', false)
    .option('--explain', 'the full explanation of every decision', false)
    .option(
      '--strict',
      'stop at the first bad row (default: report every bad row and decide the rest)',
      false,
    )
    .addHelpText(
      'after',
      `
Bad rows are reported on stderr with their row (file line) and column and left out; the other leads are
decided, --state is written for them, and the exit code is 1. Prints a table, one JSON line per lead
(--json), or full explanations (--explain).

Example:
  lead-router simulate --rules rules/saas-inbound/rules.yaml --leads rules/saas-inbound/leads.csv \\
    --accounts rules/saas-inbound/accounts.csv --state /tmp/rotation.json`,
    )
    .action(
      async (opts: {
        rules: string;
        leads: string;
        team?: string;
        accounts?: string;
        at?: string;
        state?: string;
        json: boolean;
        explain: boolean;
        strict: boolean;
      }) => {
        // The team as `npm start` and `validate` find it: --team, else the rules' own, else a team.yaml beside them.
        const file = await readRuleSetFile(opts.rules);
        const teamPath = opts.team ?? teamFileFor(opts.rules, file);
        const fileTeam = teamPath === undefined ? undefined : await loadTeamOrFail(io, teamPath);
        const ruleSet = loadRulesOrFail(io, opts.rules, file, fileTeam);
        const team = fileTeam ?? ruleSet.team;
        if (team === undefined) {
          io.err(
            `${opts.rules} has no team: give one with --team <file>, put team: in the rules or a team.yaml beside them`,
          );
          throw new ExitCode(1);
        }
        const result = await simulate({
          ruleSet,
          rulesPath: opts.rules,
          team,
          leadsPath: opts.leads,
          accountsPath: opts.accounts,
          at: opts.at,
          statePath: opts.state,
          json: opts.json,
          explain: opts.explain,
          strict: opts.strict,
          clock: io.clock,
          out: io.out,
          warn: (message) => io.err(`warning: ${message}`),
          error: (message) => io.err(`error: ${message}`),
        });
        if (result.rejected > 0) {
          const stop = opts.strict ? ' (--strict: stopped at the first)' : '';
          io.err(
            `${result.rejected} bad row(s) left out${stop}; ${result.decided} lead(s) decided${opts.state === undefined ? '' : `, rotation state written to ${opts.state}`}`,
          );
          throw new ExitCode(1);
        }
      },
    );

  const withStorage = async <T>(
    fn: (storage: Storage) => Promise<T>,
    config = operatorConfig(),
  ): Promise<T> => {
    // Opening SQLite creates the file: a mistyped DATA_DIR or a run outside the clone would get an
    // empty database and a puzzling "no tenant" instead of being told where it looked.
    if (config.databaseUrl === undefined && !existsSync(sqliteFile(config)))
      throw new InputError(
        `no lead-router database at ${sqliteFile(config)}: run \`npm start\` first, or set DATA_DIR to the app's data directory (SQLite) or DATABASE_URL to its PostgreSQL`,
      );
    const storage = await openAppStorage(config);
    try {
      return await fn(storage);
    } finally {
      await storage.close();
    }
  };

  /**
   * What `validate --tenant` checks against: the tenant's CRM, with its account's own fields when its
   * connector lists them; and what the OK line says of it.
   */
  const tenantCrm = async (
    wanted: string,
    crmOption: CrmName | undefined,
  ): Promise<{
    crm: CrmFacts | undefined;
    note: string;
    /** The team version the tenant routes with (null: the team file's, none stored). */
    team: Pick<TeamVersion, 'version' | 'source'> | null;
  }> => {
    const config = operatorConfig();
    return withStorage(async (storage) => {
      const tenant = await pickTenant(storage, wanted);
      const profile = crmProfile(tenant.provider);
      const account = `${tenant.provider} ${profile?.accountNoun ?? 'account'} ${tenant.externalId}`;
      if (crmOption !== undefined && crmOption !== tenant.provider)
        throw new InputError(`--crm ${crmOption} does not match --tenant ${wanted}, a ${account}`);
      const team = await new TenantConfigRepository(storage.db).activeTeam(tenant.id);
      const unlisted = {
        team,
        crm: profile,
        note: `; fields: not checked against ${account} (its connector cannot list them), checked as --crm ${tenant.provider}`,
      };
      const connection =
        profile === undefined ? undefined : operatorConnection(config, storage, tenant, io.clock);
      if (profile === undefined || connection === undefined) return unlisted;
      try {
        const fields = await readAccountFields(connection.connector, RULE_FIELDS_WAIT_MS);
        if (fields === undefined) return unlisted;
        if ('failed' in fields) {
          io.err(
            `error: could not check rule fields against ${account}: ${fields.failed}${sandboxReachHint(config, tenant, fields.failed)}`,
          );
          throw new ExitCode(1);
        }
        // The team's people and queue targets against the account's users and queues: the loader warns of each.
        const directory = await readDirectory(connection.connector, RULE_FIELDS_WAIT_MS);
        if ('failed' in directory) {
          io.err(
            `error: could not check the team's reps, managers and queue owners against ${account}: ${directory.failed}${sandboxReachHint(config, tenant, directory.failed)}`,
          );
          throw new ExitCode(1);
        }
        return {
          team,
          crm: { ...profile, accountFields: fields, directory },
          note: `; fields, reps, managers and queue owners checked against ${account}`,
        };
      } finally {
        await connection.release();
      }
    }, config);
  };

  cli
    .command('explain')
    .description('show why a lead was routed as it was: every stored decision, its trace and its actions')
    .argument('<lead>', 'CRM record id (HubSpot contact, Salesforce lead or contact) or email')
    .option('--tenant <id>', TENANT_HELP)
    .option('--team <file>', 'team file for names (default: the TEAM the app runs with)')
    .addHelpText(
      'after',
      `
Reads the app's database: SQLite in DATA_DIR (default: data/ in the clone) or PostgreSQL at
DATABASE_URL; set the same variables \`npm start\` was given. With several tenants installed and no
--tenant, the lead is explained in the one tenant that decided it.

Example:
  lead-router explain jane@example.com`,
    )
    .action(async (who: string, opts: { tenant?: string; team?: string }) => {
      const config = operatorConfig();
      const teamPath = opts.team ?? config.teamPath ?? teamFileBeside(config.rulesPath);
      const team = teamPath === undefined ? { reps: {}, queues: {} } : await loadTeamOrFail(io, teamPath);
      const lines = await withStorage(async (storage) =>
        explainLead(storage, await pickLeadTenant(storage, opts.tenant, who), who, team),
      );
      for (const line of lines) io.out(line);
    });

  cli
    .command('hubspot-project')
    .description('generate the HubSpot project (hubspot-app/ templates) for a public URL, validated')
    .requiredOption(
      '--public-url <url>',
      'where HubSpot reaches the app: the PUBLIC_URL it runs with (https)',
    )
    .requiredOption('--support-email <email>', 'support contact shown on the listing')
    .option('--out <dir>', 'where to write the project', 'build/hubspot-project')
    .option('--development [port]', 'also allow a http://localhost redirect (testing only)')
    .option(
      '--rules <file>',
      'the rule file the app runs with (RULES): a property change is subscribed to for each field it holds leads for',
    )
    .action(
      async (opts: {
        publicUrl: string;
        supportEmail: string;
        out: string;
        development?: string | true;
        rules?: string;
      }) => {
        const port = opts.development === true ? '3000' : opts.development;
        if (port !== undefined && !/^\d{1,5}$/.test(port))
          throw new InputError(`--development takes a port number, not "${port}"`);
        let heldProperties: string[] = [];
        if (opts.rules !== undefined) {
          const file = await readRuleSetFile(opts.rules);
          const teamPath = teamFileFor(opts.rules, file);
          const team = teamPath === undefined ? undefined : await loadTeamOrFail(io, teamPath);
          heldProperties = holdProperties(loadRulesOrFail(io, opts.rules, file, team));
        }
        const files = await buildHubSpotProject({
          publicUrl: opts.publicUrl,
          supportEmail: opts.supportEmail,
          developmentPort: port === undefined ? undefined : Number(port),
          heldProperties,
        });
        for (const path of await writeHubSpotProject(files, opts.out)) io.out(`wrote ${path}`);
        // A hold waits for a field to be filled; without the field's change subscribed, HubSpot never
        // says so and the lead is decided only when the hold times out.
        io.out(
          opts.rules === undefined
            ? 'holds: no --rules given, so no property change is subscribed to for the fields rules hold leads for (a held lead is then decided at its timeout only)'
            : heldProperties.length === 0
              ? `holds: ${opts.rules} holds leads for no field`
              : `holds: subscribed to changes of ${heldProperties.join(', ')} (fields ${opts.rules} holds leads for)`,
        );
      },
    );

  cli
    .command('tenants')
    .description(
      'the installed HubSpot portals and Salesforce orgs: installed or uninstalled (since when), rules, waiting work',
    )
    .action(async () => {
      for (const line of await withStorage(listTenants)) io.out(line);
    });

  cli
    .command('frame-origins')
    .description("the CRM pages that may frame a tenant's settings tab, besides the deployment's list")
    .argument('[origins...]', 'https origins that replace the list (none: print it)')
    .option('--tenant <id>', TENANT_HELP)
    .option('--clear', 'remove the tenant’s own origins')
    .addHelpText(
      'after',
      `
A Salesforce org shows the tab in a Visualforce page inside Lightning: both domains must be allowed.

Example:
  lead-router frame-origins --tenant 00D5g000004abcd https://acme.lightning.force.com https://acme--c.vf.force.com`,
    )
    .action(async (origins: string[], opts: { tenant?: string; clear?: boolean }) => {
      if (opts.clear === true && origins.length > 0)
        throw new InputError('give origins or --clear, not both');
      const change = opts.clear === true ? { set: [] } : origins.length > 0 ? { set: origins } : null;
      const lines = await withStorage(async (storage) =>
        frameOrigins(storage, await pickTenant(storage, opts.tenant), change, io.clock()),
      );
      for (const line of lines) io.out(line);
    });

  const dead = cli.command('dead-letters').description('events that could not be routed, with the reason');
  dead
    .command('list')
    .description('list dead letters, newest first, with the reason each could not be routed')
    .option('--tenant <id>', TENANT_HELP)
    .action(async (opts: { tenant?: string }) => {
      const lines = await withStorage(async (storage) =>
        listDeadLetters(storage, await pickTenant(storage, opts.tenant)),
      );
      for (const line of lines) io.out(line);
    });
  dead
    .command('replay')
    .description('queue dead letters again (all, or the ids given) once the cause is fixed')
    .argument('[ids...]', 'dead letter ids (default: all)')
    .option('--tenant <id>', TENANT_HELP)
    .action(async (ids: string[], opts: { tenant?: string }) => {
      const numbers = ids.map((id) => {
        const n = Number(id.replace(/^#/, ''));
        if (!Number.isInteger(n) || n <= 0) throw new InputError(`"${id}" is not a dead letter id`);
        return n;
      });
      const result = await withStorage(async (storage) =>
        replayDeadLetters(storage, await pickTenant(storage, opts.tenant), numbers, io.clock()),
      );
      for (const line of result.queued) io.out(line);
      for (const line of result.refused) io.err(`error: ${line}`);
      if (result.refused.length > 0) throw new ExitCode(1);
    });

  cli
    .command('report')
    .description(
      'speed to lead, SLA attainment, re-routes, distribution or fallbacks over a time window, as CSV',
    )
    .argument('<kind>', REPORT_KINDS.join(' | '))
    .option('--tenant <id>', TENANT_HELP)
    .requiredOption('--since <time>', 'from this time (ISO 8601, e.g. 2026-12-01 or 2026-12-01T09:00:00Z)')
    .option('--until <time>', 'up to this time, excluded (default: now)')
    .option('--by <group>', `one row per ${REPORT_GROUPS.join(' | ')} (default: one row for the window)`)
    .addHelpText(
      'after',
      `
Reports read the decisions made in the window: speed (CRM event to owner written; owner written to
first touch, on wall time and working hours), sla (met, met late, breached, open; attainment),
reroutes (SLA reminders, re-routes and escalations), distribution (per
pool and rep against the weighted target; always by pool and rep), fallbacks (leads that fell to a
catch-all, per reason). Durations are in milliseconds.

Example:
  lead-router report speed --since 2026-12-01 --until 2026-12-08 --by rep > speed.csv`,
    )
    .action(async (kind: string, opts: { tenant?: string; since: string; until?: string; by?: string }) => {
      const query: Record<string, unknown> = { since: opts.since };
      if (opts.until !== undefined) query.until = opts.until;
      if (opts.by !== undefined) query.by = opts.by;
      const request = parseReportRequest(kind, query, io.clock());
      const config = operatorConfig();
      const teamPath = config.teamPath ?? teamFileBeside(config.rulesPath);
      const team = teamPath === undefined ? undefined : await loadTeamOrFail(io, teamPath);
      const result = await withStorage(
        async (storage) => runReport(storage, (await pickTenant(storage, opts.tenant)).id, request, team),
        config,
      );
      writeCsv(result, io.write ?? ((chunk) => io.out(chunk.replace(/\r\n$/, ''))));
    });
  const bulkIo = { ...io, progress: io.progress ?? { write: (text: string) => io.err(text.trimEnd()) } };
  cli
    .command('backfill')
    .description('route the records that existed before lead-router, under the current rules (resumable)')
    .option('--tenant <id>', TENANT_HELP)
    .option('--since <date>', 'only records created on or after this date (ISO 8601)')
    .option('--unowned', 'only records without an owner', false)
    .option('--dry-run', 'decide without writing; write a CSV of what would change', false)
    .option(
      '--csv <file>',
      'where --dry-run writes its CSV (default: backfill-dry-run-<job>.csv in DATA_DIR)',
    )
    .option('--detach', 'start the job and return; the app routes it', false)
    .addHelpText(
      'after',
      `
The job runs in the app (\`npm start\`, or its worker processes) as bulk work: behind every live lead,
within the portal's rate budget, each record routed once however often the app or this command stops.
A record whose owner fits the rules (the rep decided, or a member of the pool decided from) is left
alone; one whose owner changes gets the owner write, task, note and sequence of its route, as a new lead.
Running the same command again follows the open job instead of starting another.

Example:
  lead-router backfill --since 2026-01-01 --unowned --dry-run --csv /tmp/backfill.csv`,
    )
    .action(
      async (opts: {
        tenant?: string;
        since?: string;
        unowned: boolean;
        dryRun: boolean;
        csv?: string;
        detach: boolean;
      }) => {
        const since = opts.since === undefined ? undefined : parseSince(opts.since);
        const config = operatorConfig();
        const code = await withStorage(async (storage) => {
          const tenant = await pickTenant(storage, opts.tenant);
          const started = await startBackfill(
            storage,
            tenant,
            { since, unowned: opts.unowned, dryRun: opts.dryRun },
            io.clock(),
          );
          const follow = { detach: opts.detach, csv: opts.csv, dataDir: config.dataDir };
          return followJob(storage, started, follow, bulkIo);
        }, config);
        if (code !== 0) throw new ExitCode(code);
      },
    );

  cli
    .command('reassign')
    .description("route a rep's open leads again under the current rules (a rep who left)")
    .requiredOption('--from <email>', 'the rep whose leads move (their CRM user may be deactivated)')
    .option('--tenant <id>', TENANT_HELP)
    .option('--dry-run', 'decide without writing; write a CSV of what would change', false)
    .option(
      '--csv <file>',
      'where --dry-run writes its CSV (default: reassign-dry-run-<job>.csv in DATA_DIR)',
    )
    .option('--detach', 'start the job and return; the app routes it', false)
    .addHelpText(
      'after',
      `
Each lead is decided again: pools skip the rep once the team file or the CRM marks them inactive, and a
lead whose account has an owner follows the account's (new) owner. With \`reassign_deactivated: true\`
in the team, a rep deactivated in the CRM is reassigned automatically on the next directory refresh.

Example:
  lead-router reassign --from ada@acme.io --dry-run`,
    )
    .action(
      async (opts: { from: string; tenant?: string; dryRun: boolean; csv?: string; detach: boolean }) => {
        const config = operatorConfig();
        const code = await withStorage(async (storage) => {
          const tenant = await pickTenant(storage, opts.tenant);
          const started = await startReassignFrom(storage, tenant, opts.from, opts.dryRun, io.clock());
          const follow = { detach: opts.detach, csv: opts.csv, dataDir: config.dataDir };
          return followJob(storage, started, follow, bulkIo);
        }, config);
        if (code !== 0) throw new ExitCode(code);
      },
    );

  const keys = cli.command('keys').description('the keys stored secrets (OAuth tokens) are encrypted with');
  keys
    .command('rotate')
    .description(
      're-encrypt every stored secret under TOKEN_ENCRYPTION_KEY; the old keys must be in TOKEN_ENCRYPTION_KEYS_OLD until then',
    )
    .action(async () => {
      const config = operatorConfig();
      if (config.encryptionKey === undefined)
        throw new ConfigError(
          'TOKEN_ENCRYPTION_KEY is not set: keys rotate re-encrypts every stored secret under it (put the new key there and the old ones in TOKEN_ENCRYPTION_KEYS_OLD)',
        );
      const { currentId } = await tokenKeyring(config);
      const result = await withStorage((storage) => rotateKeys(storage, currentId), config);
      for (const line of result.out) io.out(line);
      for (const line of result.errors) io.err(line);
      if (result.errors.length > 0) throw new ExitCode(1);
    });

  return cli;
}

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  try {
    await program(io).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof ExitCode) return err.code;
    if (
      err instanceof InputError ||
      err instanceof ConfigError ||
      err instanceof TokenCryptoError ||
      err instanceof ReportError
    ) {
      io.err(`error: ${err.message}`);
      return 1;
    }
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
}
