// Salesforce record ids: a 3-character key prefix naming the object, then the instance and a base-62
// counter (15 characters, case-sensitive), plus a 3-character suffix that makes the 18-character form
// case-insensitive. The API answers 18-character ids and accepts both.

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SUFFIX = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
const ID_SHAPE = /^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$/;

/** The suffix: for each 5-character chunk, a bit per upper-case letter, read as an index into A-Z0-5. */
export function checksum(id15: string): string {
  let out = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0;
    for (let i = 0; i < 5; i++) {
      const c = id15.charAt(chunk * 5 + i);
      if (c >= 'A' && c <= 'Z') bits |= 1 << i;
    }
    out += SUFFIX.charAt(bits);
  }
  return out;
}

/** The 18-character form of a 15- or 18-character id, or undefined when it is not shaped like an id. */
export function toId18(id: string): string | undefined {
  // Every row a query scans passes its id through here: an id seen recently is not checked again.
  if (id.length !== 15 && id.length !== 18) return undefined;
  const known = recent.get(id);
  if (known !== undefined || recent.has(id)) return known;
  const full = id18Of(id);
  if (recent.size >= RECENT_IDS) recent.clear();
  recent.set(id, full);
  return full;
}

/** Ids (and strings of an id's length that are not) whose 18-character form was worked out, until there are this many. */
const RECENT_IDS = 200_000;
const recent = new Map<string, string | undefined>();

function id18Of(id: string): string | undefined {
  if (!ID_SHAPE.test(id)) return undefined;
  const id15 = id.slice(0, 15);
  const full = id15 + checksum(id15);
  // An 18-character id whose suffix disagrees with its body is malformed.
  if (id.length === 18 && id.slice(15).toUpperCase() !== full.slice(15)) return undefined;
  return full;
}

export const keyPrefix = (id: string): string => id.slice(0, 3);

/** Hands out ids per key prefix: `<prefix><instance>0<9 base-62 digits><suffix>`. */
export class IdFactory {
  private readonly next = new Map<string, number>();

  constructor(private readonly instance = '8d') {}

  make(prefix: string): string {
    const n = this.next.get(prefix) ?? 1;
    this.next.set(prefix, n + 1);
    return this.format(prefix, n);
  }

  /** The next counter per key prefix (what a restarted sandbox continues from). */
  counters(): Record<string, number> {
    return Object.fromEntries(this.next);
  }

  /** Never hands out `n` or below again for `prefix` (ids kept from an earlier run). */
  advance(prefix: string, n: number): void {
    if (n + 1 > (this.next.get(prefix) ?? 1)) this.next.set(prefix, n + 1);
  }

  /** The key prefix and counter of an id this factory's format made; undefined for any other id. */
  static parse(id: string): { prefix: string; n: number } | undefined {
    if (!ID_SHAPE.test(id)) return undefined;
    let n = 0;
    for (const c of id.slice(6, 15)) {
      const digit = BASE62.indexOf(c);
      if (digit < 0) return undefined;
      n = n * 62 + digit;
    }
    return { prefix: id.slice(0, 3), n };
  }

  format(prefix: string, n: number): string {
    let digits = '';
    for (let v = n; v > 0; v = Math.floor(v / 62)) digits = BASE62.charAt(v % 62) + digits;
    const id15 = `${prefix}${this.instance}0${digits.padStart(9, '0')}`;
    return id15 + checksum(id15);
  }
}
