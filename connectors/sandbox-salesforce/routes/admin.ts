// Test-only admin API (not Salesforce's surface), mirroring the HubSpot sandbox's: faults, the daily
// allocation, token expiry and refreshes refused by the org's policy, the write log and call counts,
// leads in bulk, what an org admin changes in Setup (a user deactivated, the assignment rule switched,
// refresh-token rotation, the Task statuses).
import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { CallStats } from '../../sandbox-kit/call-stats.js';
import { applyFaults, faultsBody, type FaultInjector } from '../../sandbox-kit/faults.js';
import { asHttpError, RecordRejected, SalesforceHttpError } from '../errors.js';
import type { ApiAllocation } from '../limits.js';
import type { SfTokenStore } from '../oauth.js';
import type { ChangeEventStream } from '../streaming.js';
import { Transaction, type Org } from '../org.js';
import type { DemoOrg } from '../seed.js';
import type { SfWriteKind, SfWriteLog, SfWriteSource } from '../write-log.js';

function parse<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SalesforceHttpError(
      400,
      'JSON_PARSER_ERROR',
      `${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
    );
  }
  return parsed.data;
}

const q = (req: Request, name: string): string | undefined =>
  typeof req.query[name] === 'string' ? req.query[name] : undefined;

export interface AdminDeps {
  orgs: Map<string, Org>;
  demos: Map<string, DemoOrg>;
  writes: SfWriteLog;
  calls: CallStats<string>;
  faults: FaultInjector;
  allocation: ApiAllocation;
  tokens: SfTokenStore;
  streaming: ChangeEventStream;
  reset(): void;
}

export function adminRouter(deps: AdminDeps): Router {
  const r = Router();
  const orgOf = (req: Request): Org => {
    const org = deps.orgs.get(String(req.params['orgId']));
    if (org === undefined)
      throw new SalesforceHttpError(404, 'NOT_FOUND', `no org ${String(req.params['orgId'])}`);
    return org;
  };

  r.post('/_sandbox/faults', (req, res) => {
    res.json(applyFaults(deps.faults, parse(faultsBody, req.body)));
  });
  // `{"daily": 1000}` sets the allocation; `{"orgId": "...", "used": 990}` an org's usage.
  r.post('/_sandbox/limits', (req, res) => {
    const b = parse(
      z.object({
        daily: z.number().int().min(1).optional(),
        orgId: z.string().optional(),
        used: z.number().int().min(0).optional(),
      }),
      req.body,
    );
    if (b.daily !== undefined) deps.allocation.daily = b.daily;
    if (b.used !== undefined) {
      if (b.orgId === undefined || !deps.orgs.has(b.orgId))
        throw new SalesforceHttpError(400, 'JSON_PARSER_ERROR', 'used needs an orgId');
      deps.allocation.setUsed(b.orgId, b.used);
    }
    res.json({ daily: deps.allocation.daily });
  });
  r.post('/_sandbox/reset', (_req, res) => {
    deps.reset();
    res.json({ ok: true });
  });
  r.get('/_sandbox/writes', (req, res) => {
    res.json({
      results: deps.writes.list({
        orgId: q(req, 'orgId'),
        kind: q(req, 'kind') as SfWriteKind | undefined,
        sobject: q(req, 'sobject'),
        objectId: q(req, 'objectId'),
        source: q(req, 'source') as SfWriteSource | undefined,
      }),
    });
  });
  r.get('/_sandbox/orgs/:orgId/calls', (req, res) => {
    res.json(deps.calls.of(orgOf(req).orgId));
  });
  // Every access token of the org expires now (refresh tokens keep working).
  r.post('/_sandbox/orgs/:orgId/tokens/expire', (req, res) => {
    res.json({ expired: deps.tokens.expire(orgOf(req).orgId) });
  });
  // `{"description": "ip restricted or invalid login hours"}`: the org's policy refuses every refresh
  // (invalid_grant with that description) while its grants stand; `{"description": null}` lifts it.
  r.post('/_sandbox/orgs/:orgId/tokens/refuse', (req, res) => {
    const org = orgOf(req);
    const b = parse(z.object({ description: z.string().min(1).nullable() }).strict(), req.body);
    deps.tokens.refuseRefreshes(org.orgId, b.description);
    res.json({ refused: b.description });
  });
  r.post('/_sandbox/oauth', (req, res) => {
    const b = parse(
      z
        .object({
          clientId: z.string().optional(),
          rotateRefreshTokens: z.boolean().optional(),
          accessTokenTtlMs: z.number().int().min(1).optional(),
        })
        .strict(),
      req.body,
    );
    const apps = [...deps.tokens.apps.values()].filter(
      (a) => b.clientId === undefined || a.clientId === b.clientId,
    );
    for (const a of apps) {
      if (b.rotateRefreshTokens !== undefined) a.rotateRefreshTokens = b.rotateRefreshTokens;
      if (b.accessTokenTtlMs !== undefined) a.accessTokenTtlMs = b.accessTokenTtlMs;
    }
    res.json(apps.map(({ clientSecret: _secret, ...a }) => a));
  });
  // `{"count": 50}`: demo leads as the web forms create them; `{"leads": [{...fields}]}`: these leads.
  r.post('/_sandbox/orgs/:orgId/leads', (req, res) => {
    const org = orgOf(req);
    const b = parse(
      z.object({
        count: z.number().int().min(1).max(100_000).optional(),
        leads: z.array(z.record(z.unknown())).optional(),
      }),
      req.body,
    );
    const demo = deps.demos.get(org.orgId);
    const created = [];
    if (b.count !== undefined) {
      if (demo === undefined)
        throw new SalesforceHttpError(400, 'JSON_PARSER_ERROR', 'count needs the seeded demo org');
      created.push(...demo.createLeads(b.count, 'admin'));
    }
    for (const fields of b.leads ?? []) {
      created.push(
        org.create(
          'Lead',
          fields,
          {
            userId: demo?.integrationUserId ?? String(org.all('User')[0]?.['Id']),
            autoAssign: true,
            changeOrigin: 'com/salesforce/api/rest/62.0;client=SandboxAdmin',
            source: 'admin',
          },
          new Transaction(randomUUID()),
        ),
      );
    }
    res.status(201).json({ ids: created.map((l) => l['Id']) });
  });
  // A rep converts a lead in the UI (Convert): `{"accountId": "001…"}` attaches its Contact to that
  // account (else an Account named after its company is created), `{"ownerId": "005…"}` owns them (else
  // the lead's owner). One transaction: its Lead UPDATE and Contact CREATE change events share a key.
  r.post('/_sandbox/orgs/:orgId/leads/:leadId/convert', (req, res) => {
    const org = orgOf(req);
    const b = parse(
      z.object({ accountId: z.string().min(1).optional(), ownerId: z.string().min(1).optional() }).strict(),
      req.body ?? {},
    );
    const lead = org.get(String(req.params['leadId']));
    if (lead === undefined || !String(lead['Id']).startsWith('00Q'))
      throw new SalesforceHttpError(404, 'NOT_FOUND', 'no such lead');
    const leadOwner = String(lead['OwnerId']);
    const demo = deps.demos.get(org.orgId);
    // The rep converting it: the new owner, else the lead's owner when a user, else an org user.
    const userId =
      b.ownerId ??
      (leadOwner.startsWith('005')
        ? leadOwner
        : (demo?.integrationUserId ?? String(org.all('User')[0]?.['Id'])));
    try {
      const converted = org.convertLead(
        String(lead['Id']),
        b,
        // A person in the UI: no API client id (changeOrigin is filled only for API and Lightning
        // changes, cdc_event_fields_header; a Lightning conversion's exact value is UNCONFIRMED).
        { userId, autoAssign: false, changeOrigin: '', source: 'admin' },
        new Transaction(randomUUID()),
      );
      res.json({
        leadId: converted.lead['Id'],
        contactId: converted.contactId,
        accountId: converted.accountId,
      });
    } catch (err) {
      if (err instanceof RecordRejected) throw asHttpError(err);
      throw err;
    }
  });
  // A user deactivated or reactivated in Setup.
  r.post('/_sandbox/orgs/:orgId/users/:userId', (req, res) => {
    const org = orgOf(req);
    const { active } = parse(z.object({ active: z.boolean() }), req.body);
    const user = org.get(String(req.params['userId']));
    if (user === undefined || !String(user['Id']).startsWith('005'))
      throw new SalesforceHttpError(404, 'NOT_FOUND', 'no such user');
    user['IsActive'] = active;
    res.json({ Id: user['Id'], IsActive: active });
  });
  // The Lead assignment rule switched on or off in Setup.
  r.post('/_sandbox/orgs/:orgId/assignment-rule', (req, res) => {
    const org = orgOf(req);
    const { active } = parse(z.object({ active: z.boolean() }), req.body);
    if (org.assignmentRule === undefined)
      throw new SalesforceHttpError(404, 'NOT_FOUND', 'the org has no assignment rule');
    org.assignmentRule.active = active;
    res.json(org.assignmentRule);
  });
  // A duplicate rule on Leads by email (Setup → Duplicate Rules): `{"active": true, "onEdit": "alert"}`.
  r.post('/_sandbox/orgs/:orgId/duplicate-rule', (req, res) => {
    const org = orgOf(req);
    org.duplicateRule = parse(
      z.object({ active: z.boolean(), onEdit: z.enum(['alert', 'block']).default('alert') }),
      req.body,
    );
    res.json(org.duplicateRule);
  });
  // The org's Task Status picklist (Setup → Task Fields → Status): `{"statuses": [{"apiName": "Open",
  // "default": true}, {"apiName": "Finished", "closed": true}]}` replaces it (TaskStatus rows, the Task
  // describe, what a Task's Status may hold); `{"accessible": false}` refuses the running user's queries
  // on TaskStatus, as for a user who cannot see it.
  r.post('/_sandbox/orgs/:orgId/task-statuses', (req, res) => {
    const org = orgOf(req);
    const b = parse(
      z
        .object({
          statuses: z
            .array(
              z
                .object({
                  apiName: z.string().min(1),
                  label: z.string().min(1).optional(),
                  closed: z.boolean().optional(),
                  default: z.boolean().optional(),
                })
                .strict(),
            )
            .min(1)
            .refine((s) => new Set(s.map((v) => v.apiName)).size === s.length, 'API names must differ')
            .refine((s) => s.filter((v) => v.default === true).length <= 1, 'one default at most')
            .optional(),
          accessible: z.boolean().optional(),
        })
        .strict(),
      req.body,
    );
    if (b.statuses !== undefined) org.setTaskStatuses(b.statuses);
    if (b.accessible === false) org.hiddenObjects.add('TaskStatus');
    if (b.accessible === true) org.hiddenObjects.delete('TaskStatus');
    res.json({ statuses: org.taskStatuses(), accessible: !org.hiddenObjects.has('TaskStatus') });
  });
  // Change Data Capture knobs: `{"gapNext": 3}` turns the next changes into GAP_* events;
  // `{"gap": {"entity": "Lead", "changeType": "GAP_UPDATE", "recordIds": [...]}}` sends one now
  // (GAP_OVERFLOW carries no record ids); `{"selected": ["Contact"]}` is the org's selection in Setup →
  // Change Data Capture (Lead and Contact until changed): a subscribe to another's channel is refused.
  r.post('/_sandbox/orgs/:orgId/cdc', (req, res) => {
    const org = orgOf(req);
    const b = parse(
      z
        .object({
          gapNext: z.number().int().min(1).optional(),
          selected: z.array(z.enum(['Lead', 'Contact'])).optional(),
          gap: z
            .object({
              entity: z.enum(['Lead', 'Contact']),
              changeType: z.enum(['GAP_CREATE', 'GAP_UPDATE', 'GAP_DELETE', 'GAP_UNDELETE', 'GAP_OVERFLOW']),
              recordIds: z.array(z.string()).default([]),
            })
            .optional(),
        })
        .strict(),
      req.body,
    );
    if (b.gapNext !== undefined) deps.streaming.gapNext(org.orgId, b.gapNext);
    const selected = b.selected === undefined ? undefined : deps.streaming.select(org.orgId, b.selected);
    const replayId =
      b.gap === undefined
        ? undefined
        : deps.streaming.emitGap(org.orgId, b.gap.entity, b.gap.changeType, b.gap.recordIds);
    res.json({
      retained: deps.streaming.retained(org.orgId),
      ...(replayId === undefined ? {} : { replayId }),
      ...(selected === undefined ? {} : { selected }),
    });
  });
  return r;
}
