// GET /api/tenants/:tenantId/reports/:kind?since=…&until=…&by=rule|pool|rep — a report as JSON, or
// with &format=csv as the CSV the CLI writes (a download named by kind, grouping and window).
// These are tenant routes of the settings API (its `tenantRoutes`): they run behind its access check
// for that tenant, and read the tenant it let in, so a report is only ever read by someone let into
// the tenant. The query is parsed with the same schema as the CLI's options; the answer is the settings
// API's reportResponseSchema (in its OpenAPI document).
import type { Request, Response, Router } from 'express';
import type { Team } from '../core/types.js';
import { writeCsv } from '../reports/csv.js';
import type { Logger } from '../log.js';
import { parseReportRequest, ReportError, runReport } from '../reports/run.js';
import type { z } from 'zod';
import { accessOf } from '../settings/api.js';
import type { reportResponseSchema } from '../settings/schemas.js';
import { StorageError, type Storage } from '../storage/index.js';

export interface ReportRouteDeps {
  storage: Storage;
  logger: Logger;
  clock: () => number;
  /** The team the app runs with, for a tenant that has not published one. */
  team?: Team | undefined;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** The answer's format: `format` is read here, the rest of the query is the report's. */
function formatOf(query: Request['query']): { format: 'json' | 'csv'; rest: Record<string, unknown> } {
  const { format, ...rest } = query;
  if (format === undefined || format === 'json') return { format: 'json', rest };
  if (format === 'csv') return { format: 'csv', rest };
  throw new ReportError('format: json or csv');
}

/** Adds `GET /reports/:kind` to the settings API's tenant router (after its access check). */
export function reportRoutes(deps: ReportRouteDeps): (router: Router) => void {
  return (router) => {
    router.get('/reports/:kind', async (req: Request, res: Response) => {
      const { tenantId } = accessOf(res);
      try {
        const tenant = await deps.storage.getTenant(tenantId);
        if (tenant === null) {
          res.status(404).json({ error: 'no such tenant' });
          return;
        }
        const { format, rest } = formatOf(req.query);
        const request = parseReportRequest(text(req.params.kind), rest, deps.clock());
        const report = await runReport(deps.storage, tenant.id, request, deps.team);
        if (format === 'csv') {
          // The window's last day is the one before `until` (exclusive), as the tab's dates read.
          const by = request.by === undefined ? '' : `-by-${request.by}`;
          const name = `lead-router-${report.kind}${by}-${day(request.since)}-to-${day(request.until - 1)}.csv`;
          res.type('text/csv; charset=utf-8').attachment(name);
          writeCsv(report, (chunk) => res.write(chunk));
          res.end();
          return;
        }
        const body: z.input<typeof reportResponseSchema> = {
          tenant: tenant.id,
          kind: report.kind,
          since: new Date(request.since).toISOString(),
          until: new Date(request.until).toISOString(),
          by: request.by ?? null,
          columns: report.columns,
          rows: report.rows,
        };
        res.json(body);
      } catch (error) {
        if (error instanceof ReportError || (error instanceof StorageError && error.kind === 'invalid')) {
          res.status(400).json({ error: error.message });
          return;
        }
        deps.logger.error('report failed', {
          tenantId,
          error: error instanceof Error ? error.message : String(error),
        });
        res.status(500).json({ error: 'the report could not be made' });
      }
    });
  };
}
