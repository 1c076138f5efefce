import {
  signV1,
  signV2,
  signV3,
  verifyHubSpotRequest,
  verifyV1V2,
  verifyV3,
  type SignedRequest,
} from '../../../connectors/hubspot/signature.js';

const SECRET = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy';
const CREATION =
  '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]';
const NOW = 1_700_000_000_000;

function signed(over: Partial<SignedRequest> & { ts?: number; secret?: string } = {}): SignedRequest {
  const ts = over.ts ?? NOW;
  const method = over.method ?? 'POST';
  const uri = over.uri ?? 'https://app.example.com/webhooks/hubspot';
  const rawBody = over.rawBody ?? CREATION;
  const sig = signV3({ clientSecret: over.secret ?? SECRET, method, uri, rawBody, timestamp: ts });
  return {
    method,
    uri,
    rawBody,
    headers: over.headers ?? { 'X-HubSpot-Signature-v3': sig, 'X-HubSpot-Request-Timestamp': String(ts) },
  };
}

describe('test vectors (hubspot.md §2.2)', () => {
  it.each([
    ['POST', 'https://www.example.com/webhook_uri', CREATION, '/pXDSgWeGksQpwCsgqd43P0eY6gBIse9UX0tfkudUrE='],
    [
      'GET',
      'https://www.example.com/webhook_uri?q=a%3Ab%40c',
      '',
      'LwtVxq71OiJeha+bLH+8JutN3W919JK6WsJ8IXRsAsE=',
    ],
    [
      'POST',
      'https://www.example.com/webhook_uri',
      '{"example_field":"example_value"}',
      'rQEKkaNUiu+1qGF//O/pw4BCzstSqO1PyUnGICmf+7o=',
    ],
  ])('v3 %s %s', (method, uri, body, expected) => {
    expect(signV3({ clientSecret: SECRET, method, uri, rawBody: body, timestamp: 1700000000000 })).toBe(
      expected,
    );
    const req = {
      method,
      uri,
      rawBody: body,
      headers: { 'x-hubspot-signature-v3': expected, 'x-hubspot-request-timestamp': '1700000000000' },
    };
    expect(verifyV3(req, SECRET, NOW)).toEqual({ ok: true });
  });

  it('v1 over the creation body', () => {
    expect(signV1({ clientSecret: SECRET, rawBody: CREATION })).toBe(
      '232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de',
    );
  });

  it.each([
    ['GET', '', 'eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e'],
    [
      'POST',
      '{"example_field":"example_value"}',
      '9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900',
    ],
  ])('v2 %s', (method, body, expected) => {
    const uri = 'https://www.example.com/webhook_uri';
    expect(signV2({ clientSecret: SECRET, method, uri, rawBody: body })).toBe(expected);
    const req = {
      method,
      uri,
      rawBody: body,
      headers: { 'X-HubSpot-Signature': expected, 'X-HubSpot-Signature-Version': 'v2' },
    };
    expect(verifyV1V2(req, SECRET)).toEqual({ ok: true });
  });

  it('v1 verification fails on an altered body', () => {
    const sig = signV1({ clientSecret: SECRET, rawBody: CREATION });
    const req = {
      method: 'POST',
      uri: 'https://x',
      rawBody: CREATION.replace('123', '124'),
      headers: { 'x-hubspot-signature': sig },
    };
    expect(verifyV1V2(req, SECRET)).toEqual({ ok: false, reason: 'bad_signature' });
  });
});

describe('v3 failure modes', () => {
  it('accepts a correctly signed request and a Buffer body', () => {
    expect(verifyV3(signed(), SECRET, NOW)).toEqual({ ok: true });
    const req = signed();
    expect(verifyV3({ ...req, rawBody: Buffer.from(CREATION, 'utf8') }, SECRET, NOW)).toEqual({ ok: true });
  });

  it.each([
    ['no signature', { 'X-HubSpot-Request-Timestamp': String(NOW) }],
    ['no timestamp', { 'X-HubSpot-Signature-v3': 'abc' }],
    ['empty signature', { 'X-HubSpot-Signature-v3': '', 'X-HubSpot-Request-Timestamp': String(NOW) }],
    ['no headers', {}],
  ])('missing header: %s', (_name, headers) => {
    expect(verifyV3(signed({ headers }), SECRET, NOW)).toEqual({ ok: false, reason: 'missing_header' });
  });

  it('wrong secret', () => {
    expect(verifyV3(signed({ secret: 'other-secret' }), SECRET, NOW)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('altered body (same length)', () => {
    const req = signed();
    expect(
      verifyV3({ ...req, rawBody: CREATION.replace('"objectId":123', '"objectId":124') }, SECRET, NOW),
    ).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('re-serialized body does not verify (raw bytes only)', () => {
    const pretty = JSON.stringify(JSON.parse(CREATION), null, 2);
    const req = signed();
    expect(verifyV3({ ...req, rawBody: pretty }, SECRET, NOW)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('bodies that differ only in invalid UTF-8 bytes have different signatures (bytes, not decoded text)', () => {
    // Both decode to the same U+FFFD text; a signature over the decoded text would accept either.
    const [head, tail] = CREATION.split('"CRM"');
    const body = (byte: number): Buffer =>
      Buffer.concat([Buffer.from(`${head}"C`), Buffer.from([byte]), Buffer.from(`M"${tail}`)]);
    expect(body(0xff).toString('utf8')).toBe(body(0xfe).toString('utf8'));
    const req = signed({ rawBody: body(0xff) });
    expect(verifyV3(req, SECRET, NOW)).toEqual({ ok: true });
    expect(verifyV3({ ...req, rawBody: body(0xfe) }, SECRET, NOW)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    const v1 = {
      ...req,
      headers: { 'x-hubspot-signature': signV1({ clientSecret: SECRET, rawBody: body(0xff) }) },
    };
    expect(verifyV1V2(v1, SECRET)).toEqual({ ok: true });
    expect(verifyV1V2({ ...v1, rawBody: body(0xfe) }, SECRET)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('signature of a different length is a mismatch, not a throw', () => {
    const req = signed({
      headers: { 'X-HubSpot-Signature-v3': 'c2hvcnQ=', 'X-HubSpot-Request-Timestamp': String(NOW) },
    });
    expect(verifyV3(req, SECRET, NOW)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it.each([
    ['stale by 5 min + 1 ms', NOW - 300_001],
    ['in the future by 5 min + 1 ms', NOW + 300_001],
  ])('%s', (_name, ts) => {
    expect(verifyV3(signed({ ts }), SECRET, NOW)).toEqual({ ok: false, reason: 'stale_timestamp' });
  });

  it.each([NOW - 300_000, NOW + 300_000])('accepts the edge of the window (%s)', (ts) => {
    expect(verifyV3(signed({ ts }), SECRET, NOW)).toEqual({ ok: true });
  });

  it('non-numeric timestamp is stale', () => {
    const req = signed();
    expect(
      verifyV3({ ...req, headers: { ...req.headers, 'X-HubSpot-Request-Timestamp': '17e11' } }, SECRET, NOW),
    ).toEqual({
      ok: false,
      reason: 'stale_timestamp',
    });
  });

  it('timestamp header must match the signed one', () => {
    const req = signed({ ts: NOW - 1000 });
    expect(
      verifyV3(
        { ...req, headers: { ...req.headers, 'X-HubSpot-Request-Timestamp': String(NOW) } },
        SECRET,
        NOW,
      ),
    ).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });
});

describe('v3 URI handling', () => {
  const raw = 'https://app.example.com/webhooks/hubspot?redirect=https%3A%2F%2Fa.b%2Fc&x=%28y%29';
  const decoded = 'https://app.example.com/webhooks/hubspot?redirect=https://a.b/c&x=(y)';

  it('HubSpot signs the decoded URI; we verify the encoded one as received', () => {
    const ts = NOW;
    const sig = signV3({
      clientSecret: SECRET,
      method: 'POST',
      uri: decoded,
      rawBody: CREATION,
      timestamp: ts,
    });
    const req = {
      method: 'POST',
      uri: raw,
      rawBody: CREATION,
      headers: { 'x-hubspot-signature-v3': sig, 'x-hubspot-request-timestamp': String(ts) },
    };
    expect(verifyV3(req, SECRET, NOW)).toEqual({ ok: true });
  });

  it.each([
    ['%20 stays encoded', 'https://a.example.com/h?q=a%20b', 'https://a.example.com/h?q=a b'],
    ['%3D stays encoded', 'https://a.example.com/h?q=a%3Db', 'https://a.example.com/h?q=a=b'],
  ])('%s', (_name, received, wronglyDecoded) => {
    const ok = signV3({ clientSecret: SECRET, method: 'POST', uri: received, rawBody: '', timestamp: NOW });
    const wrong = signV3({
      clientSecret: SECRET,
      method: 'POST',
      uri: wronglyDecoded,
      rawBody: '',
      timestamp: NOW,
    });
    expect(ok).not.toBe(wrong);
    const headers = (sig: string) => ({
      'x-hubspot-signature-v3': sig,
      'x-hubspot-request-timestamp': String(NOW),
    });
    expect(
      verifyV3({ method: 'POST', uri: received, rawBody: '', headers: headers(ok) }, SECRET, NOW),
    ).toEqual({ ok: true });
    expect(
      verifyV3({ method: 'POST', uri: received, rawBody: '', headers: headers(wrong) }, SECRET, NOW),
    ).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('lower-case percent escapes are decoded too', () => {
    const a = signV3({
      clientSecret: SECRET,
      method: 'GET',
      uri: 'https://h/p?q=a%3ab',
      rawBody: '',
      timestamp: NOW,
    });
    const b = signV3({
      clientSecret: SECRET,
      method: 'GET',
      uri: 'https://h/p?q=a:b',
      rawBody: '',
      timestamp: NOW,
    });
    expect(a).toBe(b);
  });

  it('a trailing slash is part of the URI', () => {
    const req = signed({ uri: 'https://app.example.com/webhooks/hubspot/' });
    expect(verifyV3(req, SECRET, NOW)).toEqual({ ok: true });
    expect(verifyV3({ ...req, uri: 'https://app.example.com/webhooks/hubspot' }, SECRET, NOW)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });
});

describe('verifyHubSpotRequest', () => {
  it('prefers v3 and ignores a valid v1 header when v3 is wrong', () => {
    const req = signed({ secret: 'wrong' });
    const withV1 = {
      ...req,
      headers: { ...req.headers, 'x-hubspot-signature': signV1({ clientSecret: SECRET, rawBody: CREATION }) },
    };
    expect(verifyHubSpotRequest(withV1, SECRET, NOW, { allowLegacy: true })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('v1 only when legacy is allowed', () => {
    const req = {
      method: 'POST',
      uri: 'https://x',
      rawBody: CREATION,
      headers: {
        'x-hubspot-signature': signV1({ clientSecret: SECRET, rawBody: CREATION }),
        'x-hubspot-signature-version': 'v1',
      },
    };
    expect(verifyHubSpotRequest(req, SECRET, NOW)).toEqual({ ok: false, reason: 'missing_header' });
    expect(verifyHubSpotRequest(req, SECRET, NOW, { allowLegacy: true })).toEqual({ ok: true });
  });
});
