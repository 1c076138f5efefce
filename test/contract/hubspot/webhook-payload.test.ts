import {
  isOwnEcho,
  parseWebhookBody,
  webhookBatchSchema,
} from '../../../connectors/hubspot/webhook-payload.js';

const CLASSIC =
  '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]';
const DOC_EXAMPLE = JSON.stringify([
  {
    objectId: 1246965,
    propertyName: 'lifecyclestage',
    propertyValue: 'subscriber',
    changeSource: 'ACADEMY',
    eventId: 3816279340,
    subscriptionId: 25,
    portalId: 33,
    appId: 1160452,
    occurredAt: 1462216307945,
    eventType: 'contact.propertyChange',
    attemptNumber: 0,
  },
  {
    objectId: 1246978,
    changeSource: 'IMPORT',
    eventId: 3816279480,
    subscriptionId: 22,
    portalId: 33,
    appId: 1160452,
    occurredAt: 1462216307945,
    eventType: 'contact.creation',
    attemptNumber: 0,
  },
]);

function event(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventId: 7,
    subscriptionId: 1,
    portalId: 99,
    appId: 5,
    occurredAt: 1,
    subscriptionType: 'contact.creation',
    attemptNumber: 0,
    objectId: 10,
    ...over,
  };
}

function parse(body: unknown) {
  const r = parseWebhookBody(JSON.stringify(body));
  if (!r.ok) throw r.error;
  return r.batch;
}

describe('parseWebhookBody', () => {
  it('classic contact.creation (subscriptionType)', () => {
    const r = parseWebhookBody(CLASSIC);
    expect(r).toEqual({
      ok: true,
      batch: {
        ignored: [],
        privacyDeletions: [],
        events: [
          {
            portalId: '62515',
            event: {
              eventId: 'created:123',
              subscription: 'contact.creation',
              kind: 'created',
              objectId: '123',
              occurredAt: 1564113600000,
              source: 'CRM|',
            },
          },
        ],
      },
    });
  });

  it('keys a creation by its object, so contact.creation and object.creation land on one inbox row', () => {
    const creation = {
      eventId: 11,
      subscriptionId: 1,
      portalId: 62515,
      appId: 4242,
      occurredAt: 1564113600000,
      attemptNumber: 0,
      objectId: 77,
      changeSource: 'CRM',
    };
    const b = parse([
      { ...creation, subscriptionType: 'contact.creation' },
      { ...creation, eventId: 12, subscriptionType: 'object.creation', objectTypeId: '0-1' },
    ]);
    expect(b.events.map((e) => [e.event.subscription, e.event.eventId])).toEqual([
      ['contact.creation', 'created:77'],
      ['contact.creation', 'created:77'],
    ]);
  });

  it('doc example with eventType and a property change', () => {
    const b = parse(JSON.parse(DOC_EXAMPLE));
    expect(b.events.map((e) => e.event)).toEqual([
      {
        eventId: '3816279340',
        subscription: 'contact.propertyChange',
        kind: 'changed',
        objectId: '1246965',
        property: 'lifecyclestage',
        value: 'subscriber',
        occurredAt: 1462216307945,
        source: 'ACADEMY|',
      },
      {
        eventId: 'created:1246978',
        subscription: 'contact.creation',
        kind: 'created',
        objectId: '1246978',
        occurredAt: 1462216307945,
        source: 'IMPORT|',
      },
    ]);
    expect(b.events.every((e) => e.portalId === '33')).toBe(true);
  });

  it.each([
    [
      'object.creation of a contact',
      { subscriptionType: 'object.creation', objectTypeId: '0-1', changeFlag: 'CREATED' },
      'created',
    ],
    [
      'object.propertyChange of a contact',
      {
        subscriptionType: 'object.propertyChange',
        objectTypeId: '0-1',
        propertyName: 'country',
        propertyValue: 'DE',
      },
      'changed',
    ],
  ])('%s', (_n, over, kind) => {
    const b = parse([event(over)]);
    expect(b.events[0]?.event.kind).toBe(kind);
    expect(b.ignored).toEqual([]);
  });

  it.each([
    ['a custom object', { subscriptionType: 'object.creation', objectTypeId: '2-143967026' }],
    ['a company', { subscriptionType: 'object.creation', objectTypeId: '0-2' }],
    ['a deletion', { subscriptionType: 'contact.deletion' }],
    ['a property change without propertyName', { subscriptionType: 'contact.propertyChange' }],
  ])('ignores %s (and says so)', (_n, over) => {
    const b = parse([event(over)]);
    expect(b.events).toEqual([]);
    expect(b.ignored).toHaveLength(1);
  });

  it('reads contact.privacyDeletion as a privacy deletion of the contact, never as a routing event', () => {
    const b = parse([event({ subscriptionType: 'contact.privacyDeletion', objectId: 901, eventId: 55 })]);
    expect(b.privacyDeletions).toEqual([{ portalId: '99', contactId: '901', eventId: '55' }]);
    expect(b.events).toEqual([]);
    expect(b.ignored).toEqual([]);
  });

  it('carries changeSource and sourceId', () => {
    const b = parse([
      event({
        subscriptionType: 'contact.propertyChange',
        propertyName: 'hubspot_owner_id',
        propertyValue: '41629779',
        changeSource: 'INTEGRATION',
        sourceId: '54321',
      }),
    ]);
    expect(b.events[0]?.event).toMatchObject({
      property: 'hubspot_owner_id',
      value: '41629779',
      source: 'INTEGRATION|54321',
    });
  });

  it.each([
    ['not JSON', '[{'],
    ['an object, not an array', '{"eventId":1}'],
    ['an empty array', '[]'],
    [
      'no subscriptionType nor eventType',
      JSON.stringify([{ eventId: 1, portalId: 1, occurredAt: 1, objectId: 1 }]),
    ],
    ['no portalId', JSON.stringify([{ eventId: 1, occurredAt: 1, subscriptionType: 'contact.creation' }])],
    ['more than 100 events', JSON.stringify(Array.from({ length: 101 }, () => event()))],
  ])('rejects %s', (_n, raw) => {
    expect(parseWebhookBody(raw).ok).toBe(false);
  });

  it.each([
    ['eventId', '9007199254740993'],
    ['objectId', '18446744073709551616'],
    ['portalId', '1e21'],
  ])(
    'rejects %s beyond 2^53: JSON.parse has already rounded it, so two events would share one id',
    (field, n) => {
      // 2^53 + 1 reads as 2^53: without the check, the second delivery below would be a "duplicate".
      const r = parseWebhookBody(JSON.stringify([event({ [field]: '#' })]).replace('"#"', n));
      expect(r.ok).toBe(false);
      if (!r.ok)
        expect(r.error).toMatchObject({
          issues: [{ path: [0, field], message: 'is too large to be read exactly' }],
        });
    },
  );

  it.each(['abc', ' 1', '1e3', '', '\u0661', '\ud800', 'a\u0000'])(
    'rejects the string id %j (ids are digits)',
    (id) => {
      expect(parseWebhookBody(JSON.stringify([event({ eventId: id })])).ok).toBe(false);
      expect(parseWebhookBody(JSON.stringify([event({ objectId: id })])).ok).toBe(false);
    },
  );

  it('keeps digit-string ids exactly, leading zeros and beyond 2^53 included', () => {
    const b = parse([
      event({ eventId: '123456789012345678901234567890', objectId: '007', portalId: '0123' }),
    ]);
    expect(b.events[0]).toMatchObject({
      portalId: '0123',
      event: { eventId: 'created:007', objectId: '007' },
    });
  });

  it('refuses an oversized batch by its length alone, before validating any element', () => {
    const r = parseWebhookBody(`[${Array<string>(200_000).fill('1').join(',')}]`);
    expect(r.ok).toBe(false);
    // One issue for the length, not one per element (each costs time while the event loop waits).
    if (!r.ok) expect(r.error).toMatchObject({ issues: [{ code: 'too_big', path: [] }] });
  });

  it('accepts exactly 100 events', () => {
    expect(webhookBatchSchema.safeParse(Array.from({ length: 100 }, () => event())).success).toBe(true);
  });
});

describe('isOwnEcho', () => {
  const APP = '54321';
  it.each([
    ['INTEGRATION with our app id', 'INTEGRATION|54321', true],
    ['INTEGRATION with appId: prefix', 'INTEGRATION|appId:54321', true],
    ['API with our app id', 'API|54321', true],
    ['bare app id, other source', 'CRM|54321', true],
    ['INTEGRATION of another app', 'INTEGRATION|99999', false],
    ['a user in the UI', 'CRM_UI|userId:75514748', false],
    ['a user whose id equals our app id, via the UI', 'CRM_UI|userId:54321', false],
    ['an import', 'IMPORT|', false],
    ['app id as a substring only', 'INTEGRATION|654321', false],
  ])('%s → %s', (_n, source, expected) => {
    expect(isOwnEcho({ kind: 'changed', source }, APP)).toBe(expected);
  });

  it('creations are never echoes (we do not create contacts)', () => {
    expect(isOwnEcho({ kind: 'created', source: 'INTEGRATION|54321' }, APP)).toBe(false);
  });
});
