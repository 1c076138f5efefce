// The OpenAPI document of the settings API, generated from the same zod schemas the server validates
// with, so RevOps engineers can automate what the pages do.
import { extendZodWithOpenApi, OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import * as s from './schemas.js';

extendZodWithOpenApi(z);

type Method = 'get' | 'post' | 'patch' | 'put';

interface Operation {
  method: Method;
  path: string;
  summary: string;
  body?: z.ZodTypeAny;
  query?: z.AnyZodObject;
  params?: Record<string, string>;
  response: z.ZodTypeAny;
  /** Also answers text/csv (asked for with `format=csv`). */
  csv?: true;
}

const OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/rules',
    summary: 'The published rule set, stored versions and publication history',
    response: s.rulesResponseSchema,
  },
  {
    method: 'post',
    path: '/rules/validate',
    summary: 'Validate a draft (the CLI validator) and diff it against the published version',
    body: s.validateRequestSchema,
    response: s.validateResponseSchema,
  },
  {
    method: 'post',
    path: '/rules/publish',
    summary: 'Publish a draft with a note (or request approval, when the tenant requires it)',
    body: s.publishRequestSchema,
    response: s.publishResponseSchema,
  },
  {
    method: 'post',
    path: '/rules/rollback',
    summary: 'Make an earlier rule set version active again',
    body: s.rollbackRequestSchema,
    response: s.publishResponseSchema,
  },
  {
    method: 'get',
    path: '/approvals',
    summary: 'Whether publications need a second admin, and the publication requests',
    response: s.approvalsResponseSchema,
  },
  {
    method: 'put',
    path: '/approvals',
    summary: 'Require approval (at once), or stop requiring it (a second admin confirms)',
    body: s.approvalsRequestSchema,
    response: s.approvalsResponseSchema,
  },
  {
    method: 'post',
    path: '/approvals/{requestId}/approve',
    summary: 'Approve another admin’s publication request: it is published',
    params: { requestId: 'the request id' },
    response: s.decideResponseSchema,
  },
  {
    method: 'post',
    path: '/approvals/{requestId}/reject',
    summary: 'Reject a publication request',
    params: { requestId: 'the request id' },
    response: s.decideResponseSchema,
  },
  {
    method: 'post',
    path: '/simulate',
    summary: 'Decide leads under a draft, with every trace',
    body: s.simulateRequestSchema,
    response: s.simulateResponseSchema,
  },
  {
    method: 'post',
    path: '/preview',
    summary: 'Impact preview: the last N leads under the draft and the published version',
    body: s.previewRequestSchema,
    response: s.previewResponseSchema,
  },
  {
    method: 'get',
    path: '/team',
    summary: 'The roster and each pool’s rotation',
    response: s.teamResponseSchema,
  },
  {
    method: 'patch',
    path: '/team/reps/{email}',
    summary: 'Edit one rep and publish the team',
    params: { email: 'the rep’s email' },
    body: s.repPatchRequestSchema,
    response: s.teamPublishResponseSchema,
  },
  {
    method: 'get',
    path: '/activity',
    summary: 'Search routed leads',
    query: s.activityQuerySchema,
    response: s.activityResponseSchema,
  },
  {
    method: 'get',
    path: '/activity/{leadId}',
    summary: 'One lead’s decisions, traces and actions',
    params: { leadId: 'the CRM record id' },
    response: s.leadDetailResponseSchema,
  },
  {
    method: 'post',
    path: '/activity/{leadId}/reroute',
    summary: 'Route a lead again under the active rules',
    params: { leadId: 'the CRM record id' },
    response: s.rerouteResponseSchema,
  },
  {
    method: 'get',
    path: '/reports/{kind}',
    summary:
      'A report over the window’s decisions (speed, sla, reroutes, distribution, fallbacks), per rule, pool or rep',
    params: { kind: 'speed | sla | reroutes | distribution | fallbacks' },
    query: s.reportQuerySchema,
    response: s.reportResponseSchema,
    csv: true,
  },
  {
    method: 'get',
    path: '/health',
    summary: 'CRM connection, inbox, dead letters, recent CRM errors',
    response: s.healthResponseSchema,
  },
  {
    method: 'post',
    path: '/dead-letters/{id}/replay',
    summary:
      'Replay a dead letter (resends its failed writes); 404 for no open dead letter of that id, 409 when its lead was routed again since (Re-route decides it again instead)',
    params: { id: 'the dead letter id' },
    response: s.replayResponseSchema,
  },
];

/** What the CRM's own UI calls (HubSpot's UI extensions): the tenant is the portal HubSpot signed for. */
const CRM_OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/status',
    summary: 'Connection, published rule set, inbox depth and dead letters (the settings extension)',
    response: s.crmStatusResponseSchema,
  },
  {
    method: 'post',
    path: '/settings-link',
    summary: 'A short-lived signed link that opens the full tab (in the CRM’s iframe modal)',
    response: s.settingsLinkResponseSchema,
  },
  {
    method: 'get',
    path: '/records/{recordId}/routing',
    summary: 'Why a contact was routed where it is: owner, rule, trace steps, SLA (the contact card)',
    params: { recordId: 'the CRM record id' },
    response: s.recordRoutingResponseSchema,
  },
  {
    method: 'post',
    path: '/records/{recordId}/reroute',
    summary: 'Route a contact again under the active rules (the contact card’s button)',
    params: { recordId: 'the CRM record id' },
    response: s.rerouteResponseSchema,
  },
];

const ERRORS = {
  400: {
    description: 'The request does not fit its schema',
    content: { 'application/json': { schema: s.errorResponseSchema } },
  },
} as const;

let built: object | undefined;

export function openApiDocument(): object {
  if (built !== undefined) return built;
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'session', {
    type: 'apiKey',
    in: 'cookie',
    name: 'lr_s_{tenantId}',
    description: 'A tenant session opened by a signed link; state-changing requests also send X-CSRF-Token.',
  });
  registry.registerComponent('securitySchemes', 'hubspotSignature', {
    type: 'apiKey',
    in: 'header',
    name: 'X-HubSpot-Signature-v3',
    description:
      'A request HubSpot signed (hubspot.fetch from the app’s UI extensions), with X-HubSpot-Request-Timestamp.',
  });
  for (const op of OPERATIONS) {
    const params = z.object({
      tenantId: z.string().openapi({ description: 'the tenant id' }),
      ...Object.fromEntries(
        Object.entries(op.params ?? {}).map(([k, d]) => [k, z.string().openapi({ description: d })]),
      ),
    });
    registry.registerPath({
      method: op.method,
      path: `/api/tenants/{tenantId}${op.path}`,
      summary: op.summary,
      security: [{ session: [] }, { hubspotSignature: [] }],
      request: {
        params,
        ...(op.query === undefined ? {} : { query: op.query }),
        ...(op.body === undefined ? {} : { body: { content: { 'application/json': { schema: op.body } } } }),
      },
      responses: {
        200: {
          description: 'OK',
          content: {
            'application/json': { schema: op.response },
            ...(op.csv === true
              ? {
                  'text/csv': {
                    schema: z.string().openapi({ description: 'a header line, then one per row' }),
                  },
                }
              : {}),
          },
        },
        ...ERRORS,
        401: { description: 'No access to this tenant' },
        409: {
          description:
            'Stale or refused: another version was published meanwhile, or a second admin is needed',
          content: { 'application/json': { schema: s.errorResponseSchema } },
        },
        422: {
          description: 'The configuration has errors (line and column)',
          content: { 'application/json': { schema: s.errorResponseSchema } },
        },
      },
    });
  }
  for (const op of CRM_OPERATIONS) {
    const params = Object.entries(op.params ?? {}).map(([k, d]) => [
      k,
      z.string().openapi({ description: d }),
    ]);
    registry.registerPath({
      method: op.method,
      path: `/api/crm${op.path}`,
      summary: op.summary,
      security: [{ hubspotSignature: [] }],
      request: params.length === 0 ? {} : { params: z.object(Object.fromEntries(params)) },
      responses: {
        200: { description: 'OK', content: { 'application/json': { schema: op.response } } },
        ...ERRORS,
        404: { description: 'Not signed by the CRM, or the account has not installed the app' },
      },
    });
  }
  built = new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: {
      title: 'lead-router settings API',
      version: '1',
      description: 'Each tenant’s rules, team, activity and health.',
    },
  });
  return built;
}
