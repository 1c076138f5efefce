// Contacts, companies, tasks and notes v3: basic, batch and search (hubspot.md §4, §5).
import { Router, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { type ObjectType, parseObjectType } from '../associations.js';
import { authed, param, queryList, queryString, requireScopes, type SandboxContext } from '../context.js';
import { BATCH_LIMIT, SandboxHttpError, batchTooLarge, notFound, validation } from '../errors.js';
import { checkSearchLimits, pinnedIds, runSearch, searchRequestSchema } from '../search.js';
import type { CrmObject, Portal } from '../store.js';
import { toSimple, withHistoryOf } from './serialize.js';

const propertyValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const associationInput = z.object({
  to: z.object({ id: z.union([z.string(), z.number()]) }),
  types: z.array(
    z.object({
      associationCategory: z.enum(['HUBSPOT_DEFINED', 'USER_DEFINED', 'INTEGRATOR_DEFINED', 'WORK']),
      associationTypeId: z.number().int(),
    }),
  ),
});
const createInput = z.object({
  properties: z.record(propertyValue).default({}),
  associations: z.array(associationInput).default([]),
  /** Echoed on the input's result (and on the events it causes), so results map to inputs. */
  objectWriteTraceId: z.string().optional(),
});
const updateInput = z.object({ properties: z.record(propertyValue) });
const batchCreate = z.object({ inputs: z.array(createInput) });
const batchUpdate = z.object({
  inputs: z.array(
    updateInput.extend({
      id: z.string(),
      idProperty: z.string().optional(),
      objectWriteTraceId: z.string().optional(),
    }),
  ),
});
const batchRead = z.object({
  inputs: z.array(z.object({ id: z.string() })),
  properties: z.array(z.string()).optional(),
  propertiesWithHistory: z.array(z.string()).optional(),
  idProperty: z.string().optional(),
});

export function parseBody<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw validation(
      `Invalid input JSON on line 1: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
    );
  }
  return parsed.data;
}

function scopeFor(type: ObjectType, write: boolean): string {
  const base = type === 'companies' ? 'crm.objects.companies' : 'crm.objects.contacts';
  return `${base}.${write ? 'write' : 'read'}`;
}

const readScope = (req: Request) => scopeFor(parseObjectType(param(req, 'objectType')), false);
const writeScope = (req: Request) => scopeFor(parseObjectType(param(req, 'objectType')), true);
const scoped =
  (pick: (req: Request) => string) =>
  (req: Request, res: Response, next: NextFunction): void => {
    requireScopes(pick(req))(req, res, next);
  };

function flattenAssociations(a: z.infer<typeof associationInput>[]) {
  return a.flatMap((x) =>
    x.types.map((t) => ({
      toId: String(x.to.id),
      typeId: t.associationTypeId,
      category: t.associationCategory,
    })),
  );
}

function lookup(portal: Portal, type: ObjectType, id: string, idProperty: string | undefined): CrmObject {
  if (idProperty === undefined || idProperty === 'hs_object_id') return portal.getObject(type, id);
  const found = portal.findByProperty(type, idProperty, id);
  if (found === undefined) throw notFound(id);
  return found;
}

function batchEnvelope(ctx: SandboxContext, startedAt: number, results: unknown[], errors: unknown[]) {
  if (ctx.behaviour.shuffleBatchResults) ctx.shuffler.shuffle(results);
  const base = {
    status: 'COMPLETE',
    results,
    startedAt: new Date(startedAt).toISOString(),
    completedAt: new Date(ctx.clock.now()).toISOString(),
  };
  return errors.length > 0 ? { ...base, numErrors: errors.length, errors } : base;
}

const SINGULAR: Record<ObjectType, string> = {
  contacts: 'contact',
  companies: 'company',
  tasks: 'task',
  notes: 'note',
};

/** A written object as a batch answer lists it, with the trace id its input carried. */
function written(obj: CrmObject, traceId: string | undefined) {
  const simple = toSimple(obj, Object.keys(obj.properties));
  return traceId === undefined ? simple : { ...simple, objectWriteTraceId: traceId };
}

/** The v3 association names (`contact_to_company`, `contact_to_company_unlabeled`). */
function v3TypeName(from: ObjectType, to: ObjectType, typeId: number): string {
  const base = `${SINGULAR[from]}_to_${SINGULAR[to]}`;
  return typeId === 279 || typeId === 280 ? `${base}_unlabeled` : base;
}

export function crmObjectsRouter(ctx: SandboxContext): Router {
  const r = Router();
  const prefix = '/crm/v3/objects/:objectType';

  r.post(`${prefix}/search`, scoped(readScope), (req, res) => {
    const { portal } = authed(res);
    const type = parseObjectType(param(req, 'objectType'));
    if (JSON.stringify(req.body ?? {}).length > 3000) {
      throw validation('The request body exceeds the maximum of 3000 characters.');
    }
    const search = parseBody(searchRequestSchema, req.body ?? {});
    checkSearchLimits(search);
    const indexedBy = ctx.clock.now() - ctx.behaviour.searchLagMs;
    const pinned = pinnedIds(search);
    const candidates =
      pinned === undefined
        ? [...portal.objects[type].values()]
        : [...pinned].flatMap((id) => portal.objects[type].get(id) ?? []);
    const indexed = candidates.filter((o) => o.createdAt <= indexedBy);
    const out = runSearch(indexed, search, (toType) => portal.associatedIds(type, toType));
    res.json({
      total: out.total,
      results: out.page.map((o) =>
        toSimple(
          o,
          search.properties ?? (type === 'contacts' ? ['email', 'firstname', 'lastname'] : undefined),
        ),
      ),
      ...(out.next !== undefined ? { paging: { next: { after: out.next } } } : {}),
    });
  });

  r.post(`${prefix}/batch/read`, scoped(readScope), (req, res) => {
    const { portal } = authed(res);
    const type = parseObjectType(param(req, 'objectType'));
    const body = parseBody(batchRead, req.body);
    if (body.inputs.length > BATCH_LIMIT) throw batchTooLarge(body.inputs.length);
    const started = ctx.clock.now();
    const results: unknown[] = [];
    const missing: string[] = [];
    for (const { id } of body.inputs) {
      try {
        const obj = lookup(portal, type, id, body.idProperty);
        const withHistory = body.propertiesWithHistory ?? [];
        results.push(
          withHistory.length === 0
            ? toSimple(obj, body.properties)
            : {
                ...toSimple(obj, body.properties),
                propertiesWithHistory: withHistoryOf(portal, obj, withHistory),
              },
        );
      } catch (e) {
        if (!(e instanceof SandboxHttpError) || e.status !== 404) throw e;
        missing.push(id);
      }
    }
    const errors =
      missing.length === 0
        ? []
        : [
            {
              status: 'error',
              category: 'OBJECT_NOT_FOUND',
              message: `Could not get some ${type.toUpperCase()} objects, they may be deleted or not exist. Check that ids are valid.`,
              context: { ids: missing },
              errors: [],
              links: {},
            },
          ];
    res.status(errors.length > 0 ? 207 : 200).json(batchEnvelope(ctx, started, results, errors));
  });

  r.post(`${prefix}/batch/create`, scoped(writeScope), (req, res) => {
    const { portal } = authed(res);
    const type = parseObjectType(param(req, 'objectType'));
    const body = parseBody(batchCreate, req.body);
    if (body.inputs.length > BATCH_LIMIT) throw batchTooLarge(body.inputs.length);
    // All-or-nothing, as HubSpot's batch create: validate every input before writing any.
    for (const input of body.inputs) portal.validateProperties(type, input.properties, true);
    const started = ctx.clock.now();
    const created = body.inputs.map((input) =>
      written(
        portal.createObject(
          type,
          input.properties,
          'api',
          flattenAssociations(input.associations),
          input.objectWriteTraceId,
        ),
        input.objectWriteTraceId,
      ),
    );
    res.status(201).json(batchEnvelope(ctx, started, created, []));
  });

  r.post(`${prefix}/batch/update`, scoped(writeScope), (req, res) => {
    const { portal } = authed(res);
    const type = parseObjectType(param(req, 'objectType'));
    const body = parseBody(batchUpdate, req.body);
    if (body.inputs.length > BATCH_LIMIT) throw batchTooLarge(body.inputs.length);
    const targets = body.inputs.map((i) => {
      portal.validateProperties(type, i.properties, false);
      return {
        obj: lookup(portal, type, i.id, i.idProperty),
        properties: i.properties,
        traceId: i.objectWriteTraceId,
      };
    });
    const started = ctx.clock.now();
    const updated = targets.map((t) =>
      written(portal.updateObject(type, t.obj.id, t.properties, 'api', t.traceId), t.traceId),
    );
    res.json(batchEnvelope(ctx, started, updated, []));
  });

  r.post(prefix, scoped(writeScope), (req, res) => {
    const { portal } = authed(res);
    const type = parseObjectType(param(req, 'objectType'));
    const body = parseBody(createInput, req.body);
    const obj = portal.createObject(
      type,
      body.properties,
      'api',
      flattenAssociations(body.associations),
      body.objectWriteTraceId,
    );
    res.status(201).json(written(obj, body.objectWriteTraceId));
  });

  r.get(prefix, scoped(readScope), (req, res) => {
    const { portal } = authed(res);
    const type = parseObjectType(param(req, 'objectType'));
    const limit = Math.min(Number(queryString(req, 'limit') ?? 10), 100);
    const after = Number(queryString(req, 'after') ?? 0);
    const all = [...portal.objects[type].values()].filter((o) => !o.archived);
    const page = all.slice(after, after + limit);
    const next = after + page.length;
    res.json({
      results: page.map((o) => toSimple(o, queryList(req, 'properties'))),
      ...(next < all.length ? { paging: { next: { after: String(next) } } } : {}),
    });
  });

  r.get(`${prefix}/:objectId`, scoped(readScope), (req, res) => {
    const { portal } = authed(res);
    const type = parseObjectType(param(req, 'objectType'));
    const obj = lookup(portal, type, param(req, 'objectId'), queryString(req, 'idProperty'));
    const body: Record<string, unknown> = toSimple(obj, queryList(req, 'properties'));
    const assoc = queryList(req, 'associations');
    if (assoc !== undefined) {
      const out: Record<string, unknown> = {};
      for (const raw of assoc) {
        const toType = parseObjectType(raw);
        const results = [...portal.associationsOf(type, obj.id, toType)].flatMap(([toId, edges]) =>
          edges.map((e) => ({ id: toId, type: v3TypeName(type, toType, e.typeId) })),
        );
        if (results.length > 0) out[toType] = { results };
      }
      body['associations'] = out;
    }
    res.json(body);
  });

  r.patch(`${prefix}/:objectId`, scoped(writeScope), (req, res) => {
    const { portal } = authed(res);
    const type = parseObjectType(param(req, 'objectType'));
    const body = parseBody(updateInput, req.body);
    const obj = lookup(portal, type, param(req, 'objectId'), queryString(req, 'idProperty'));
    const updated = portal.updateObject(type, obj.id, body.properties, 'api');
    res.json(toSimple(updated, Object.keys(updated.properties)));
  });

  return r;
}
