// The settings API's requests and answers: one set of zod schemas that the server validates with, the
// pages' scripts parse answers with, and the OpenAPI document is generated from. Browser-safe: zod only.
import { z } from 'zod';
import { REPORT_GROUPS, REPORT_KINDS } from '../reports/kinds.js';

const source = z.string().max(1_000_000, 'a rule set or team is at most 1 MB');
const note = z.string().trim().min(1, 'say why (a note is required)').max(500);
const email = z.string().trim().toLowerCase().email();

/** A problem in a rule or team file as the CLI's validate reports it: file, line, column and field. */
export const diagnosticSchema = z.object({
  file: z.string(),
  line: z.number().int(),
  column: z.number().int(),
  path: z.string(),
  message: z.string(),
  suggestion: z.string().optional(),
});

export const validateRequestSchema = z.object({ source });
export const validateResponseSchema = z.object({
  ok: z.boolean(),
  errors: z.array(diagnosticSchema),
  /** Advice, as the CLI prints it: a warning never stops a publication. */
  warnings: z.array(diagnosticSchema),
  /** Lines of a unified diff against the published rule set ('+', '-' or ' ' first). */
  diff: z.array(z.string()),
});

export const publicationSchema = z.object({
  id: z.number().int(),
  rulesetVersion: z.string(),
  teamVersion: z.string().nullable(),
  publishedBy: z.string(),
  publishedAt: z.number(),
  note: z.string(),
  /** The second admin who approved it, when the tenant requires approval. */
  approvedBy: z.string().nullable(),
});

/** A publication waiting for (or decided by) a second admin. */
export const approvalRequestSchema = z.object({
  id: z.number().int(),
  rulesetVersion: z.string(),
  teamVersion: z.string().nullable(),
  requestedBy: z.string(),
  requestedAt: z.number(),
  note: z.string(),
  /** `stale`: another version was published after it was requested, so it can no longer be approved. */
  state: z.enum(['pending', 'approved', 'rejected', 'stale']),
  decidedBy: z.string().nullable(),
  decidedAt: z.number().nullable(),
});

export const rulesResponseSchema = z.object({
  active: z.object({ version: z.string(), name: z.string(), source: z.string() }).nullable(),
  versions: z.array(
    z.object({
      version: z.string(),
      name: z.string(),
      createdBy: z.string().nullable(),
      createdAt: z.number(),
      active: z.boolean(),
    }),
  ),
  publications: z.array(publicationSchema),
  /** Publication requests, latest first (a tenant that requires approval). */
  requests: z.array(approvalRequestSchema),
});

export const publishRequestSchema = z.object({
  source,
  note,
  /** The published version the draft was edited from; a newer publication in between is a conflict. */
  basedOn: z.string().nullable(),
});
export const rollbackRequestSchema = z.object({ version: z.string().min(1), note });
const publishedSchema = z.object({ status: z.literal('published'), publication: publicationSchema });
const pendingApprovalSchema = z.object({
  status: z.literal('pending_approval'),
  request: approvalRequestSchema,
});
/** The warnings of what was published or requested: they never stop it, but the admin sees them. */
const publishedWarnings = { warnings: z.array(diagnosticSchema) };
/** Published at once, or (a tenant that requires approval) waiting for a second admin. */
export const publishResponseSchema = z.discriminatedUnion('status', [
  publishedSchema.extend(publishedWarnings),
  pendingApprovalSchema.extend(publishedWarnings),
]);

/** Stored in the tenant's settings as `approvals`. */
export const approvalSettingSchema = z.object({
  /** A publication (rules, rollback, team edit) waits for a second admin's approval. */
  required: z.boolean(),
  /** Approvals are on and this admin asked to turn them off: a different admin must confirm. */
  offRequestedBy: z.string().optional(),
  changedBy: z.string().optional(),
});
export const approvalsResponseSchema = approvalSettingSchema.extend({
  requests: z.array(approvalRequestSchema),
});
export const approvalsRequestSchema = z.object({ required: z.boolean() }).strict();
export const decideResponseSchema = z.discriminatedUnion('status', [
  publishedSchema,
  z.object({ status: z.literal('rejected'), request: approvalRequestSchema }),
]);

export const errorResponseSchema = z.object({
  error: z.string(),
  errors: z.array(diagnosticSchema).optional(),
});

const outcomeSchema = z.object({
  route: z.string().nullable(),
  /** `rep ada@acme.io`, `queue EMEA`, `none`, `hold`. */
  destination: z.string(),
  owner: z.string().nullable(),
  sequence: z.string().nullable(),
  /** First-touch SLA in minutes after the decision, or null. */
  slaMinutes: z.number().nullable(),
});
export type Outcome = z.infer<typeof outcomeSchema>;

export const previewRequestSchema = z.object({
  source,
  limit: z.number().int().min(1).max(10_000).default(500),
});
export const previewResponseSchema = z.object({
  leads: z.number().int(),
  changed: z.array(
    z.object({
      leadId: z.string(),
      email: z.string().nullable(),
      published: outcomeSchema,
      draft: outcomeSchema,
      fields: z.array(z.enum(['owner', 'sequence', 'sla'])),
    }),
  ),
  perRep: z.array(z.object({ rep: z.string(), published: z.number().int(), draft: z.number().int() })),
  ms: z.number(),
});

export const simulateRequestSchema = z.object({
  source,
  /** Leads as CSV-like records (`email`, `country`, `employees`, …); absent: the last `limit` decided leads. */
  leads: z
    .array(z.record(z.union([z.string(), z.number(), z.boolean(), z.null()])))
    .max(1000)
    .optional(),
  /**
   * Leads as CSV text (pasted or an uploaded file): a header row, then one lead per row. Rows that do not
   * read or whose typed columns do not parse are reported in `problems` and skipped.
   */
  csv: z.string().max(5_000_000, 'a CSV of leads is at most 5 MB').optional(),
  limit: z.number().int().min(1).max(1000).default(20),
});
export const simulateResponseSchema = z.object({
  decisions: z.array(
    z.object({
      leadId: z.string(),
      email: z.string().nullable(),
      outcome: outcomeSchema,
      explanation: z.string(),
    }),
  ),
  /** CSV rows skipped, each with its line (the header is line 1) and column. */
  problems: z.array(z.object({ line: z.number().int(), column: z.string().nullable(), message: z.string() })),
});

export const repSchema = z.object({
  email: z.string(),
  name: z.string().nullable(),
  timezone: z.string(),
  hours: z.array(z.string()),
  outOfOffice: z.array(z.string()),
  weight: z.number(),
  capPerDay: z.number().nullable(),
  capPerWeek: z.number().nullable(),
  active: z.boolean(),
  /** Why the rep is inactive: deactivated in the CRM, not a user of it, or marked so here. */
  inactiveReason: z.string().nullable(),
  /** False for a CRM user the team does not list yet (routed with weight 1 until edited here). */
  inTeam: z.boolean(),
  /** Why the rep would be skipped now (out of office, outside hours, capped), or null when available. */
  skippedNow: z.string().nullable(),
});
export const poolSchema = z.object({
  name: z.string(),
  strategy: z.string(),
  next: z.string().nullable(),
  members: z.array(
    z.object({
      email: z.string(),
      weight: z.number(),
      /** Leads this rep got in the current window (today in its time zone). */
      assigned: z.number().int(),
      /** The weighted share of the pool's leads this rep is owed (positive: behind its target). */
      owed: z.number(),
      /** The members' leads in the window shared by weight: what this rep would have in a fair rotation. */
      target: z.number(),
      skippedNow: z.string().nullable(),
    }),
  ),
});
export const teamResponseSchema = z.object({
  version: z.string().nullable(),
  source: z.string().nullable(),
  reps: z.array(repSchema),
  pools: z.array(poolSchema),
  /** When the CRM's users were listed for this roster (null: never), and why a live listing failed. */
  crm: z.object({ syncedAt: z.number().nullable(), error: z.string().nullable() }),
});

const nullable = <T extends z.ZodTypeAny>(t: T) => t.nullable().optional();
export const repPatchRequestSchema = z
  .object({
    name: nullable(z.string().trim().max(200)),
    timezone: nullable(z.string().trim().min(1)),
    hours: nullable(z.array(z.string().trim().min(1)).max(20)),
    outOfOffice: nullable(z.array(z.string().trim().min(1)).max(50)),
    weight: nullable(z.number().nonnegative()),
    capPerDay: nullable(z.number().int().nonnegative()),
    capPerWeek: nullable(z.number().int().nonnegative()),
    active: nullable(z.boolean()),
  })
  .strict();
export const teamPublishResponseSchema = publishResponseSchema;

export const activityQuerySchema = z.object({
  q: z.string().trim().max(200).optional(),
  route: z.string().max(200).optional(),
  owner: email.optional(),
  from: z.coerce.number().int().optional(),
  to: z.coerce.number().int().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
export const activityResponseSchema = z.object({
  leads: z.array(
    z.object({
      leadId: z.string(),
      email: z.string().nullable(),
      name: z.string(),
      company: z.string().nullable(),
      decidedAt: z.number(),
      route: z.string().nullable(),
      owner: z.string().nullable(),
      destination: z.string(),
      rulesetVersion: z.string(),
      summary: z.string(),
      /**
       * Whether the decision's CRM writes went through: all done (or none to make), some still to be
       * written, one failed (`detail`: which and why), or the lead's work dead-lettered (`detail`: why).
       */
      writes: z.object({
        state: z.enum(['done', 'pending', 'failed', 'dead_letter']),
        detail: z.string().nullable(),
      }),
    }),
  ),
});
export const leadDetailResponseSchema = z.object({
  leadId: z.string(),
  decisions: z.array(
    z.object({
      decisionKey: z.string(),
      decidedAt: z.number(),
      route: z.string().nullable(),
      destination: z.string(),
      rulesetVersion: z.string(),
      summary: z.string(),
      explanation: z.string(),
      actions: z.array(
        z.object({
          kind: z.string(),
          status: z.enum(['planned', 'done', 'failed']),
          crmId: z.string().nullable(),
          /** Why it failed. */
          error: z.string().nullable(),
          /** Why it is done with nothing written (a Salesforce queue's task: the queue owns no task). */
          note: z.string().nullable(),
        }),
      ),
    }),
  ),
});

export const healthResponseSchema = z.object({
  crm: z.object({ ok: z.boolean(), detail: z.string() }),
  /**
   * The tenant's routing is paused: its CRM account's policy refuses our credentials for now (its leads
   * wait in the inbox, tried again at `checkAt`); null while it routes.
   */
  paused: z.object({ since: z.number(), reason: z.string(), checkAt: z.number() }).nullable(),
  inbox: z.object({
    pending: z.number().int(),
    leased: z.number().int(),
    failed: z.number().int(),
    oldestPendingAgeMs: z.number().nullable(),
  }),
  deadLetters: z.array(
    z.object({
      /** The dead letter's number, as Replay and `dead-letters replay` name it. */
      id: z.number().int(),
      leadId: z.string(),
      /** The lead's email, from its latest decision; null for a lead never decided. */
      email: z.string().nullable(),
      /** Why it failed, as sentences (the CRM's codes kept, its raw JSON not). */
      reason: z.string(),
      /** The reason as the worker recorded it, the CRM's answer verbatim. */
      detail: z.string(),
      attempts: z.number().int(),
      failedAt: z.number(),
      /** The lead has a decision, so Re-route can decide it again under the current rules. */
      reroutable: z.boolean(),
    }),
  ),
  failedActions: z.array(
    z.object({ leadId: z.string(), kind: z.string(), error: z.string(), at: z.number() }),
  ),
  /**
   * The tenant's change-event stream (Salesforce Change Data Capture): per channel, whether a process
   * reads it and what it last recorded. Null for a CRM that pushes its events (HubSpot's webhooks).
   */
  stream: z
    .object({
      /** What the CRM account's admin makes sure of for the stream to be readable, in the CRM's words. */
      setupCheck: z.string(),
      channels: z.array(
        z.object({
          /** `/data/LeadChangeEvent`. */
          channel: z.string(),
          /** Since when a process reads it; null: none does, and new leads wait in the CRM until one does. */
          readSince: z.number().nullable(),
          /** When the last reader's lease ran out unrenewed; null while read, or when none ran out. */
          lapsedAt: z.number().nullable(),
          /** When the process reading it last subscribed; null until it has (or none reads it). */
          subscribedAt: z.number().nullable(),
          /**
           * The process reading it has not subscribed for longer than the grace: since when, and the
           * CRM's reason. Null while it subscribes (or none reads it: see `readSince`).
           */
          notSubscribed: z.object({ since: z.number(), error: z.string() }).nullable(),
          /**
           * When the reading process's catch-up poll last found records created while the stream was
           * subscribed that it never delivered, and how many; `recent` while that still marks the
           * stream as silent. Null while none has (or none reads it).
           */
          missed: z.object({ at: z.number(), count: z.number(), recent: z.boolean() }).nullable(),
          /** When the stream last recorded events or a catch-up poll; null before it ever did. */
          recordedAt: z.number().nullable(),
          /** When the CRM committed the last change event recorded; null before one was. */
          lastEventAt: z.number().nullable(),
          /** Every record created before this is in the inbox. */
          coveredUntil: z.number().nullable(),
        }),
      ),
    })
    .nullable(),
  /** The tenant's CRM calls from every process, in the minutes of the last `windowMinutes`. */
  crmCalls: z.object({
    windowMinutes: z.number().int(),
    ok: z.number().int(),
    /** Refused with a 429. */
    rateLimited: z.number().int(),
    /** Failed otherwise: the sum of `errors`. */
    error: z.number().int(),
    errors: z.object({
      transient: z.number().int(),
      auth: z.number().int(),
      notFound: z.number().int(),
      invalid: z.number().int(),
      other: z.number().int(),
    }),
  }),
});
export const rerouteResponseSchema = z.object({ queued: z.boolean(), job: z.string() });
export const replayResponseSchema = z.object({ replayed: z.boolean() });

/**
 * A report's window and grouping, as the API reads them (src/reports/run.ts parses the same query,
 * shared with the CLI): instants as ISO 8601 or epoch milliseconds, `until` defaulting to now.
 */
export const reportQuerySchema = z.object({
  since: z.string(),
  until: z.string().optional(),
  by: z.enum(REPORT_GROUPS).optional(),
  /** `csv`: the report as the CLI's CSV (text/csv, a download), not JSON. */
  format: z.enum(['json', 'csv']).optional(),
});
/** One report: its columns in order (the CLI's CSV header) and rows keyed by them. */
export const reportResponseSchema = z.object({
  tenant: z.string(),
  kind: z.enum(REPORT_KINDS),
  since: z.string(),
  until: z.string(),
  by: z.enum(REPORT_GROUPS).nullable(),
  columns: z.array(z.string()),
  rows: z.array(z.record(z.union([z.string(), z.number(), z.null()]))),
});

export const settingsLinkResponseSchema = z.object({ url: z.string() });

// What the CRM's own UI shows (the HubSpot settings extension and contact card, through hubspot.fetch).

export const crmStatusResponseSchema = z.object({
  /** The tenant's name as installed. */
  tenant: z.string(),
  crm: z.object({ ok: z.boolean(), detail: z.string() }),
  published: z
    .object({
      version: z.string(),
      name: z.string(),
      publishedAt: z.number().nullable(),
      publishedBy: z.string().nullable(),
    })
    .nullable(),
  inbox: z.object({ pending: z.number().int(), oldestPendingAgeMs: z.number().nullable() }),
  /** Events that failed for good and wait for a replay on the Health page. */
  deadLetters: z.number().int(),
});

export const slaStateSchema = z.enum(['armed', 'met', 'breached', 'cancelled']);

/** Why a CRM record was routed where it is: its last decision, or null when none is recorded. */
export const recordRoutingResponseSchema = z.object({
  recordId: z.string(),
  decision: z
    .object({
      decidedAt: z.number(),
      owner: z.string().nullable(),
      /** `rep ada@acme.io`, `queue EMEA`, `none`, `hold for …`. */
      destination: z.string(),
      /** The rule that matched; null when the rule set's fallback decided. */
      rule: z.string().nullable(),
      rulesetVersion: z.string(),
      summary: z.string(),
      /** The trace in short: rules checked (✓ matched, ✗ not), the pool's pick, resolution steps. */
      steps: z.array(z.string()),
    })
    .nullable(),
  /** The first-touch SLA of that decision, if it set one. */
  sla: z.object({ state: slaStateSchema, dueAt: z.number() }).nullable(),
});
