// The body HubSpot POSTs to our webhook: a JSON array of events (shared/crm/hubspot.md §1.4).
// Parse only after the signature check (signature.ts) passed on the raw bytes.
import { z } from 'zod';
import type { CrmEvent } from '../connector.js';

/** "Each request can contain up to 100 events" (hubspot.md §1.2). */
export const MAX_EVENTS_PER_BATCH = 100;

/** HubSpot object type id of contacts on generic `object.*` events. */
export const CONTACT_OBJECT_TYPE_ID = '0-1';

// Ids arrive as JSON numbers; keep them as strings (they may outgrow doubles some day, and then can only
// come as digit strings). A number beyond 2^53 has already been rounded by JSON.parse, so two events
// would share one id and one of them would be dropped as a duplicate: refused instead. A string id
// must be digits: anything else is no HubSpot id, and lone surrogates or NULs would not survive storage.
const id = z
  .union([
    z.string().regex(/^\d{1,40}$/, 'must be a number or a string of digits'),
    z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER, 'is too large to be read exactly'),
  ])
  .transform(String);

const eventSchema = z
  .object({
    eventId: id,
    subscriptionId: id.optional(),
    portalId: id,
    appId: id.optional(),
    occurredAt: z.number().int().nonnegative(),
    // The docs' table says `eventType`; real deliveries say `subscriptionType` (§0 fact 12).
    subscriptionType: z.string().min(1).optional(),
    eventType: z.string().min(1).optional(),
    attemptNumber: z.number().int().nonnegative().optional(),
    objectId: id.optional(),
    objectTypeId: z.string().optional(),
    propertyName: z.string().optional(),
    // Values are strings in the docs; be lenient with numbers/booleans/null from generic events.
    propertyValue: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
    changeSource: z.string().optional(),
    sourceId: z.string().optional(),
    changeFlag: z.string().optional(),
  })
  .passthrough()
  .refine((e) => e.subscriptionType !== undefined || e.eventType !== undefined, {
    message: 'subscriptionType (or eventType) is required',
    path: ['subscriptionType'],
  });

export type HubSpotWebhookEvent = z.infer<typeof eventSchema>;

// The size is checked before any event is: a signed body of 300,000 elements would otherwise cost a
// zod issue per element while the event loop waits.
export const webhookBatchSchema = z
  .array(z.unknown())
  .min(1)
  .max(MAX_EVENTS_PER_BATCH)
  .pipe(z.array(eventSchema));

export interface PortalEvent {
  portalId: string;
  event: CrmEvent;
}

/** A contact whose data the portal asked to be erased (GDPR delete): purged, never routed. */
export interface PrivacyDeletion {
  portalId: string;
  contactId: string;
  eventId: string;
}

/** `hubEvents` subscription of a GDPR deletion; HubSpot also sends `contact.deletion`, in any order. */
export const PRIVACY_DELETION_SUBSCRIPTION = 'contact.privacyDeletion';

export interface ParsedBatch {
  events: PortalEvent[];
  privacyDeletions: PrivacyDeletion[];
  /** Events we do not route on (deletions, merges, other object types): counted, not dropped silently. */
  ignored: Array<{ portalId: string; subscription: string; eventId: string }>;
}

export function subscriptionOf(e: HubSpotWebhookEvent): string {
  return e.subscriptionType ?? e.eventType ?? '';
}

/** Source string carried on CrmEvent.source: `changeSource` and `sourceId` joined by `|`. */
export function sourceOf(e: Pick<HubSpotWebhookEvent, 'changeSource' | 'sourceId'>): string | undefined {
  if (e.changeSource === undefined && e.sourceId === undefined) return undefined;
  return `${e.changeSource ?? ''}|${e.sourceId ?? ''}`;
}

function kindOf(e: HubSpotWebhookEvent): CrmEvent['kind'] | null {
  const sub = subscriptionOf(e);
  if (sub === 'contact.creation') return 'created';
  if (sub === 'contact.propertyChange') return 'changed';
  if (e.objectTypeId !== CONTACT_OBJECT_TYPE_ID) return null;
  if (sub === 'object.creation') return 'created';
  if (sub === 'object.propertyChange') return 'changed';
  return null;
}

/** Maps validated events to CrmEvents; unsupported types go to `ignored`. */
export function toCrmEvents(batch: HubSpotWebhookEvent[]): ParsedBatch {
  const out: ParsedBatch = { events: [], privacyDeletions: [], ignored: [] };
  for (const e of batch) {
    const kind = kindOf(e);
    const subscription = subscriptionOf(e);
    if (subscription === PRIVACY_DELETION_SUBSCRIPTION && e.objectId !== undefined) {
      out.privacyDeletions.push({ portalId: e.portalId, contactId: e.objectId, eventId: e.eventId });
      continue;
    }
    if (kind === null || e.objectId === undefined || (kind === 'changed' && e.propertyName === undefined)) {
      out.ignored.push({ portalId: e.portalId, subscription, eventId: e.eventId });
      continue;
    }
    // A contact is created once, but HubSpot reports it through `contact.creation` and again through
    // `object.creation`, each with its own event id: keyed by the object, both land on one inbox row.
    const event: CrmEvent =
      kind === 'created'
        ? {
            eventId: `created:${e.objectId}`,
            subscription: 'contact.creation',
            kind,
            objectId: e.objectId,
            occurredAt: e.occurredAt,
          }
        : { eventId: e.eventId, subscription, kind, objectId: e.objectId, occurredAt: e.occurredAt };
    if (kind === 'changed') {
      event.property = e.propertyName;
      event.value =
        e.propertyValue === undefined || e.propertyValue === null ? undefined : String(e.propertyValue);
    }
    const source = sourceOf(e);
    if (source !== undefined) event.source = source;
    out.events.push({ portalId: e.portalId, event });
  }
  return out;
}

export type ParseResult = { ok: true; batch: ParsedBatch } | { ok: false; error: z.ZodError | SyntaxError };

/** Parses the raw (already verified) body. */
export function parseWebhookBody(rawBody: string | Buffer): ParseResult {
  let json: unknown;
  try {
    json = JSON.parse(typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8'));
  } catch (err) {
    return { ok: false, error: err instanceof SyntaxError ? err : new SyntaxError(String(err)) };
  }
  const parsed = webhookBatchSchema.safeParse(json);
  return parsed.success ? { ok: true, batch: toCrmEvents(parsed.data) } : { ok: false, error: parsed.error };
}

// Which changeSource HubSpot stamps on an app's own writes is UNCONFIRMED (hubspot.md §1.4, §11.1):
// believed to be INTEGRATION (or API) with the app id in sourceId. We match the app id as a whole
// token in sourceId, so `userId:<n>` never matches by accident unless n equals our app id AND the
// source is an integration.
const INTEGRATION_SOURCES = new Set(['INTEGRATION', 'API', 'APP']);

/** True when the change is the echo of our own write (so the router must not react to it). */
export function isOwnEcho(event: Pick<CrmEvent, 'kind' | 'source'>, appId: string | number): boolean {
  if (event.kind !== 'changed' || event.source === undefined) return false;
  const sep = event.source.indexOf('|');
  const changeSource = sep < 0 ? event.source : event.source.slice(0, sep);
  const sourceId = sep < 0 ? '' : event.source.slice(sep + 1);
  const app = String(appId);
  const tokens = sourceId.split(/[^0-9A-Za-z_-]+/).filter((t) => t !== '');
  if (!tokens.includes(app)) return false;
  // `appId:123` or a bare `123` names the app; `userId:123` needs an integration changeSource too.
  const named = !/^user(id)?[:-]/i.test(sourceId);
  return named || INTEGRATION_SOURCES.has(changeSource.toUpperCase());
}
