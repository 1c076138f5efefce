// Sequences v4 (hubspot.md §6). Error wording for seat / inbox / already-enrolled is UNCONFIRMED (§11.4).
import { Router } from 'express';
import { z } from 'zod';
import { authed, param, queryString, requireScopes } from '../context.js';
import { SandboxHttpError, notFound, validation } from '../errors.js';
import type { Portal, Sequence } from '../store.js';
import { parseBody } from './crm-objects.js';

const enrollBody = z.object({
  sequenceId: z.string(),
  contactId: z.string(),
  senderEmail: z.string(),
  senderAliasAddress: z.string().optional(),
});

function requireUser(portal: Portal, raw: string | undefined) {
  if (raw === undefined || raw === '') throw validation('userId is required');
  const owner = portal.ownerByUserId(Number(raw));
  if (owner === undefined || owner.archived) {
    throw validation(`User ${raw} does not exist or is deactivated`, { subCategory: 'USER_NOT_FOUND' });
  }
  return owner;
}

const toLite = (s: Sequence) => ({
  id: s.id,
  name: s.name,
  userId: String(s.userId),
  createdAt: new Date(s.createdAt).toISOString(),
  updatedAt: new Date(s.updatedAt).toISOString(),
  ...(s.folderId !== undefined ? { folderId: s.folderId } : {}),
});

export function sequencesRouter(): Router {
  const r = Router();
  const read = requireScopes('automation.sequences.read');
  const write = requireScopes('automation.sequences.enrollments.write');

  r.get('/automation/v4/sequences', read, (req, res) => {
    const { portal } = authed(res);
    requireUser(portal, queryString(req, 'userId'));
    const name = queryString(req, 'name')?.toLowerCase();
    const all = [...portal.sequences.values()].filter(
      (s) => name === undefined || s.name.toLowerCase().includes(name),
    );
    const limit = Number(queryString(req, 'limit') ?? 100);
    const after = Number(queryString(req, 'after') ?? 0);
    const page = all.slice(after, after + limit);
    const next = after + page.length;
    res.json({
      total: all.length,
      results: page.map(toLite),
      ...(next < all.length ? { paging: { next: { after: String(next) } } } : {}),
    });
  });

  r.get('/automation/v4/sequences/enrollments/contact/:contactId', read, (req, res) => {
    const { portal } = authed(res);
    const e = portal.enrollments.find((x) => x.contactId === param(req, 'contactId'));
    if (e === undefined) throw notFound(param(req, 'contactId'));
    const seq = portal.sequences.get(e.sequenceId);
    const by = portal.ownerByUserId(e.userId);
    res.json({
      id: e.id,
      toEmail: e.toEmail,
      enrolledAt: new Date(e.enrolledAt).toISOString(),
      updatedAt: new Date(e.enrolledAt).toISOString(),
      sequenceId: e.sequenceId,
      sequenceName: seq?.name ?? '',
      enrolledBy: String(e.userId),
      enrolledByEmail: by?.email ?? '',
    });
  });

  r.get('/automation/v4/sequences/:sequenceId', read, (req, res) => {
    const { portal } = authed(res);
    requireUser(portal, queryString(req, 'userId'));
    const seq = portal.sequences.get(param(req, 'sequenceId'));
    if (seq === undefined) throw notFound(param(req, 'sequenceId'));
    res.json({ ...toLite(seq), steps: [], settings: {}, dependencies: [] });
  });

  r.post('/automation/v4/sequences/enrollments', write, (req, res) => {
    const { portal } = authed(res);
    const user = requireUser(portal, queryString(req, 'userId'));
    const body = parseBody(enrollBody, req.body);
    if (!user.salesSeat) {
      throw new SandboxHttpError(
        403,
        'VALIDATION_ERROR',
        'The user must have an assigned Sales Hub or Service Hub Professional or Enterprise seat to enroll contacts in sequences.',
        { subCategory: 'MISSING_SEAT' },
      );
    }
    const sequence = portal.sequences.get(body.sequenceId);
    if (sequence === undefined) throw notFound(body.sequenceId);
    const contact = portal.getObject('contacts', body.contactId);
    if (!user.connectedInboxes.map((e) => e.toLowerCase()).includes(body.senderEmail.toLowerCase())) {
      throw validation(
        `The senderEmail ${body.senderEmail} must be an email address that's connected to your HubSpot account.`,
        {
          subCategory: 'INBOX_NOT_CONNECTED',
        },
      );
    }
    const toEmail = contact.properties['email'];
    if (toEmail === undefined)
      throw validation('The contact has no email address.', { subCategory: 'CONTACT_HAS_NO_EMAIL' });
    // A contact can be in one sequence at a time.
    if (portal.enrollments.some((e) => e.contactId === contact.id)) {
      throw validation(`Contact ${contact.id} is already enrolled in a sequence.`, {
        subCategory: 'CONTACT_ALREADY_ENROLLED',
      });
    }
    const e = portal.addEnrollment(
      {
        sequenceId: sequence.id,
        contactId: contact.id,
        userId: user.userId,
        senderEmail: body.senderEmail,
        toEmail,
      },
      'api',
    );
    res.json({
      id: e.id,
      toEmail: e.toEmail,
      enrolledAt: new Date(e.enrolledAt).toISOString(),
      updatedAt: new Date(e.enrolledAt).toISOString(),
    });
  });
  return r;
}
