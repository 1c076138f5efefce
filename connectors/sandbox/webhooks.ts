// Signed webhook deliveries with HubSpot's behaviour (hubspot.md §1): batches of ≤ 100 events, at most
// `maxConcurrent` requests in flight per portal, 5 s timeout, up to 10 retries with growing delays.
import type { Clock, Prng } from './clock.js';
import { signV1, signV3 } from './signature.js';
import type { ChangeEvent } from './store.js';
import type { WriteSource } from './write-log.js';

export interface WebhookConfig {
  targetUrl: string;
  clientSecret: string;
  appId: number;
  maxConcurrent?: number | undefined;
  /** Contact properties with a `contact.propertyChange` subscription. */
  propertyChanges?: string[] | undefined;
  /** Fraction of events delivered twice (same eventId). */
  duplicateRate?: number | undefined;
  /** Shuffle pending events before batching. */
  outOfOrder?: boolean | undefined;
  /** Fraction of delivery attempts silently not sent; they come back later as a retry. */
  dropRate?: number | undefined;
}

export interface WebhookTiming {
  timeoutMs: number;
  /** Delay before retry n (1-based), before scaling; HubSpot spreads 10 retries over 24 h. */
  retryDelaysMs: number[];
  /** Multiplies every retry delay: 0.001 in tests turns minutes into milliseconds. */
  retryScale: number;
  /** Events created within this window go out in one batch. */
  batchWindowMs: number;
  maxRetries: number;
}

export const DEFAULT_WEBHOOK_TIMING: WebhookTiming = {
  timeoutMs: 5000,
  retryDelaysMs: [60, 120, 300, 600, 1800, 3600, 7200, 14_400, 21_600, 36_000].map((s) => s * 1000),
  retryScale: 1,
  batchWindowMs: 5,
  maxRetries: 10,
};

export interface WebhookEvent {
  eventId: number;
  subscriptionId: number;
  portalId: number;
  appId: number;
  occurredAt: number;
  subscriptionType: string;
  attemptNumber: number;
  objectId: number;
  changeSource: string;
  sourceId?: string;
  changeFlag?: string;
  objectTypeId?: string;
  propertyName?: string;
  propertyValue?: string;
  isSensitive?: boolean;
}

export interface DeliveryAttempt {
  portalId: number;
  batch: number;
  attemptNumber: number;
  eventIds: number[];
  /** HTTP status, or 'timeout' / 'network' / 'dropped'. */
  outcome: number | 'timeout' | 'network' | 'dropped';
  at: number;
}

export const SUBSCRIPTION_IDS = { contactCreation: 5001, objectCreation: 5002, propertyChangeBase: 5100 };

// UNCONFIRMED (hubspot.md §11.1): the changeSource HubSpot reports for an app's own writes.
const CHANGE_SOURCE: Record<WriteSource, string> = {
  api: 'INTEGRATION',
  import: 'IMPORT',
  generator: 'FORM',
  admin: 'CRM_UI',
};

interface PortalQueue {
  config: WebhookConfig;
  pending: WebhookEvent[];
  inFlight: number;
  maxInFlightSeen: number;
  flushTimer?: NodeJS.Timeout | undefined;
}

export class WebhookDispatcher {
  private queues = new Map<number, PortalQueue>();
  private retryTimers = new Set<NodeJS.Timeout>();
  private nextEventId = 1;
  private nextBatch = 1;
  private waiters: (() => void)[] = [];
  readonly attempts: DeliveryAttempt[] = [];
  readonly deadLetters: WebhookEvent[] = [];
  private stopped = false;

  constructor(
    private timing: WebhookTiming,
    private readonly clock: Clock,
    private readonly prng: Prng,
  ) {}

  configure(portalId: number, config: WebhookConfig | undefined): void {
    if (config === undefined) {
      this.queues.delete(portalId);
      return;
    }
    const existing = this.queues.get(portalId);
    if (existing !== undefined) existing.config = config;
    else this.queues.set(portalId, { config, pending: [], inFlight: 0, maxInFlightSeen: 0 });
  }

  setTiming(timing: Partial<WebhookTiming>): void {
    this.timing = { ...this.timing, ...timing };
  }

  /** Highest number of concurrent requests seen for a portal (for tests of the cap). */
  maxInFlight(portalId: number): number {
    return this.queues.get(portalId)?.maxInFlightSeen ?? 0;
  }

  /** Turns a store change into HubSpot events for the portal's subscriptions. */
  handle(portalId: number, change: ChangeEvent): void {
    const q = this.queues.get(portalId);
    if (q === undefined || change.type !== 'contacts') return;
    const { appId } = q.config;
    const base = {
      portalId,
      appId,
      occurredAt: change.at,
      attemptNumber: 0,
      objectId: Number(change.id),
      changeSource: CHANGE_SOURCE[change.source],
      ...(change.source === 'api' ? { sourceId: String(appId) } : {}),
    };
    const events: WebhookEvent[] = [];
    if (change.kind === 'created') {
      events.push({
        ...base,
        eventId: this.nextEventId++,
        subscriptionId: SUBSCRIPTION_IDS.contactCreation,
        subscriptionType: 'contact.creation',
        changeFlag: 'NEW',
      });
      events.push({
        ...base,
        eventId: this.nextEventId++,
        subscriptionId: SUBSCRIPTION_IDS.objectCreation,
        subscriptionType: 'object.creation',
        objectTypeId: '0-1',
        changeFlag: 'CREATED',
      });
    } else {
      const idx = (q.config.propertyChanges ?? []).indexOf(change.property);
      if (idx < 0) return;
      events.push({
        ...base,
        eventId: this.nextEventId++,
        subscriptionId: SUBSCRIPTION_IDS.propertyChangeBase + idx,
        subscriptionType: 'contact.propertyChange',
        propertyName: change.property,
        propertyValue: change.value,
      });
    }
    for (const e of events) {
      q.pending.push(e);
      if (this.prng.chance(q.config.duplicateRate ?? 0)) q.pending.push({ ...e });
    }
    this.scheduleFlush(portalId, q);
  }

  private scheduleFlush(portalId: number, q: PortalQueue): void {
    if (q.flushTimer !== undefined || this.stopped) return;
    q.flushTimer = setTimeout(() => {
      q.flushTimer = undefined;
      this.flush(portalId, q);
    }, this.timing.batchWindowMs);
  }

  private flush(portalId: number, q: PortalQueue): void {
    if (q.config.outOfOrder === true) this.prng.shuffle(q.pending);
    const max = q.config.maxConcurrent ?? 10;
    while (q.pending.length > 0 && q.inFlight < max && !this.stopped) {
      const batch = q.pending.splice(0, 100);
      q.inFlight++;
      q.maxInFlightSeen = Math.max(q.maxInFlightSeen, q.inFlight);
      void this.deliver(portalId, q, batch).finally(() => {
        q.inFlight--;
        if (q.pending.length > 0) this.flush(portalId, q);
        this.notifyIfIdle();
      });
    }
    this.notifyIfIdle();
  }

  private async deliver(portalId: number, q: PortalQueue, events: WebhookEvent[]): Promise<void> {
    const batch = this.nextBatch++;
    const attemptNumber = events[0]?.attemptNumber ?? 0;
    const record = (outcome: DeliveryAttempt['outcome']) =>
      this.attempts.push({
        portalId,
        batch,
        attemptNumber,
        eventIds: events.map((e) => e.eventId),
        outcome,
        at: this.clock.now(),
      });
    if (this.prng.chance(q.config.dropRate ?? 0)) {
      record('dropped');
      this.retry(portalId, q, events);
      return;
    }
    const body = JSON.stringify(events);
    const timestamp = this.clock.now();
    const { clientSecret, targetUrl } = q.config;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timing.timeoutMs);
    try {
      const res = await fetch(targetUrl, {
        method: 'POST',
        body,
        signal: controller.signal,
        headers: {
          'Content-Type': 'application/json',
          'User-Agent':
            'HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio-http-client) - lead-router sandbox',
          'X-HubSpot-Signature': signV1(clientSecret, body),
          'X-HubSpot-Signature-Version': 'v1',
          'X-HubSpot-Signature-v3': signV3(clientSecret, 'POST', targetUrl, body, timestamp),
          'X-HubSpot-Request-Timestamp': String(timestamp),
          'X-HubSpot-Timeout-Millis': String(this.timing.timeoutMs),
        },
      });
      await res.arrayBuffer().catch(() => undefined);
      record(res.status);
      // "any HTTP status code (4xx or 5xx)" is retried (hubspot.md §1.3).
      if (res.status < 200 || res.status > 299) this.retry(portalId, q, events);
    } catch {
      record(controller.signal.aborted ? 'timeout' : 'network');
      this.retry(portalId, q, events);
    } finally {
      clearTimeout(timer);
    }
  }

  private retry(portalId: number, q: PortalQueue, events: WebhookEvent[]): void {
    const attempt = (events[0]?.attemptNumber ?? 0) + 1;
    if (attempt > this.timing.maxRetries || this.stopped) {
      this.deadLetters.push(...events);
      return;
    }
    const base = this.timing.retryDelaysMs[attempt - 1] ?? this.timing.retryDelaysMs.at(-1) ?? 60_000;
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      q.pending.push(...events.map((e) => ({ ...e, attemptNumber: attempt })));
      this.scheduleFlush(portalId, q);
    }, base * this.timing.retryScale);
    this.retryTimers.add(timer);
  }

  private isIdle(): boolean {
    if (this.retryTimers.size > 0) return false;
    for (const q of this.queues.values()) {
      if (q.pending.length > 0 || q.inFlight > 0 || q.flushTimer !== undefined) return false;
    }
    return true;
  }

  private notifyIfIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once nothing is pending, in flight or waiting for a retry. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    for (const q of this.queues.values()) {
      if (q.flushTimer !== undefined) clearTimeout(q.flushTimer);
      q.flushTimer = undefined;
      q.pending = [];
    }
    this.notifyIfIdle();
  }
}
