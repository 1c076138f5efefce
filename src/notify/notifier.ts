// Notifications on assignment, reminder, re-route, escalation and dead letter: recorded as durable
// deliveries (never sent inline, so routing never waits on a receiver) — each in the transaction that
// records what it tells of: a decision, a dead letter, an SLA step — then sent by `deliverDue` —
// to a Slack incoming webhook, or to a generic webhook signed per Standard Webhooks — and retried with
// backoff. A receiver that keeps failing past `giveUpAfterMs` is reported (log, metric hook, channel
// state `failing`) and its deliveries are given up, not retried forever.
import { createHash } from 'node:crypto';
import { IncomingWebhook } from '@slack/webhook';
import { Webhook } from 'standardwebhooks';
import type { Logger } from 'winston';
import type { Decision, NotifyChannel, NotifyEvent, RuleSet } from '../core/types.js';
import type { Delivery, NotificationInput, NotificationRepository } from '../storage/notifications.js';

/** What a notification carries: the lead's summary and why it is sent. */
export interface NotificationBody {
  type: `lead.${NotifyEvent}`;
  tenantId: string;
  leadId?: string | undefined;
  /** One line about the lead and its routing (the decision summary). */
  summary: string;
  reason: string;
  owner?: string | undefined;
  at: string;
}

export interface NotifierOptions {
  repository: NotificationRepository;
  logger: Logger;
  /** Environment variables the channels name (Slack URL, signing secret). */
  env?: Record<string, string | undefined>;
  /** Default 30 s, doubling per attempt up to 1 h. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** How long a delivery is retried before it is given up (default 24 h). */
  giveUpAfterMs?: number;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /** A delivery given up: its channel kept failing. */
  onGiveUp?: (tenantId: string, channel: string) => void;
  /** Real time, for the signature's timestamp: a receiver checks it against its own clock. */
  wallClock?: () => number;
}

/** The channels told about `event` for a lead routed by `route`/`pool` (or all, for a dead letter). */
export function channelsFor(
  ruleSet: RuleSet,
  event: NotifyEvent,
  where: { route?: string | null | undefined; pools?: readonly string[] | undefined },
): NotifyChannel[] {
  const all = ruleSet.notifications ?? {};
  const names = new Set<string>();
  if (event === 'dead_letter') for (const name of Object.keys(all)) names.add(name);
  const route = ruleSet.routes.find((r) => r.name === where.route);
  for (const name of route?.notify ?? []) names.add(name);
  for (const pool of where.pools ?? []) for (const name of ruleSet.pools[pool]?.notify ?? []) names.add(name);
  return [...names].flatMap((n) => {
    const c = all[n];
    return c !== undefined && c.on.includes(event) ? [c] : [];
  });
}

/** Delivery rows per channel kind: a channel with both is two deliveries, each retried on its own. */
const SLACK = ':slack';
const WEBHOOK = ':webhook';

/** The Standard Webhooks id of a tenant's notification named `key` (the same on every channel). */
export function notificationMessageId(tenantId: string, key: string): string {
  return `msg_${createHash('sha256').update(`${tenantId}\n${key}`).digest('hex').slice(0, 32)}`;
}

/** The key of a decision's assignment notification. */
const assignmentKey = (decisionKey: string): string => `assignment:${decisionKey}`;

/** The message id of the assignment notification recorded with `decisionKey`'s decision, if any was. */
export const assignmentMessageId = (tenantId: string, decisionKey: string): string =>
  notificationMessageId(tenantId, assignmentKey(decisionKey));

/**
 * The delivery rows of one notification: one per channel and kind. `key` names the event: recorded
 * again (a retry), it gives the same rows and the same Standard Webhooks id, which storage keeps once.
 */
export function deliveriesOf(
  channels: readonly NotifyChannel[],
  body: NotificationBody,
  key: string,
): NotificationInput[] {
  if (channels.length === 0) return [];
  const messageId = notificationMessageId(body.tenantId, key);
  const payload = JSON.stringify(body);
  return channels
    .flatMap((c) => [
      ...(c.slack === undefined ? [] : [`${c.name}${SLACK}`]),
      ...(c.webhook === undefined ? [] : [`${c.name}${WEBHOOK}`]),
    ])
    .map((channel) => ({
      tenantId: body.tenantId,
      channel,
      messageId,
      event: body.type,
      leadId: body.leadId,
      payload,
    }));
}

/** The deliveries telling `ruleSet`'s channels about `event` (none when no channel listens). */
export function notificationsFor(
  ruleSet: RuleSet,
  event: NotifyEvent,
  where: Parameters<typeof channelsFor>[2],
  body: Omit<NotificationBody, 'type'>,
  key: string,
): NotificationInput[] {
  return deliveriesOf(channelsFor(ruleSet, event, where), { type: `lead.${event}`, ...body }, key);
}

/**
 * An assignment's notification: recorded with its decision (a lead given to a rep or a queue). A lead
 * decided again (`decidedAgain`: why the owner chosen before was refused) says so first: the one before
 * may have been told already.
 */
export function assignmentNotifications(
  ruleSet: RuleSet,
  tenantId: string,
  d: { decisionKey: string; decision: Decision; summary: string; decidedAgain?: string | undefined },
  now: number,
): NotificationInput[] {
  const { decision } = d;
  const dest = decision.destination;
  if (dest.kind !== 'rep' && dest.kind !== 'queue') return [];
  const reason = decision.trace.steps.at(-1) ?? `route ${decision.route?.name ?? 'fallback'}`;
  return notificationsFor(
    ruleSet,
    'assignment',
    { route: decision.route?.name, pools: decision.trace.assignments.map((a) => a.pool) },
    {
      tenantId,
      leadId: decision.leadId,
      summary: d.summary,
      reason: d.decidedAgain === undefined ? reason : `${d.decidedAgain}; ${reason}`,
      owner: dest.kind === 'rep' ? dest.email : undefined,
      at: new Date(now).toISOString(),
    },
    assignmentKey(d.decisionKey),
  );
}

/** A dead letter's notification (every channel that listens for them): recorded with the dead letter. */
export function deadLetterNotifications(
  ruleSet: RuleSet,
  tenantId: string,
  item: { id: number; leadId: string; reason: string },
  now: number,
): NotificationInput[] {
  return notificationsFor(
    ruleSet,
    'dead_letter',
    {},
    {
      tenantId,
      leadId: item.leadId,
      summary: `lead ${item.leadId} was not routed`,
      reason: item.reason,
      at: new Date(now).toISOString(),
    },
    // A replayed item that fails again is a new dead letter, told again.
    `dead-letter:${item.id}:${now}`,
  );
}

export class Notifier {
  private readonly env: Record<string, string | undefined>;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly giveUpAfterMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: NotifierOptions) {
    this.env = opts.env ?? process.env;
    this.baseDelayMs = opts.baseDelayMs ?? 30_000;
    this.maxDelayMs = opts.maxDelayMs ?? 3_600_000;
    this.giveUpAfterMs = opts.giveUpAfterMs ?? 86_400_000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /**
   * Sends due deliveries; `channelOf` gives the tenant's channel by name (its rule set's), so a
   * channel removed from the rules fails its deliveries rather than sending to where it used to point.
   */
  async deliverDue(
    holder: string,
    now: number,
    channelOf: (tenantId: string, name: string) => Promise<NotifyChannel | undefined>,
    limit = 50,
  ): Promise<number> {
    const repo = this.opts.repository;
    const due = await repo.claimDue(holder, now, now + this.timeoutMs * 3, limit);
    for (const d of due) {
      const kind = d.channel.endsWith(SLACK) ? 'slack' : 'webhook';
      const name = d.channel.slice(0, d.channel.length - (kind === 'slack' ? SLACK : WEBHOOK).length);
      let error: string | undefined;
      try {
        const channel = await channelOf(d.tenantId, name);
        if (channel === undefined) error = `channel ${name} is no longer in the rules`;
        else error = await this.send(kind, channel, d);
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
      if (error === undefined) {
        await repo.delivered(d, holder, now);
        continue;
      }
      const giveUp = now - d.createdAt >= this.giveUpAfterMs;
      const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(d.attempts, 20));
      const health = await repo.failed(
        d,
        holder,
        error,
        giveUp ? { giveUp: true } : { runAfter: now + delay },
        now,
      );
      const meta = {
        tenantId: d.tenantId,
        leadId: d.leadId,
        channel: d.channel,
        attempt: d.attempts + 1,
        error,
      };
      if (giveUp) {
        this.opts.logger.error('notification given up: its receiver kept failing', {
          ...meta,
          failingSince:
            health.failingSince === null ? undefined : new Date(health.failingSince).toISOString(),
        });
        this.opts.onGiveUp?.(d.tenantId, d.channel);
      } else this.opts.logger.warn('notification not delivered; will retry', meta);
    }
    return due.length;
  }

  /** Sends one delivery; the error text when the receiver did not take it. */
  private async send(
    kind: 'slack' | 'webhook',
    channel: NotifyChannel,
    d: Delivery,
  ): Promise<string | undefined> {
    const body = d.payload;
    if (kind === 'slack') {
      const url = channel.slack === undefined ? undefined : this.env[channel.slack.urlEnv];
      if (url === undefined || url === '') return `environment variable ${channel.slack?.urlEnv} is not set`;
      const parsed = JSON.parse(body) as NotificationBody;
      await new IncomingWebhook(url, { timeout: this.timeoutMs }).send({
        text: `${parsed.type.replace('lead.', '').replace('_', ' ')}: ${parsed.summary} — ${parsed.reason}`,
      });
      return undefined;
    }
    const hook = channel.webhook;
    const secret = hook === undefined ? undefined : this.env[hook.secretEnv];
    if (hook === undefined || secret === undefined || secret === '')
      return `environment variable ${hook?.secretEnv} is not set`;
    const sentAt = (this.opts.wallClock ?? Date.now)();
    const signature = new Webhook(secret).sign(d.messageId, new Date(sentAt), body);
    const res = await fetch(hook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': d.messageId,
        'webhook-timestamp': String(Math.floor(sentAt / 1000)),
        'webhook-signature': signature,
      },
      body,
      signal: AbortSignal.timeout(this.timeoutMs),
      redirect: 'manual',
    });
    await res.text().catch(() => '');
    return res.status >= 200 && res.status < 300 ? undefined : `receiver answered ${res.status}`;
  }
}
