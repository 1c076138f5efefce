// A dead letter's reason as an admin reads it on the Health page. The stored reason is what the worker
// recorded for each failed write — `<what>: <CRM> refused: <the CRM's answer>`, parts joined by `; ` —
// whose answer is often the CRM's raw JSON; the page shows a sentence per part and keeps the raw text.

/** What an error code the CRMs answer means for the admin, where the code alone does not say. */
const CODE_MEANING: Record<string, string> = {
  INVALID_OWNER_ID: 'deactivated or not a user',
  INACTIVE_OWNER_OR_USER: 'deactivated',
};

/** A CRM error code in an answer: `INVALID_OWNER_ID`, `INACTIVE_OWNER_OR_USER`. */
const CODE = /\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/;

/** The CRM's own message in a JSON answer (`"message":"…"`), else undefined. */
function crmMessage(answer: string): string | undefined {
  const m = /"message"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(answer);
  return m?.[1];
}

/** Whom a write named, as the refusal is about them: `chloe@acme.io as owner`. */
function subject(what: string): string | undefined {
  const owner = /^set owner of \S+ \S+ to (\S+)/.exec(what);
  if (owner !== null) return `${owner[1]} as owner`;
  const task = /^create task for \S+ \S+ assigned to (\S+)/.exec(what);
  if (task !== null) return `${task[1]} as the task's assignee`;
  return undefined;
}

/** One failed write's part of a reason, as a sentence; a part of another form stays as it is. */
function readablePart(part: string): string {
  const refusal = /^(.+?): (\S+) refused: ([\s\S]*)$/.exec(part);
  if (refusal === null) return part;
  const [, what, crm, answer] = refusal as unknown as [string, string, string, string];
  const code = CODE.exec(answer)?.[0];
  const who = subject(what);
  const head = who === undefined ? `${crm} refused to ${what}` : `${crm} refused ${who}`;
  if (code === undefined) return `${head}: ${answer}`;
  return `${head} (${code}): ${CODE_MEANING[code] ?? crmMessage(answer) ?? answer}`;
}

/**
 * A dead letter's stored reason as sentences: `HubSpot refused chloe@acme.io as owner
 * (INVALID_OWNER_ID): deactivated or not a user`. Repeated sentences are said once.
 */
export function readableReason(reason: string): string {
  // Parts are joined by `; ` and each begins with the write it names (lower case).
  const parts = reason.split(/; (?=[a-z])/).map(readablePart);
  return [...new Set(parts)].join('; ');
}
