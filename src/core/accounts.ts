// In-memory account matching: lead → account by email domain, then website domain, then fuzzy company
// name. Built for a million accounts: domains map to account positions, names become interned token
// ids in flat typed arrays, and name candidates come from an inverted index over the lead's rarest
// tokens (prefix filtering), so a lookup never scans all accounts.
import {
  computeRegistrableDomain,
  isFreeMailDomain,
  normalizeCompanyName,
  registrableDomain,
} from './normalize.js';
import type { Account, AccountMatch, AccountMatcher, Lead } from './types.js';

export interface AccountIndexOptions {
  /** Minimum Jaccard similarity of company-name token sets for a name match, in (0, 1]. Default 0.8. */
  nameThreshold?: number | undefined;
  /** Free-mail test for email domains (never matched by domain). Default: isFreeMailDomain. */
  isFreeMail?: ((domain: string) => boolean) | undefined;
}

export type MatchableLead = Pick<Lead, 'email' | 'emailDomain' | 'websiteDomain' | 'company'>;

export const DEFAULT_NAME_THRESHOLD = 0.8;

/** Lifecycle rank for the first tie-break: lower wins. */
const TYPE_RANK: Readonly<Record<string, number>> = { customer: 0, partner: 1, prospect: 2, other: 3 };
const UNKNOWN_TYPE_RANK = 3;
const EPSILON = 1e-9;
/** Company names whose lookups are kept (see `AccountIndex.nameAnswers`). */
const NAME_ANSWERS = 10_000;

function typeRank(a: Account): number {
  return a.type === undefined ? UNKNOWN_TYPE_RANK : (TYPE_RANK[a.type] ?? UNKNOWN_TYPE_RANK);
}

/** A growable Int32Array: avoids a JS array of boxed numbers per account while building. */
class IntBuffer {
  data: Int32Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  trimmed(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

interface Scored {
  index: number;
  score: number;
}

export class AccountIndex implements AccountMatcher {
  private constructor(
    private readonly accounts: readonly Account[],
    /** Registrable domain → account position, or positions when several accounts share it. */
    private readonly byDomainMap: ReadonlyMap<string, number | number[]>,
    /** Token string → token id. */
    private readonly tokenIds: ReadonlyMap<string, number>,
    /** Account i's sorted, distinct token ids are tokens[tokenStart[i] .. tokenStart[i+1]). */
    private readonly tokenStart: Int32Array,
    private readonly tokens: Int32Array,
    /** Token t's accounts are postings[postingStart[t] .. postingStart[t+1]), by ascending token count. */
    private readonly postingStart: Int32Array,
    private readonly postings: Int32Array,
    private readonly nameThreshold: number,
    private readonly isFreeMail: (domain: string) => boolean,
  ) {}

  static build(accounts: Iterable<Account>, options: AccountIndexOptions = {}): AccountIndex {
    const threshold = options.nameThreshold ?? DEFAULT_NAME_THRESHOLD;
    if (!(threshold > 0 && threshold <= 1)) {
      throw new RangeError(`nameThreshold must be in (0, 1], got ${threshold}`);
    }
    const list = Array.isArray(accounts) ? (accounts as Account[]) : [...accounts];
    const n = list.length;

    const byDomain = new Map<string, number | number[]>();
    const tokenIds = new Map<string, number>();
    const tokenStart = new Int32Array(n + 1);
    const tokens = new IntBuffer(n * 3);
    const df = new IntBuffer(1024);

    for (let i = 0; i < n; i++) {
      const account = list[i] as Account;
      for (const raw of account.domains) {
        const d = indexDomain(raw);
        if (d === undefined) continue;
        const prev = byDomain.get(d);
        if (prev === undefined) byDomain.set(d, i);
        else if (typeof prev === 'number') {
          if (prev !== i) byDomain.set(d, [prev, i]);
        } else if (prev[prev.length - 1] !== i) prev.push(i);
      }

      const from = tokens.length;
      for (const t of normalizeCompanyName(account.name)) {
        let id = tokenIds.get(t);
        if (id === undefined) {
          id = tokenIds.size;
          tokenIds.set(t, id);
          df.push(0);
        }
        df.data[id] = (df.data[id] ?? 0) + 1;
        // Insertion sort in place: names have a handful of tokens, and they are distinct.
        tokens.push(id);
        const data = tokens.data;
        let k = tokens.length - 1;
        while (k > from && (data[k - 1] ?? 0) > id) {
          data[k] = data[k - 1] ?? 0;
          k--;
        }
        data[k] = id;
      }
      tokenStart[i + 1] = tokens.length;
    }

    // Postings in CSR form, each list ordered by the account's token count so that a lookup can
    // binary-search the range of lengths that can still reach the threshold.
    const tokenCount = tokenIds.size;
    const postingStart = new Int32Array(tokenCount + 1);
    for (let t = 0; t < tokenCount; t++) postingStart[t + 1] = (postingStart[t] ?? 0) + (df.data[t] ?? 0);
    const fill = postingStart.slice(0, tokenCount);
    const postings = new Int32Array(tokens.length);
    const tokenData = tokens.data;
    for (const i of accountsByTokenCount(tokenStart, n)) {
      const end = tokenStart[i + 1] ?? 0;
      for (let k = tokenStart[i] ?? 0; k < end; k++) {
        const t = tokenData[k] ?? 0;
        postings[fill[t] ?? 0] = i;
        fill[t] = (fill[t] ?? 0) + 1;
      }
    }

    return new AccountIndex(
      list,
      byDomain,
      tokenIds,
      tokenStart,
      tokens.trimmed(),
      postingStart,
      postings,
      threshold,
      options.isFreeMail ?? isFreeMailDomain,
    );
  }

  /**
   * Name lookups by company name, bounded. The same companies come back lead after lead, and the
   * index never changes once built, so an answer can be reused as long as the index lives.
   */
  private readonly nameAnswers = new Map<string, readonly Scored[]>();

  get size(): number {
    return this.accounts.length;
  }

  /** Accounts whose domains include the registrable domain of `domain` (host, URL or email). */
  byDomain(domain: string): Account[] {
    return this.domainPositions(domain).map((i) => this.accounts[i] as Account);
  }

  /** Accounts whose name reaches the threshold against `name`, best similarity first. */
  byName(name: string): { account: Account; score: number }[] {
    return this.nameCandidates(name)
      .sort((a, b) => b.score - a.score || a.index - b.index)
      .map((c) => ({ account: this.accounts[c.index] as Account, score: c.score }));
  }

  /**
   * Email domain (never a free-mail one), then website domain, then company name. At the first step
   * with candidates, several are ordered by: customer before partner before prospect before other or
   * unknown; more contacts; higher name similarity (name step only); lowest id (plain string order).
   */
  match(lead: MatchableLead): AccountMatch | null {
    const emailDomain =
      lead.emailDomain ?? (lead.email?.includes('@') ? registrableDomain(lead.email) : undefined);
    if (emailDomain !== undefined && !this.isFreeMail(emailDomain)) {
      const hit = this.decideDomain(emailDomain, 'email_domain');
      if (hit) return hit;
    }
    if (lead.websiteDomain !== undefined && !this.isFreeMail(lead.websiteDomain)) {
      const hit = this.decideDomain(lead.websiteDomain, 'website_domain');
      if (hit) return hit;
    }
    if (lead.company !== undefined && lead.company.trim() !== '') {
      return this.decide(this.cachedNameCandidates(lead.company), 'company_name');
    }
    return null;
  }

  private domainPositions(domain: string): readonly number[] {
    const hit = this.domainHit(domain);
    return hit === undefined ? [] : typeof hit === 'number' ? [hit] : hit;
  }

  private domainHit(domain: string): number | readonly number[] | undefined {
    const direct = this.byDomainMap.get(domain);
    if (direct !== undefined) return direct;
    // Two lower-case labels are their own registrable domain or have none: nothing else to look up.
    if (TWO_LABELS.test(domain)) return undefined;
    const key = registrableDomain(domain);
    return key === undefined || key === domain ? undefined : this.byDomainMap.get(key);
  }

  private decideDomain(domain: string, by: 'email_domain' | 'website_domain'): AccountMatch | null {
    const hit = this.domainHit(domain);
    if (hit === undefined) return null;
    // The common case, one account per domain, allocates nothing but the result.
    if (typeof hit === 'number')
      return { account: this.accounts[hit] as Account, by, score: 1, candidates: 1 };
    return this.decide(hit.map(domainScored), by);
  }

  private cachedNameCandidates(name: string): readonly Scored[] {
    let answer = this.nameAnswers.get(name);
    if (answer === undefined) {
      if (this.nameAnswers.size >= NAME_ANSWERS) this.nameAnswers.clear();
      answer = Object.freeze(this.nameCandidates(name));
      this.nameAnswers.set(name, answer);
    }
    return answer;
  }

  private nameCandidates(name: string): Scored[] {
    const words = normalizeCompanyName(name);
    const q = words.length;
    if (q === 0) return [];
    const t = this.nameThreshold;
    // Jaccard ≥ t needs an overlap of at least ceil(t·q) tokens and a candidate size in [t·q, q/t].
    const minOverlap = Math.ceil(t * q - EPSILON);
    const minLen = minOverlap;
    const maxLen = Math.floor(q / t + EPSILON);
    const queryIds: number[] = [];
    const known: { id: number; df: number }[] = [];
    for (const w of words) {
      const id = this.tokenIds.get(w);
      if (id === undefined) continue;
      queryIds.push(id);
      known.push({ id, df: (this.postingStart[id + 1] ?? 0) - (this.postingStart[id] ?? 0) });
    }
    // Prefix filtering: any match shares one of the q - minOverlap + 1 rarest query tokens. Tokens the
    // index has never seen are the rarest of all (df 0) and use up prefix slots without candidates.
    const prefix = q - minOverlap + 1 - (q - known.length);
    if (prefix <= 0) return [];
    known.sort((a, b) => a.df - b.df || a.id - b.id);
    queryIds.sort((a, b) => a - b);

    const seen = new Set<number>();
    const out: Scored[] = [];
    for (let p = 0; p < prefix && p < known.length; p++) {
      const tok = (known[p] as { id: number }).id;
      const end = this.postingStart[tok + 1] ?? 0;
      for (let k = this.firstWithLength(this.postingStart[tok] ?? 0, end, minLen); k < end; k++) {
        const i = this.postings[k] ?? 0;
        const len = this.tokenCountOf(i);
        if (len > maxLen) break;
        if (seen.has(i)) continue;
        seen.add(i);
        const overlap = this.overlap(i, queryIds);
        const score = overlap / (q + len - overlap);
        if (score + EPSILON >= t) out.push({ index: i, score });
      }
    }
    return out;
  }

  private tokenCountOf(i: number): number {
    return (this.tokenStart[i + 1] ?? 0) - (this.tokenStart[i] ?? 0);
  }

  /** First position in postings[lo, hi) whose account has at least `len` tokens. */
  private firstWithLength(lo: number, hi: number, len: number): number {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.tokenCountOf(this.postings[mid] ?? 0) < len) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Size of the intersection of account i's sorted token ids with the sorted query ids. */
  private overlap(i: number, queryIds: readonly number[]): number {
    let a = this.tokenStart[i] ?? 0;
    const aEnd = this.tokenStart[i + 1] ?? 0;
    let b = 0;
    let count = 0;
    while (a < aEnd && b < queryIds.length) {
      const x = this.tokens[a] ?? 0;
      const y = queryIds[b] ?? 0;
      if (x === y) {
        count++;
        a++;
        b++;
      } else if (x < y) a++;
      else b++;
    }
    return count;
  }

  private decide(cands: readonly Scored[], by: AccountMatch['by']): AccountMatch | null {
    const first = cands[0];
    if (!first) return null;
    const accountOf = (c: Scored): Account => this.accounts[c.index] as Account;
    if (cands.length === 1) {
      return { account: accountOf(first), by, score: first.score, candidates: 1 };
    }
    const byName = by === 'company_name';
    let best = first;
    for (const c of cands)
      if (compareCandidates(accountOf(c), c, accountOf(best), best, byName) < 0) best = c;
    let second: Scored | undefined;
    for (const c of cands) {
      if (c === best) continue;
      if (!second || compareCandidates(accountOf(c), c, accountOf(second), second, byName) < 0) second = c;
    }
    const winner = accountOf(best);
    return {
      account: winner,
      by,
      score: best.score,
      candidates: cands.length,
      tieBreak: second ? describeTieBreak(winner, best, accountOf(second), second, byName) : undefined,
    };
  }
}

const TWO_LABELS = /^[a-z0-9-]+\.[a-z0-9-]+$/;

/** Most account domains are already a bare "name.tld" (maybe with www.): skip the suffix lookup then. */
const PLAIN_DOMAIN = /^(?:www\.)?([a-z0-9-]+\.[a-z]{2,})$/;
function indexDomain(raw: string): string | undefined {
  const plain = PLAIN_DOMAIN.exec(raw);
  return plain ? plain[1] : computeRegistrableDomain(raw);
}

function domainScored(index: number): Scored {
  return { index, score: 1 };
}

/** Negative when (a, sa) wins over (b, sb). The order of checks is the documented tie-break order. */
function compareCandidates(a: Account, sa: Scored, b: Account, sb: Scored, byName: boolean): number {
  const rank = typeRank(a) - typeRank(b);
  if (rank !== 0) return rank;
  const contacts = (b.contacts ?? 0) - (a.contacts ?? 0);
  if (contacts !== 0) return contacts;
  if (byName && Math.abs(sa.score - sb.score) > EPSILON) return sb.score - sa.score;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : sa.index - sb.index;
}

function describeTieBreak(w: Account, sw: Scored, r: Account, sr: Scored, byName: boolean): string {
  if (typeRank(w) !== typeRank(r)) return `${w.type ?? 'unknown'} before ${r.type ?? 'unknown'}`;
  if ((w.contacts ?? 0) !== (r.contacts ?? 0))
    return `most contacts (${w.contacts ?? 0} vs ${r.contacts ?? 0})`;
  if (byName && Math.abs(sw.score - sr.score) > EPSILON) {
    return `higher name similarity (${sw.score.toFixed(2)} vs ${sr.score.toFixed(2)})`;
  }
  return w.id === r.id ? 'first listed (same id)' : 'lowest id';
}

/** Account positions ordered by token count (counting sort, stable), for length-ordered postings. */
function accountsByTokenCount(tokenStart: Int32Array, n: number): Int32Array {
  let maxLen = 0;
  for (let i = 0; i < n; i++) maxLen = Math.max(maxLen, (tokenStart[i + 1] ?? 0) - (tokenStart[i] ?? 0));
  const start = new Int32Array(maxLen + 2);
  for (let i = 0; i < n; i++) {
    const len = (tokenStart[i + 1] ?? 0) - (tokenStart[i] ?? 0);
    start[len + 1] = (start[len + 1] ?? 0) + 1;
  }
  for (let l = 0; l <= maxLen; l++) start[l + 1] = (start[l + 1] ?? 0) + (start[l] ?? 0);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const len = (tokenStart[i + 1] ?? 0) - (tokenStart[i] ?? 0);
    order[start[len] ?? 0] = i;
    start[len] = (start[len] ?? 0) + 1;
  }
  return order;
}
