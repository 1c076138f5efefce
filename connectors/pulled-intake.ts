// The seam of a pulled intake: a CRM event stream (Salesforce Change Data Capture) that one process per
// tenant and channel reads and hands to the inbox. The connector reads the stream; the app decides who
// reads it (a lease), records what it delivers and says where it resumes.
import type { CrmEvent } from './connector.js';

/** A point in a stream: the CRM's replay id and when the CRM committed that event (epoch ms). */
export interface StreamPosition {
  replayId: string;
  at: number;
}

/** Where a stream resumes, as last stored; null fields were never stored. */
export interface StreamResume {
  replayId: string | null;
  replayAt: number | null;
  /** Every record created before this (epoch ms) is in the inbox: a catch-up poll starts here. */
  coveredUntil: number | null;
}

export interface StreamDelivery {
  events: CrmEvent[];
  /** The stream may resume after this position once the events are recorded. */
  position?: StreamPosition | undefined;
  /** Every record created before this time is among the delivered events (or earlier ones). */
  coveredUntil?: number | undefined;
  /**
   * Set by a catch-up poll run while the stream was subscribed with no known loss: its creations made
   * after this time (epoch ms) that the inbox does not hold yet are ones the stream never delivered.
   */
  missedAfter?: number | undefined;
}

/**
 * Whether the stream is subscribed: a stream whose subscription the CRM refuses (the channel not enabled,
 * a permission missing, the handshake refused) still runs its catch-up poll, so its deliveries alone do
 * not tell. `error` is the CRM's reason, never a token.
 */
export type StreamStatus = { subscribed: true } | { subscribed: false; error: string };

export interface StreamSink {
  /**
   * Records the events durably, then the position. Resolves false when this process no longer holds
   * the stream (the events were recorded all the same: recording is idempotent): the stream closes.
   */
  deliver(delivery: StreamDelivery): Promise<boolean>;
  /**
   * Told when a subscription succeeds, and when a subscribe or handshake fails (the stream then tries
   * again). Not told of a healthy client's reconnects. Returns at once: what it records is its own affair.
   */
  status?(status: StreamStatus): void;
}

/** Structured log lines of a stream (winston's logger fits); fields carry ids, never tokens. */
export interface StreamLog {
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
}

export interface OpenedStream {
  /** Stops reading; resolves once deliveries in flight have settled. */
  close(): Promise<void>;
}

export interface PulledIntake {
  /** The channels a tenant's stream is read on, each leased apart. */
  readonly channels: readonly string[];
  open(channel: string, resume: StreamResume | null, sink: StreamSink, log: StreamLog): OpenedStream;
}
