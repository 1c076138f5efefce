// A Salesforce canvas signed request: what Salesforce POSTs (form field `signed_request`) when an org user
// opens the app inside Salesforce. It is `<signature>.<envelope>`, the envelope base64 JSON and the
// signature the base64 HMAC-SHA256 of the envelope as sent, keyed with the connected app's consumer
// secret (salesforce.md §6, canvas-app-signed-req-authentication). Checked on the bytes as received, in
// constant time, before the JSON is parsed; the OAuth token it carries is never kept.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/** Which org and user a signed request is from. */
export interface CanvasCaller {
  orgId: string;
  /** The user's email, else their username (both as Salesforce sends them). */
  user: string;
}

const envelopeSchema = z.object({
  algorithm: z.literal('HMACSHA256'),
  context: z.object({
    user: z.object({
      email: z.string().min(1).optional(),
      userName: z.string().min(1).optional(),
    }),
    organization: z.object({ organizationId: z.string().regex(/^00D[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$/) }),
  }),
});

/** The caller of a canvas signed request, or null when it is malformed or not signed with `secret`. */
export function verifyCanvasRequest(signedRequest: string, secret: string): CanvasCaller | null {
  const dot = signedRequest.indexOf('.');
  if (dot <= 0 || secret === '') return null;
  const envelope = signedRequest.slice(dot + 1);
  const given = Buffer.from(signedRequest.slice(0, dot), 'base64');
  const expected = createHmac('sha256', secret).update(envelope, 'utf8').digest();
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(envelope, 'base64').toString('utf8'));
  } catch {
    return null;
  }
  const parsed = envelopeSchema.safeParse(json);
  if (!parsed.success) return null;
  const { user, organization } = parsed.data.context;
  const who = user.email ?? user.userName;
  return who === undefined ? null : { orgId: organization.organizationId, user: who };
}

/** Signs an envelope as Salesforce does: for the sandbox and tests, which must not stub the check. */
export function signCanvasRequest(envelope: unknown, secret: string): string {
  const encoded = Buffer.from(JSON.stringify(envelope), 'utf8').toString('base64');
  return `${createHmac('sha256', secret).update(encoded, 'utf8').digest('base64')}.${encoded}`;
}
