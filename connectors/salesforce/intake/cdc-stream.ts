// One Change Data Capture channel of one org, read with jsforce's streaming API (CometD over Faye) and
// handed to a sink in replay order, with a SOQL catch-up poll on CreatedDate for what the stream cannot
// give: gap and overflow events, downtime beyond the 72-hour retention, a stalled subscription.
// Replay: https://developer.salesforce.com/docs/atlas.en-us.api_streaming.meta/api_streaming/using_streaming_api_durability.htm
import { setTimeout as delay } from 'node:timers/promises';
import type { Connection } from 'jsforce';
import { StreamingExtension } from 'jsforce/api/streaming';
import { z } from 'zod';
import { CrmError, type CrmEvent } from '../../connector.js';
import type {
  OpenedStream,
  StreamDelivery,
  StreamLog,
  StreamResume,
  StreamSink,
  StreamStatus,
} from '../../pulled-intake.js';
import { soql, soqlDateTime, soqlName } from '../soql.js';
import { channelObject, creationEventId, mapChangeEvent, type MappedChange } from './change-events.js';

/** Change events are kept for 72 hours; a stored replay id older than that cannot be resumed from. */
export const CDC_RETENTION_MS = 72 * 3_600_000;

export interface CdcStreamOptions {
  /** The org's connection, shared with the connector: a token it refreshes is the one the stream uses. */
  conn: Connection;
  channel: string;
  /**
   * Refreshes the org's session (the connector's, which stores a rotated refresh token). Without it,
   * the catch-up poll's REST call makes jsforce refresh on its 401. A refusal that is a CrmError with
   * `retryAfterMs` (the org's policy turns us away for now) makes the stream wait that long, neither
   * polling nor reconnecting, before it refreshes again.
   */
  refresh?: (() => Promise<void>) | undefined;
  /** The Call Options client id lead-router writes with; its own changes are skipped. */
  selfClient: string;
  resume: StreamResume | null;
  sink: StreamSink;
  log: StreamLog;
  now?: () => number;
  /** Resume from a stored replay id only while it is this much younger than the retention (1 h). */
  retentionSafetyMs?: number;
  /** The catch-up poll also runs this often (5 min), for a subscription that went silent. */
  pollEveryMs?: number;
  /** How far before its last coverage a poll looks again (5 min): commit delays and clock skew. */
  pollOverlapMs?: number;
  /**
   * How long a change event may take to arrive, and the org's clock to differ from ours (60 s): while
   * subscribed, a poll leaves younger records to the stream, and counts as missed only records created
   * this long after the subscription (or a gap).
   */
  settleMs?: number;
  /** Longest wait between attempts to rebuild a failed client or redeliver (60 s). */
  maxBackoffMs?: number;
  /** Called once when the stream stops for good without `close()` (the lease was lost). */
  onStopped?: (reason: string) => void;
}

// jsforce's typings of Faye's client leave out `disconnect`, which Faye's client has.
declare module 'faye' {
  interface Client {
    disconnect(): void;
  }
}
type FayeClient = ReturnType<Connection['streaming']['createClient']>;

/** Replay ids are longs that fit a JavaScript number; -1 asks for new events only. */
type ReplayFrom = number;
/**
 * Why a client is replaced: `replace`, at once, for a new access token or a refused replay id (the new
 * client asks for new events); `refused`, after the backoff, for a subscribe a new client may meet again
 * (the channel not enabled, a permission missing); `auth`, after the backoff, for a refused session,
 * refreshed first, then the catch-up poll. The last two are failures the sink is told of.
 */
type RebuildCause = 'replace' | 'refused' | 'auth';
const NEW_EVENTS_ONLY: ReplayFrom = -1;
/** Records one poll reads at most (25 query pages); a larger backlog is read by the polls that follow. */
const POLL_MAX_FETCH = 50_000;

/** Salesforce answers datetimes as `2026-01-05T09:00:00.000+0000`. */
function parseSalesforceDate(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const ms = Date.parse(value.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
  return Number.isFinite(ms) ? ms : null;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

export class CdcStream implements OpenedStream {
  private readonly now: () => number;
  private readonly object: string;
  private client: FayeClient | null = null;
  /** The access token the current client was built with: a refresh makes it stale. */
  private clientToken: string | undefined;
  /** Replay id of the last message received (delivered or queued): a rebuilt client resumes after it. */
  private lastReceived: ReplayFrom | null = null;
  private readonly queue: MappedChange[] = [];
  private draining: Promise<void> | null = null;
  private polling: Promise<void> | null = null;
  private pollAgain: string | null = null;
  private rebuilding = false;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Ends the waits for a refused refresh at close. */
  private readonly closing = new AbortController();
  /** Until when a refused refresh asked the stream to wait (epoch ms): the polls wait too. */
  private waitingUntil = 0;
  /** Every record created before this is in the inbox (as far as this process knows). */
  private coveredUntil: number | null;
  /**
   * Since when the subscription is up with no known loss: set when a subscribe is acknowledged, moved
   * to a gap or overflow event's arrival (what came before it is the poll's to find), null while the
   * client is rebuilt. A poll counts as missed only what was created after it: a poll right after the
   * lease was taken, a gap or an expired replay id finds records the stream was never going to deliver.
   */
  private deliveringSince: number | null = null;
  private readonly onRefresh = (): void => {
    if (!this.closed && this.client !== null && this.options.conn.accessToken !== this.clientToken)
      this.rebuild('the access token was refreshed', 'replace');
  };

  constructor(private readonly options: CdcStreamOptions) {
    this.now = options.now ?? Date.now;
    this.object = channelObject(options.channel);
    this.coveredUntil = options.resume?.coveredUntil ?? null;
  }

  private get meta(): Record<string, unknown> {
    return { channel: this.options.channel };
  }

  /** Subscribes and runs the start-up poll. */
  start(): this {
    const { resume, log } = this.options;
    const now = this.now();
    const safety = this.options.retentionSafetyMs ?? 3_600_000;
    let from: ReplayFrom = NEW_EVENTS_ONLY;
    if (resume === null || resume.coveredUntil === null) {
      // First install: route what is created from now on, not the org's history.
      this.coveredUntil = now;
      void this.deliver({ events: [], coveredUntil: now });
    } else {
      const fresh =
        resume.replayId !== null &&
        resume.replayAt !== null &&
        now - resume.replayAt < CDC_RETENTION_MS - safety;
      if (fresh) from = Number(resume.replayId);
      else if (resume.replayId !== null)
        log.warn('stored replay id is past the change-event retention: subscribing for new events, polling', {
          ...this.meta,
          replayId: resume.replayId,
        });
      this.poll('start-up');
    }
    this.options.conn.on('refresh', this.onRefresh);
    this.connect(from);
    const every = this.options.pollEveryMs ?? 300_000;
    this.timer = setInterval(() => this.poll('periodic'), every);
    this.timer.unref();
    return this;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    this.stopClient();
    clearInterval(this.timer);
    this.options.conn.removeListener('refresh', this.onRefresh);
    await Promise.allSettled([this.draining, this.polling]);
  }

  private stop(reason: string): void {
    if (this.closed) return;
    this.options.log.warn('change-event stream stopped', { ...this.meta, reason });
    void this.close().then(() => this.options.onStopped?.(reason));
  }

  private stopClient(): void {
    const client = this.client;
    this.client = null;
    if (client === null) return;
    client.disconnect();
    // Faye's disconnect() does nothing before the handshake has succeeded, and closes the transport only
    // when the server answers it: a client refused mid-handshake (an expired token) or cut off from its
    // server would go on retrying for good. Marked disconnected, it stops; its transport is closed now.
    const internals: unknown = client;
    if (isFayeInternals(internals)) {
      internals._state = internals.DISCONNECTED;
      internals._dispatcher.close();
      // A handshake still in flight can still succeed: Faye then marks the client connected, selects a
      // transport anew and polls on, retrying for good once the server is gone. The stopped client's
      // dispatcher sends nothing more.
      internals._dispatcher.sendMessage = () => undefined;
      internals._dispatcher.selectTransport = () => undefined;
      // A message left unanswered keeps a timer that resends it (a refused handshake: jsforce's
      // AuthFailure swallows the answer, so Faye waits out its timeout). That timer alone would keep
      // the process alive after close; nothing is resent on a closed client, so they are cleared.
      const envelopes = internals._dispatcher._envelopes;
      if (envelopes instanceof Map) {
        for (const envelope of envelopes.values()) if (envelope.timer) clearTimeout(envelope.timer);
        envelopes.clear();
      }
    }
  }

  private connect(from: ReplayFrom): void {
    const { conn, channel, log } = this.options;
    const replay = new StreamingExtension.Replay(channel, from);
    const authFailure = new StreamingExtension.AuthFailure((message: unknown) => {
      if (this.client === client) this.rebuild(`authentication failed: ${failureReason(message)}`, 'auth');
    });
    // A new Faye client: jsforce's cached one keeps the token it was built with.
    const client: FayeClient = conn.streaming.createClient([authFailure, replay]);
    this.client = client;
    this.clientToken = conn.accessToken ?? undefined;
    client
      .subscribe(channel, (message: unknown) => this.receive(message))
      .then(
        () => {
          this.failures = 0;
          log.info('subscribed to change events', { ...this.meta, replayFrom: from });
          if (this.client === client) {
            this.deliveringSince = this.now();
            this.report({ subscribed: true });
          }
          // New events only: what was created between the start (or the failure) and now came before
          // the subscription, and only the poll finds it.
          if (from === NEW_EVENTS_ONLY) this.poll('subscribed for new events');
        },
        (error: unknown) => {
          if (this.client !== client) return;
          const reason = failureReason(error);
          // An unknown or expired replay id: take new events at once and let the poll find the rest.
          if (/replay/i.test(reason)) {
            log.warn('replay id refused: subscribing for new events, polling', { ...this.meta, reason });
            this.lastReceived = NEW_EVENTS_ONLY;
            this.poll('replay id refused');
            return this.rebuild(`subscribe failed: ${reason}`, 'replace');
          }
          // Anything else (the channel not enabled for Change Data Capture, a permission missing) is
          // met again by a new client: tried again with the backoff, not at once.
          this.rebuild(`subscribe failed: ${reason}`, /\b401\b|auth/i.test(reason) ? 'auth' : 'refused');
        },
      );
  }

  /**
   * Replaces the client after a token refresh or a failure. After an authentication failure the session
   * is refreshed and the catch-up poll runs first: it finds what the dead client missed. A failure is
   * told to the sink: the stream is not subscribed until the new client is.
   */
  private rebuild(reason: string, cause: RebuildCause): void {
    if (this.closed || this.rebuilding) return;
    this.rebuilding = true;
    this.deliveringSince = null;
    this.stopClient();
    const { log } = this.options;
    log.warn('rebuilding the change-event client', { ...this.meta, reason });
    if (cause !== 'replace') this.report({ subscribed: false, error: reason });
    void (async () => {
      if (cause !== 'replace') {
        this.failures += 1;
        const cap = this.options.maxBackoffMs ?? 60_000;
        await sleep(Math.min(cap, 250 * 2 ** Math.min(this.failures - 1, 10)));
      }
      if (cause === 'auth') {
        await this.refreshSession();
        if (this.closed) return;
        this.poll(reason);
        await this.polling?.catch(() => undefined);
      }
      this.rebuilding = false;
      if (!this.closed) this.connect(this.lastReceived ?? NEW_EVENTS_ONLY);
    })();
  }

  /** Tells the sink whether the stream is subscribed; the CRM's reason goes without the session's tokens. */
  private report(status: StreamStatus): void {
    if (this.closed) return;
    let out = status;
    if (!status.subscribed) {
      let error = status.error;
      const { accessToken, refreshToken } = this.options.conn;
      for (const token of [accessToken, refreshToken])
        if (typeof token === 'string' && token !== '') error = error.split(token).join('[token]');
      out = { subscribed: false, error };
    }
    this.options.sink.status?.(out);
  }

  /**
   * Refreshes the session. A refusal that says when to try again (the org's policy turns us away for
   * now) is waited out, said once, before refreshing again: polling or reconnecting meanwhile would only
   * meet it again.
   */
  private async refreshSession(): Promise<void> {
    const { refresh, log } = this.options;
    if (refresh === undefined) return;
    let waiting = false;
    while (!this.closed) {
      try {
        await refresh();
        this.waitingUntil = 0;
        if (waiting) log.info('session refreshed: the change-event stream goes on', this.meta);
        return;
      } catch (error) {
        const waitMs = error instanceof CrmError ? error.details.retryAfterMs : undefined;
        if (!(error instanceof CrmError) || waitMs === undefined) {
          log.warn('session refresh failed', { ...this.meta, error: String(error) });
          return;
        }
        if (!waiting)
          log.warn('session refresh refused: the change-event stream waits', {
            ...this.meta,
            error: error.message,
            waitMs,
          });
        waiting = true;
        this.waitingUntil = this.now() + waitMs;
        await delay(waitMs, undefined, { signal: this.closing.signal, ref: false }).catch(() => undefined);
      }
    }
  }

  private receive(message: unknown): void {
    if (this.closed) return;
    let mapped: MappedChange;
    try {
      mapped = mapChangeEvent(message, this.options.channel, this.options.selfClient);
    } catch (error) {
      this.options.log.warn('not a change event: ignored', { ...this.meta, error: String(error) });
      return;
    }
    this.failures = 0;
    this.lastReceived = Number(mapped.replayId);
    // A gap: what was created before it was lost, and the poll it asks for finds that.
    if (mapped.poll !== null && this.deliveringSince !== null) this.deliveringSince = this.now();
    this.queue.push(mapped);
    this.draining ??= this.drain().finally(() => {
      this.draining = null;
    });
  }

  /** Hands queued events to the sink in replay order, as many per delivery as have arrived meanwhile. */
  private async drain(): Promise<void> {
    while (!this.closed && this.queue.length > 0) {
      const batch = this.queue.splice(0, 1000);
      const last = batch[batch.length - 1]!;
      const events = batch.flatMap((m) => m.events);
      const ok = await this.deliver({ events, position: { replayId: last.replayId, at: last.committedAt } });
      if (ok === null) {
        this.queue.unshift(...batch); // not recorded: tried again, in order
        continue;
      }
      if (!ok) return this.stop('the stream lease was lost');
      for (const m of batch) if (m.poll !== null) this.poll(m.poll);
    }
  }

  /** Delivers with retries while the sink fails; null when it failed (after a backoff), else its answer. */
  private async deliver(delivery: StreamDelivery): Promise<boolean | null> {
    try {
      const ok = await this.options.sink.deliver(delivery);
      this.failures = 0;
      return ok;
    } catch (error) {
      this.failures += 1;
      this.options.log.warn('recording change events failed; trying again', {
        ...this.meta,
        error: String(error),
      });
      await sleep(Math.min(this.options.maxBackoffMs ?? 60_000, 250 * 2 ** Math.min(this.failures - 1, 10)));
      return null;
    }
  }

  /** Runs the catch-up poll now, or once more after the one running (single-flight). */
  poll(reason: string): void {
    // While a refused refresh is waited out, a poll would meet the same refusal.
    if (this.closed || this.now() < this.waitingUntil) return;
    if (this.polling !== null) {
      this.pollAgain = reason;
      return;
    }
    this.polling = this.runPoll(reason).finally(() => {
      this.polling = null;
      const again = this.pollAgain;
      this.pollAgain = null;
      if (again !== null) this.poll(again);
    });
  }

  /**
   * Finds records created since the stored coverage (less an overlap) and delivers those the stream has
   * not, then moves the coverage to when the poll began. A failed poll moves nothing. While the stream
   * is subscribed, a record younger than the settle time is left to it (the coverage stops before it:
   * the next poll reads it again and routes it if the stream did not), and the delivery says since when
   * a new record is one the stream missed: a record on its way in a change event is never taken for one.
   */
  private async runPoll(reason: string): Promise<void> {
    const { conn, sink, log, channel } = this.options;
    const startedAt = this.now();
    const since = this.deliveringSince;
    const settle = this.options.settleMs ?? 60_000;
    const from = (this.coveredUntil ?? startedAt) - (this.options.pollOverlapMs ?? 300_000);
    try {
      // The bound goes through the one SOQL quoting helper: unquoted, UTC, to the second.
      const text = soql`SELECT Id, CreatedDate FROM ${soqlName(this.object)} WHERE CreatedDate > ${soqlDateTime(from)} ORDER BY CreatedDate, Id`;
      const result = await conn.query<{ Id: string; CreatedDate: string }>(text, {
        autoFetch: true,
        maxFetch: POLL_MAX_FETCH,
      });
      const events: CrmEvent[] = [];
      let lastCreated = from;
      /** The first record left to the stream; the coverage stops before it. */
      let leftFrom: number | null = null;
      for (const r of result.records) {
        const created = parseSalesforceDate(r.CreatedDate) ?? startedAt;
        lastCreated = Math.max(lastCreated, created);
        if (since !== null && created > Math.max(since, startedAt - settle)) {
          leftFrom ??= created;
          continue;
        }
        events.push({
          eventId: creationEventId(r.Id),
          subscription: channel,
          kind: 'created',
          objectId: r.Id,
          occurredAt: created,
        });
      }
      // A backlog larger than one poll: cover up to the last record read and poll on from there.
      const complete = result.records.length >= result.totalSize;
      let covered = complete ? startedAt : lastCreated;
      if (leftFrom !== null) covered = Math.min(covered, leftFrom - 1);
      // Subscribed with no gap for the whole poll: what it finds that the inbox lacks, the stream missed.
      const missedAfter = since !== null && this.deliveringSince === since ? since + settle : undefined;
      const ok = await sink.deliver({
        events,
        coveredUntil: covered,
        ...(missedAfter === undefined ? {} : { missedAfter }),
      });
      this.coveredUntil = Math.max(this.coveredUntil ?? covered, covered);
      if (events.length > 0 || reason !== 'periodic')
        log.info('catch-up poll', {
          ...this.meta,
          reason,
          found: result.records.length,
          delivered: events.length,
        });
      if (!ok) return this.stop('the stream lease was lost');
      if (!complete) this.pollAgain ??= 'more records to catch up';
    } catch (error) {
      log.warn('catch-up poll failed', { ...this.meta, reason, error: String(error) });
    }
  }
}

/** The parts of Faye's client (1.4) that stopping it for good needs; checked, not assumed. */
interface FayeInternals {
  _state: number;
  readonly DISCONNECTED: number;
  _dispatcher: {
    close(): void;
    /** Messages sent and not answered, each with the timer that would send it again. */
    _envelopes?: Map<unknown, { timer?: ReturnType<typeof setTimeout> | null }>;
    sendMessage: (...args: unknown[]) => void;
    selectTransport: (...args: unknown[]) => void;
  };
}

function isFayeInternals(client: unknown): client is FayeInternals {
  if (typeof client !== 'object' || client === null) return false;
  const c = client as Partial<Record<keyof FayeInternals, unknown>>;
  return (
    typeof c._state === 'number' &&
    typeof c.DISCONNECTED === 'number' &&
    typeof c._dispatcher === 'object' &&
    c._dispatcher !== null &&
    typeof (c._dispatcher as { close?: unknown }).close === 'function'
  );
}

const failureSchema = z
  .object({
    error: z.string().optional(),
    message: z.string().optional(),
    ext: z.object({ sfdc: z.object({ failureReason: z.string().optional() }).optional() }).optional(),
  })
  .passthrough();

/** Salesforce's reason for a refused handshake, connect or subscribe (`401::Authentication invalid`). */
function failureReason(message: unknown): string {
  const m = failureSchema.safeParse(message);
  if (!m.success) return String(message);
  return m.data.ext?.sfdc?.failureReason ?? m.data.error ?? m.data.message ?? JSON.stringify(message);
}
