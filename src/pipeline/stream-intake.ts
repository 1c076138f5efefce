// Pulled intakes (a CRM event stream, such as Salesforce Change Data Capture) feed the same inbox as
// pushed webhooks. Exactly one process reads each tenant's channel: it holds a lease in the database,
// renews it while alive, and another process takes the channel over once the lease expires (the only
// process on its database, at once). What the stream delivers is recorded in the inbox first; only then
// does the stored position move, and only while this process still holds the lease.
import type { ConnectorProfile, CrmEvent } from '../../connectors/connector.js';
import type {
  OpenedStream,
  PulledIntake,
  StreamDelivery,
  StreamSink,
  StreamStatus,
} from '../../connectors/pulled-intake.js';
import type { Logger } from '../log.js';
import type { Storage, StreamRepository } from '../storage/index.js';
import { propertyFeedsFields } from './properties.js';

export interface StreamIntakeOptions {
  storage: Storage;
  streams: StreamRepository;
  /** This process, as lease holder; unique among the processes sharing the database. */
  holder: string;
  logger: Logger;
  /** How long a lease lasts unrenewed (30 s): a dead holder's channel is taken over after this. */
  leaseMs?: number;
  /**
   * This process is the only one on its database (one app on a SQLite file it holds): a lease held by
   * another can only be a crashed predecessor's, taken over at once instead of after `leaseMs`.
   */
  sole?: boolean;
  clock?: () => number;
  /** Events were recorded in the inbox (a worker in this process starts on them at once). */
  onEnqueued?: () => void;
  /** A catch-up poll found `count` records the subscribed stream never delivered (metrics). */
  onMissed?: (tenantId: string, channel: string, count: number) => void;
}

/** Which CRM property feeds each standard lead field: the connector profile's map. */
type FieldProperties = ConnectorProfile['leadFieldProperties'];

interface Channel {
  tenantId: string;
  fieldProperties: FieldProperties;
  channel: string;
  source: PulledIntake;
  stream: OpenedStream | null;
  /** Until when this process knows it holds the lease (epoch ms); 0 when it does not. */
  heldUntil: number;
  timer: NodeJS.Timeout | undefined;
  ticking: Promise<void> | null;
  /**
   * The subscription status last written to the lease row by the open stream (`subscribed`, or the
   * failure's reason); null before its first. Only a change is written.
   */
  reported: string | null;
  /** Since when this channel's open stream fails to subscribe (the recovery's log line); null while not. */
  failingSince: number | null;
  /** Status writes, one after the other: a failure and the success after it land in that order. */
  reporting: Promise<void>;
}

const key = (tenantId: string, channel: string): string => `${tenantId}\u0000${channel}`;

export class StreamIntake {
  private readonly channels = new Map<string, Channel>();
  private readonly leaseMs: number;
  private readonly clock: () => number;
  private stopped = false;

  constructor(private readonly options: StreamIntakeOptions) {
    this.leaseMs = options.leaseMs ?? 30_000;
    this.clock = options.clock ?? Date.now;
  }

  /** Starts competing for a tenant's channels; the one that gets a lease reads its stream. */
  add(tenantId: string, fieldProperties: FieldProperties, source: PulledIntake): void {
    if (this.stopped) return;
    for (const channel of source.channels) {
      const k = key(tenantId, channel);
      if (this.channels.has(k)) continue;
      const c: Channel = {
        tenantId,
        fieldProperties,
        channel,
        source,
        stream: null,
        heldUntil: 0,
        timer: undefined,
        ticking: null,
        reported: null,
        failingSince: null,
        reporting: Promise.resolve(),
      };
      this.channels.set(k, c);
      this.tick(c);
      // Renewed three times per lease: one slow database answer does not lose it.
      c.timer = setInterval(() => this.tick(c), Math.max(10, Math.floor(this.leaseMs / 3)));
      c.timer.unref();
    }
  }

  /** Stops reading a tenant's channels (uninstalled) and gives their leases up. */
  async remove(tenantId: string): Promise<void> {
    const mine = [...this.channels.values()].filter((c) => c.tenantId === tenantId);
    await Promise.all(mine.map((c) => this.drop(c)));
  }

  /** Whether this process reads the channel now (tests, metrics). */
  reading(tenantId: string, channel: string): boolean {
    return this.channels.get(key(tenantId, channel))?.stream != null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.channels.values()].map((c) => this.drop(c)));
  }

  private async drop(c: Channel): Promise<void> {
    this.channels.delete(key(c.tenantId, c.channel));
    clearInterval(c.timer);
    await c.ticking;
    await this.closeStream(c);
    await this.options.streams
      .releaseLease(c.tenantId, c.channel, this.options.holder)
      .catch((error: unknown) =>
        this.options.logger.warn('stream lease not released', { ...this.meta(c), error: String(error) }),
      );
  }

  private meta(c: Channel): Record<string, unknown> {
    return { tenantId: c.tenantId, channel: c.channel };
  }

  private tick(c: Channel): void {
    if (c.ticking !== null) return;
    c.ticking = this.renew(c).finally(() => {
      c.ticking = null;
    });
  }

  /** Takes or renews the lease; opens the stream when it is won, closes it when it is lost. */
  private async renew(c: Channel): Promise<void> {
    const { streams, holder, logger } = this.options;
    const now = this.clock();
    let held: boolean;
    try {
      held = await streams.takeLease(c.tenantId, c.channel, holder, this.leaseMs, now);
      if (!held && this.options.sole === true) {
        const previous = await streams.takeOverLease(c.tenantId, c.channel, holder, this.leaseMs, now);
        if (previous !== null)
          logger.info('took over the stream lease of a previous run', {
            ...this.meta(c),
            previousHolder: previous,
          });
        held = true;
      }
    } catch (error) {
      logger.warn('stream lease not renewed', { ...this.meta(c), error: String(error) });
      // Unsure whether it is still ours: past its end, another process may read the channel.
      if (c.stream !== null && now >= c.heldUntil) await this.closeStream(c);
      return;
    }
    if (!this.channels.has(key(c.tenantId, c.channel))) return; // removed meanwhile
    c.heldUntil = held ? now + this.leaseMs : 0;
    if (!held) {
      if (c.stream !== null) {
        logger.warn('stream lease lost to another process', this.meta(c));
        await this.closeStream(c);
      }
      return;
    }
    if (c.stream !== null) return;
    try {
      const resume = await streams.cursor(c.tenantId, c.channel);
      logger.info('reading the stream (lease taken)', {
        ...this.meta(c),
        replayId: resume?.replayId ?? null,
      });
      // A new stream says anew whether it subscribes.
      c.reported = null;
      c.failingSince = null;
      c.stream = c.source.open(c.channel, resume, this.sink(c), logger.child(this.meta(c)));
    } catch (error) {
      logger.warn('stream not opened', { ...this.meta(c), error: String(error) });
    }
  }

  private async closeStream(c: Channel): Promise<void> {
    const stream = c.stream;
    c.stream = null;
    await stream?.close();
  }

  private sink(c: Channel): StreamSink {
    return {
      deliver: async (delivery: StreamDelivery): Promise<boolean> => {
        const now = this.clock();
        const events = await this.worthRouting(c, delivery.events);
        const added =
          events.length === 0
            ? []
            : await this.options.storage.enqueue(
                events.map((event) => ({ tenantId: c.tenantId, event })),
                now,
              );
        if (added.length > 0) this.options.onEnqueued?.();
        // Strictly after the inbox commit: a crash in between replays events the inbox already has.
        const moved = await this.options.streams.advance(
          c.tenantId,
          c.channel,
          this.options.holder,
          {
            replayId: delivery.position?.replayId,
            replayAt: delivery.position?.at,
            coveredUntil: delivery.coveredUntil,
          },
          now,
        );
        if (!moved) c.stream = null; // the stream closes itself on false; the next tick may take it back
        if (delivery.missedAfter !== undefined) await this.noteMissed(c, added, delivery.missedAfter, now);
        return moved;
      },
      status: (status: StreamStatus): void => this.recordStatus(c, status),
    };
  }

  /**
   * Says so when a catch-up poll recorded creations the stream, subscribed all along, never delivered:
   * a subscription that stays up while the CRM sends nothing (Lead taken out of Change Data Capture)
   * is otherwise seen nowhere, its leads routed minutes late by the poll. Never fails the delivery: the
   * events are recorded, and a second delivery would find them held.
   */
  private async noteMissed(
    c: Channel,
    added: readonly { event: CrmEvent }[],
    after: number,
    now: number,
  ): Promise<void> {
    const missed = added.filter((a) => a.event.kind === 'created' && a.event.occurredAt > after);
    if (missed.length === 0) return;
    const oldest = Math.min(...missed.map((m) => m.event.occurredAt));
    this.options.logger.warn('change-event stream missed records: its catch-up poll found them', {
      ...this.meta(c),
      missed: missed.length,
      oldestCreatedAt: new Date(oldest).toISOString(),
    });
    this.options.onMissed?.(c.tenantId, c.channel, missed.length);
    await this.options.streams
      .recordMissed(c.tenantId, c.channel, this.options.holder, missed.length, now)
      .catch((error: unknown) =>
        this.options.logger.warn('stream status not recorded', { ...this.meta(c), error: String(error) }),
      );
  }

  /**
   * Writes the stream's subscription status to its lease row when it changed: /readyz, /metrics and the
   * Health page tell a held stream that cannot subscribe from one that reads.
   */
  private recordStatus(c: Channel, status: StreamStatus): void {
    const state = status.subscribed ? 'subscribed' : `failing: ${status.error}`;
    if (state === c.reported) return;
    c.reported = state;
    if (!status.subscribed) c.failingSince ??= this.clock();
    else if (c.failingSince !== null) {
      this.options.logger.info('change-event stream recovered', {
        ...this.meta(c),
        failingSince: new Date(c.failingSince).toISOString(),
      });
      c.failingSince = null;
    }
    c.reporting = c.reporting.then(async () => {
      try {
        await this.options.streams.recordSubscription(
          c.tenantId,
          c.channel,
          this.options.holder,
          status,
          this.clock(),
        );
      } catch (error) {
        if (c.reported === state) c.reported = null; // written again with the next status
        this.options.logger.warn('stream status not recorded', { ...this.meta(c), error: String(error) });
      }
    });
  }

  /**
   * Creations, and changes that bring a field a held lead waits for: one row per lead (the first such
   * field). Other changes are not recorded — the stream carries every edit made in the CRM.
   */
  private async worthRouting(c: Channel, events: readonly CrmEvent[]): Promise<CrmEvent[]> {
    const out: CrmEvent[] = [];
    const changed = new Set<string>();
    const holds = new Map<string, Awaited<ReturnType<Storage['activeHold']>>>();
    for (const event of events) {
      if (event.kind === 'created') {
        out.push(event);
        continue;
      }
      if (event.property === undefined || changed.has(event.eventId)) continue;
      let hold = holds.get(event.objectId);
      if (hold === undefined) {
        hold = await this.options.storage.activeHold(c.tenantId, event.objectId);
        holds.set(event.objectId, hold);
      }
      if (hold === null || !propertyFeedsFields(c.fieldProperties, event.property, hold.fields)) continue;
      changed.add(event.eventId);
      out.push(event);
    }
    return out;
  }
}
