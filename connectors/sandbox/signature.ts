// How HubSpot signs webhook deliveries (hubspot.md §2): v1 for CRM object subscriptions, v3 on every request.
import { createHash, createHmac } from 'node:crypto';

/** The characters HubSpot decodes in the URI before signing v3 (hubspot.md §2.1, step 2). */
const DECODE: Record<string, string> = {
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

export function decodeSignedUri(uri: string): string {
  return uri.replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (m) => DECODE[m.toUpperCase()] ?? m);
}

export function signV1(clientSecret: string, body: string): string {
  return createHash('sha256')
    .update(clientSecret + body, 'utf8')
    .digest('hex');
}

export function signV3(
  clientSecret: string,
  method: string,
  uri: string,
  body: string,
  timestamp: number,
): string {
  return createHmac('sha256', clientSecret)
    .update(`${method}${decodeSignedUri(uri)}${body}${timestamp}`, 'utf8')
    .digest('base64');
}
