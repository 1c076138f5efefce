// The one SOQL quoting helper: every escape the SOQL reference lists, LIKE wildcards, ids checked with
// their checksum, and injection attempts that must stay inside one literal.
import {
  idChecksum,
  isSalesforceId,
  soql,
  soqlDateTime,
  soqlId,
  soqlIdList,
  soqlLike,
  soqlName,
  soqlNumber,
  soqlString,
  soqlStringList,
  SoqlValueError,
  type SoqlFragment,
} from '../../../connectors/salesforce/soql.js';
import { HUBSPOT_PROFILE } from '../../../connectors/hubspot/profile.js';
import { SALESFORCE_PROFILE } from '../../../connectors/salesforce/profile.js';
import { toId18 } from '../../../connectors/sandbox-salesforce/index.js';

/**
 * Reads a SOQL string literal back the way Salesforce does (the escape table of the SOQL reference),
 * and says where it ends: an injection succeeds exactly when the literal ends before the input does.
 */
function readLiteral(text: string, like = false): { value: string; end: number } {
  if (text[0] !== "'") throw new Error('not a literal');
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === "'") return { value, end: i + 1 };
    if (ch !== '\\') {
      value += ch;
      continue;
    }
    const next = text[++i] as string;
    const simple: Record<string, string> = {
      n: '\n',
      r: '\r',
      t: '\t',
      b: '\b',
      f: '\f',
      '"': '"',
      "'": "'",
      '\\': '\\',
    };
    if (simple[next.toLowerCase()] !== undefined && next !== 'u') value += simple[next.toLowerCase()];
    else if (next === 'u') {
      value += String.fromCharCode(parseInt(text.slice(i + 1, i + 5), 16));
      i += 4;
    } else if (like && (next === '%' || next === '_')) value += next;
    else throw new Error(`backslash before ${next}: Salesforce answers MALFORMED_QUERY`);
  }
  throw new Error('unterminated literal');
}

const text = (f: SoqlFragment): string => f.text;

describe('soqlString', () => {
  it.each([
    ['plain', 'Acme', "'Acme'"],
    ['single quote', "O'Brien", "'O\\'Brien'"],
    ['double quote', 'say "hi"', '\'say \\"hi\\"\''],
    ['backslash', 'C:\\temp', "'C:\\\\temp'"],
    ['newline and tab', 'a\nb\tc\r', "'a\\nb\\tc\\r'"],
    ['line and paragraph separators', 'a\u2028b\u2029', "'a\\u2028b\\u2029'"],
    ['unicode kept as is', 'Müller 東京 🚀', "'Müller 東京 🚀'"],
    ['LIKE wildcards are plain characters outside LIKE', '100%_off', "'100%_off'"],
  ])('%s', (_name, input, expected) => {
    const out = text(soqlString(input));
    expect(out).toBe(expected);
    expect(readLiteral(out)).toEqual({ value: input, end: out.length });
  });

  it('escapes NUL, BEL, ESC and DEL with \\u', () => {
    expect(text(soqlString('a\u0000b\u0007\u001b\u007f'))).toBe("'a\\u0000b\\u0007\\u001b\\u007f'");
  });

  it('refuses a lone surrogate (it has no UTF-8 form)', () => {
    expect(() => soqlString('a\ud800b')).toThrow(SoqlValueError);
    expect(() => soqlString('a\udc00')).toThrow(/surrogate/);
  });

  it.each([
    "x' OR Name != '",
    "x\\' OR Id != null OR Name = '",
    "\\' OR 1=1 --",
    "'; DELETE FROM Lead; '",
    "x\\\\' OR Email LIKE '%",
    'ends with backslash \\',
    '\\',
    "'",
    '\\u0027) OR (Id != null',
    "%' OR Name LIKE '%",
  ])('keeps an injection attempt inside one literal: %j', (attack) => {
    const query = soql`SELECT Id FROM Lead WHERE Company = ${soqlString(attack)} LIMIT 1`;
    const literal = query.slice(query.indexOf("'"));
    const { value, end } = readLiteral(literal);
    expect(value).toBe(attack);
    expect(literal.slice(end)).toBe(' LIMIT 1');
  });
});

describe('soqlLike', () => {
  it.each([
    ['contains', 'acme.com', "'%acme.com%'"],
    ['starts', 'acme', "'acme%'"],
    ['ends', 'acme.com', "'%acme.com'"],
    ['exact', 'acme', "'acme'"],
  ] as const)('%s', (mode, input, expected) => {
    expect(text(soqlLike(input, mode))).toBe(expected);
  });

  it('escapes % and _ in the value so they match themselves', () => {
    const out = text(soqlLike("50%_off's", 'contains'));
    expect(out).toBe("'%50\\%\\_off\\'s%'");
    expect(readLiteral(out, true).value).toBe("%50%_off's%");
  });

  it('keeps an injection attempt inside the pattern', () => {
    const query = soql`SELECT Id FROM Account WHERE Website LIKE ${soqlLike("a%' OR Name LIKE '%", 'contains')}`;
    const literal = query.slice(query.indexOf("'"));
    expect(readLiteral(literal, true).end).toBe(literal.length);
  });
});

describe('ids', () => {
  // 18-character ids with their checksums (the made-up 00Q5g00000AbCdEEAZ of the facts file is refused below).
  it.each([
    '00Q5g00000AbCdEEAV',
    '001D000000IqhSLIAZ',
    '0015000000VALDtAAP',
    '00G5g000004QueueAAA'.slice(0, 15),
  ])('accepts %s', (id) => {
    expect(isSalesforceId(id)).toBe(true);
    expect(text(soqlId(id))).toBe(`'${id}'`);
  });

  it('computes the checksum from the case of the first 15 characters', () => {
    expect(idChecksum('001D000000IqhSL')).toBe('IAZ');
    expect(idChecksum('000000000000000')).toBe('AAA');
    expect(idChecksum('AAAAAAAAAAAAAAA')).toBe('555');
  });

  it.each([
    ['too short', '00Q5g00000AbCd'],
    ['16 characters', '00Q5g00000AbCdEE'],
    ['wrong checksum', '00Q5g00000AbCdEEAZ'],
    ['quote', "00Q5g00000AbCd'"],
    ['injection', "00Q5g00000AbCdE' OR Id != '"],
    ['space', '00Q5g00000AbCd '],
    ['unicode digit', '00Q5g00000AbCd٣'],
    ['empty', ''],
  ])('refuses %s', (_name, id) => {
    expect(isSalesforceId(id)).toBe(false);
    expect(() => soqlId(id)).toThrow(SoqlValueError);
  });

  it('builds IN lists and refuses an empty one', () => {
    expect(text(soqlIdList(['001D000000IqhSLIAZ', '001D000000IqhSL']))).toBe(
      "('001D000000IqhSLIAZ', '001D000000IqhSL')",
    );
    expect(() => soqlIdList([])).toThrow(/at least one/);
    expect(text(soqlStringList(["a'b", 'c']))).toBe("('a\\'b', 'c')");
  });
});

describe('names, numbers and times', () => {
  it.each(['Email', 'Industry__c', 'ns__Region__c', 'Owner.Email', 'Account.Owner.TimeZoneSidKey'])(
    'accepts the name %s',
    (name) => expect(text(soqlName(name))).toBe(name),
  );

  it.each(['Email, (SELECT Id FROM Users)', "Name'", 'Bad Name', '1Field', 'a___b', '', 'Field;'])(
    'refuses the name %j',
    (name) => expect(() => soqlName(name)).toThrow(SoqlValueError),
  );

  it('writes UTC dateTimes without quotes or milliseconds, and finite numbers only', () => {
    expect(text(soqlDateTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678)))).toBe('2026-01-02T03:04:05Z');
    expect(text(soqlNumber(200))).toBe('200');
    expect(() => soqlNumber(Number.NaN)).toThrow(SoqlValueError);
    expect(() => soqlDateTime(Number.POSITIVE_INFINITY)).toThrow(SoqlValueError);
  });
});

describe('the soql template', () => {
  it('joins fragment lists with commas', () => {
    expect(
      soql`SELECT ${[soqlName('Id'), soqlName('Email')]} FROM Lead WHERE Id = ${soqlId('001D000000IqhSL')}`,
    ).toBe("SELECT Id, Email FROM Lead WHERE Id = '001D000000IqhSL'");
  });

  it('refuses a plain string, so nothing is pasted unquoted', () => {
    const raw = "x' OR Id != '" as unknown as SoqlFragment;
    expect(() => soql`SELECT Id FROM Lead WHERE Name = ${raw}`).toThrow(/not a SOQL fragment/);
  });
});

describe('the stored form of an id an operator types', () => {
  // The sandbox org's own ids: its 18-character form is worked out by the sandbox, apart from ours.
  const id18 = toId18('00Q8d000001aBcD') ?? '';

  it('gives a 15-character id its checksum, as the API answers it', () => {
    expect(id18).toHaveLength(18);
    expect(SALESFORCE_PROFILE.storedId('00Q8d000001aBcD')).toBe(id18);
  });

  it('leaves an 18-character id, a HubSpot id and what is no id as they are', () => {
    expect(SALESFORCE_PROFILE.storedId(id18)).toBe(id18);
    expect(SALESFORCE_PROFILE.storedId('00Q8d000001aBc!')).toBe('00Q8d000001aBc!');
    expect(SALESFORCE_PROFILE.storedId('jane@example.com')).toBe('jane@example.com');
    expect(HUBSPOT_PROFILE.storedId('123456789012345')).toBe('123456789012345');
  });
});
