// HubSpot's webhooks as a pushed intake: signature v3 over the raw request, the batch parsed into
// events by portal, the echoes of our app's own writes dropped (hubspot.md §1).
import type { PushedEvents, PushedIntake } from '../pushed-intake.js';
import { verifyHubSpotRequest } from './signature.js';
import { isOwnEcho, parseWebhookBody } from './webhook-payload.js';

export interface HubSpotPushedIntakeOptions {
  /** The app's client secret: HubSpot signs every delivery with it. */
  clientSecret: string;
  /** Our app id: events whose source names it are echoes of our own writes. */
  appId: string | number;
}

export function hubspotPushedIntake(opts: HubSpotPushedIntakeOptions): PushedIntake {
  return {
    provider: 'hubspot',
    crmName: 'HubSpot',
    accountNoun: 'portal',
    verify: (request, now) => verifyHubSpotRequest(request, opts.clientSecret, now),
    parse(rawBody) {
      const parsed = parseWebhookBody(rawBody);
      if (!parsed.ok) {
        const kind =
          parsed.error instanceof SyntaxError
            ? 'body is not valid JSON'
            : 'body does not match the webhook schema';
        const issue = parsed.error instanceof SyntaxError ? undefined : parsed.error.issues[0];
        const reason =
          issue === undefined ? kind : `${kind}: ${issue.path.join('.')} ${issue.message}`.trim();
        return { ok: false, kind, reason };
      }
      const batch: PushedEvents = {
        events: [],
        echoes: 0,
        privacyDeletions: parsed.batch.privacyDeletions.map((d) => ({
          accountId: d.portalId,
          leadId: d.contactId,
        })),
        ignored: parsed.batch.ignored.length,
      };
      for (const { portalId, event } of parsed.batch.events) {
        if (isOwnEcho(event, opts.appId)) batch.echoes += 1;
        else batch.events.push({ accountId: portalId, event });
      }
      return { ok: true, batch };
    },
  };
}
