// The canvas signed request as Salesforce sends it: signed here with our own HMAC, then broken in every
// way it can be wrong; only a request signed with the consumer secret over the envelope as sent passes.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { signCanvasRequest, verifyCanvasRequest } from '../../../connectors/salesforce/canvas.js';

const SECRET = 'consumer-secret-of-the-connected-app';
const ORG = '00D5g000004ABCDEA2';
const envelope = (over: Record<string, unknown> = {}) => ({
  algorithm: 'HMACSHA256',
  issuedAt: null,
  userId: '0055g00000ABCDEAA2',
  client: { oauthToken: '00D5g!secret-token', instanceUrl: 'https://acme.my.salesforce.com' },
  context: {
    user: { userId: '0055g00000ABCDEAA2', userName: 'ada@acme.io.prod', email: 'ada@acme.io' },
    organization: { organizationId: ORG, name: 'Acme' },
  },
  ...over,
});

/** Signed by hand, independent of `signCanvasRequest`: HMAC-SHA256 of the base64 envelope, base64. */
function signByHand(value: unknown, secret = SECRET): string {
  const encoded = Buffer.from(JSON.stringify(value)).toString('base64');
  return `${createHmac('sha256', secret).update(encoded).digest('base64')}.${encoded}`;
}

describe('Salesforce canvas signed request', () => {
  it('names the org and the user (email, else username) of a correctly signed request', () => {
    expect(verifyCanvasRequest(signByHand(envelope()), SECRET)).toEqual({ orgId: ORG, user: 'ada@acme.io' });
    expect(signCanvasRequest(envelope(), SECRET)).toBe(signByHand(envelope()));
    const noEmail = envelope({
      context: { user: { userName: 'bo@acme.io.prod' }, organization: { organizationId: ORG } },
    });
    expect(verifyCanvasRequest(signByHand(noEmail), SECRET)).toEqual({ orgId: ORG, user: 'bo@acme.io.prod' });
  });

  const good = signByHand(envelope());
  const [sig, body] = good.split('.') as [string, string];
  it.each([
    ['another secret', signByHand(envelope(), 'another-secret')],
    [
      'an altered envelope',
      `${sig}.${Buffer.from(JSON.stringify(envelope({ userId: 'x' }))).toString('base64')}`,
    ],
    ['a truncated signature', `${sig.slice(0, 20)}.${body}`],
    ['no signature', `.${body}`],
    ['no dot', body],
    ['empty', ''],
    ['another algorithm', signByHand(envelope({ algorithm: 'HMACSHA1' }))],
    ['no organization', signByHand(envelope({ context: { user: { email: 'a@b.c' } } }))],
    [
      'an organization id that is not one',
      signByHand(
        envelope({ context: { user: { email: 'a@b.c' }, organization: { organizationId: "x' OR 1" } } }),
      ),
    ],
    ['no user', signByHand(envelope({ context: { user: {}, organization: { organizationId: ORG } } }))],
    [
      'an envelope that is not JSON',
      (() => {
        const encoded = Buffer.from('{not json').toString('base64');
        return `${createHmac('sha256', SECRET).update(encoded).digest('base64')}.${encoded}`;
      })(),
    ],
  ])('refuses %s', (_what, request) => {
    expect(verifyCanvasRequest(request, SECRET)).toBeNull();
  });

  it('refuses everything when no secret is configured', () => {
    expect(verifyCanvasRequest(signByHand(envelope(), ''), '')).toBeNull();
  });
});
