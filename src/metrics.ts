// Prometheus metrics (prom-client), one registry per process: what arrives, what is queued, what was
// decided and how fast, what the CRM answered. Counters and histograms count this process's own work;
// queue depth and dead letters are read from the shared database at scrape time, so any instance shows
// the whole deployment's backlog — counting only live rows (pending, leased, failed), never every event
// ever received.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { FallbackReason } from './core/types.js';
import {
  STREAM_FAILING_GRACE_MS,
  streamFailure,
  type CrmCallOutcomeKind,
  type StreamState,
  type Tenant,
} from './storage/index.js';

export type CrmCallOutcome = 'ok' | 'rate_limited' | 'error';

export interface QueueSnapshot {
  tenantId: string;
  pending: number;
  leased: number;
  /** Dead letters: items that failed for good and wait for a replay. */
  failed: number;
}

export interface TenantCounts {
  /** Installed and routing. */
  installed: number;
  /** Portals that uninstalled the app: tokens deleted, work not claimed. */
  uninstalled: number;
  /** Installed, but the CRM account's policy refuses our credentials for now: work not claimed. */
  paused: number;
}

/** Tenants by state, as `lead_router_tenants` shows them. */
export function countTenants(tenants: readonly Pick<Tenant, 'uninstalledAt' | 'pause'>[]): TenantCounts {
  const uninstalled = tenants.filter((t) => t.uninstalledAt !== null).length;
  const paused = tenants.filter((t) => t.uninstalledAt === null && t.pause !== null).length;
  return { installed: tenants.length - uninstalled - paused, uninstalled, paused };
}

export interface StreamCounts {
  /** A routing tenant's stream that a process reads (holds its lease, and subscribes). */
  held: number;
  /** A routing tenant's stream that no process reads: its new leads wait in the CRM. */
  unheld: number;
  /**
   * A routing tenant's stream whose holder has not subscribed for longer than the grace: only its
   * catch-up poll brings new leads in.
   */
  failing: number;
  /** A paused tenant's stream, read or not: it waits with the tenant's routing. */
  paused: number;
}

/** Installed tenants' pulled streams by state, as `lead_router_streams` shows them at `now`. */
export function countStreams(
  streams: readonly Pick<StreamState, 'paused' | 'lease'>[],
  now: number,
): StreamCounts {
  const counts: StreamCounts = { held: 0, unheld: 0, failing: 0, paused: 0 };
  for (const s of streams) {
    if (s.paused) counts.paused += 1;
    else if (s.lease === null) counts.unheld += 1;
    else if (streamFailure(s, now) !== null) counts.failing += 1;
    else counts.held += 1;
  }
  return counts;
}

/** Calls to one portal that failed in a row (429s aside) before readiness reports the CRM failing. */
const FAILING_AFTER = 5;

export class Metrics {
  readonly registry = new Registry();
  private readonly webhookEvents: Counter<'provider' | 'outcome'>;
  private readonly webhookRequests: Counter<'provider' | 'status'>;
  private readonly decisions: Counter<'tenant' | 'route'>;
  private readonly fallbacks: Counter<'tenant' | 'reason'>;
  private readonly deadLettered: Counter<'tenant'>;
  private readonly slaSteps: Counter<'tenant' | 'step'>;
  private readonly notificationsGivenUp: Counter<'tenant' | 'channel'>;
  private readonly latency: Histogram<'tenant'>;
  private readonly crmCalls: Counter<'portal' | 'bucket' | 'outcome'>;
  private readonly lateSlots: Counter<'portal' | 'bucket'>;
  private readonly purgedRows: Counter<'kind'>;
  private readonly streamMissedRecords: Counter<'channel'>;
  private readonly crmFailuresInARow = new Map<string, number>();
  private readonly apiUsageRatio: Gauge<'tenant'>;
  /** Per tenant: the CRM's daily API usage as last reported, and whether its work is slowed for it. */
  private readonly apiUsageNow = new Map<string, { used: number; limit: number; slowed: boolean }>();

  constructor(
    options: {
      queue?: () => Promise<QueueSnapshot[]>;
      /** Tenants by install state, read at scrape time. */
      tenants?: () => Promise<TenantCounts>;
      /** Installed tenants' pulled event streams by state, read at scrape time. */
      streams?: () => Promise<StreamCounts>;
      defaultMetrics?: boolean;
    } = {},
  ) {
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.webhookRequests = new Counter({
      name: 'lead_router_webhook_requests_total',
      help: 'Webhook requests by HTTP status answered (4xx: rejected, nothing enqueued).',
      labelNames: ['provider', 'status'],
      registers,
    });
    this.webhookEvents = new Counter({
      name: 'lead_router_webhook_events_total',
      help: 'Events in accepted webhook requests: enqueued, or duplicate (already in the inbox).',
      labelNames: ['provider', 'outcome'],
      registers,
    });
    this.decisions = new Counter({
      name: 'lead_router_decisions_total',
      help: 'Routing decisions committed, by the route that matched (or fallback).',
      labelNames: ['tenant', 'route'],
      registers,
    });
    this.fallbacks = new Counter({
      name: 'lead_router_fallbacks_total',
      help: 'Fallbacks taken by committed decisions, by reason (no route matched, pool nobody eligible, …).',
      labelNames: ['tenant', 'reason'],
      registers,
    });
    this.slaSteps = new Counter({
      name: 'lead_router_sla_steps_total',
      help: 'SLA steps taken: met, breach, remind, reroute, escalate, left_alone.',
      labelNames: ['tenant', 'step'],
      registers,
    });
    this.notificationsGivenUp = new Counter({
      name: 'lead_router_notifications_given_up_total',
      help: 'Notification deliveries given up because their receiver kept failing.',
      labelNames: ['tenant', 'channel'],
      registers,
    });
    this.deadLettered = new Counter({
      name: 'lead_router_dead_letters_total',
      help: 'Inbox items this process moved to the dead letters.',
      labelNames: ['tenant'],
      registers,
    });
    this.latency = new Histogram({
      name: 'lead_router_routing_latency_seconds',
      help: 'From the CRM event (contact created) to the owner written back.',
      labelNames: ['tenant'],
      buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers,
    });
    this.crmCalls = new Counter({
      name: 'lead_router_crm_calls_total',
      help: 'CRM API calls by portal, rate bucket and outcome (rate_limited: the CRM answered 429).',
      labelNames: ['portal', 'bucket', 'outcome'],
      registers,
    });
    this.lateSlots = new Counter({
      name: 'lead_router_rate_slots_given_up_total',
      help: 'Shared rate-limit slots a loaded process woke too late for and reserved again (multi-process mode).',
      labelNames: ['portal', 'bucket'],
      registers,
    });
    this.apiUsageRatio = new Gauge({
      name: 'lead_router_crm_api_usage_ratio',
      help: "Fraction of the CRM's daily API allocation used, as the CRM last reported it (Salesforce: Sforce-Limit-Info).",
      labelNames: ['tenant'],
      registers,
    });
    this.purgedRows = new Counter({
      name: 'lead_router_rows_purged_total',
      help: 'Rows past their retention deleted by this process (inbox, deadLetters, effects, decisions, holds).',
      labelNames: ['kind'],
      registers,
    });
    this.streamMissedRecords = new Counter({
      name: 'lead_router_stream_missed_total',
      help: "Records a tenant's change-event stream never delivered although subscribed, found by its catch-up poll (counted by the process holding the stream): a stream that stays subscribed but goes silent, its new leads routed only by the poll, minutes late. By channel, as lead_router_streams is by state: the log line and /readyz name the tenant.",
      labelNames: ['channel'],
      registers,
    });
    const queue = options.queue;
    if (queue !== undefined) {
      new Gauge({
        name: 'lead_router_queue_depth',
        help: 'Inbox items waiting (pending), being routed (leased) or dead (failed), per tenant.',
        labelNames: ['tenant', 'state'],
        registers,
        async collect() {
          this.reset();
          for (const q of await queue()) {
            this.set({ tenant: q.tenantId, state: 'pending' }, q.pending);
            this.set({ tenant: q.tenantId, state: 'leased' }, q.leased);
            this.set({ tenant: q.tenantId, state: 'failed' }, q.failed);
          }
        },
      });
    }
    if (options.tenants !== undefined) this.registerTenants(options.tenants);
    if (options.streams !== undefined) this.registerStreams(options.streams);
  }

  private registerStreams(streams: () => Promise<StreamCounts>): void {
    this.stateGauge(
      'lead_router_streams',
      `Installed tenants' change-event streams (Salesforce CDC), one per tenant and channel, by state: held (a process reads it), unheld (no process does: the tenant's new leads wait in the CRM until one does), failing (the process holding it has not subscribed for over ${STREAM_FAILING_GRACE_MS / 60_000} minutes: only its catch-up poll brings new leads in), or paused (the tenant's routing is paused; its stream waits with it).`,
      streams,
    );
  }

  private registerTenants(tenants: () => Promise<TenantCounts>): void {
    this.stateGauge(
      'lead_router_tenants',
      "Tenants by state: installed, paused (the CRM account's policy refuses our credentials for now: work waits until they are accepted again), or uninstalled (tokens deleted, work paused until a reinstall).",
      tenants,
    );
  }

  /** A gauge of things by state, read at scrape time: one series per state, whatever their number. */
  private stateGauge<C extends object>(name: string, help: string, counts: () => Promise<C>): void {
    new Gauge({
      name,
      help,
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        for (const [state, n] of Object.entries(await counts())) this.set({ state }, n as number);
      },
    });
  }

  /**
   * A tenant's daily API usage as its CRM last reported it (Salesforce's Sforce-Limit-Info), and
   * whether its work is slowed down because of it.
   */
  apiUsage(tenantId: string, used: number, limit: number, slowed: boolean): void {
    if (!(limit > 0)) return;
    this.apiUsageRatio.set({ tenant: tenantId }, used / limit);
    this.apiUsageNow.set(tenantId, { used, limit, slowed });
  }

  /** Tenants whose work is slowed by their daily API usage, with that usage. */
  slowedTenants(): { tenantId: string; used: number; limit: number }[] {
    return [...this.apiUsageNow]
      .filter(([, u]) => u.slowed)
      .map(([tenantId, u]) => ({ tenantId, used: u.used, limit: u.limit }));
  }

  webhookAnswered(provider: string, status: number, events: { enqueued: number; duplicates: number }): void {
    this.webhookRequests.inc({ provider, status: String(status) });
    if (events.enqueued > 0) this.webhookEvents.inc({ provider, outcome: 'enqueued' }, events.enqueued);
    if (events.duplicates > 0) this.webhookEvents.inc({ provider, outcome: 'duplicate' }, events.duplicates);
  }

  decided(tenantId: string, route: string, fallbacks: readonly FallbackReason[] = []): void {
    this.decisions.inc({ tenant: tenantId, route });
    for (const reason of fallbacks) this.fallbacks.inc({ tenant: tenantId, reason });
  }

  ownerWritten(tenantId: string, seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.latency.observe({ tenant: tenantId }, seconds);
  }

  slaStep(tenantId: string, step: string): void {
    this.slaSteps.inc({ tenant: tenantId, step });
  }

  notificationGivenUp(tenantId: string, channel: string): void {
    this.notificationsGivenUp.inc({ tenant: tenantId, channel });
  }

  deadLetter(tenantId: string): void {
    this.deadLettered.inc({ tenant: tenantId });
  }

  streamMissed(channel: string, records: number): void {
    this.streamMissedRecords.inc({ channel }, records);
  }

  purged(kind: string, rows: number): void {
    this.purgedRows.inc({ kind }, rows);
  }

  crmCall(portal: string, bucket: string, outcome: CrmCallOutcome): void {
    this.crmCalls.inc({ portal, bucket, outcome });
    if (outcome === 'rate_limited') return;
    this.crmFailuresInARow.set(portal, outcome === 'ok' ? 0 : (this.crmFailuresInARow.get(portal) ?? 0) + 1);
  }

  lateSlot(portal: string, bucket: string): void {
    this.lateSlots.inc({ portal, bucket });
  }

  /** Portals whose last calls from this process all failed (not counting 429s). */
  failingPortals(): string[] {
    return [...this.crmFailuresInARow].filter(([, n]) => n >= FAILING_AFTER).map(([portal]) => portal);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** How a CRM call ended, from whatever it threw (client errors, our CrmError, HTTP-ish shapes). */
export function crmCallOutcome(error: unknown): CrmCallOutcome {
  const kind = crmCallKind(error);
  return kind === 'ok' || kind === 'rate_limited' ? kind : 'error';
}

/** The same, with the connector's error kind kept (what the Health page counts); other: not a CrmError. */
export function crmCallKind(error: unknown): CrmCallOutcomeKind {
  if (error === undefined) return 'ok';
  const e = error as { kind?: unknown; code?: unknown; status?: unknown; details?: { status?: unknown } };
  const status = e.details?.status ?? e.status ?? e.code;
  if (e.kind === 'rate_limited' || status === 429) return 'rate_limited';
  const kind = e.kind;
  return kind === 'transient' || kind === 'auth' || kind === 'not_found' || kind === 'invalid'
    ? kind
    : 'other';
}
