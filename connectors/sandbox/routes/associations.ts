// Associations v4 (hubspot.md §4.5): per-object PUT/GET/DELETE, default associations and batch read/create.
import { Router } from 'express';
import { z } from 'zod';
import { type ObjectType, defaultTypeId, parseObjectType, typeDef } from '../associations.js';
import { authed, param, queryString, requireScopes, type SandboxContext } from '../context.js';
import { BATCH_LIMIT, batchTooLarge } from '../errors.js';
import type { Portal } from '../store.js';
import { parseBody } from './crm-objects.js';

const specs = z.array(z.object({ associationCategory: z.string(), associationTypeId: z.number().int() }));
// An input may carry the `after` a previous answer's row gave, for that object's next page.
const batchRead = z.object({ inputs: z.array(z.object({ id: z.string(), after: z.string().optional() })) });
/** Associations per object in one answer, batch or single (hubspot.md §4.5: "Limit 500 per call"). */
const ASSOCIATIONS_PAGE = 500;
const batchCreate = z.object({
  inputs: z.array(
    z.object({ from: z.object({ id: z.string() }), to: z.object({ id: z.string() }), types: specs }),
  ),
});
const batchDefault = z.object({
  inputs: z.array(z.object({ from: z.object({ id: z.string() }), to: z.object({ id: z.string() }) })),
});

function associated(portal: Portal, from: ObjectType, id: string, to: ObjectType) {
  return [...portal.associationsOf(from, id, to)].map(([toId, edges]) => ({
    toObjectId: Number(toId),
    associationTypes: edges.map((e) => ({
      category: e.category,
      typeId: e.typeId,
      label: typeDef(e.typeId)?.label ?? null,
    })),
  }));
}

function labels(portal: Portal, from: ObjectType, fromId: string, to: ObjectType, toId: string) {
  const edges = portal.associationsOf(from, fromId, to).get(toId) ?? [];
  return {
    fromObjectTypeId: from,
    fromObjectId: Number(fromId),
    toObjectTypeId: to,
    toObjectId: Number(toId),
    labels: edges.map((e) => typeDef(e.typeId)?.label).filter((l): l is string => typeof l === 'string'),
  };
}

export function associationsRouter(ctx: SandboxContext): Router {
  const r = Router();
  const read = requireScopes('crm.objects.contacts.read', 'crm.objects.companies.read');
  const write = requireScopes('crm.objects.contacts.write', 'crm.objects.companies.write');
  const iso = () => new Date(ctx.clock.now()).toISOString();

  r.put('/crm/v4/objects/:fromType/:fromId/associations/default/:toType/:toId', write, (req, res) => {
    const { portal } = authed(res);
    const from = parseObjectType(param(req, 'fromType'));
    const to = parseObjectType(param(req, 'toType'));
    const fromId = param(req, 'fromId');
    const toId = param(req, 'toId');
    portal.associate(from, fromId, toId, defaultTypeId(from, to), 'HUBSPOT_DEFINED', 'api');
    const startedAt = iso();
    res.json({
      status: 'COMPLETE',
      results: [
        {
          from: { id: fromId },
          to: { id: toId },
          associationSpec: {
            associationCategory: 'HUBSPOT_DEFINED',
            associationTypeId: defaultTypeId(from, to),
          },
        },
      ],
      startedAt,
      completedAt: iso(),
    });
  });

  r.put('/crm/v4/objects/:fromType/:fromId/associations/:toType/:toId', write, (req, res) => {
    const { portal } = authed(res);
    const from = parseObjectType(param(req, 'fromType'));
    const to = parseObjectType(param(req, 'toType'));
    const body = parseBody(specs, req.body);
    for (const s of body) {
      portal.associate(
        from,
        param(req, 'fromId'),
        param(req, 'toId'),
        s.associationTypeId,
        s.associationCategory,
        'api',
      );
    }
    res.status(201).json(labels(portal, from, param(req, 'fromId'), to, param(req, 'toId')));
  });

  r.delete('/crm/v4/objects/:fromType/:fromId/associations/:toType/:toId', write, (req, res) => {
    const { portal } = authed(res);
    const from = parseObjectType(param(req, 'fromType'));
    const to = parseObjectType(param(req, 'toType'));
    portal.removeAssociations(from, param(req, 'fromId'), to, param(req, 'toId'));
    res.status(204).end();
  });

  r.get('/crm/v4/objects/:fromType/:fromId/associations/:toType', read, (req, res) => {
    const { portal } = authed(res);
    const from = parseObjectType(param(req, 'fromType'));
    const to = parseObjectType(param(req, 'toType'));
    portal.getObject(from, param(req, 'fromId'));
    const limit = Math.min(Number(queryString(req, 'limit') ?? ASSOCIATIONS_PAGE), ASSOCIATIONS_PAGE);
    const after = Number(queryString(req, 'after') ?? 0);
    const all = associated(portal, from, param(req, 'fromId'), to);
    const page = all.slice(after, after + limit);
    const next = after + page.length;
    res.json({ results: page, ...(next < all.length ? { paging: { next: { after: String(next) } } } : {}) });
  });

  r.post('/crm/v4/associations/:fromType/:toType/batch/read', read, (req, res) => {
    const { portal } = authed(res);
    const from = parseObjectType(param(req, 'fromType'));
    const to = parseObjectType(param(req, 'toType'));
    const body = parseBody(batchRead, req.body);
    if (body.inputs.length > BATCH_LIMIT * 10) throw batchTooLarge(body.inputs.length);
    const startedAt = iso();
    res.json({
      status: 'COMPLETE',
      results: body.inputs
        .filter((i) => portal.objects[from].has(i.id))
        .map((i) => {
          const all = associated(portal, from, i.id, to);
          const after = Number(i.after ?? 0);
          const next = after + ASSOCIATIONS_PAGE;
          return {
            from: { id: i.id },
            to: all.slice(after, next),
            ...(next < all.length ? { paging: { next: { after: String(next) } } } : {}),
          };
        }),
      startedAt,
      completedAt: iso(),
    });
  });

  r.post('/crm/v4/associations/:fromType/:toType/batch/create', write, (req, res) => {
    const { portal } = authed(res);
    const from = parseObjectType(param(req, 'fromType'));
    const to = parseObjectType(param(req, 'toType'));
    const body = parseBody(batchCreate, req.body);
    if (body.inputs.length > BATCH_LIMIT) throw batchTooLarge(body.inputs.length);
    const startedAt = iso();
    for (const i of body.inputs) {
      for (const s of i.types)
        portal.associate(from, i.from.id, i.to.id, s.associationTypeId, s.associationCategory, 'api');
    }
    res.status(201).json({
      status: 'COMPLETE',
      results: body.inputs.map((i) => labels(portal, from, i.from.id, to, i.to.id)),
      startedAt,
      completedAt: iso(),
    });
  });

  r.post('/crm/v4/associations/:fromType/:toType/batch/associate/default', write, (req, res) => {
    const { portal } = authed(res);
    const from = parseObjectType(param(req, 'fromType'));
    const to = parseObjectType(param(req, 'toType'));
    const body = parseBody(batchDefault, req.body);
    if (body.inputs.length > BATCH_LIMIT) throw batchTooLarge(body.inputs.length);
    const typeId = defaultTypeId(from, to);
    const startedAt = iso();
    for (const i of body.inputs) portal.associate(from, i.from.id, i.to.id, typeId, 'HUBSPOT_DEFINED', 'api');
    res.json({
      status: 'COMPLETE',
      results: body.inputs.map((i) => ({
        from: { id: i.from.id },
        to: { id: i.to.id },
        associationSpec: { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: typeId },
      })),
      startedAt,
      completedAt: iso(),
    });
  });
  return r;
}
