// Change Data Capture over CometD (salesforce.md §1.1-1.2): a real Bayeux server (faye's NodeAdapter, the
// same library jsforce's streaming client uses) at /cometd/<version>. Channels /data/LeadChangeEvent,
// /data/ContactChangeEvent and /data/ChangeEvents carry change events shaped as documented
// (payload.ChangeEventHeader + fields, event.replayId); the replay extension subscribes from -1 (new
// only), -2 (all retained) or a stored replay id (after it); events are retained 72 hours on the sandbox
// clock; GAP_* and GAP_OVERFLOW events come on demand; a handshake or connect with an expired or unknown
// token fails with `401::Authentication invalid` and `advice.reconnect = none`; an object taken out of an
// org's Change Data Capture selection (as an admin does in Setup) publishes nothing, and a subscribe to
// its channel is refused.
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, Prng } from '../sandbox-kit/clock.js';
import { bearerToken, type SfTokenStore } from './oauth.js';
import type { Org, RecordChange, SRecord } from './org.js';

/** The part of faye's server API we use (faye 1.4.3; jsforce's own typings declare only its Client). */
interface BayeuxMessage {
  channel: string;
  clientId?: string;
  subscription?: string;
  successful?: boolean;
  error?: string;
  advice?: Record<string, unknown>;
  ext?: Record<string, unknown>;
  data?: unknown;
}
type Next = (m: BayeuxMessage) => void;
interface ServerExtension {
  incoming?: (m: BayeuxMessage, req: IncomingMessage, next: Next) => void;
  outgoing?: (m: BayeuxMessage, req: IncomingMessage, next: Next) => void;
}
interface FayeNodeAdapter {
  handle(req: IncomingMessage, res: ServerResponse): void;
  addExtension(ext: ServerExtension): void;
  on(event: 'disconnect', cb: (clientId: string) => void): void;
  close(): void;
  _server: {
    _engine: {
      _engine?: {
        publish(m: BayeuxMessage, channels: string[]): void;
        subscribe(clientId: string, channel: string): void;
      };
    };
  };
}
interface FayeModule {
  NodeAdapter: new (options: { mount: string; timeout: number }) => FayeNodeAdapter;
}
const faye = createRequire(import.meta.url)('faye') as FayeModule;

export const RETENTION_MS = 72 * 3_600_000;
/** Objects selected for Change Data Capture in a sandbox org (Setup → Change Data Capture), unless changed. */
const SELECTED = new Set(['Lead', 'Contact']);
const ALL_CHANNEL = '/data/ChangeEvents';
const channelOf = (entity: string) => `/data/${entity}ChangeEvent`;

export type GapType = 'GAP_CREATE' | 'GAP_UPDATE' | 'GAP_DELETE' | 'GAP_UNDELETE' | 'GAP_OVERFLOW';

export interface StoredEvent {
  replayId: number;
  entity: string;
  at: number;
  data: Record<string, unknown>;
}

export interface OrgStream {
  events: StoredEvent[];
  lastReplayId: number;
  /** The highest replay id dropped by retention: a stored id below it can no longer be replayed. */
  purgedThrough: number;
  /** The next this-many changes are sent as GAP_* events (header only), as after an internal error. */
  gapNext: number;
}

interface StreamClient {
  orgId: string;
  token: string;
  /** Channel → the replay id delivered last on it. */
  subscriptions: Map<string, number>;
}

const AUTH_INVALID = '401::Authentication invalid';
const privateChannel = (clientId: string) => `/sandbox/client/${clientId}`;

export class ChangeEventStream {
  private readonly adapter: FayeNodeAdapter;
  private readonly orgs = new Map<string, OrgStream>();
  private readonly clients = new Map<string, StreamClient>();
  /** Per org, the objects of SELECTED taken out of its Change Data Capture selection. */
  private readonly unselected = new Map<string, Set<string>>();
  /** Told every event published, when the sandbox keeps its data in a file. */
  journal: ((orgId: string, event: StoredEvent) => void) | undefined;
  /** Handshakes refused, by reason, and events delivered: what tests read. */
  readonly stats = { handshakesRefused: 0, connectsRefused: 0, delivered: 0 };

  constructor(
    private readonly tokens: SfTokenStore,
    private readonly clock: Clock,
    private readonly prng: Prng,
    options: { longPollTimeoutSec?: number } = {},
  ) {
    this.adapter = new faye.NodeAdapter({ mount: '/cometd', timeout: options.longPollTimeoutSec ?? 25 });
    this.adapter.addExtension({
      incoming: (m, req, next) => next(this.incoming(m, req)),
      outgoing: (m, req, next) => next(this.outgoing(m, req)),
    });
    this.adapter.on('disconnect', (clientId) => this.clients.delete(clientId));
  }

  /** The HTTP handler for /cometd/<version> (mount it before any body parser). */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.adapter.handle(req, res);
  }

  close(): void {
    this.adapter.close();
  }

  /** Subscribes the stream to an org's record changes. */
  watch(org: Org): void {
    this.stream(org.orgId);
    org.onChange((change) => this.record(org.orgId, change));
  }

  /**
   * The objects selected for Change Data Capture in the org's Setup (of Lead and Contact): the others
   * publish no events, and a subscribe to their channel is refused. A client already subscribed stays so
   * and receives nothing more from them.
   */
  select(orgId: string, entities: readonly string[]): string[] {
    this.unselected.set(orgId, new Set([...SELECTED].filter((e) => !entities.includes(e))));
    return [...SELECTED].filter((e) => this.selected(orgId, e));
  }

  /** Every org's selection back to Lead and Contact. */
  resetSelection(): void {
    this.unselected.clear();
  }

  private selected(orgId: string, entity: string): boolean {
    return SELECTED.has(entity) && this.unselected.get(orgId)?.has(entity) !== true;
  }

  /** The next `count` changes of the org become GAP_* events (header and record ids only). */
  gapNext(orgId: string, count: number): void {
    this.stream(orgId).gapNext += count;
  }

  /** A GAP event for records, or GAP_OVERFLOW (a transaction of more than 100,000 changes: no ids). */
  emitGap(orgId: string, entity: string, changeType: GapType, recordIds: string[]): number {
    const now = this.clock.now();
    return this.publish(orgId, entity, {
      ChangeEventHeader: this.header(
        entity,
        changeType,
        changeType === 'GAP_OVERFLOW' ? [] : recordIds,
        now,
        {
          changeOrigin: '',
          commitUser: '',
          transactionKey: `gap-${now}`,
          sequenceNumber: 1,
        },
      ),
    });
  }

  /** An org's retained events and replay position (what a restarted sandbox continues from). */
  state(orgId: string): Omit<OrgStream, 'gapNext'> {
    const { events, lastReplayId, purgedThrough } = this.stream(orgId);
    return { events: [...events], lastReplayId, purgedThrough };
  }

  /** Events kept from an earlier run: replay ids go on after them, and stored ids stay valid. */
  restore(orgId: string, kept: Omit<OrgStream, 'gapNext'>): void {
    const s = this.stream(orgId);
    s.events.push(...kept.events);
    s.lastReplayId = Math.max(s.lastReplayId, kept.lastReplayId);
    s.purgedThrough = Math.max(s.purgedThrough, kept.purgedThrough);
  }

  retained(orgId: string): number {
    this.prune(this.stream(orgId));
    return this.stream(orgId).events.length;
  }

  private stream(orgId: string): OrgStream {
    let s = this.orgs.get(orgId);
    if (s === undefined) {
      s = { events: [], lastReplayId: 1000, purgedThrough: 0, gapNext: 0 };
      this.orgs.set(orgId, s);
    }
    return s;
  }

  private header(
    entity: string,
    changeType: string,
    recordIds: string[],
    commitTimestamp: number,
    c: Pick<RecordChange, 'changeOrigin' | 'commitUser' | 'transactionKey' | 'sequenceNumber'>,
    changedFields: string[] = [],
  ) {
    return {
      entityName: entity,
      recordIds,
      changeType,
      changedFields,
      changeOrigin: c.changeOrigin,
      transactionKey: c.transactionKey,
      sequenceNumber: c.sequenceNumber,
      commitTimestamp,
      commitNumber: commitTimestamp * 1000 + c.sequenceNumber,
      commitUser: c.commitUser,
    };
  }

  private record(orgId: string, change: RecordChange): void {
    if (!this.selected(orgId, change.entityName)) return;
    const s = this.stream(orgId);
    if (s.gapNext > 0) {
      s.gapNext--;
      this.publish(orgId, change.entityName, {
        ChangeEventHeader: this.header(
          change.entityName,
          `GAP_${change.changeType}`,
          [change.recordId],
          change.commitTimestamp,
          change,
        ),
      });
      return;
    }
    this.publish(orgId, change.entityName, {
      ChangeEventHeader: this.header(
        change.entityName,
        change.changeType,
        [change.recordId],
        change.commitTimestamp,
        change,
        change.changedFields,
      ),
      ...eventFields(change.values),
    });
  }

  private publish(orgId: string, entity: string, payload: Record<string, unknown>): number {
    const s = this.stream(orgId);
    this.prune(s);
    // Replay ids are opaque and not contiguous (using_streaming_api_durability): never computed by clients.
    s.lastReplayId += this.prng.int(1, 5);
    const event: StoredEvent = {
      replayId: s.lastReplayId,
      entity,
      at: this.clock.now(),
      data: { schema: `sbx-${entity}-schema-1`, payload, event: { replayId: s.lastReplayId } },
    };
    s.events.push(event);
    this.journal?.(orgId, event);
    for (const [clientId, client] of this.clients) {
      if (client.orgId !== orgId) continue;
      for (const channel of client.subscriptions.keys())
        if (matches(channel, entity)) this.deliver(clientId, channel, [event]);
    }
    return event.replayId;
  }

  private prune(s: OrgStream): void {
    const cutoff = this.clock.now() - RETENTION_MS;
    while (s.events.length > 0 && (s.events[0]?.at ?? 0) <= cutoff) {
      const dropped = s.events.shift();
      if (dropped !== undefined) s.purgedThrough = dropped.replayId;
    }
  }

  /** Queues events for one client on one channel, in replay order, past what it already got there. */
  private deliver(clientId: string, channel: string, events: StoredEvent[]): void {
    const client = this.clients.get(clientId);
    const engine = this.adapter._server._engine._engine;
    if (client === undefined || engine === undefined) return;
    let last = client.subscriptions.get(channel) ?? 0;
    for (const e of events) {
      if (e.replayId <= last) continue;
      // Published to the client's private channel, so faye's engine queues it between long polls;
      // the message itself names the channel the client subscribed to.
      engine.publish({ channel, data: e.data }, [privateChannel(clientId)]);
      last = e.replayId;
      this.stats.delivered++;
    }
    client.subscriptions.set(channel, last);
  }

  private session(req: IncomingMessage) {
    const header: string | undefined = req.headers.authorization;
    const token = bearerToken(header);
    const session = token === undefined ? undefined : this.tokens.valid(token);
    return session === undefined || !this.orgs.has(session.orgId) ? undefined : session;
  }

  private incoming(m: BayeuxMessage, req: IncomingMessage): BayeuxMessage {
    if (m.channel === '/meta/handshake') {
      if (this.session(req) === undefined) {
        this.stats.handshakesRefused++;
        m.error = '403::Handshake denied';
      }
      return m;
    }
    if (m.channel === '/meta/disconnect') return m;
    const client = m.clientId === undefined ? undefined : this.clients.get(m.clientId);
    if (m.channel === '/meta/connect' || m.channel === '/meta/subscribe') {
      // An expired token ends the session: the client must handshake again with a new one.
      const session = this.session(req);
      if (client === undefined || session === undefined || session.orgId !== client.orgId) {
        if (m.channel === '/meta/connect') this.stats.connectsRefused++;
        m.error = AUTH_INVALID;
        return m;
      }
      client.token = session.token;
    }
    if (m.channel === '/meta/subscribe' && client !== undefined) {
      const channel = m.subscription ?? '';
      const entity = /^\/data\/(\w+)ChangeEvent$/.exec(channel)?.[1] ?? '';
      if (channel !== ALL_CHANNEL && !this.selected(client.orgId, entity)) {
        m.error = `400::The channel you requested to subscribe to does not exist {${channel}}`;
        return m;
      }
      const replay = (m.ext?.['replay'] as Record<string, unknown> | undefined)?.[channel];
      const s = this.stream(client.orgId);
      this.prune(s);
      const from = typeof replay === 'number' ? replay : typeof replay === 'string' ? Number(replay) : -1;
      if (from >= 0 && (from < s.purgedThrough || !Number.isFinite(from))) {
        m.error = `400::The replayId {${String(replay)}} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.`;
        return m;
      }
      // -1: only events after now; -2: everything retained; an id: the events after it.
      client.subscriptions.set(channel, from === -2 ? 0 : from === -1 || from < -2 ? s.lastReplayId : from);
    }
    return m;
  }

  private outgoing(m: BayeuxMessage, req: IncomingMessage): BayeuxMessage {
    if (m.channel === '/meta/handshake') {
      if (m.successful === true && m.clientId !== undefined) {
        const session = this.session(req);
        if (session !== undefined) {
          this.clients.set(m.clientId, {
            orgId: session.orgId,
            token: session.token,
            subscriptions: new Map(),
          });
          this.adapter._server._engine._engine?.subscribe(m.clientId, privateChannel(m.clientId));
        }
        m.ext = { ...m.ext, replay: true, 'payload.format': true };
      } else if (m.error !== undefined) {
        m.ext = { ...m.ext, sfdc: { failureReason: AUTH_INVALID } };
        m.advice = { reconnect: 'none' };
      }
      return m;
    }
    if ((m.channel === '/meta/connect' || m.channel === '/meta/subscribe') && m.error === AUTH_INVALID) {
      m.advice = { reconnect: 'none' };
      return m;
    }
    if (m.channel === '/meta/subscribe' && m.successful === true && m.clientId !== undefined) {
      const clientId = m.clientId;
      const channel = m.subscription ?? '';
      const client = this.clients.get(clientId);
      if (client !== undefined) {
        // Queued now, sent with the client's next connect; its listener is in place since it subscribed.
        const backlog = this.stream(client.orgId).events.filter((e) => matches(channel, e.entity));
        this.deliver(clientId, channel, backlog);
      }
    }
    return m;
  }
}

const matches = (channel: string, entity: string) => channel === ALL_CHANNEL || channel === channelOf(entity);

/** The record's fields as change events carry them: Name as a compound of the parts in the change. */
function eventFields(values: SRecord): Record<string, unknown> {
  const { Id: _id, Name: _name, FirstName, LastName, ...rest } = values;
  if (FirstName === undefined && LastName === undefined) return rest;
  const name: Record<string, unknown> = {};
  if (FirstName !== undefined) name['FirstName'] = FirstName;
  if (LastName !== undefined) name['LastName'] = LastName;
  return { Name: name, ...rest };
}
