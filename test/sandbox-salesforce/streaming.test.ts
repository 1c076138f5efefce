// Change Data Capture through jsforce's own streaming client (faye, CometD long-polling) against the
// sandbox's Bayeux server: event shape, replay from -1, -2 and a stored id, 72-hour retention, GAP
// events, the client id in changeOrigin, and the handshake/connect refusal on an expired token.
import type { Connection } from 'jsforce';
import { StreamingExtension } from 'jsforce/api/streaming';
import { ManualClock } from '../../connectors/sandbox-kit/clock.js';
import { startSandbox, type Running } from './support.js';

interface ChangeEvent {
  payload: {
    ChangeEventHeader: {
      entityName: string;
      recordIds: string[];
      changeType: string;
      changedFields: string[];
      changeOrigin: string;
      transactionKey: string;
      sequenceNumber: number;
      commitTimestamp: number;
      commitUser: string;
    };
    [field: string]: unknown;
  };
  event: { replayId: number };
}

interface Listening {
  events: ChangeEvent[];
  failures: unknown[];
  ready: Promise<unknown>;
  /** Disconnects and waits for the server's answer, so the client stops polling before the server goes. */
  close(): Promise<void>;
}

interface FayeClientControl {
  disconnect(): PromiseLike<unknown> | undefined;
}

const CHANNEL = '/data/LeadChangeEvent';

function listen(conn: Connection, replayFrom: number, channel = CHANNEL): Listening {
  const events: ChangeEvent[] = [];
  const failures: unknown[] = [];
  const client = conn.streaming.createClient([
    new StreamingExtension.AuthFailure((m: unknown) => failures.push(m)),
    new StreamingExtension.Replay(channel, replayFrom),
  ]);
  const sub = client.subscribe(channel, (e: ChangeEvent) => events.push(e));
  return {
    events,
    failures,
    ready: Promise.resolve(sub),
    async close() {
      // jsforce's typings declare faye's Client without disconnect(); it returns a thenable when connected.
      await Promise.resolve((client as unknown as FayeClientControl).disconnect()).catch(() => undefined);
    },
  };
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let env: Running;
const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
const open: Listening[] = [];
beforeAll(async () => {
  env = await startSandbox({ clock, longPollTimeoutSec: 2 }, 10);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
});
afterAll(() => env.stop());
const track = (l: Listening) => {
  open.push(l);
  return l;
};

describe('Change Data Capture over CometD', () => {
  it('delivers CREATE and UPDATE events as documented, with client= in changeOrigin for the writer that says so', async () => {
    const conn = env.connect({ callOptions: { client: 'LeadRouter' } });
    const l = track(listen(conn, -1));
    await l.ready;
    const created = await conn
      .sobject('Lead')
      .create({ FirstName: 'Ada', LastName: 'L', Company: 'AE', Country: 'GB' });
    await conn
      .sobject('Lead')
      .update({ Id: created.id ?? '', Title: 'CTO' }, { headers: { 'Sforce-Auto-Assign': 'FALSE' } });
    await until(() => l.events.length >= 2, 'two events');
    const [create, update] = l.events;
    expect(create?.payload.ChangeEventHeader).toMatchObject({
      entityName: 'Lead',
      recordIds: [created.id],
      changeType: 'CREATE',
      changedFields: [],
      changeOrigin: 'com/salesforce/api/rest/62.0;client=LeadRouter',
      commitUser: env.demo.integrationUserId,
      sequenceNumber: 1,
      commitTimestamp: clock.now(),
    });
    // The assignment rule ran in the same transaction: the event already has the rule's owner.
    expect(create?.payload).toMatchObject({
      Name: { FirstName: 'Ada', LastName: 'L' },
      Company: 'AE',
      OwnerId: env.demo.queues.get('EMEA'),
    });
    expect(update?.payload.ChangeEventHeader).toMatchObject({
      changeType: 'UPDATE',
      changedFields: ['Title', 'LastModifiedDate'],
    });
    expect(update?.payload['Title']).toBe('CTO');
    expect(update!.event.replayId).toBeGreaterThan(create!.event.replayId);
  });

  it('replays everything retained with -2, and only what follows a stored replay id', async () => {
    env.demo.createLeads(3);
    const conn = env.connect();
    const all = track(listen(conn, -2));
    await all.ready;
    await until(() => all.events.length >= 5, 'the retained events');
    const ids = all.events.map((e) => e.event.replayId);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    const stored = ids[2]!;
    const after = track(listen(env.connect(), stored));
    await after.ready;
    await until(() => after.events.length >= ids.length - 3, 'the events after the stored id');
    expect(after.events.map((e) => e.event.replayId)).toEqual(ids.slice(3));
    // Both keep receiving new events.
    env.demo.createLeads(1);
    await until(
      () => all.events.length === ids.length + 1 && after.events.length === ids.length - 2,
      'the new event',
    );
  });

  it('keeps events 72 hours: older ones are gone, and a replay id before them is refused', async () => {
    const conn = env.connect();
    const probe = track(listen(conn, -2));
    await probe.ready;
    await until(() => probe.events.length > 0, 'retained events');
    const oldest = probe.events[0]!.event.replayId;
    await probe.close();
    clock.advance(73 * 3_600_000);
    env.demo.createLeads(1);
    const fresh = track(listen(env.connect(), -2));
    await fresh.ready;
    await until(() => fresh.events.length >= 1, 'the retained event');
    await new Promise((r) => setTimeout(r, 300));
    expect(fresh.events).toHaveLength(1);
    const stale = track(listen(env.connect(), oldest));
    await expect(stale.ready).rejects.toMatchObject({
      message: expect.stringContaining(`The replayId {${oldest}} you provided was invalid`),
    });
  });

  it('sends GAP events (header and ids only) and GAP_OVERFLOW on demand', async () => {
    const l = track(listen(env.connect(), -1, '/data/ChangeEvents'));
    await l.ready;
    await env.admin(`/_sandbox/orgs/${env.orgId}/cdc`, { gapNext: 1 });
    const [lead] = env.demo.createLeads(1);
    await env.admin(`/_sandbox/orgs/${env.orgId}/cdc`, {
      gap: { entity: 'Contact', changeType: 'GAP_OVERFLOW' },
    });
    await until(() => l.events.length >= 2, 'the gap events');
    expect(l.events[0]?.payload).toEqual({
      ChangeEventHeader: expect.objectContaining({
        entityName: 'Lead',
        changeType: 'GAP_CREATE',
        recordIds: [lead?.['Id']],
      }),
    });
    expect(l.events[1]?.payload.ChangeEventHeader).toMatchObject({
      entityName: 'Contact',
      changeType: 'GAP_OVERFLOW',
      recordIds: [],
    });
  });

  it('refuses a handshake with an expired token, and ends a stream whose token expires', async () => {
    const conn = env.connect();
    const live = track(listen(conn, -1));
    await live.ready;
    await env.admin(`/_sandbox/orgs/${env.orgId}/tokens/expire`, {});
    await until(() => live.failures.length > 0, 'the connect refusal');
    expect(live.failures[0]).toMatchObject({
      channel: '/meta/connect',
      error: '401::Authentication invalid',
      advice: { reconnect: 'none' },
    });

    const late = track(listen(conn, -1));
    await until(() => late.failures.length > 0, 'the handshake refusal');
    expect(late.failures[0]).toMatchObject({
      channel: '/meta/handshake',
      successful: false,
      error: '403::Handshake denied',
      ext: { sfdc: { failureReason: '401::Authentication invalid' } },
      advice: { reconnect: 'none' },
    });
    // After a refresh, a new client works again (jsforce's cached one keeps the old token).
    await conn.query('SELECT Id FROM Lead LIMIT 1');
    const again = track(listen(conn, -1));
    await again.ready;
    env.demo.createLeads(1);
    await until(() => again.events.length === 1, 'an event on the new client');
  });
});

describe('lead conversion (the Convert a rep does in the UI)', () => {
  it('creates the Contact and Account, marks the Lead converted, and publishes both changes as one transaction', async () => {
    const conn = env.connect();
    const created = await conn.sobject('Lead').create({
      FirstName: 'Grace',
      LastName: 'Hopper',
      Company: 'Navy Labs',
      Email: 'grace@navylabs.example',
      Title: 'Rear Admiral',
      City: 'Arlington',
      Country: 'US',
      Website: 'https://navylabs.example',
    });
    const leadId = created.success ? created.id : '';
    const rep = env.demo.users.find((u) => u['IsActive'] === true)!;
    const l = track(listen(conn, -1, '/data/ChangeEvents'));
    await l.ready;
    const converted = (await env.admin(`/_sandbox/orgs/${env.orgId}/leads/${leadId}/convert`, {
      ownerId: rep['Id'],
    })) as { leadId: string; contactId: string; accountId: string };
    expect(converted.leadId).toBe(leadId);
    await until(() => l.events.length >= 2, 'the conversion’s events');
    const contactEvent = l.events.find((e) => e.payload.ChangeEventHeader.entityName === 'Contact');
    const leadEvent = l.events.find((e) => e.payload.ChangeEventHeader.entityName === 'Lead');
    // Account is not selected for Change Data Capture in the sandbox org: no event of its own.
    expect(l.events).toHaveLength(2);
    expect(contactEvent?.payload.ChangeEventHeader).toMatchObject({
      recordIds: [converted.contactId],
      changeType: 'CREATE',
      // A person in the UI, not an API client naming itself.
      changeOrigin: '',
      commitUser: rep['Id'],
    });
    expect(contactEvent?.payload).toMatchObject({
      Name: { FirstName: 'Grace', LastName: 'Hopper' },
      Email: 'grace@navylabs.example',
      Title: 'Rear Admiral',
      MailingCity: 'Arlington',
      MailingCountry: 'US',
      AccountId: converted.accountId,
      OwnerId: rep['Id'],
    });
    const header = leadEvent?.payload.ChangeEventHeader;
    expect(header).toMatchObject({ recordIds: [leadId], changeType: 'UPDATE', changeOrigin: '' });
    expect([...(header?.changedFields ?? [])].sort()).toEqual(
      [
        'ConvertedAccountId',
        'ConvertedContactId',
        'ConvertedDate',
        'IsConverted',
        'LastModifiedDate',
        'Status',
      ].sort(),
    );
    expect(leadEvent?.payload).toMatchObject({
      IsConverted: true,
      ConvertedContactId: converted.contactId,
      ConvertedAccountId: converted.accountId,
      ConvertedDate: new Date(clock.now()).toISOString().slice(0, 10),
    });
    // One transaction: one key, the sequence counting up.
    expect(header?.transactionKey).toBe(contactEvent?.payload.ChangeEventHeader.transactionKey);
    expect(header!.sequenceNumber).toBeGreaterThan(contactEvent!.payload.ChangeEventHeader.sequenceNumber);

    // What the connector asks: the lead a Contact was converted from, by SOQL.
    const back = await conn.query<{ Id: string; ConvertedContactId: string }>(
      `SELECT Id, ConvertedContactId FROM Lead WHERE ConvertedContactId IN ('${converted.contactId}')`,
    );
    expect(back.records.map((r) => [r.Id, r.ConvertedContactId])).toEqual([[leadId, converted.contactId]]);
    const account = await conn.sobject('Account').retrieve(converted.accountId);
    expect(account).toMatchObject({ Name: 'Navy Labs', OwnerId: rep['Id'] });

    // Converting is Convert's alone: the API cannot set IsConverted, and a lead converts once.
    await expect(conn.sobject('Lead').update({ Id: leadId, IsConverted: false })).rejects.toMatchObject({
      errorCode: 'INVALID_FIELD_FOR_INSERT_UPDATE',
    });
    await expect(env.admin(`/_sandbox/orgs/${env.orgId}/leads/${leadId}/convert`, {})).rejects.toThrow(
      'CONVERTED_LEAD',
    );
  });

  it('attaches the Contact to an account the rep picks, owned by the lead’s owner', async () => {
    const conn = env.connect();
    const rep = env.demo.users.find((u) => u['IsActive'] === true)!;
    const created = await conn
      .sobject('Lead')
      .create(
        { LastName: 'Lovelace', Company: 'AE', OwnerId: rep['Id'] },
        { headers: { 'Sforce-Auto-Assign': 'FALSE' } },
      );
    const leadId = created.success ? created.id : '';
    const [account] = env.demo.org.all('Account');
    const converted = (await env.admin(`/_sandbox/orgs/${env.orgId}/leads/${leadId}/convert`, {
      accountId: account!['Id'],
    })) as { contactId: string; accountId: string };
    expect(converted.accountId).toBe(account!['Id']);
    const contact = await conn.sobject('Contact').retrieve(converted.contactId);
    expect(contact).toMatchObject({ AccountId: account!['Id'], OwnerId: rep['Id'], LastName: 'Lovelace' });
  });
});
