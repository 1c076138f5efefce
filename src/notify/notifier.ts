// Notifications on assignment, reminder, re-route, escalation and dead letter: recorded as durable
// deliveries (never sent inline, so routing never waits on a receiver), then sent by `deliverDue` —
// to a Slack incoming webhook, or to a generic webhook signed per Standard Webhooks — and retried with
// backoff. A receiver that keeps failing past `giveUpAfterMs` is reported (log, metric hook, channel
// state `failing`) and its deliveries are given up, not retried forever.
import { createHash } from 'node:crypto';
import { IncomingWebhook } from '@slack/webhook';
import { Webhook } from 'standardwebhooks';
import type { Logger } from 'winston';
import type { NotifyChannel, NotifyEvent, RuleSet } from '../core/types.js';
import type { Delivery, NotificationRepository } from '../storage/notifications.js';

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
   * Records one notification for each channel (and kind); `key` makes it idempotent (the same event
   * recorded again by a retry is one delivery). Returns how many were new.
   */
  async enqueue(
    channels: readonly NotifyChannel[],
    body: NotificationBody,
    key: string,
    now: number,
  ): Promise<number> {
    if (channels.length === 0) return 0;
    const messageId = `msg_${createHash('sha256').update(`${body.tenantId}\n${key}`).digest('hex').slice(0, 32)}`;
    const payload = JSON.stringify(body);
    return this.opts.repository.enqueue(
      channels
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
        })),
      now,
    );
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
