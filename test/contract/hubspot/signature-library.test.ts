// Our v3 signature against an implementation that is not ours: `Signature` of @hubspot/api-client.
// The library does not decode the URI (hubspot.md §2.3), so the cross-check runs on URIs that need no
// decoding (no `%` escapes); there both must agree in both directions, on good and on bad signatures.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Signature } from '@hubspot/api-client';
import fc from 'fast-check';
import { verifyV3 } from '../../../connectors/hubspot/signature.js';
import { createHubSpotSandbox, signV3 as sandboxSignV3 } from '../../../connectors/sandbox/index.js';

const SECRET = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy';

/** URI characters that stand for themselves: nothing for HubSpot's v3 procedure to decode. */
const plainChar = fc.constantFrom(
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/?=&+:@!$'()*,;".split(''),
);
const plainUri = fc
  .tuple(
    fc.constantFrom('https://app.example.com', 'https://router.example.org:8443', 'http://127.0.0.1:3000'),
    fc.string({ unit: plainChar, maxLength: 60 }),
  )
  .map(([origin, rest]) => `${origin}/${rest}`);
const method = fc.constantFrom('POST', 'GET', 'PUT', 'DELETE');
const body = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
  fc.constant(''),
);

/** The library's check; it throws on a stale timestamp, which our inputs never are. */
function libraryAccepts(args: {
  method: string;
  uri: string;
  body: string;
  timestamp: number;
  signature: string;
}): boolean {
  return Signature.isValid({
    signatureVersion: 'v3',
    clientSecret: SECRET,
    method: args.method,
    url: args.uri,
    requestBody: args.body,
    timestamp: args.timestamp,
    signature: args.signature,
  });
}

function oursAccepts(args: {
  method: string;
  uri: string;
  body: string;
  timestamp: number;
  signature: string;
  now: number;
}): boolean {
  return verifyV3(
    {
      method: args.method,
      uri: args.uri,
      rawBody: args.body,
      headers: {
        'X-HubSpot-Signature-v3': args.signature,
        'X-HubSpot-Request-Timestamp': String(args.timestamp),
      },
    },
    SECRET,
    args.now,
  ).ok;
}

describe('v3 signatures cross-checked with @hubspot/api-client', () => {
  it('the library validates what the sandbox signs', () => {
    fc.assert(
      fc.property(method, plainUri, body, (m, uri, b) => {
        const timestamp = Date.now();
        const signature = sandboxSignV3(SECRET, m, uri, b, timestamp);
        expect(libraryAccepts({ method: m, uri, body: b, timestamp, signature })).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('our verifier accepts what the library’s algorithm signs, and both refuse a changed request', () => {
    fc.assert(
      fc.property(method, plainUri, body, fc.string({ minLength: 1, maxLength: 5 }), (m, uri, b, extra) => {
        const now = Date.now();
        const timestamp = now - 1000;
        const signature = Signature.getSignature(m, 'v3', {
          clientSecret: SECRET,
          url: uri,
          requestBody: b,
          timestamp,
          signature: '',
        });
        expect(oursAccepts({ method: m, uri, body: b, timestamp, signature, now })).toBe(true);
        expect(libraryAccepts({ method: m, uri, body: b, timestamp, signature })).toBe(true);
        // Any change to what was signed: both say no.
        for (const changed of [
          { method: m, uri, body: b + extra, timestamp, signature },
          { method: m, uri: `${uri}x`, body: b, timestamp, signature },
          { method: m, uri, body: b, timestamp: timestamp + 1, signature },
        ]) {
          expect(libraryAccepts(changed)).toBe(false);
          expect(oursAccepts({ ...changed, now })).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a real sandbox delivery passes the library’s check and ours', async () => {
    const received: { headers: IncomingHttpHeaders; body: string; url: string }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          url: req.url ?? '',
        });
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const targetUrl = `http://127.0.0.1:${port}/webhooks/hubspot?app=lead-router&v=3`;
    const sandbox = createHubSpotSandbox({ seed: 3, webhookTiming: { batchWindowMs: 2 } });
    try {
      const portal = sandbox.createPortal({ webhooks: { targetUrl, clientSecret: SECRET, appId: 77 } });
      portal.createObject('contacts', { email: 'ünïcode@example.com', firstname: 'Zoë' }, 'import');
      await sandbox.webhooks.idle();
      expect(received).toHaveLength(1);
      const [delivery] = received;
      const uri = `http://127.0.0.1:${port}${delivery!.url}`;
      const timestamp = Number(delivery!.headers['x-hubspot-request-timestamp']);
      const signature = String(delivery!.headers['x-hubspot-signature-v3']);
      expect(uri).toBe(targetUrl);
      expect(libraryAccepts({ method: 'POST', uri, body: delivery!.body, timestamp, signature })).toBe(true);
      expect(
        oursAccepts({ method: 'POST', uri, body: delivery!.body, timestamp, signature, now: Date.now() }),
      ).toBe(true);
    } finally {
      await sandbox.stop();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
