// Recognizing, among what the CRM already holds for a lead, the task, note or enrollment that an earlier
// attempt created before its worker could record it. CRM creates carry no idempotency key, so this is
// how a create whose outcome was unknown is adopted instead of made twice.
import type { ExistingEnrollment, ExistingNote, ExistingTask } from '../../connectors/connector.js';

/** Due times the CRM gives back may lose sub-second precision. */
const DUE_TOLERANCE_MS = 1_000;

export function matchTask(
  found: readonly ExistingTask[],
  wanted: { subject: string; dueAt: number; ownerId?: string | undefined },
): ExistingTask | undefined {
  return found.find(
    (t) =>
      t.subject === wanted.subject &&
      Math.abs(t.dueAt - wanted.dueAt) < DUE_TOLERANCE_MS &&
      t.ownerId === wanted.ownerId,
  );
}

const collapse = (text: string): string => text.replace(/\s+/g, ' ').trim();

/**
 * Whether a stored note body says what we sent: the CRM may keep the text as it came, or in its own
 * form (`plain` turns that back into text: rich text for some CRMs), with line breaks and spaces
 * collapsed either way.
 */
export function sameNoteText(stored: string, sent: string, plain: (stored: string) => string): boolean {
  const wanted = collapse(sent);
  return collapse(stored) === wanted || collapse(plain(stored)) === wanted;
}

export function matchNote(
  found: readonly ExistingNote[],
  text: string,
  plain: (stored: string) => string,
): ExistingNote | undefined {
  return found.find((n) => sameNoteText(n.body, text, plain));
}

export function matchEnrollment(
  found: ExistingEnrollment | undefined,
  sequenceId: string,
): ExistingEnrollment | undefined {
  return found !== undefined && found.sequenceId === sequenceId ? found : undefined;
}
