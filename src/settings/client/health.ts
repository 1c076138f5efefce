// Health: the CRM connection, the inbox's depth and oldest item, dead letters (with replay) and the
// latest failed CRM writes.
import { healthResponseSchema, replayResponseSchema } from '../schemas.js';
import { call, el, fail, status, table, when } from './api.js';

export async function healthPage(): Promise<void> {
  const h = await call(healthResponseSchema, '/health');
  const crm = document.getElementById('crm')!;
  crm.replaceChildren(
    el(
      'p',
      { class: h.crm.ok ? 'ok' : 'error' },
      h.crm.ok ? `Connected (${h.crm.detail})` : `Not connected: ${h.crm.detail}`,
    ),
    el(
      'p',
      {},
      `CRM calls from this server: ${h.crmCalls.ok} ok, ${h.crmCalls.error} failed, ${h.crmCalls.rateLimited} rate limited (429)`,
    ),
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
