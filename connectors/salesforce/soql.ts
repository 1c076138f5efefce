// The one way a value gets into SOQL. Every literal the connector sends is built here, as a fragment
// that the `soql` template accepts; a plain string interpolated into `soql` throws, so no value can be
// pasted into a query by accident.
//
// Escapes: https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-select-quotedstringescapes.md
// (`\n \r \t \b \f \" \' \\`, `\uXXXX`, and in LIKE only `\_ \%`; a backslash anywhere else is an error).

/** A value refused before it reaches SOQL (malformed id, lone surrogate, not a finite number …). */
export class SoqlValueError extends Error {
  override readonly name = 'SoqlValueError';
}

/** A piece of SOQL text built by this module; the only thing `soql` lets into a query. */
export class SoqlFragment {
  private constructor(readonly text: string) {}
  /** @internal Only this module makes fragments. */
  static of(text: string): SoqlFragment {
    return new SoqlFragment(text);
  }
  toString(): string {
    return this.text;
  }
}

const NAMED_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  "'": "\\'",
  '"': '\\"',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

function unicodeEscape(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * The body of a quoted literal (without the quotes). Control characters, DEL and the line/paragraph
 * separators become `\uXXXX`: a raw control character in a URL-encoded query is at best rejected.
 * A lone surrogate cannot be sent as UTF-8 at all, so it is refused rather than mangled.
 */
function escapeBody(value: string, like: boolean): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    const code = value.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += ch + (value[i + 1] as string);
        i++;
        continue;
      }
      throw new SoqlValueError('value holds a lone UTF-16 surrogate and cannot be sent to Salesforce');
    }
    if (code >= 0xdc00 && code <= 0xdfff)
      throw new SoqlValueError('value holds a lone UTF-16 surrogate and cannot be sent to Salesforce');
    const named = NAMED_ESCAPES[ch];
    if (named !== undefined) out += named;
    else if (like && (ch === '%' || ch === '_')) out += `\\${ch}`;
    else if (code < 0x20 || code === 0x7f || code === 0x2028 || code === 0x2029) out += unicodeEscape(ch);
    else out += ch;
  }
  return out;
}

/** A string literal: `'O\'Brien'`. */
export function soqlString(value: string): SoqlFragment {
  return SoqlFragment.of(`'${escapeBody(value, false)}'`);
}

/**
 * A LIKE pattern that matches `value` literally (its `%` and `_` escaped), with wildcards only where
 * asked: `contains` → `'%value%'`, `starts` → `'value%'`, `ends` → `'%value'`, `exact` → `'value'`.
 */
export function soqlLike(value: string, mode: 'contains' | 'starts' | 'ends' | 'exact'): SoqlFragment {
  const body = escapeBody(value, true);
  const before = mode === 'contains' || mode === 'ends' ? '%' : '';
  const after = mode === 'contains' || mode === 'starts' ? '%' : '';
  return SoqlFragment.of(`'${before}${body}${after}'`);
}

const ID_SUFFIX_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';

/** The 3-character case-checksum an 18-character id ends with, from its first 15 characters. */
export function idChecksum(id15: string): string {
  let suffix = '';
  for (let block = 0; block < 3; block++) {
    let bits = 0;
    for (let i = 0; i < 5; i++) {
      const c = id15.charCodeAt(block * 5 + i);
      if (c >= 65 && c <= 90) bits |= 1 << i;
    }
    suffix += ID_SUFFIX_CHARS[bits];
  }
  return suffix;
}

/**
 * Whether `id` is a Salesforce record id: 15 case-sensitive alphanumerics, or 18 whose last three are
 * the checksum of the first fifteen (the suffix itself is case-insensitive).
 */
export function isSalesforceId(id: string): boolean {
  if (!/^[a-zA-Z0-9]{15}(?:[a-zA-Z0-5]{3})?$/.test(id)) return false;
  return id.length === 15 || idChecksum(id.slice(0, 15)) === id.slice(15).toUpperCase();
}

/** The id as given, or a SoqlValueError naming what was wrong. */
export function requireSalesforceId(id: string, what = 'record id'): string {
  if (!isSalesforceId(id))
    throw new SoqlValueError(
      `${what} ${JSON.stringify(id.slice(0, 40))} is not a Salesforce id (15 or 18 characters)`,
    );
  return id;
}

/** An id literal, validated: `'00Q5g00000AbCdEEAZ'`. */
export function soqlId(id: string): SoqlFragment {
  return SoqlFragment.of(`'${requireSalesforceId(id)}'`);
}

/** `('a', 'b')` for IN; an empty list is refused (SOQL has no empty IN list). */
export function soqlIdList(ids: readonly string[]): SoqlFragment {
  if (ids.length === 0) throw new SoqlValueError('an IN list needs at least one id');
  return SoqlFragment.of(`(${ids.map((id) => soqlId(id).text).join(', ')})`);
}

export function soqlStringList(values: readonly string[]): SoqlFragment {
  if (values.length === 0) throw new SoqlValueError('an IN list needs at least one value');
  return SoqlFragment.of(`(${values.map((v) => soqlString(v).text).join(', ')})`);
}

/** A dateTime literal (unquoted, UTC): `2026-01-01T00:00:00Z`. */
export function soqlDateTime(epochMs: number): SoqlFragment {
  if (!Number.isFinite(epochMs)) throw new SoqlValueError(`not a time: ${String(epochMs)}`);
  return SoqlFragment.of(new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z'));
}

export function soqlNumber(n: number): SoqlFragment {
  if (!Number.isFinite(n)) throw new SoqlValueError(`not a finite number: ${String(n)}`);
  return SoqlFragment.of(String(n));
}

/**
 * A field or object name (`Email`, `Industry__c`, `Owner.Email`): letters, digits and underscores per
 * segment, starting with a letter. Names come from configuration (custom fields), so they are checked.
 */
export function soqlName(name: string): SoqlFragment {
  if (!/^[A-Za-z][A-Za-z0-9_]{0,79}(?:\.[A-Za-z][A-Za-z0-9_]{0,79}){0,4}$/.test(name) || name.includes('___'))
    throw new SoqlValueError(`${JSON.stringify(name.slice(0, 80))} is not a Salesforce field or object name`);
  return SoqlFragment.of(name);
}

export function soqlNames(names: readonly string[]): SoqlFragment {
  if (names.length === 0) throw new SoqlValueError('a field list needs at least one field');
  return SoqlFragment.of(names.map((n) => soqlName(n).text).join(', '));
}

/** Fragments joined by a fixed connective (`' OR '`, `' AND '`, `', '`), as one fragment. */
export function soqlJoin(
  fragments: readonly SoqlFragment[],
  connective: ' OR ' | ' AND ' | ', ',
): SoqlFragment {
  if (fragments.length === 0) throw new SoqlValueError('nothing to join');
  return SoqlFragment.of(fragments.map((f) => f.text).join(connective));
}

/** Like `soql`, for a part of a query (a condition) to put into another `soql` template. */
export function soqlClause(
  parts: TemplateStringsArray,
  ...values: (SoqlFragment | readonly SoqlFragment[])[]
): SoqlFragment {
  return SoqlFragment.of(soql(parts, ...values));
}

/**
 * The query text with each `${…}` taken from a fragment (or a list of fragments, joined by commas).
 * Anything else, a plain string above all, throws: values go through the functions above.
 */
export function soql(
  parts: TemplateStringsArray,
  ...values: (SoqlFragment | readonly SoqlFragment[])[]
): string {
  let out = parts[0] ?? '';
  values.forEach((value, i) => {
    const list: readonly unknown[] = Array.isArray(value) ? value : [value];
    for (const item of list)
      if (!(item instanceof SoqlFragment))
        throw new SoqlValueError(
          `soql: value ${i + 1} is not a SOQL fragment; quote it with soqlString/soqlId/…`,
        );
    out += (list as readonly SoqlFragment[]).map((f) => f.text).join(', ') + (parts[i + 1] ?? '');
  });
  return out;
}
