// Diagnostics for rule and team files: where (file:line:col and a field path) and what, with a
// "did you mean" when a close spelling exists. Shared by every loader step.

export interface Diagnostic {
  file: string;
  /** 1-based; 0 when the position is unknown. */
  line: number;
  /** 1-based; 0 when the position is unknown. */
  column: number;
  /** Field path, e.g. `routes[1].when.all[2].employees.gte`; empty for file-level problems. */
  path: string;
  message: string;
  suggestion?: string;
  /**
   * A warning that the CRM account has no field of this name (the check against the account's own
   * fields): the name as the rules spell it, so a caller outside the settings tab can pick these out.
   */
  missingField?: string;
  /**
   * A warning that a rule compares this field of the CRM account, which holds several values, as if
   * it held one (a value with `;`, a number comparison): the name as the rules spell it.
   */
  multiValueField?: string;
  /**
   * A warning that a team's rep, a rep's manager or a queue's target, or a person the rules name, names
   * no active user, queue or team of the CRM account (the check against the account's directory): the
   * name as the file writes it.
   */
  unknownOwner?: string;
  /** Which of them `unknownOwner` is. */
  ownerRole?: OwnerRole;
}

/**
 * What a file names someone of the CRM account as, and which file says so: a team's rep, a rep's
 * manager or a queue's target; or the rules' rep (a destination), escalation rep, sequence sender, or a
 * pool member where no team lists the pool's members.
 */
export const OWNER_ROLES = {
  rep: 'team',
  manager: 'team',
  'queue owner': 'team',
  'destination rep': 'rule',
  'escalation rep': 'rule',
  'sequence sender': 'rule',
  'pool member': 'rule',
} as const satisfies Record<string, 'team' | 'rule'>;

export type OwnerRole = keyof typeof OWNER_ROLES;

/** `rules/x.yaml:12:7 routes[1].assign.pool: unknown pool "emea-aee" (did you mean "emea-ae"?)` */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.column}` : d.file;
  const hint = d.suggestion !== undefined ? ` (did you mean "${d.suggestion}"?)` : '';
  const path = d.path !== '' ? ` ${d.path}:` : '';
  return `${where}${path} ${d.message}${hint}`;
}

export type PathSegment = string | number;

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `['routes', 1, 'when', 'all', 2]` → `routes[1].when.all[2]`; odd keys are quoted: `reps["a@b.io"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (PLAIN_KEY.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, at(i - 2, j - 2) + 1);
      d[i * cols + j] = v;
    }
  }
  return at(a.length, b.length);
}

/**
 * The closest candidate, if it is close enough to be a likely misspelling: at most a third of the
 * word's length (at least 1, at most 3) edits away, ignoring case and `-`/`_` differences.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/[-_\s]/g, '');
  const w = norm(word);
  // One- and two-letter names are a letter away from everything; only case and separators count.
  const limit = word.length < 3 ? 0 : Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    if (c === word) continue;
    // Long inputs are never typos of short keys; skip the quadratic work.
    if (Math.abs(c.length - word.length) > limit + 2) continue;
    const dist = editDistance(w, norm(c));
    if (dist <= limit && dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}
