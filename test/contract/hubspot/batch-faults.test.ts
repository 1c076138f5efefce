// CRM faults on batch writes and hung connections, through the real @hubspot/api-client 13.5 against
// nock: a refusal of a whole batch is traced to the inputs at fault, a rate limit pauses the portal,
// and a call that gets no answer times out, is retried, or (a create) is reported as outcome unknown.
import { HUBSPOT_BUCKETS } from '../../../connectors/hubspot/profile.js';
import nock from 'nock';
import { CrmError } from '../../../connectors/connector.js';
import { HubSpotConnector, type HubSpotConnectorOptions } from '../../../connectors/hubspot/connector.js';
import { classifyHubSpotError, HubSpotCrmError, outcomeUnknown } from '../../../connectors/hubspot/errors.js';
import { LimiterFactory } from '../../../connectors/shared/limiter.js';
import { withRetry } from '../../../connectors/shared/retry.js';
import { useNockContract } from './nock-contract.js';

const API = 'https://api.hubapi.com';
const NOW = Date.parse('2026-11-26T12:00:00.000Z');
const UPDATE = '/crm/v3/objects/contacts/batch/update';
const TASKS = '/crm/v3/objects/tasks/batch/create';
/** The timeout the hang tests use; the hung answers come far later and are aborted after each test. */
const TIMEOUT_MS = 1_000;
const HANG_MS = 60_000;
const limiters = new LimiterFactory({ provider: 'hubspot-batch-faults', buckets: HUBSPOT_BUCKETS });

function connector(over: Partial<HubSpotConnectorOptions> = {}) {
  const slept: number[] = [];
  const c = new HubSpotConnector({
    portalId: '62515',
    accessToken: 'CIrT-access',
    limiter: limiters.forPortal('62515'),
    windows: { tenSecondlyMs: 7, secondlyMs: 3 },
    retry: { random: () => 0, baseDelayMs: 4, maxAttempts: 3 },
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
    now: () => NOW,
    timeoutMs: TIMEOUT_MS,
    ...over,
  });
  return { c, slept };
}

const contact = (id: string, ownerId = '41629779') => ({
  id,
  properties: { hubspot_owner_id: ownerId, lastmodifieddate: '2026-11-26T12:00:00.000Z' },
  createdAt: '2026-11-26T10:00:00.000Z',
  updatedAt: '2026-11-26T12:00:00.000Z',
  archived: false,
});
const batchOk = (results: unknown[]) => ({
  status: 'COMPLETE',
  results,
  startedAt: '2026-11-26T12:00:00.000Z',
  completedAt: '2026-11-26T12:00:01.000Z',
});

type UpdateBody = { inputs: Array<{ id: string; properties: Record<string, string> }> };
type CreateBody = { inputs: Array<{ objectWriteTraceId: string; properties: Record<string, string> }> };
const ids = (b: UpdateBody) => b.inputs.map((i) => i.id);

const writes = [
  { leadId: '101', ownerId: '41629779' },
  { leadId: '102', ownerId: '999' },
  { leadId: '103', ownerId: '41629779' },
];
const task = (leadId: string, ownerId = '41629779') => ({
  leadId,
  ownerId,
  subject: `Follow up ${leadId}`,
  body: 'Routed by lead-router',
  dueAt: Date.parse('2026-11-26T14:00:00.000Z'),
  priority: 'high' as const,
  key: `task:${leadId}`,
});
/** The batch/create input the connector sends for `task(leadId, ownerId)`. */
const taskInput = (leadId: string, ownerId = '41629779') => ({
  properties: {
    hs_timestamp: '2026-11-26T14:00:00.000Z',
    hs_task_subject: `Follow up ${leadId}`,
    hs_task_body: 'Routed by lead-router',
    hs_task_priority: 'HIGH',
    hs_task_status: 'NOT_STARTED',
    hs_task_type: 'TODO',
    hubspot_owner_id: ownerId,
  },
  objectWriteTraceId: `task:${leadId}`,
  associations: [
    { to: { id: leadId }, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 204 }] },
  ],
});
const created = (taskId: string, traceId: string) => ({
  id: taskId,
  properties: { hs_task_subject: 'x' },
  createdAt: '2026-11-26T12:00:00.000Z',
  updatedAt: '2026-11-26T12:00:00.000Z',
  archived: false,
  objectWriteTraceId: traceId,
});

const INVALID_OWNER =
  'Property values were not valid: [{"isValid":false,"message":"999 is not a valid owner id","error":"INVALID_OWNER_ID","name":"hubspot_owner_id"}]';

useNockContract(limiters);

describe('a whole batch refused for some inputs', () => {
  it('setOwners: a 400 naming one input fails that one; the other two are sent again and succeed', async () => {
    const bodies: UpdateBody[] = [];
    const scope = nock(API)
      .post(UPDATE, (b: UpdateBody) => (bodies.push(b), ids(b).length === 3))
      .reply(400, {
        status: 'error',
        category: 'VALIDATION_ERROR',
        correlationId: 'c-1',
        message: 'Owner 999 of contact 102 is deactivated',
        context: { ids: ['102'] },
      })
      .post(UPDATE, (b: UpdateBody) => (bodies.push(b), ids(b).length === 2))
      .reply(200, batchOk([contact('101'), contact('103')]));
    const { c, slept } = connector({ reasonProperty: 'lead_router_reason' });
    const res = await c.setOwners([{ ...writes[0]!, reason: 'rule 3' }, writes[1]!, writes[2]!]);
    scope.done();
    expect(slept).toEqual([]);
    expect(bodies[1]).toEqual({
      inputs: [
        { id: '101', properties: { hubspot_owner_id: '41629779', lead_router_reason: 'rule 3' } },
        { id: '103', properties: { hubspot_owner_id: '41629779' } },
      ],
    });
    expect(res).toEqual([
      { ok: true, id: '101' },
      { ok: false, error: expect.any(CrmError) as unknown },
      { ok: true, id: '103' },
    ]);
    expect(res[1]).toMatchObject({
      error: {
        kind: 'invalid',
        message: 'Owner 999 of contact 102 is deactivated',
        details: { status: 400, code: 'VALIDATION_ERROR' },
      },
    });
  });

  it('createTasks: a 400 whose entry names one objectWriteTraceId fails that task with its message', async () => {
    const bodies: CreateBody[] = [];
    const scope = nock(API)
      .post(TASKS, (b: CreateBody) => (bodies.push(b), b.inputs.length === 3))
      .reply(400, {
        status: 'error',
        category: 'VALIDATION_ERROR',
        correlationId: 'c-2',
        message: 'Batch input is invalid',
        errors: [
          {
            message: '999 is not a valid owner id',
            context: { objectWriteTraceId: ['task:202'] },
          },
        ],
      })
      .post(TASKS, (b: CreateBody) => (bodies.push(b), b.inputs.length === 2))
      .reply(201, batchOk([created('9003', 'task:203'), created('9001', 'task:201')]));
    const { c } = connector();
    const res = await c.createTasks([task('201'), task('202', '999'), task('203')]);
    scope.done();
    expect(bodies[0]).toEqual({ inputs: [taskInput('201'), taskInput('202', '999'), taskInput('203')] });
    expect(bodies[1]).toEqual({ inputs: [taskInput('201'), taskInput('203')] });
    expect(res[0]).toEqual({ ok: true, id: '9001' });
    expect(res[1]).toMatchObject({
      ok: false,
      error: { kind: 'invalid', message: '999 is not a valid owner id', details: { status: 400 } },
    });
    expect(res[2]).toEqual({ ok: true, id: '9003' });
  });

  it('a 400 naming no input: halves are sent on their own until the refused input is alone', async () => {
    const sent: string[][] = [];
    const refuse = {
      status: 'error',
      category: 'VALIDATION_ERROR',
      correlationId: 'c-3',
      message: INVALID_OWNER,
    };
    const scope = nock(API)
      .post(UPDATE, (b: UpdateBody) => (sent.push(ids(b)), ids(b).join() === '101,102,103'))
      .reply(400, refuse)
      .post(UPDATE, (b: UpdateBody) => (sent.push(ids(b)), ids(b).join() === '101,102'))
      .reply(400, refuse)
      .post(UPDATE, (b: UpdateBody) => (sent.push(ids(b)), ids(b).join() === '101'))
      .reply(200, batchOk([contact('101')]))
      .post(UPDATE, (b: UpdateBody) => (sent.push(ids(b)), ids(b).join() === '102'))
      .reply(400, refuse)
      .post(UPDATE, (b: UpdateBody) => (sent.push(ids(b)), ids(b).join() === '103'))
      .reply(200, batchOk([contact('103')]));
    const { c, slept } = connector();
    const res = await c.setOwners(writes);
    scope.done();
    expect(sent).toEqual([['101', '102', '103'], ['101', '102'], ['101'], ['102'], ['103']]);
    expect(slept).toEqual([]);
    expect(res[0]).toEqual({ ok: true, id: '101' });
    expect(res[1]).toMatchObject({ ok: false, error: { kind: 'invalid', message: INVALID_OWNER } });
    expect(res[2]).toEqual({ ok: true, id: '103' });
  });

  it('a batch that succeeds costs one call', async () => {
    const scope = nock(API)
      .post(UPDATE, (b: UpdateBody) => ids(b).length === 3)
      .reply(200, batchOk([contact('101'), contact('102', '999'), contact('103')]));
    const { c } = connector();
    const res = await c.setOwners(writes);
    scope.done();
    expect(res).toEqual([
      { ok: true, id: '101' },
      { ok: true, id: '102' },
      { ok: true, id: '103' },
    ]);
  });

  it('403 (missing scope) refuses every input alike: no split, one call', async () => {
    const scope = nock(API)
      .post(UPDATE)
      .reply(403, {
        status: 'error',
        category: 'MISSING_SCOPES',
        correlationId: 'c-4',
        message: 'This app hasn’t been granted all required scopes to make this call.',
        errors: [{ message: 'missing', context: { requiredGranularScopes: ['crm.objects.contacts.write'] } }],
      });
    const { c } = connector();
    const res = await c.setOwners(writes);
    scope.done();
    for (const r of res) expect(r).toMatchObject({ ok: false, error: { kind: 'auth' } });
  });

  it('429 on a batch: sent once, every input rate limited, the portal paused for the window; never split', async () => {
    const sent: string[][] = [];
    let refusedAt = 0;
    const scope = nock(API)
      .post(UPDATE, (b: UpdateBody) => (sent.push(ids(b)), true))
      .reply(() => {
        refusedAt = Date.now();
        return [
          429,
          {
            status: 'error',
            message: 'You have reached your ten_secondly_rolling limit.',
            errorType: 'RATE_LIMIT',
            correlationId: 'c-5',
            policyName: 'TEN_SECONDLY_ROLLING',
          },
          { 'Retry-After': '1' },
        ];
      });
    // A portal of its own: the pause must not slow the other tests down.
    const limiter = limiters.forPortal('429-portal');
    const { c, slept } = connector({ limiter });
    const res = await c.setOwners(writes);
    scope.done();
    // Not retried in process (the work's stored backoff retries it), and not split: a 429 is no input's fault.
    expect(sent).toEqual([['101', '102', '103']]);
    expect(slept).toEqual([]);
    for (const r of res)
      expect(r).toMatchObject({
        ok: false,
        error: { kind: 'rate_limited', details: { retryAfterMs: 1000 } },
      });
    // The next call of any lane on this portal starts only once the window is over.
    const startedAt = await limiter.schedule('general', () => Promise.resolve(Date.now()));
    expect(startedAt - refusedAt).toBeGreaterThanOrEqual(1000);
  });

  it('5xx on every try: the whole batch fails as transient, never split', async () => {
    const scope = nock(API).post(UPDATE).times(3).reply(503, 'Service Unavailable');
    const { c, slept } = connector();
    const res = await c.setOwners(writes);
    scope.done();
    expect(slept).toHaveLength(2);
    for (const r of res) expect(r).toMatchObject({ ok: false, error: { kind: 'transient' } });
  });
});

describe('request timeout', () => {
  it('a read that hangs past the timeout is retried, then succeeds', async () => {
    const scope = nock(API)
      .post('/crm/v3/objects/contacts/search')
      .query(true)
      .delay(HANG_MS)
      .reply(200, { total: 1, results: [contact('101')] })
      .post('/crm/v3/objects/contacts/search')
      .query(true)
      .reply(200, {
        total: 1,
        results: [{ ...contact('101'), properties: { notes_last_contacted: String(NOW) } }],
      });
    const { c, slept } = connector();
    const touched = await c.touchedLeads([{ leadId: '101', since: NOW - 1 }], ['contacted']);
    expect(touched.get('101')).toEqual({ touchedAt: NOW, signal: 'contacted' });
    scope.done();
    // One backoff for the transient timeout (baseDelayMs 4, equal jitter with random 0 → 2).
    expect(slept).toEqual([2]);
  });

  it('a read that times out on every try fails transient, "timed out", outcome not unknown', async () => {
    const scope = nock(API)
      .get('/crm/v3/owners/')
      .query(true)
      .times(2)
      .delay(HANG_MS)
      .reply(200, { results: [] });
    const { c } = connector({ retry: { random: () => 0, baseDelayMs: 4, maxAttempts: 2 } });
    const res = await c.checkConnection();
    scope.done();
    expect(res).toMatchObject({ ok: false, error: { kind: 'transient', message: /timed out/ } });
    if (!res.ok) expect(outcomeUnknown(res.error)).toBe(false);
  });

  it('a task create that times out is not sent again: transient, flagged outcome unknown', async () => {
    const scope = nock(API)
      .post(TASKS)
      .delay(HANG_MS)
      .reply(201, batchOk([created('9001', 'task:201')]));
    const { c, slept } = connector();
    const res = await c.createTasks([task('201'), task('203')]);
    scope.done();
    expect(slept).toEqual([]);
    for (const r of res) {
      expect(r).toMatchObject({ ok: false, error: { kind: 'transient', message: /timed out/ } });
      if (!r.ok) expect(outcomeUnknown(r.error)).toBe(true);
    }
  });

  it('an enrollment (apiRequest) that times out is not sent again: flagged outcome unknown', async () => {
    const scope = nock(API)
      .post('/automation/v4/sequences/enrollments')
      .query({ userId: '9586504' })
      .delay(HANG_MS)
      .reply(200, { id: '4001' });
    const { c } = connector();
    const [res] = await c.enroll([
      { leadId: '101', key: 'enroll-101', sequenceId: '77', senderId: '9586504', senderEmail: 'ada@acme.io' },
    ]);
    scope.done();
    expect(res).toMatchObject({ ok: false, error: { kind: 'transient', message: /timed out/ } });
    if (res?.ok === false) {
      expect(res.error).toBeInstanceOf(HubSpotCrmError);
      expect(outcomeUnknown(res.error)).toBe(true);
    }
  });

  it('an owner update (idempotent) that times out is retried; timed out every try, outcome unknown', async () => {
    const scope = nock(API).post(UPDATE).times(2).delay(HANG_MS).reply(200, batchOk([]));
    const { c, slept } = connector({ retry: { random: () => 0, baseDelayMs: 4, maxAttempts: 2 } });
    const res = await c.setOwners(writes);
    scope.done();
    expect(slept).toEqual([2]);
    for (const r of res) {
      expect(r).toMatchObject({ ok: false, error: { kind: 'transient', message: /timed out/ } });
      if (!r.ok) expect(outcomeUnknown(r.error)).toBe(true);
    }
  });
});

describe('classification pieces', () => {
  it('classifyHubSpotError keeps what the context names, with the message naming each value', () => {
    const err = classifyHubSpotError(400, {
      status: 'error',
      category: 'VALIDATION_ERROR',
      message: 'Batch input is invalid',
      context: { ids: ['7', 8] },
      errors: [{ message: 'contact 9 is archived', context: { ids: ['9'] } }],
    });
    expect(err).toBeInstanceOf(HubSpotCrmError);
    expect([...(err as HubSpotCrmError).named]).toEqual([
      ['9', 'contact 9 is archived'],
      ['7', 'Batch input is invalid (contact 9 is archived)'],
      ['8', 'Batch input is invalid (contact 9 is archived)'],
    ]);
  });

  it('withRetry: mayRetry vetoes a retry the policy would make', async () => {
    let calls = 0;
    const unknown = new HubSpotCrmError('transient', 'timed out', {}, { outcomeUnknown: true });
    await expect(
      withRetry(
        () => {
          calls++;
          return Promise.reject(unknown);
        },
        {
          classify: (e) => (e instanceof CrmError ? e : null),
          mayRetry: (e) => !outcomeUnknown(e),
          sleep: () => Promise.resolve(),
        },
      ),
    ).rejects.toBe(unknown);
    expect(calls).toBe(1);
  });
});
