// HubSpot request signatures, checked on the raw body before any parsing.
// Doc: https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation
// We do not use the client's `Signature.isValid`: it does not decode the URI, compares with `===`,
// throws on a stale timestamp and ignores future ones (shared/crm/hubspot.md §2.3).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** v3 rejects timestamps further than this from now, in both directions. */
export const MAX_SIGNATURE_AGE_MS = 5 * 60 * 1000;

export type SignatureResult =
  { ok: true } | { ok: false; reason: 'missing_header' | 'stale_timestamp' | 'bad_signature' };

export interface SignedRequest {
  method: string;
  /** The full public URI HubSpot called, `https://host/path?query`, as received (still encoded). */
  uri: string;
  /** The raw body bytes as received; never a re-serialized object. */
  rawBody: string | Buffer;
  /** Header lookup, case-insensitive (Express `req.get` or a plain record). */
  headers: Record<string, string | string[] | undefined>;
}

// The characters HubSpot's v3 procedure decodes; anything else (e.g. %20, %3D) stays encoded.
const V3_DECODE: Record<string, string> = {
  '%3A': ':',
  '%2F': '/',
  '%3F': '?',
  '%40': '@',
  '%21': '!',
  '%24': '$',
  '%27': "'",
  '%28': '(',
  '%29': ')',
  '%2A': '*',
  '%2C': ',',
  '%3B': ';',
};

/** Decodes exactly the characters listed in HubSpot's v3 table (case-insensitive hex). */
export function decodeV3Uri(uri: string): string {
  return uri.replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (m) => V3_DECODE[m.toUpperCase()] ?? m);
}

function header(headers: SignedRequest['headers'], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted) continue;
    const first = Array.isArray(value) ? value[0] : value;
    return first === undefined || first === '' ? undefined : first;
  }
  return undefined;
}

/**
 * The body as bytes. A Buffer is hashed as received: decoding it first would map every invalid UTF-8
 * sequence to U+FFFD, so two different bodies would share one signature.
 */
function bodyBytes(rawBody: string | Buffer): Buffer {
  return typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
}

export function signV3(args: {
  clientSecret: string;
  method: string;
  uri: string;
  rawBody: string | Buffer;
  timestamp: string | number;
}): string {
  return createHmac('sha256', args.clientSecret)
    .update(`${args.method.toUpperCase()}${decodeV3Uri(args.uri)}`, 'utf8')
    .update(bodyBytes(args.rawBody))
    .update(String(args.timestamp), 'utf8')
    .digest('base64');
}

export function signV1(args: { clientSecret: string; rawBody: string | Buffer }): string {
  return createHash('sha256').update(args.clientSecret, 'utf8').update(bodyBytes(args.rawBody)).digest('hex');
}

/** v2 signs the URI exactly as called (no decoding). */
export function signV2(args: {
  clientSecret: string;
  method: string;
  uri: string;
  rawBody: string | Buffer;
}): string {
  return createHash('sha256')
    .update(args.clientSecret + args.method.toUpperCase() + args.uri, 'utf8')
    .update(bodyBytes(args.rawBody))
    .digest('hex');
}

function safeEqual(expected: string, received: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(received, 'utf8');
  // timingSafeEqual needs equal lengths; a length mismatch is a mismatch (length is not secret).
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Verifies `X-HubSpot-Signature-v3` + `X-HubSpot-Request-Timestamp` (HMAC-SHA256, base64). */
export function verifyV3(
  req: SignedRequest,
  clientSecret: string,
  now: number,
  maxAgeMs: number = MAX_SIGNATURE_AGE_MS,
): SignatureResult {
  const signature = header(req.headers, 'x-hubspot-signature-v3');
  const timestamp = header(req.headers, 'x-hubspot-request-timestamp');
  if (signature === undefined || timestamp === undefined) return { ok: false, reason: 'missing_header' };
  const ts = Number(timestamp);
  if (!/^\d+$/.test(timestamp) || !Number.isSafeInteger(ts) || Math.abs(now - ts) > maxAgeMs) {
    return { ok: false, reason: 'stale_timestamp' };
  }
  const expected = signV3({
    clientSecret,
    method: req.method,
    uri: req.uri,
    rawBody: req.rawBody,
    timestamp,
  });
  return safeEqual(expected, signature) ? { ok: true } : { ok: false, reason: 'bad_signature' };
}

/** Verifies the older `X-HubSpot-Signature` (v1 or v2 per `X-HubSpot-Signature-Version`). No timestamp. */
export function verifyV1V2(req: SignedRequest, clientSecret: string): SignatureResult {
  const signature = header(req.headers, 'x-hubspot-signature');
  const version = header(req.headers, 'x-hubspot-signature-version') ?? 'v1';
  if (signature === undefined) return { ok: false, reason: 'missing_header' };
  let expected: string;
  if (version === 'v1') expected = signV1({ clientSecret, rawBody: req.rawBody });
  else if (version === 'v2')
    expected = signV2({ clientSecret, method: req.method, uri: req.uri, rawBody: req.rawBody });
  else return { ok: false, reason: 'bad_signature' };
  return safeEqual(expected, signature.toLowerCase()) ? { ok: true } : { ok: false, reason: 'bad_signature' };
}

/**
 * The check the webhook endpoint uses: v3 when its headers are present (HubSpot sends it on every
 * request), else v1/v2 only when `allowLegacy` is set (v1/v2 have no replay protection).
 */
export function verifyHubSpotRequest(
  req: SignedRequest,
  clientSecret: string,
  now: number,
  opts: { allowLegacy?: boolean; maxAgeMs?: number } = {},
): SignatureResult {
  if (header(req.headers, 'x-hubspot-signature-v3') !== undefined || !opts.allowLegacy) {
    return verifyV3(req, clientSecret, now, opts.maxAgeMs);
  }
  return verifyV1V2(req, clientSecret);
}
