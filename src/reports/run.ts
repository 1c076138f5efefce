// One report for one tenant and window: the request parsed at the edge (API query or CLI options),
// the facts read from storage, the tenant's published rules and team when the kind needs them.
import { z } from 'zod';
import type { Team } from '../core/types.js';
import { mergeDirectory } from '../pipeline/team.js';
import { loadPublished } from '../rules/published.js';
import { TenantConfigRepository, type Storage } from '../storage/index.js';
import { buildReport, REPORT_GROUPS, REPORT_KINDS, type Report, type ReportKind } from './reports.js';

/** A report that cannot be made as asked: bad input, or a tenant without what the kind needs. */
export class ReportError extends Error {
  override readonly name = 'ReportError';
}

const DAY_MS = 86_400_000;
/** The longest window one report reads: a year of decisions. */
export const MAX_WINDOW_MS = 366 * DAY_MS;

/** An instant as ISO 8601 (`2026-12-01`, `2026-12-01T09:30:00Z`) or epoch milliseconds. */
const instant = z
  .string()
  .trim()
  .min(1)
  .transform((s, ctx) => {
    const t = /^\d+$/.test(s) ? Number(s) : /^\d{4}-\d{2}-\d{2}/.test(s) ? Date.parse(s) : Number.NaN;
    if (!Number.isFinite(t)) {
      ctx.addIssue({ code: 'custom', message: `"${s}" is not an ISO 8601 date or time` });
      return z.NEVER;
    }
    return t;
  });

export const reportQuerySchema = z
  .object({
    since: instant,
    until: instant.optional(),
    by: z.enum(REPORT_GROUPS).optional(),
  })
  .strict();

export interface ReportRequest {
  kind: ReportKind;
  since: number;
  until: number;
  by?: (typeof REPORT_GROUPS)[number] | undefined;
}

/** Parses a report request (kind, since, until — default now —, by); a bad one is a ReportError. */
export function parseReportRequest(kind: string, query: Record<string, unknown>, now: number): ReportRequest {
  if (!(REPORT_KINDS as readonly string[]).includes(kind))
    throw new ReportError(`unknown report "${kind}"; known: ${REPORT_KINDS.join(', ')}`);
  const parsed = reportQuerySchema.safeParse(query);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') ?? '';
    throw new ReportError(`${where === '' ? 'query' : where}: ${issue?.message ?? 'invalid'}`);
  }
  const { since, until = now, by } = parsed.data;
  if (since >= until) throw new ReportError('since must be before until');
  if (until - since > MAX_WINDOW_MS) throw new ReportError('a report covers at most 366 days');
  return { kind: kind as ReportKind, since, until, by };
}

/**
 * Runs a report over the tenant's decisions in the window. Speed (working hours) and distribution
 * (weights and pool members) read the published team and rule set; `defaultTeam` is the team the app
 * runs with when none is published.
 */
export async function runReport(
  storage: Storage,
  tenantId: string,
  request: ReportRequest,
  defaultTeam?: Team,
): Promise<Report> {
  const facts = await storage.reports.decisionFacts(tenantId, request);
  if (request.kind === 'sla' || request.kind === 'fallbacks')
    return buildReport(request.kind, facts, request);
  const ruleset = await storage.activeRuleset(tenantId);
  if (ruleset === null) {
    if (request.kind === 'distribution')
      throw new ReportError(`tenant ${tenantId} has no published rule set: its pools give the targets`);
    return buildReport(request.kind, facts, {
      ...request,
      team: await asRouted(storage, tenantId, defaultTeam),
    });
  }
  const storedTeam = await new TenantConfigRepository(storage.db).activeTeam(tenantId);
  const published = loadPublished(ruleset, storedTeam, defaultTeam);
  if (!published.ok) throw new ReportError(published.message);
  return buildReport(request.kind, facts, {
    ...request,
    ruleSet: published.ruleSet,
    team: await asRouted(storage, tenantId, published.team ?? published.ruleSet.team),
  });
}

/**
 * The team as routing last saw it: joined with the CRM's users the worker stored, so a rep the CRM
 * deactivated has no share of a pool's leads (as on the settings tab's Team page) and a CRM user the
 * file does not list has the CRM's time zone.
 */
async function asRouted(
  storage: Storage,
  tenantId: string,
  team: Team | undefined,
): Promise<Team | undefined> {
  if (team === undefined) return undefined;
  const directory = await storage.loadDirectory(tenantId);
  return directory === null ? team : mergeDirectory(team, directory).team;
}
