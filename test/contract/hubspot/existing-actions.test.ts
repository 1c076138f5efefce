// Contract tests for reading back what a lead already has (findTasks, findNotes, findEnrollment), used
// when a create's outcome is unknown: the associations v4 batch read and the objects' batch read
// (hubspot.md §4.4, §4.5), CRM search with the `associations.contact` pseudo-property for a contact the
// associations answer leaves out (CRM search guide, "Search through associations"; §4.3, §5), and the enrollment by contact
// (hubspot.md §6), answered by nock with the documented payloads, through the real @hubspot/api-client.
import { HUBSPOT_BUCKETS } from '../../../connectors/hubspot/profile.js';
import nock from 'nock';
import { CrmError } from '../../../connectors/connector.js';
import { HubSpotConnector, type HubSpotConnectorOptions } from '../../../connectors/hubspot/connector.js';
import { LimiterFactory, type BucketName, type PortalLimiter } from '../../../connectors/shared/limiter.js';
import { useNockContract } from './nock-contract.js';

const API = 'https://api.hubapi.com';
const NOW = Date.parse('2026-11-26T12:00:00.000Z');
const limiters = new LimiterFactory({ provider: 'hubspot-existing-actions-test', buckets: HUBSPOT_BUCKETS });

function connector(over: Partial<HubSpotConnectorOptions> = {}) {
  const slept: number[] = [];
  /** The portal pauses a 429 asked for: bucket and window. */
  const paused: [BucketName, number][] = [];
  const portal = limiters.forPortal('62515');
  const limiter: PortalLimiter = {
    schedule: (bucket, fn) => portal.schedule(bucket, fn),
    pause: (bucket, ms) => (paused.push([bucket, ms]), portal.pause(bucket, ms)),
    disconnect: () => portal.disconnect(),
  };
  const c = new HubSpotConnector({
    portalId: '62515',
    accessToken: 'CIrT-access',
    limiter,
    windows: { tenSecondlyMs: 7, secondlyMs: 3 },
    retry: { random: () => 0, baseDelayMs: 4, maxAttempts: 3 },
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
    now: () => NOW,
    ...over,
  });
  return { c, slept, paused };
}

/** A limiter that records which bucket each call went through. */
function recordingLimiter(): { limiter: PortalLimiter; buckets: BucketName[] } {
  const buckets: BucketName[] = [];
  return {
    buckets,
    limiter: {
      schedule: (bucket, fn) => (buckets.push(bucket), fn()),
      pause: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
    },
  };
}

/** The search body the connector must send for one contact (the guide's example, with paging). */
const searchBody = (contactId: string, properties: string[], after?: string) => ({
  filterGroups: [{ filters: [{ propertyName: 'associations.contact', operator: 'EQ', value: contactId }] }],
  properties,
  limit: 200,
  ...(after === undefined ? {} : { after }),
});
const TASK_PROPS = ['hs_task_subject', 'hs_timestamp', 'hubspot_owner_id'];
const NOTE_PROPS = ['hs_note_body', 'hs_timestamp'];

/** A SimplePublicObject as search returns it: requested properties (null when unset), all strings. */
const record = (id: string, properties: Record<string, string | null>) => ({
  id,
  properties: {
    hs_createdate: '2026-11-26T11:00:00.000Z',
    hs_lastmodifieddate: '2026-11-26T11:00:00.000Z',
    hs_object_id: id,
    ...properties,
  },
  createdAt: '2026-11-26T11:00:00.000Z',
  updatedAt: '2026-11-26T11:00:00.000Z',
  archived: false,
});

// The documented 200 body of GET /automation/v4/sequences/enrollments/contact/{contactId} (§6).
const ENROLLMENT = {
  id: '2435404604',
  toEmail: 'rachel@example.com',
  enrolledAt: '2024-06-27T20:11:02.824Z',
  updatedAt: '2024-06-27T20:11:02.824Z',
  sequenceId: '44444444',
  sequenceName: 'Enterprise demo follow-up',
  enrolledBy: '2222222',
  enrolledByEmail: 'rep@customer.com',
};

useNockContract(limiters);

/** One contact's row of the associations batch read (hubspot.md §4.5, the documented example's shape). */
const associated = (contactId: string, toIds: number[], type: { typeId: number; label: string | null }) => ({
  from: { id: contactId },
  to: toIds.map((toObjectId) => ({
    toObjectId,
    associationTypes: [{ category: 'HUBSPOT_DEFINED', ...type }],
  })),
});
const TO_TASK = { typeId: 204, label: null };
const TO_NOTE = { typeId: 202, label: null };
const batchRead = (ids: string[], properties: string[]) => ({
  inputs: ids.map((id) => ({ id })),
  properties,
  propertiesWithHistory: [],
});
const batchAnswer = (results: unknown[]) => ({
  status: 'COMPLETE',
  results,
  startedAt: '2026-11-26T12:00:00.000Z',
  completedAt: '2026-11-26T12:00:00.050Z',
});

describe('findTasks', () => {
  it('names the contacts’ tasks in one associations batch read, pages a long list, reads them 100 a call', async () => {
    const ids = Array.from({ length: 101 }, (_, i) => 30001 + i);
    const scope = nock(API)
      .post('/crm/v4/associations/contacts/tasks/batch/read', { inputs: [{ id: '101' }, { id: '102' }] })
      .matchHeader('authorization', 'Bearer CIrT-access')
      .reply(
        200,
        batchAnswer([
          {
            ...associated('101', ids.slice(0, 100), TO_TASK),
            paging: { next: { after: 'MTAw', link: '?after=MTAw' } },
          },
          associated('102', [], TO_TASK),
        ]),
      )
      // The rest of 101's list: asked again with the `after` its row gave, alongside its id.
      .post('/crm/v4/associations/contacts/tasks/batch/read', { inputs: [{ id: '101', after: 'MTAw' }] })
      .reply(200, batchAnswer([associated('101', [ids[100]!], TO_TASK)]))
      .post('/crm/v3/objects/tasks/batch/read', batchRead(ids.slice(0, 100).map(String), TASK_PROPS))
      .reply(
        200,
        batchAnswer(
          ids.slice(0, 100).map((id, i) =>
            i === 0
              ? record(String(id), {
                  hs_task_subject: 'New EMEA lead: BritCo Ltd',
                  hs_timestamp: '2026-11-26T14:00:00.000Z',
                  hubspot_owner_id: '41629779',
                })
              : // hs_timestamp as epoch ms is accepted too (§5); no owner → no ownerId.
                record(String(id), {
                  hs_task_subject: `Task ${i}`,
                  hs_timestamp: '1795000000000',
                  hubspot_owner_id: null,
                }),
          ),
        ),
      )
      .post('/crm/v3/objects/tasks/batch/read', batchRead([String(ids[100])], TASK_PROPS))
      // A task deleted since: an error in a 207, so not there.
      .reply(207, {
        ...batchAnswer([]),
        numErrors: 1,
        errors: [
          {
            status: 'error',
            category: 'OBJECT_NOT_FOUND',
            message:
              'Could not get some TASK objects, they may be deleted or not exist. Check that ids are valid.',
            context: { ids: [String(ids[100])] },
          },
        ],
      });
    const { c } = connector();
    const found = await c.findTasks(['101', '102', '101']);
    scope.done();
    expect([...found.keys()]).toEqual(['101']);
    const tasks = found.get('101')!;
    expect(tasks).toHaveLength(100);
    expect(tasks[0]).toEqual({
      id: '30001',
      subject: 'New EMEA lead: BritCo Ltd',
      dueAt: Date.parse('2026-11-26T14:00:00.000Z'),
      ownerId: '41629779',
    });
    expect(tasks[1]).toEqual({ id: '30002', subject: 'Task 1', dueAt: 1795000000000 });
  });

  it('a contact the associations answer leaves out is searched for on its own, every page', async () => {
    const bodies: unknown[] = [];
    const scope = nock(API)
      .post('/crm/v4/associations/contacts/tasks/batch/read')
      .reply(207, {
        ...batchAnswer([associated('102', [], TO_TASK)]),
        numErrors: 1,
        errors: [
          { status: 'error', category: 'VALIDATION_ERROR', message: 'no associations for 101', context: {} },
        ],
      })
      .post('/crm/v3/objects/tasks/search', (b: unknown) => (bodies.push(b), true))
      .reply(200, {
        total: 2,
        results: [record('30001', { hs_task_subject: 'Call back', hs_timestamp: '1795000000000' })],
        paging: { next: { after: '1', link: '?after=1' } },
      })
      .post('/crm/v3/objects/tasks/search', (b: unknown) => (bodies.push(b), true))
      .reply(200, {
        total: 2,
        results: [record('30002', { hs_task_subject: 'Demo', hs_timestamp: '2026-11-26T12:15:00.000Z' })],
      });
    const { c } = connector();
    await expect(c.findTasks(['101', '102'])).resolves.toEqual(
      new Map([
        [
          '101',
          [
            { id: '30001', subject: 'Call back', dueAt: 1795000000000 },
            { id: '30002', subject: 'Demo', dueAt: Date.parse('2026-11-26T12:15:00.000Z') },
          ],
        ],
      ]),
    );
    scope.done();
    expect(bodies).toEqual([searchBody('101', TASK_PROPS), searchBody('101', TASK_PROPS, '1')]);
  });

  it('runs through the general bucket, and the search bucket only for a contact left out', async () => {
    const { limiter, buckets } = recordingLimiter();
    const scope = nock(API)
      .post('/crm/v4/associations/contacts/tasks/batch/read')
      .reply(200, batchAnswer([associated('101', [30001], TO_TASK)]))
      .post('/crm/v3/objects/tasks/batch/read')
      .reply(200, batchAnswer([record('30001', { hs_task_subject: 'Call', hs_timestamp: '1795000000000' })]))
      .post('/crm/v3/objects/tasks/search')
      .reply(200, { total: 0, results: [] });
    const { c } = connector({ limiter });
    await c.findTasks(['101', '777']);
    scope.done();
    expect(buckets).toEqual(['general', 'general', 'search']);
  });

  it("429 with the search's secondly limit pauses the search bucket for the window; passed up", async () => {
    const scope = nock(API)
      .post('/crm/v4/associations/contacts/tasks/batch/read')
      .reply(200, batchAnswer([]))
      .post('/crm/v3/objects/tasks/search')
      .reply(429, {
        status: 'error',
        message: 'You have reached your secondly limit.',
        errorType: 'RATE_LIMIT',
        correlationId: 'c033cdaa-2c40-4a64-ae48-b4cec88dad24',
        policyName: 'SECONDLY',
      });
    const { c, slept, paused } = connector();
    await expect(c.findTasks(['101'])).rejects.toMatchObject({
      kind: 'rate_limited',
      details: { retryAfterMs: 3 },
    });
    scope.done();
    expect(slept).toEqual([]);
    expect(paused).toEqual([['search', 3]]);
  });

  it('403 missing scopes is auth and not retried', async () => {
    const scope = nock(API)
      .post('/crm/v4/associations/contacts/tasks/batch/read')
      .reply(403, {
        status: 'error',
        message: "This app hasn't been granted all required scopes to make this call.",
        correlationId: 'c033cdaa-2c40-4a64-ae48-b4cec88dad24',
        category: 'MISSING_SCOPES',
        errors: [
          {
            message: 'One or more of the following scopes are required.',
            context: { requiredGranularScopes: ['crm.objects.contacts.read'] },
          },
        ],
      });
    const { c, slept } = connector();
    await expect(c.findTasks(['101'])).rejects.toMatchObject({ kind: 'auth', details: { status: 403 } });
    scope.done();
    expect(slept).toEqual([]);
  });
});

describe('findNotes', () => {
  it('reads the contacts’ notes through their associations and maps body and time', async () => {
    const scope = nock(API)
      .post('/crm/v4/associations/contacts/notes/batch/read', { inputs: [{ id: '101' }] })
      .matchHeader('authorization', 'Bearer CIrT-access')
      .reply(200, batchAnswer([associated('101', [40001, 40002], TO_NOTE)]))
      .post('/crm/v3/objects/notes/batch/read', batchRead(['40001', '40002'], NOTE_PROPS))
      .reply(
        200,
        batchAnswer([
          record('40001', {
            hs_note_body: 'Routed by lead-router: Enterprise demo requests in DACH',
            hs_timestamp: '2026-11-26T11:59:00.000Z',
          }),
          record('40002', { hs_note_body: null, hs_timestamp: '2026-11-26T11:30:00.000Z' }),
        ]),
      );
    const { c } = connector();
    await expect(c.findNotes(['101'])).resolves.toEqual(
      new Map([
        [
          '101',
          [
            {
              id: '40001',
              body: 'Routed by lead-router: Enterprise demo requests in DACH',
              at: Date.parse('2026-11-26T11:59:00.000Z'),
            },
            { id: '40002', body: '', at: Date.parse('2026-11-26T11:30:00.000Z') },
          ],
        ],
      ]),
    );
    scope.done();
  });

  it('5xx is retried with backoff', async () => {
    const scope = nock(API)
      .post('/crm/v4/associations/contacts/notes/batch/read')
      .reply(502, 'Bad Gateway')
      .post('/crm/v4/associations/contacts/notes/batch/read')
      .reply(200, batchAnswer([associated('101', [], TO_NOTE)]));
    const { c, slept } = connector();
    await expect(c.findNotes(['101'])).resolves.toEqual(new Map());
    scope.done();
    expect(slept).toEqual([2]);
  });
});

describe('findEnrollment', () => {
  const PATH = '/automation/v4/sequences/enrollments/contact';

  it("reads the contact's enrollment: its id and sequence id", async () => {
    const { limiter, buckets } = recordingLimiter();
    const scope = nock(API)
      .get(`${PATH}/33333`)
      .matchHeader('authorization', 'Bearer CIrT-access')
      .reply(200, ENROLLMENT);
    const { c } = connector({ limiter });
    await expect(c.findEnrollment('33333')).resolves.toEqual({ id: '2435404604', sequenceId: '44444444' });
    scope.done();
    expect(buckets).toEqual(['general']);
  });

  it.each([
    [
      '404',
      404,
      {
        status: 'error',
        message: 'Object not found.  objectId are usually numeric.',
        correlationId: 'c033cdaa-2c40-4a64-ae48-b4cec88dad24',
        category: 'OBJECT_NOT_FOUND',
      },
    ],
    ['an empty 200', 200, ''],
    ['200 {}', 200, {}],
    ['204', 204, ''],
  ])('a contact in no sequence (%s) → undefined', async (_name, status, body) => {
    const scope = nock(API).get(`${PATH}/101`).reply(status, body);
    const { c, slept } = connector();
    await expect(c.findEnrollment('101')).resolves.toBeUndefined();
    scope.done();
    expect(slept).toEqual([]);
  });

  it('429 TEN_SECONDLY_ROLLING: the portal paused for Retry-After, passed up', async () => {
    const scope = nock(API).get(`${PATH}/33333`).reply(
      429,
      {
        status: 'error',
        message: 'You have reached your ten_secondly_rolling limit.',
        errorType: 'RATE_LIMIT',
        policyName: 'TEN_SECONDLY_ROLLING',
      },
      { 'Retry-After': '1' },
    );
    const { c, slept, paused } = connector();
    await expect(c.findEnrollment('33333')).rejects.toMatchObject({
      kind: 'rate_limited',
      details: { retryAfterMs: 1000 },
    });
    scope.done();
    expect(slept).toEqual([]);
    expect(paused).toEqual([['general', 1000]]);
  });

  it('500 then 200: retried as transient', async () => {
    const scope = nock(API)
      .get(`${PATH}/33333`)
      .reply(500, 'upstream broke')
      .get(`${PATH}/33333`)
      .reply(200, ENROLLMENT);
    const { c, slept } = connector();
    await expect(c.findEnrollment('33333')).resolves.toMatchObject({ sequenceId: '44444444' });
    scope.done();
    expect(slept).toEqual([2]);
  });

  it.each([
    [
      401,
      'auth',
      {
        status: 'error',
        message: 'Authentication credentials not found.',
        category: 'INVALID_AUTHENTICATION',
      },
    ],
    [
      403,
      'auth',
      {
        status: 'error',
        message: "This app hasn't been granted all required scopes to make this call.",
        category: 'MISSING_SCOPES',
        errors: [{ message: 'x', context: { requiredGranularScopes: ['automation.sequences.read'] } }],
      },
    ],
    [400, 'invalid', { status: 'error', message: 'Invalid contact id', category: 'VALIDATION_ERROR' }],
  ])('%i is %s and not retried', async (status, kind, body) => {
    const scope = nock(API).get(`${PATH}/33333`).reply(status, body);
    const { c, slept } = connector();
    const err = await c.findEnrollment('33333').catch((e: unknown) => e);
    scope.done();
    expect(err).toBeInstanceOf(CrmError);
    expect(err).toMatchObject({ kind, details: { status } });
    expect(slept).toEqual([]);
  });

  it('an answer without a sequence id is not understood: invalid, not "no enrollment"', async () => {
    const scope = nock(API)
      .get(`${PATH}/33333`)
      .reply(200, { id: '2435404604', toEmail: 'rachel@example.com' });
    const { c } = connector();
    await expect(c.findEnrollment('33333')).rejects.toMatchObject({ kind: 'invalid' });
    scope.done();
  });

  it('escapes the contact id in the path', async () => {
    const scope = nock(API)
      .get(`${PATH}/a%2Fb`)
      .reply(404, { status: 'error', category: 'OBJECT_NOT_FOUND' });
    const { c } = connector();
    await expect(c.findEnrollment('a/b')).resolves.toBeUndefined();
    scope.done();
  });
});
