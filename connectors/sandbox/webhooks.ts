// Signed webhook deliveries with HubSpot's behaviour (hubspot.md §1): events only for the app's active
// subscriptions, batches of ≤ 100 events, at most `maxConcurrent` requests in flight per portal, 5 s
// timeout, up to 10 retries spread over 24 h, each notification with its own random spread.
import { OBJECT_TYPE_IDS, parseObjectType, type ObjectType } from './associations.js';
import type { Clock, Prng } from '../sandbox-kit/clock.js';
import { signV1, signV3 } from './signature.js';
import type { ChangeEvent } from './store.js';
import type { WriteSource } from './write-log.js';

/** One subscription as the app's `webhooks-hsmeta.json` declares it (hubspot.md §1.1). */
export interface WebhookSubscription {
  /** Classic (`contact.creation`, `contact.propertyChange`) or generic (`object.creation`, …). */
  subscriptionType: string;
  /** Generic `object.*` types only: which object (`contact`, `0-1`, …). */
  objectType?: string | undefined;
  /** `*.propertyChange` only: the property watched. */
  propertyName?: string | undefined;
  /** Inactive subscriptions send nothing (default true). */
  active?: boolean | undefined;
}

/** What a portal's app subscribes to when the config names nothing: new contacts, classic form. */
export const DEFAULT_SUBSCRIPTIONS: WebhookSubscription[] = [{ subscriptionType: 'contact.creation' }];

export interface WebhookConfig {
  targetUrl: string;
  clientSecret: string;
  appId: number;
  maxConcurrent?: number | undefined;
  /** The app's subscriptions; events of any other type are never sent (default DEFAULT_SUBSCRIPTIONS). */
  subscriptions?: WebhookSubscription[] | undefined;
  /** Fraction of events delivered twice (same eventId). */
  duplicateRate?: number | undefined;
  /** Shuffle pending events before batching. */
  outOfOrder?: boolean | undefined;
  /** Fraction of delivery attempts silently not sent; they come back later as a retry. */
  dropRate?: number | undefined;
}

export interface WebhookTiming {
  timeoutMs: number;
  /** Delay before retry n (1-based), before spread and scaling; HubSpot spreads 10 retries over 24 h. */
  retryDelaysMs: number[];
  /** Each notification's delay is moved by up to ± this fraction, at random (HubSpot's "randomization"). */
  retrySpread: number;
  /** Multiplies every retry delay: 0.001 in tests turns minutes into milliseconds. */
  retryScale: number;
  /** Events created within this window go out in one batch. */
  batchWindowMs: number;
  maxRetries: number;
}

// "Notifications will be retried up to 10 times. These retries will be spread out over the next 24 hours,
// with varying delays between requests. Individual notifications will have some randomization applied"
// (hubspot.md §1.3). The individual delays are not published: these grow from 1 min to 8 h and, spread
// included, end within 24 h (21.8 h × 1.1).
export const DEFAULT_WEBHOOK_TIMING: WebhookTiming = {
  timeoutMs: 5000,
  retryDelaysMs: [60, 120, 300, 600, 1800, 3600, 7200, 14_400, 21_600, 28_800].map((s) => s * 1000),
  retrySpread: 0.1,
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
  /** The `objectWriteTraceId` of the API write that caused the event, when it carried one. */
  objectWriteTraceId?: string;
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

/** A retry scheduled for one notification, after its batch failed. */
export interface ScheduledRetry {
  portalId: number;
  eventId: number;
  /** The attempt the retry will be (1 = first retry). */
  attemptNumber: number;
  delayMs: number;
}

/** Subscription n (0-based) of a portal's config has id SUBSCRIPTION_ID_BASE + n. */
export const SUBSCRIPTION_ID_BASE = 5001;

/** Object names of the classic subscription types (`contact.creation`); other objects are generic only. */
const CLASSIC_NAMES: Partial<Record<ObjectType, string>> = { contacts: 'contact', companies: 'company' };

function subscribedObject(s: WebhookSubscription): ObjectType | undefined {
  try {
    return s.objectType === undefined ? undefined : parseObjectType(s.objectType);
  } catch {
    return undefined;
  }
}

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
  /** Every retry scheduled, with its delay: HubSpot's schedule is checked on these, not on wall time. */
  readonly retries: ScheduledRetry[] = [];
  private stopped = false;
  /** Events an earlier run queued and never delivered, per portal: sent once the portal is configured. */
  private heldOver = new Map<number, WebhookEvent[]>();
  /**
   * Told each event when it is queued and when it is settled (answered 2xx, or given up), when the
   * sandbox keeps its data in a file: what is queued and not settled is delivered again after a restart.
   */
  journal: ((change: { queued: WebhookEvent } | { settled: number[]; portalId: number }) => void) | undefined;

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
    if (existing !== undefined) {
      existing.config = config;
      return;
    }
    const q: PortalQueue = { config, pending: [], inFlight: 0, maxInFlightSeen: 0 };
    this.queues.set(portalId, q);
    const heldOver = this.heldOver.get(portalId);
    if (heldOver !== undefined) {
      // HubSpot retries what it could not deliver; so does a restarted sandbox.
      this.heldOver.delete(portalId);
      q.pending.push(...heldOver.map((e) => ({ ...e, attemptNumber: e.attemptNumber + 1 })));
      this.scheduleFlush(portalId, q);
    }
  }

  /** Continues an earlier run: its event ids are not reused, and its undelivered events are sent. */
  restore(state: { nextEventId: number; undelivered: WebhookEvent[] }): void {
    this.nextEventId = Math.max(this.nextEventId, state.nextEventId);
    for (const e of state.undelivered) {
      const list = this.heldOver.get(e.portalId) ?? [];
      list.push(e);
      this.heldOver.set(e.portalId, list);
    }
  }

  /** The id the next event will get. */
  get eventIdHighWater(): number {
    return this.nextEventId;
  }

  /** Queued events not delivered yet (pending, in retry or held over), for a snapshot. */
  undelivered(): WebhookEvent[] {
    return [...this.heldOver.values()].flat();
  }

  setTiming(timing: Partial<WebhookTiming>): void {
    this.timing = { ...this.timing, ...timing };
  }

  /** Highest number of concurrent requests seen for a portal (for tests of the cap). */
  maxInFlight(portalId: number): number {
    return this.queues.get(portalId)?.maxInFlightSeen ?? 0;
  }

  private readonly quietPortals = new Set<number>();

  /**
   * Runs `fn` with the portal's change events not delivered: records made inside existed "before the app
   * was installed" (what a backfill routes). Only while `fn` runs synchronously.
   */
  quiet<T>(portalId: number, fn: () => T): T {
    this.quietPortals.add(portalId);
    try {
      return fn();
    } finally {
      this.quietPortals.delete(portalId);
    }
  }

  /** Turns a store change into one HubSpot event per active subscription it matches. */
  handle(portalId: number, change: ChangeEvent): void {
    const q = this.queues.get(portalId);
    if (q === undefined || this.quietPortals.has(portalId)) return;
    const { appId } = q.config;
    const base = {
      portalId,
      appId,
      occurredAt: change.at,
      attemptNumber: 0,
      objectId: Number(change.id),
      changeSource: CHANGE_SOURCE[change.source],
      ...(change.source === 'api' ? { sourceId: String(appId) } : {}),
      // UNCONFIRMED that HubSpot echoes the write's trace id on events; the batch answers carry it.
      ...(change.traceId !== undefined ? { objectWriteTraceId: change.traceId } : {}),
    };
    const verb = change.kind === 'created' ? 'creation' : 'propertyChange';
    const classic = CLASSIC_NAMES[change.type];
    const events: WebhookEvent[] = [];
    for (const [n, sub] of (q.config.subscriptions ?? DEFAULT_SUBSCRIPTIONS).entries()) {
      if (sub.active === false) continue;
      const generic = sub.subscriptionType === `object.${verb}` && subscribedObject(sub) === change.type;
      if (!generic && (classic === undefined || sub.subscriptionType !== `${classic}.${verb}`)) continue;
      if (change.kind === 'propertyChange' && sub.propertyName !== change.property) continue;
      const event: WebhookEvent = {
        ...base,
        eventId: this.nextEventId++,
        subscriptionId: SUBSCRIPTION_ID_BASE + n,
        subscriptionType: sub.subscriptionType,
      };
      if (generic) event.objectTypeId = OBJECT_TYPE_IDS[change.type];
      if (change.kind === 'created') event.changeFlag = generic ? 'CREATED' : 'NEW';
      else {
        event.propertyName = change.property;
        event.propertyValue = change.value;
      }
      events.push(event);
    }
    for (const e of events) {
      this.journal?.({ queued: e });
      q.pending.push(e);
      if (this.prng.chance(q.config.duplicateRate ?? 0)) q.pending.push({ ...e });
    }
    if (events.length > 0) this.scheduleFlush(portalId, q);
  }

  /**
   * A GDPR delete of a contact in the portal: `contact.privacyDeletion` (a `hubEvents` subscription) and
   * the `contact.deletion` HubSpot sends with it, each to the app only if it subscribes. Returns the
   * number of events queued.
   */
  privacyDeletion(portalId: number, contactId: string): number {
    const q = this.queues.get(portalId);
    if (q === undefined) return 0;
    let queued = 0;
    for (const [n, sub] of (q.config.subscriptions ?? DEFAULT_SUBSCRIPTIONS).entries()) {
      if (sub.active === false) continue;
      if (sub.subscriptionType !== 'contact.privacyDeletion' && sub.subscriptionType !== 'contact.deletion')
        continue;
      q.pending.push({
        portalId,
        appId: q.config.appId,
        occurredAt: this.clock.now(),
        attemptNumber: 0,
        objectId: Number(contactId),
        changeSource: 'GDPR',
        eventId: this.nextEventId++,
        subscriptionId: SUBSCRIPTION_ID_BASE + n,
        subscriptionType: sub.subscriptionType,
      });
      queued += 1;
    }
    if (queued > 0) this.scheduleFlush(portalId, q);
    return queued;
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
      else this.journal?.({ settled: events.map((e) => e.eventId), portalId });
    } catch {
      record(controller.signal.aborted ? 'timeout' : 'network');
      this.retry(portalId, q, events);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Each notification of a failed batch is retried on its own, after its own spread delay: a batch may
   * mix first tries with retries, so each counts its own attempts.
   */
  private retry(portalId: number, q: PortalQueue, events: WebhookEvent[]): void {
    const { retryDelaysMs, retrySpread, retryScale, maxRetries } = this.timing;
    for (const e of events) {
      const attempt = e.attemptNumber + 1;
      if (attempt > maxRetries || this.stopped) {
        this.deadLetters.push(e);
        // Given up for good; events cut short by a stop stay unsettled, for a restart to deliver.
        if (!this.stopped) this.journal?.({ settled: [e.eventId], portalId });
        continue;
      }
      const base = retryDelaysMs[attempt - 1] ?? retryDelaysMs.at(-1) ?? 60_000;
      const delayMs = base * (1 + retrySpread * (2 * this.prng.next() - 1)) * retryScale;
      this.retries.push({ portalId, eventId: e.eventId, attemptNumber: attempt, delayMs });
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        q.pending.push({ ...e, attemptNumber: attempt });
        this.scheduleFlush(portalId, q);
      }, delayMs);
      this.retryTimers.add(timer);
    }
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
