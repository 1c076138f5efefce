// Owners v3 (hubspot.md §3): read-only, `userId` distinct from `id`, archived owners only on request.
import { Router } from 'express';
import { authed, param, queryString, requireScopes } from '../context.js';
import { notFound, validation } from '../errors.js';
import type { Owner } from '../store.js';

function toPublic(o: Owner) {
  return {
    id: o.id,
    email: o.email,
    type: o.type,
    firstName: o.firstName,
    lastName: o.lastName,
    // Deactivated users: userId is null and the value moves to userIdIncludingInactive.
    userId: o.archived ? null : o.userId,
    userIdIncludingInactive: o.userId,
    createdAt: new Date(o.createdAt).toISOString(),
    updatedAt: new Date(o.updatedAt).toISOString(),
    archived: o.archived,
    teams: o.teams,
  };
}

export function ownersRouter(): Router {
  const r = Router();
  const scope = requireScopes('crm.objects.owners.read', 'automation');

  r.get('/crm/v3/owners/', scope, (req, res) => {
    const { portal } = authed(res);
    const archived = queryString(req, 'archived') === 'true';
    const email = queryString(req, 'email')?.toLowerCase();
    const limit = Number(queryString(req, 'limit') ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500)
      throw validation('limit must be between 1 and 500');
    const after = Number(queryString(req, 'after') ?? 0);
    const all = [...portal.owners.values()].filter(
      (o) => o.archived === archived && (email === undefined || o.email.toLowerCase() === email),
    );
    const page = all.slice(after, after + limit);
    const next = after + page.length;
    res.json({
      results: page.map(toPublic),
      ...(next < all.length ? { paging: { next: { after: String(next), link: `?after=${next}` } } } : {}),
    });
  });

  r.get('/crm/v3/owners/:ownerId', scope, (req, res) => {
    const { portal } = authed(res);
    const raw = param(req, 'ownerId');
    const archived = queryString(req, 'archived') === 'true';
    const owner =
      queryString(req, 'idProperty') === 'userId'
        ? portal.ownerByUserId(Number(raw))
        : portal.owners.get(raw);
    if (owner === undefined || owner.archived !== archived) throw notFound(raw);
    res.json(toPublic(owner));
  });
  return r;
}
