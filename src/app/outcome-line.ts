// The console line `npm start` prints per lead, once its routing settled: where it went, or that it is a
// dead letter and why. Printed at the outcome, not at the decision, so a lead the CRM then refuses is never
// announced as routed.
import type { LeadOutcome } from './start.js';

/** The command that lists dead letters with their reasons (and `replay` queues them again). */
export const DEAD_LETTERS_COMMAND = 'npm run cli -- dead-letters list';

export function outcomeLine(outcome: LeadOutcome, now: number): string {
  if (outcome.kind === 'dead_letter')
    return `${outcome.who} ✗ not routed, dead letter #${outcome.inboxId}: ${outcome.reason} · see: ${DEAD_LETTERS_COMMAND}`;
  const created = outcome.createdAt;
  const after = created === undefined ? '' : ` · ${((now - created) / 1000).toFixed(1)} s after creation`;
  return `${outcome.summary}${after}`;
}
