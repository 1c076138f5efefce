// The CDC stream's catch-up poll against Salesforce's documented query answer, through the real jsforce
// connection: the CreatedDate bound is a SOQL dateTime literal made by the one quoting helper (unquoted,
// UTC, to the second; salesforce.md §2), the records found become creation events keyed by record id,
// and the coverage moves to when the poll began.
import nock from 'nock';
import type { StreamDelivery } from '../../../connectors/pulled-intake.js';
import { CdcStream } from '../../../connectors/salesforce/intake/cdc-stream.js';
import { creationEventId } from '../../../connectors/salesforce/intake/change-events.js';
import { API, INSTANCE, JSON_TYPE, query, record, session, sfId, useNock } from './support.js';

useNock();

const COVERED = Date.UTC(2026, 0, 5, 9, 0, 0, 987);
const NOW = Date.UTC(2026, 0, 5, 9, 10, 30, 456);

function stream(deliveries: StreamDelivery[], object: 'Lead' | 'Contact' = 'Lead'): CdcStream {
  return new CdcStream({
    conn: session().conn,
    channel: `/data/${object}ChangeEvent`,
    selfClient: 'lead-router',
    resume: { replayId: null, replayAt: null, coveredUntil: COVERED },
    sink: {
      deliver: (d) => {
        deliveries.push(d);
        return Promise.resolve(true);
      },
    },
    log: { info: () => undefined, warn: () => undefined },
    now: () => NOW,
    pollOverlapMs: 300_000,
  });
}

describe('CDC catch-up poll', () => {
  it('asks for records created after the coverage less the overlap, the bound a SOQL dateTime literal', async () => {
    const lead = sfId('00Q', 7);
    const asked: string[] = [];
    const scope = query(nock(INSTANCE), (q) => (asked.push(q), true), [
      record('Lead', { Id: lead, CreatedDate: '2026-01-05T09:02:03.000+0000' }),
    ]);
    const deliveries: StreamDelivery[] = [];
    const s = stream(deliveries);
    s.poll('test');
    await s.close();
    scope.done();
    // 09:00:00.987 less 5 min, milliseconds dropped: no quotes, no fraction, Z for UTC.
    expect(asked).toEqual([
      'SELECT Id, CreatedDate FROM Lead WHERE CreatedDate > 2026-01-05T08:55:00Z ORDER BY CreatedDate, Id',
    ]);
    expect(deliveries).toEqual([
      {
        events: [
          {
            eventId: creationEventId(lead),
            subscription: '/data/LeadChangeEvent',
            kind: 'created',
            objectId: lead,
            occurredAt: Date.UTC(2026, 0, 5, 9, 2, 3),
          },
        ],
        coveredUntil: NOW,
      },
    ]);
  });

  it('reads every page of a large answer through jsforce autoFetch (queryMore by nextRecordsUrl)', async () => {
    const [first, second] = [sfId('00Q', 8), sfId('00Q', 9)];
    const next = `${API}/query/01gD0000002HU6KIAW-2000`;
    const scope = nock(INSTANCE)
      .get(`${API}/query`)
      .query(true)
      .reply(
        200,
        {
          totalSize: 2,
          done: false,
          nextRecordsUrl: next,
          records: [record('Lead', { Id: first, CreatedDate: '2026-01-05T09:01:00.000+0000' })],
        },
        JSON_TYPE,
      )
      .get(next)
      .reply(
        200,
        {
          totalSize: 2,
          done: true,
          records: [record('Lead', { Id: second, CreatedDate: '2026-01-05T09:02:00.000+0000' })],
        },
        JSON_TYPE,
      );
    const deliveries: StreamDelivery[] = [];
    const s = stream(deliveries);
    s.poll('test');
    await s.close();
    scope.done();
    expect(deliveries.flatMap((d) => d.events.map((e) => e.objectId))).toEqual([first, second]);
    // Every record was read: the coverage moves to when the poll began.
    expect(deliveries.at(-1)?.coveredUntil).toBe(NOW);
  });

  it('polls the object its channel names', async () => {
    const asked: string[] = [];
    const scope = query(nock(INSTANCE), (q) => (asked.push(q), true), []);
    const s = stream([], 'Contact');
    s.poll('test');
    await s.close();
    scope.done();
    expect(asked[0]).toMatch(
      /^SELECT Id, CreatedDate FROM Contact WHERE CreatedDate > 2026-01-05T08:55:00Z /,
    );
  });
});
