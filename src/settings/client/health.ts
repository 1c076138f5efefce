// Health: the CRM connection (a routing pause, and who reads a change-event stream) with the last hour's
// CRM call outcomes, the inbox's depth and oldest item, dead letters (with Replay and Re-route) and the
// latest failed CRM writes.
import { healthResponseSchema, replayResponseSchema, rerouteResponseSchema } from '../schemas.js';
import type { z } from 'zod';
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

type DeadLetter = Health['deadLetters'][number];

/** A button that POSTs to `path`, says what `done` makes of the answer and shows the page again. */
function actionButton<S extends z.ZodTypeAny>(
  label: string,
  name: string,
  path: string,
  answer: S,
  done: (r: z.output<S>) => string,
): HTMLButtonElement {
  const button = el('button', { type: 'button', 'aria-label': name }, label);
  button.addEventListener('click', () => {
    call(answer, path, { method: 'POST' })
      .then((r) => {
        status(done(r));
        return healthPage();
      })
      .catch(fail);
  });
  return button;
}

/**
 * The dead letters: each by its number and its lead's email, why in a sentence (the CRM's answer
 * verbatim under it), and what can be done: Replay sends the same writes again (once the cause is
 * fixed), Re-route decides the lead again under the current rules (a deactivated owner, changed rules).
 */
function deadLetterNodes(dead: DeadLetter[]): Node[] {
  if (dead.length === 0) return [el('p', {}, 'No dead letters.')];
  const rows = dead.map((d) => {
    const lead = d.email ?? `lead ${d.leadId}`;
    const why = el(
      'div',
      {},
      el('p', {}, d.reason),
      el('details', {}, el('summary', {}, 'What the CRM answered'), el('pre', {}, d.detail)),
    );
    const actions = el(
      'div',
      { class: 'row-actions' },
      actionButton(
        'Replay',
        `Replay dead letter ${d.id}`,
        `/dead-letters/${d.id}/replay`,
        replayResponseSchema,
        () => `Dead letter ${d.id} replayed (${lead}): its failed writes are sent again shortly.`,
      ),
    );
    if (d.reroutable)
      actions.append(
        actionButton(
          'Re-route',
          `Re-route ${lead}`,
          `/activity/${encodeURIComponent(d.leadId)}/reroute`,
          rerouteResponseSchema,
          ({ queued }) =>
            `${queued ? `${lead} queued to be routed again` : `${lead} is already queued to be routed again`} under the current rules; dead letter ${d.id} is closed once it is.`,
        ),
      );
    return [
      `#${d.id}`,
      el('div', {}, lead, ...(d.email === null ? [] : [el('br'), el('small', {}, `CRM id ${d.leadId}`)])),
      why,
      String(d.attempts),
      when(d.failedAt),
      actions,
    ];
  });
  const list = table(
    ['Dead letter', 'Lead', 'Why', 'Attempts', 'Failed at', 'Actions'],
    rows,
    'Dead letters',
  );
  list.classList.add('dead-letters');
  return [
    el(
      'p',
      {},
      'Replay sends the same writes again: use it once the cause is fixed (a seat bought, a rep reactivated). Re-route decides the lead again under the current rules, as on the Activity page: use it when the owner it was given is gone. A lead routed again closes its dead letters.',
    ),
    list,
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
  document.getElementById('dead')!.replaceChildren(...deadLetterNodes(h.deadLetters));
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
