// Change Data Capture messages, as documented (cdc_message_structure, cdc_event_fields_header), mapped
// to inbox events: creations per record id, updates per record and changed field, gaps that ask for the
// catch-up poll, and lead-router's own writes skipped.
import { describe, expect, it } from '@jest/globals';
import { LEAD_CHANNEL, mapChangeEvent, originClient } from '../../../connectors/salesforce/intake/index.js';
import { channelObject } from '../../../connectors/salesforce/intake/change-events.js';

const SELF = 'lead-router';
const T = 1767225600000;

/** A CometD delivery's data part, shaped as Salesforce documents it. */
function message(
  header: Record<string, unknown>,
  fields: Record<string, unknown> = {},
  replayId: unknown = 18098167,
) {
  return {
    schema: 'I8b-dYxvxs5wOtCBr4qsew',
    payload: {
      ChangeEventHeader: {
        entityName: 'Lead',
        recordIds: ['00Q5g00000AbCdEEAZ'],
        changeType: 'CREATE',
        changeOrigin: 'com/salesforce/api/rest/62.0;client=WebForms',
        transactionKey: '0004cf3e-1a2b-4c5d',
        sequenceNumber: 1,
        commitTimestamp: T,
        commitUser: '0055g00000XyZabAAB',
        commitNumber: 11657372702432,
        changedFields: [],
        ...header,
      },
      ...fields,
    },
    event: { replayId },
  };
}

describe('change events', () => {
  it('a CREATE becomes one created event per record id, keyed by the record id', () => {
    const m = mapChangeEvent(
      message({ recordIds: ['00Q5g00000AbCdEEAZ', '00Q5g00000AbCdFEAZ'] }, { Company: 'Analytical Engines' }),
      LEAD_CHANNEL,
      SELF,
    );
    expect(m).toEqual({
      replayId: '18098167',
      committedAt: T,
      poll: null,
      skipped: null,
      events: [
        {
          eventId: 'created:00Q5g00000AbCdEEAZ',
          subscription: LEAD_CHANNEL,
          kind: 'created',
          objectId: '00Q5g00000AbCdEEAZ',
          occurredAt: T,
        },
        {
          eventId: 'created:00Q5g00000AbCdFEAZ',
          subscription: LEAD_CHANNEL,
          kind: 'created',
          objectId: '00Q5g00000AbCdFEAZ',
          occurredAt: T,
        },
      ],
    });
  });

  it('a change lead-router made itself is skipped, whatever its type', () => {
    for (const changeType of ['CREATE', 'UPDATE']) {
      const m = mapChangeEvent(
        message({
          changeType,
          changeOrigin: 'com/salesforce/api/rest/62.0;client=lead-router',
          changedFields: ['OwnerId'],
        }),
        LEAD_CHANNEL,
        SELF,
      );
      expect(m.events).toEqual([]);
      expect(m.skipped).toBe('written by lead-router');
      expect(m.replayId).toBe('18098167'); // still moves the stream on
    }
    // Another client, or none at all (a change made in the UI), is not ours.
    expect(mapChangeEvent(message({ changeOrigin: '' }), LEAD_CHANNEL, SELF).events).toHaveLength(1);
    expect(
      mapChangeEvent(
        message({ changeOrigin: 'com/salesforce/api/rest/62.0;client=lead-router-2' }),
        LEAD_CHANNEL,
        SELF,
      ).events,
    ).toHaveLength(1);
  });

  it('an UPDATE names each changed field with its new value, compound fields by their part', () => {
    const m = mapChangeEvent(
      message(
        {
          changeType: 'UPDATE',
          changedFields: ['Address.Country', 'NumberOfEmployees', 'LastModifiedDate', 'Industry'],
        },
        { Address: { Country: 'Germany', City: null }, NumberOfEmployees: 1200, Industry: null },
        '18098170',
      ),
      LEAD_CHANNEL,
      SELF,
    );
    expect(m.events.map((e) => [e.eventId, e.kind, e.property, e.value])).toEqual([
      ['18098170:00Q5g00000AbCdEEAZ', 'changed', 'Country', 'Germany'],
      ['18098170:00Q5g00000AbCdEEAZ', 'changed', 'NumberOfEmployees', '1200'],
      ['18098170:00Q5g00000AbCdEEAZ', 'changed', 'Industry', undefined],
    ]);
    expect(m.poll).toBeNull();
  });

  it('an UPDATE of system fields only is skipped', () => {
    const m = mapChangeEvent(
      message({ changeType: 'UPDATE', changedFields: ['LastModifiedDate', 'SystemModstamp'] }),
      LEAD_CHANNEL,
      SELF,
    );
    expect(m.events).toEqual([]);
    expect(m.skipped).toBe('no field a rule reads changed');
  });

  it.each([
    ['GAP_CREATE', 1],
    ['GAP_UPDATE', 0],
    ['GAP_DELETE', 0],
    ['GAP_UNDELETE', 0],
  ])('%s asks for the catch-up poll (%d created from its record ids)', (changeType, created) => {
    const m = mapChangeEvent(message({ changeType }), LEAD_CHANNEL, SELF);
    expect(m.poll).toBe(`${changeType} event`);
    expect(m.events.filter((e) => e.kind === 'created')).toHaveLength(created);
  });

  it('GAP_OVERFLOW names no records: only the poll can find them', () => {
    const m = mapChangeEvent(message({ changeType: 'GAP_OVERFLOW', recordIds: [] }), LEAD_CHANNEL, SELF);
    expect(m).toMatchObject({ events: [], poll: 'GAP_OVERFLOW event' });
  });

  it('a wildcard record id is polled for, the named ids are routed', () => {
    const m = mapChangeEvent(message({ recordIds: ['00Q*', '00Q5g00000AbCdEEAZ'] }), LEAD_CHANNEL, SELF);
    expect(m.events.map((e) => e.objectId)).toEqual(['00Q5g00000AbCdEEAZ']);
    expect(m.poll).toBe('a creation named no record');
  });

  it.each(['DELETE', 'UNDELETE'])('%s is not routed', (changeType) => {
    const m = mapChangeEvent(message({ changeType }), LEAD_CHANNEL, SELF);
    expect(m).toMatchObject({ events: [], poll: null, skipped: `${changeType} is not routed` });
  });

  it.each([
    ['no header', { payload: {}, event: { replayId: 1 } }],
    ['no replay id', { payload: message({}).payload, event: {} }],
    ['a replay id that is not a number', message({}, {}, 'abc')],
    ['an unknown change type', message({ changeType: 'MERGE' })],
    ['a string', 'hello'],
    ['a payload that is not an object', { payload: 'Lead', event: { replayId: 1 } }],
  ])('%s is refused', (_what, bad) => {
    expect(() => mapChangeEvent(bad, LEAD_CHANNEL, SELF)).toThrow();
  });

  it('reads the client id of changeOrigin', () => {
    expect(originClient('com/salesforce/api/rest/62.0;client=lead-router')).toBe('lead-router');
    expect(originClient('com/salesforce/api/soap/62.0')).toBeNull();
    expect(originClient('')).toBeNull();
  });

  it('knows the object of a channel and refuses what is not a change-event channel', () => {
    expect(channelObject('/data/LeadChangeEvent')).toBe('Lead');
    expect(channelObject('/data/ContactChangeEvent')).toBe('Contact');
    expect(channelObject('/data/Invoice__ChangeEvent')).toBe('Invoice__c');
    expect(() => channelObject('/topic/Leads')).toThrow('not a change-event channel');
  });
});
