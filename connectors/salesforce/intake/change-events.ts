// Salesforce Change Data Capture messages → lead-router events. Pure: the stream hands each message in,
// this says what goes to the inbox and whether the catch-up poll must run.
// Message shape: https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_message_structure.htm
// Header fields: https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_event_fields_header.htm
import { z } from 'zod';
import type { CrmEvent } from '../../connector.js';

export const LEAD_CHANNEL = '/data/LeadChangeEvent';
export const CONTACT_CHANNEL = '/data/ContactChangeEvent';

/** The sObject whose records a change-event channel carries (`/data/LeadChangeEvent` → `Lead`). */
export function channelObject(channel: string): string {
  const m = /^\/data\/(\w+?)ChangeEvent$/.exec(channel);
  if (m === null) throw new Error(`not a change-event channel: ${channel}`);
  return m[1]!.replace(/__$/, '__c');
}

const changeTypeSchema = z.enum([
  'CREATE',
  'UPDATE',
  'DELETE',
  'UNDELETE',
  'GAP_CREATE',
  'GAP_UPDATE',
  'GAP_DELETE',
  'GAP_UNDELETE',
  'GAP_OVERFLOW',
  'SNAPSHOT',
]);

const headerSchema = z.object({
  entityName: z.string(),
  recordIds: z.array(z.string()).default([]),
  changeType: changeTypeSchema,
  changeOrigin: z.string().default(''),
  changedFields: z.array(z.string()).default([]),
  commitTimestamp: z.number(),
  transactionKey: z.string().optional(),
});

/**
 * The part of a CometD delivery a Faye subscriber gets: `{ schema, payload, event: { replayId } }`. The
 * payload's record fields are not copied by the parse (its header is what is checked); an update's
 * values are read from the message as it came.
 */
export const changeEventMessageSchema = z.object({
  payload: z.object({ ChangeEventHeader: headerSchema }),
  event: z.object({ replayId: z.union([z.number().int(), z.string().regex(/^\d+$/)]) }),
});

/** What one change event asks of the intake. */
export interface MappedChange {
  replayId: string;
  /** When Salesforce committed the change (epoch ms). */
  committedAt: number;
  /** Inbox rows: creations, and for updates one row per record and changed field (filtered by holds later). */
  events: CrmEvent[];
  /** Why the catch-up poll must run (a gap or overflow event, a wildcard record id), or null. */
  poll: string | null;
  /** Why nothing of it is recorded (our own write, a delete), for the debug log, or null. */
  skipped: string | null;
}

// Fields every update carries that no rule reads.
const SYSTEM_FIELDS = new Set([
  'LastModifiedDate',
  'LastModifiedById',
  'SystemModstamp',
  'LastReferencedDate',
  'LastViewedDate',
]);

/** The inbox event id of a record's creation. */
export function creationEventId(recordId: string): string {
  return `created:${recordId}`;
}

/** `changeOrigin` is `com/salesforce/api/<api>/<version>;client=<id>`: the caller's Call Options client. */
export function originClient(changeOrigin: string): string | null {
  const m = /(?:^|;)client=([^;]*)/.exec(changeOrigin);
  return m === null ? null : m[1]!;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function scalar(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** A changed field's value: compound fields arrive nested (`Address.Country` → payload.Address.Country). */
function changedValue(payload: Record<string, unknown>, field: string): string | undefined {
  const [head, ...rest] = field.split('.');
  let v: unknown = payload[head!];
  for (const part of rest) v = isRecord(v) ? v[part] : undefined;
  return scalar(v);
}

/**
 * Maps one message. `selfClient` is the Call Options client id lead-router writes with: changes it made
 * itself are skipped. Throws a ZodError on a message that is not a change event.
 */
export function mapChangeEvent(message: unknown, channel: string, selfClient: string): MappedChange {
  const m = changeEventMessageSchema.parse(message);
  const h = m.payload.ChangeEventHeader;
  const replayId = String(m.event.replayId);
  const base = { replayId, committedAt: h.commitTimestamp };
  const none = (skipped: string): MappedChange => ({ ...base, events: [], poll: null, skipped });
  if (originClient(h.changeOrigin) === selfClient) return none('written by lead-router');
  // A wildcard (`00Q*`, field conversions) names no record: only a poll can find what changed.
  const ids = h.recordIds.filter((id) => !id.includes('*'));
  const wildcard = ids.length < h.recordIds.length;
  const occurredAt = h.commitTimestamp;
  // A record is created once: keyed by its id alone, its creation is one inbox row however it is found
  // (the event, the event replayed after a restart, a gap event's ids, the catch-up poll).
  const created = (): CrmEvent[] =>
    ids.map((id) => ({
      eventId: creationEventId(id),
      subscription: channel,
      kind: 'created',
      objectId: id,
      occurredAt,
    }));

  switch (h.changeType) {
    case 'CREATE':
      return {
        ...base,
        events: created(),
        poll: wildcard ? 'a creation named no record' : null,
        skipped: null,
      };
    case 'GAP_CREATE':
      // A gap event carries record ids but no fields: the ids are enough to route, the poll finds the rest.
      return { ...base, events: created(), poll: `${h.changeType} event`, skipped: null };
    case 'UPDATE': {
      const fields = [
        ...new Set(h.changedFields.map((f) => f.split('.').at(-1)!).filter((f) => !SYSTEM_FIELDS.has(f))),
      ];
      // Checked to be an object by the parse above.
      const payload = (message as { payload: Record<string, unknown> }).payload;
      const events = ids.flatMap((id) =>
        fields.map((field): CrmEvent => ({
          eventId: `${replayId}:${id}`,
          subscription: channel,
          kind: 'changed',
          objectId: id,
          property: field,
          value: changedValue(payload, h.changedFields.find((f) => f.split('.').at(-1) === field) ?? field),
          occurredAt,
        })),
      );
      return {
        ...base,
        events,
        poll: null,
        skipped: events.length === 0 ? 'no field a rule reads changed' : null,
      };
    }
    case 'GAP_UPDATE':
    case 'GAP_DELETE':
    case 'GAP_UNDELETE':
    case 'GAP_OVERFLOW':
      return { ...base, events: [], poll: `${h.changeType} event`, skipped: null };
    case 'DELETE':
    case 'UNDELETE':
    case 'SNAPSHOT':
      return none(`${h.changeType} is not routed`);
    default: {
      const never: never = h.changeType;
      throw new Error(`unhandled change type ${String(never)}`);
    }
  }
}
