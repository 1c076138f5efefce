// Health: the CRM connection (a routing pause, and who reads a change-event stream) with the last hour's
// CRM call outcomes, the inbox's depth and oldest item, dead letters (with replay) and the latest failed
// CRM writes.
import { healthResponseSchema, replayResponseSchema } from '../schemas.js';
import { call, el, fail, status, table, when } from './api.js';

type Health = ReturnType<typeof healthResponseSchema.parse>;
type Calls = Health['crmCalls'];

/** "CRM calls in the last 60 minutes: 12 ok, 3 failed (2 transient, 1 auth), 4 rate limited (429)". */
function callsText(c: Calls): string {
  const kinds = Object.entries({
    transient: c.errors.transient,
    auth: c.errors.auth,
    'not found': c.errors.notFound,
    invalid: c.errors.invalid,
    other: c.errors.other,
  })
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${n} ${kind}`);
  const failed = kinds.length === 0 ? `${c.error} failed` : `${c.error} failed (${kinds.join(', ')})`;
  return `CRM calls in the last ${c.windowMinutes} minutes (all servers): ${c.ok} ok, ${failed}, ${c.rateLimited} rate limited (429)`;
}

/**
 * A CRM whose events are pulled: per channel, since when a process reads it and what it last recorded;
 * or that none does, that the one holding it cannot subscribe, or that its subscription recently
 * delivered nothing of what the catch-up poll found: what that means for new leads and what to check.
 */
function streamNodes(stream: NonNullable<Health['stream']>): HTMLElement[] {
  return [
    el('h3', {}, 'Change-event stream'),
    ...stream.channels.map((c) => {
      if (c.readSince === null)
        return el(
          'p',
          { class: 'error' },
          `${c.channel}: no process reads this stream${c.lapsedAt === null ? '' : ` since ${when(c.lapsedAt)}`}. New leads are not routed until one does; its catch-up poll then finds them. Check the app's logs for 'change-event stream not started' and 'subscribe failed', and that ${stream.setupCheck}.`,
        );
      if (c.notSubscribed !== null)
        return el(
          'p',
          { class: 'error' },
          `${c.channel}: the process reading this stream (since ${when(c.readSince)}) could not subscribe to it since ${when(c.notSubscribed.since)}: ${c.notSubscribed.error}. New leads come in only through its catch-up poll, minutes late, and a held lead is not woken by the change it waits for. Check that ${stream.setupCheck}, and the app's logs for 'subscribe failed'.`,
        );
      const missed =
        c.missed === null
          ? ''
          : ` Its catch-up poll at ${when(c.missed.at)} found ${c.missed.count} new record${c.missed.count === 1 ? '' : 's'} created while the stream was subscribed that it never delivered.`;
      if (c.missed?.recent === true)
        return el(
          'p',
          { class: 'error' },
          `${c.channel}: subscribed since ${when(c.subscribedAt ?? c.readSince)}, but silent.${missed} New leads come in only through that poll, minutes late, and a held lead is not woken by the change it waits for. Check that ${stream.setupCheck}.`,
        );
      const recorded =
        c.recordedAt === null
          ? 'nothing recorded yet'
          : `last recorded at ${when(c.recordedAt)}${c.lastEventAt === null ? '' : ` (last change event at ${when(c.lastEventAt)})`}`;
      return el(
        'p',
        { class: 'ok' },
        `${c.channel}: read by a process since ${when(c.readSince)}; ${recorded}.${missed}`,
      );
    }),
  ];
}

export async function healthPage(): Promise<void> {
  const h = await call(healthResponseSchema, '/health');
  const crm = document.getElementById('crm')!;
  crm.replaceChildren(
    el('p', { class: h.crm.ok ? 'ok' : 'error' }, h.crm.ok ? 'Connected' : `Not connected: ${h.crm.detail}`),
    ...(h.paused === null
      ? []
      : [
          el(
            'p',
            { class: 'error' },
            `Routing paused since ${when(h.paused.since)}: ${h.paused.reason}. Leads wait in the inbox and are routed once the CRM accepts our credentials again (tried again at ${when(h.paused.checkAt)}).`,
          ),
        ]),
    ...(h.stream === null || h.stream.channels.length === 0 ? [] : streamNodes(h.stream)),
    el('p', {}, callsText(h.crmCalls)),
  );
  const age = h.inbox.oldestPendingAgeMs;
  document
    .getElementById('inbox')!
    .replaceChildren(
      el(
        'p',
        {},
        `${h.inbox.pending} waiting, ${h.inbox.leased} in progress, ${h.inbox.failed} dead letters; oldest waiting: ${age === null ? 'none' : `${Math.round(age / 1000)} s`}`,
      ),
    );
  const replay = (id: number) => {
    const button = el('button', { type: 'button', 'aria-label': `Replay dead letter ${id}` }, 'Replay');
    button.addEventListener('click', () => {
      call(replayResponseSchema, `/dead-letters/${id}/replay`, { method: 'POST' })
        .then(() => {
          status(`Dead letter ${id} replayed: it is routed again shortly.`);
          return healthPage();
        })
        .catch(fail);
    });
    return button;
  };
  document.getElementById('dead')!.replaceChildren(
    h.deadLetters.length === 0
      ? el('p', {}, 'No dead letters.')
      : table(
          ['Lead', 'Reason', 'Attempts', 'Failed at', ''],
          h.deadLetters.map((d) => [d.leadId, d.reason, String(d.attempts), when(d.failedAt), replay(d.id)]),
          'Dead letters',
        ),
  );
  document.getElementById('failed')!.replaceChildren(
    h.failedActions.length === 0
      ? el('p', {}, 'No failed CRM writes.')
      : table(
          ['Lead', 'Action', 'Error', 'When'],
          h.failedActions.map((f) => [f.leadId, f.kind, f.error, when(f.at)]),
          'Failed CRM writes',
        ),
  );
}
