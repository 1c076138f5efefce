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

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    const lower = name.toLowerCase();
    if (!lower.startsWith('#')) return ENTITIES[lower] ?? whole;
    const code = lower.startsWith('#x') ? parseInt(lower.slice(2), 16) : parseInt(lower.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

const collapse = (text: string): string => text.replace(/\s+/g, ' ').trim();

/** Rich text as plain text: tags become spaces, then entities are decoded (`&lt;p&gt;` stays text). */
function htmlToText(html: string): string {
  return decodeEntities(html.replace(/<[^>]*>/g, ' '));
}

/**
 * Whether a stored note body says what we sent: HubSpot may keep the text as it came, or as rich text
 * (`<p>…</p>`, `<br>`, `&amp;`), with line breaks and spaces collapsed either way.
 */
export function sameNoteText(stored: string, sent: string): boolean {
  const wanted = collapse(sent);
  return collapse(stored) === wanted || collapse(htmlToText(stored)) === wanted;
}

export function matchNote(found: readonly ExistingNote[], text: string): ExistingNote | undefined {
  return found.find((n) => sameNoteText(n.body, text));
}

export function matchEnrollment(
  found: ExistingEnrollment | undefined,
  sequenceId: string,
): ExistingEnrollment | undefined {
  return found !== undefined && found.sequenceId === sequenceId ? found : undefined;
}
