import {
  fieldValue,
  isFreeMailDomain,
  leadFieldFor,
  normalizeCompanyName,
  normalizeCountry,
  normalizeRegion,
  parseLenientBoolean,
  parseLenientNumber,
  parseTimestamp,
  registrableDomain,
  toLead,
} from '../../src/core/normalize.js';
import type { Lead } from '../../src/core/types.js';

describe('normalizeCountry', () => {
  it.each([
    ['DE', 'DE'],
    ['de', 'DE'],
    [' us ', 'US'],
    ['DEU', 'DE'],
    ['usa', 'US'],
    ['USA', 'US'],
    ['U.S.A.', 'US'],
    ['U.S.', 'US'],
    ['United States', 'US'],
    ['United States of America', 'US'],
    ['UK', 'GB'],
    ['U.K.', 'GB'],
    ['Great Britain', 'GB'],
    ['United Kingdom', 'GB'],
    ['England', 'GB'],
    ['Holland', 'NL'],
    ['The Netherlands', 'NL'],
    ['Deutschland', 'DE'],
    ['Germany', 'DE'],
    ['Allemagne', 'DE'],
    ['Alemania', 'DE'],
    ['Österreich', 'AT'],
    ['osterreich', 'AT'],
    ['Schweiz', 'CH'],
    ['Suisse', 'CH'],
    ['España', 'ES'],
    ['Vereinigtes Königreich', 'GB'],
    ["Côte d'Ivoire", 'CI'],
    ['CA', 'CA'],
    ['Canada', 'CA'],
  ])('%j → %s', (raw, expected) => {
    expect(normalizeCountry(raw)).toBe(expected);
  });

  it.each(['', '   ', 'Narnia', 'XX', 'ZZZ', 'Europe'])('%j → undefined', (raw) => {
    expect(normalizeCountry(raw)).toBeUndefined();
  });
});

describe('normalizeRegion', () => {
  it.each([
    ['US', 'California', 'CA'],
    ['US', 'california', 'CA'],
    ['US', 'ca', 'CA'],
    ['US', 'CA', 'CA'],
    ['US', 'US-NY', 'NY'],
    ['US', 'New York', 'NY'],
    ['USA', 'Texas', 'TX'],
    ['CA', 'Ontario', 'ON'],
    ['CA', 'Québec', 'QC'],
    ['CA', 'Quebec', 'QC'],
    ['AU', 'New South Wales', 'NSW'],
    ['AU', 'nsw', 'NSW'],
    ['DE', 'Bayern', 'BY'],
    [undefined, 'California', 'CA'],
    [undefined, 'Ontario', 'ON'],
    [undefined, 'Victoria', 'VIC'],
  ])('%s / %j → %s', (country, raw, expected) => {
    expect(normalizeRegion(country, raw)).toBe(expected);
  });

  it.each([
    ['US', '  Narnia ', 'Narnia'],
    ['US', 'Bayern', 'Bayern'],
    [undefined, 'Somewhere', 'Somewhere'],
    ['XX', 'California', 'California'],
    ['US', '', ''],
  ])('unknown %s / %j comes back trimmed: %j', (country, raw, expected) => {
    expect(normalizeRegion(country, raw)).toBe(expected);
  });
});

describe('registrableDomain', () => {
  it.each([
    ['https://www.Shop.Acme.co.uk/x', 'acme.co.uk'],
    ['www.acme.com', 'acme.com'],
    ['ACME.COM', 'acme.com'],
    ['acme.com.', 'acme.com'],
    ['http://acme.com:8080/path?q=1', 'acme.com'],
    ['eu.sales.acme.de', 'acme.de'],
    ['ada@acme.co.uk', 'acme.co.uk'],
    ['Ada.Lovelace@EU.Acme.com', 'acme.com'],
    ['acme.com.au', 'acme.com.au'],
    ['acme.myshopify.com', 'acme.myshopify.com'],
  ])('%j → %s', (raw, expected) => {
    expect(registrableDomain(raw)).toBe(expected);
  });

  it.each(['', 'localhost', 'co.uk', '127.0.0.1', 'not a domain', 'ada@'])('%j → undefined', (raw) => {
    expect(registrableDomain(raw)).toBeUndefined();
  });
});

describe('isFreeMailDomain', () => {
  it.each([
    'gmail.com',
    'googlemail.com',
    'yahoo.com',
    'yahoo.de',
    'yahoo.co.uk',
    'yahoo.com.ar',
    'outlook.com',
    'hotmail.com',
    'gmx.de',
    'gmx.net',
    'web.de',
    'icloud.com',
    'GMAIL.COM',
    'mail.yahoo.com',
  ])('%s is free mail', (d) => {
    expect(isFreeMailDomain(d)).toBe(true);
  });

  it.each(['acme.com', 'siemens.de', 'salesforce.com', 'acme.co.uk', ''])('%j is not free mail', (d) => {
    expect(isFreeMailDomain(d)).toBe(false);
  });
});

describe('normalizeCompanyName', () => {
  it.each([
    ['Acme', ['acme']],
    ['ACME, Inc.', ['acme']],
    ['Acme Incorporated', ['acme']],
    ['Acme GmbH & Co. KG', ['acme']],
    ['Acme Ltd', ['acme']],
    ['Acme Pty Ltd', ['acme']],
    ['Acme Corp.', ['acme']],
    ['Acme Corporation', ['acme']],
    ['Acme plc', ['acme']],
    ['Acme S.p.A.', ['acme']],
    ['Acme S.R.L.', ['acme']],
    ['Acme B.V.', ['acme']],
    ['Acme N.V.', ['acme']],
    ['Acme SAS', ['acme']],
    ['Acme Oy', ['acme']],
    ['Acme AB', ['acme']],
    ['Acme AG', ['acme']],
    ['Acme LLC', ['acme']],
    ['Société Générale S.A.', ['societe', 'generale']],
    ['Müller Bau AG', ['muller', 'bau']],
    ["O'Reilly Media, Inc.", ['oreilly', 'media']],
    ['Acme Software (Europe) Ltd.', ['acme', 'software', 'europe']],
    ['Johnson & Johnson', ['johnson']],
    ['The Company', ['the', 'company']],
    ['', []],
  ])('%j → %j', (name, expected) => {
    expect(normalizeCompanyName(name)).toEqual(expected);
  });
});

describe('lenient scalars', () => {
  it.each<[unknown, number | undefined]>([
    [1200, 1200],
    ['1200', 1200],
    ['1,200', 1200],
    ['1.200', 1200],
    ['1,200,000', 1200000],
    ['1.5', 1.5],
    ['1,5', 1.5],
    ['0.500', 0.5],
    ['$1,234,567.89', 1234567.89],
    ['1.234,5', 1234.5],
    ['1.2k', 1200],
    ['5M', 5000000],
    ['2bn', 2000000000],
    ['51-200', 51],
    ['10,001+', 10001],
    ['-3', -3],
    ['lots', undefined],
    ['', undefined],
    ['1,20', 1.2],
    ['1,2345', 1.2345],
    [Number.NaN, undefined],
    [true, undefined],
  ])('number %j → %j', (raw, expected) => {
    expect(parseLenientNumber(raw)).toBe(expected);
  });

  it.each([
    ['digits ending in a letter', `${'9'.repeat(200_000)}x`],
    ['grouped digits ending in a letter', `${'1,'.repeat(100_000)}x`],
    ['a decimal run that does not parse', `1${'0'.repeat(200_000)}.5.x`],
  ])('rejects a huge %s without backtracking (a form field can hold anything)', (_name, raw) => {
    // The old pattern took minutes on these; a linear one answers at once (jest's timeout is the check).
    expect(parseLenientNumber(raw)).toBeUndefined();
  });

  it.each<[unknown, boolean | undefined]>([
    ['yes', true],
    ['Yes', true],
    ['true', true],
    ['1', true],
    [1, true],
    [true, true],
    ['no', false],
    ['FALSE', false],
    ['0', false],
    [0, false],
    [false, false],
    ['maybe', undefined],
    ['', undefined],
    [2, undefined],
  ])('boolean %j → %j', (raw, expected) => {
    expect(parseLenientBoolean(raw)).toBe(expected);
  });

  it.each<[unknown, number | undefined]>([
    ['2024-05-01T10:00:00Z', Date.UTC(2024, 4, 1, 10)],
    ['2024-05-01T10:00:00', Date.UTC(2024, 4, 1, 10)],
    ['2024-05-01T12:00:00+02:00', Date.UTC(2024, 4, 1, 10)],
    ['2024-05-01', Date.UTC(2024, 4, 1)],
    [1714557600, Date.UTC(2024, 4, 1, 10)],
    [1714557600000, Date.UTC(2024, 4, 1, 10)],
    ['1714557600000', Date.UTC(2024, 4, 1, 10)],
    ['yesterday', undefined],
    ['05/01/2024', undefined],
  ])('timestamp %j → %j', (raw, expected) => {
    expect(parseTimestamp(raw)).toBe(expected);
  });
});

describe('toLead', () => {
  it('maps friendly and CRM-ish keys and normalizes the values', () => {
    const lead = toLead({
      id: 'c-1',
      Email: 'Ada@EU.Acme.co.uk',
      first_name: 'Ada',
      LastName: 'Lovelace',
      jobtitle: 'CTO',
      Company: 'Acme Ltd',
      Website: 'https://www.acme.co.uk/about',
      Country: 'Deutschland',
      State: 'Bayern',
      postal_code: '80331',
      City: 'München',
      NumberOfEmployees: '1,200',
      annualrevenue: '$5M',
      Industry: 'Software',
      leadSource: 'Web',
      form: 'demo-request',
      product_interest: 'Routing',
      demo_requested: 'yes',
      score: '87',
      owner: 'Bo@Acme.io',
      created_at: '2024-05-01T10:00:00Z',
    });
    expect(lead).toEqual<Lead>({
      id: 'c-1',
      email: 'ada@eu.acme.co.uk',
      emailDomain: 'acme.co.uk',
      firstName: 'Ada',
      lastName: 'Lovelace',
      title: 'CTO',
      company: 'Acme Ltd',
      websiteDomain: 'acme.co.uk',
      country: 'DE',
      state: 'BY',
      postalCode: '80331',
      city: 'München',
      employees: 1200,
      annualRevenue: 5000000,
      industry: 'Software',
      leadSource: 'Web',
      form: 'demo-request',
      productInterest: 'Routing',
      demoRequested: true,
      score: 87,
      owner: 'bo@acme.io',
      createdAt: Date.UTC(2024, 4, 1, 10),
      fields: {},
    });
  });

  it.each<[Record<string, unknown>, Partial<Lead>]>([
    [{ firstname: 'A' }, { firstName: 'A' }],
    [{ firstName: 'A' }, { firstName: 'A' }],
    [{ 'First Name': 'A' }, { firstName: 'A' }],
    [{ zip: '94105' }, { postalCode: '94105' }],
    [{ postalCode: 'sw1a 1aa' }, { postalCode: 'SW1A 1AA' }],
    [
      { zip: 2134, country: 'USA' },
      { postalCode: '02134', country: 'US' },
    ],
    [{ numberofemployees: 50 }, { employees: 50 }],
    [{ employees: '51-200' }, { employees: 51 }],
    [{ annual_revenue: '1.2k' }, { annualRevenue: 1200 }],
    [{ demo_requested: '0' }, { demoRequested: false }],
    [{ demoRequested: 'TRUE' }, { demoRequested: true }],
    [{ createdAt: 1714557600 }, { createdAt: Date.UTC(2024, 4, 1, 10) }],
    [
      { country: 'U.S.A.', state: 'california' },
      { country: 'US', state: 'CA' },
    ],
    [{ country: 'Narnia' }, { country: 'Narnia' }],
    [{ email: 'ada@gmail.com' }, { emailDomain: 'gmail.com', id: 'ada@gmail.com' }],
    [{ email: 'not-an-email' }, { email: 'not-an-email', emailDomain: undefined }],
    [{ email: '  ' }, { email: undefined, id: '' }],
  ])('%j → %j', (raw, expected) => {
    expect(toLead(raw)).toMatchObject(expected);
  });

  it('keeps unknown keys verbatim in fields', () => {
    const lead = toLead({
      email: 'a@acme.com',
      plan: 'pro',
      seats: 12,
      trial: false,
      notes: null,
      // A multi-value field as its connector gives it: a list of strings, kept as one (trimmed, no blanks).
      tags: ['a', ' b ', ''],
      other: [1, { x: 2 }],
      nothing: undefined,
      when: new Date(Date.UTC(2024, 0, 1)),
    });
    expect(lead.fields).toEqual({
      plan: 'pro',
      seats: 12,
      trial: false,
      notes: null,
      tags: ['a', 'b'],
      other: '[1,{"x":2}]',
      when: '2024-01-01T00:00:00.000Z',
    });
  });

  it('keeps values it cannot parse in fields under their raw name', () => {
    const lead = toLead({ employees: 'lots', website: 'n/a', demo_requested: 'maybe', created: 'yesterday' });
    expect(lead.employees).toBeUndefined();
    expect(lead.websiteDomain).toBeUndefined();
    expect(lead.demoRequested).toBeUndefined();
    expect(lead.createdAt).toBeUndefined();
    expect(lead.fields).toEqual({
      employees: 'lots',
      website: 'n/a',
      demo_requested: 'maybe',
      created: 'yesterday',
    });
  });

  it('takes the first non-blank of two columns for one field and keeps the other in fields', () => {
    const lead = toLead({ zip: '', postal_code: '10115', plz: '10117' });
    expect(lead.postalCode).toBe('10115');
    expect(lead.fields).toEqual({ zip: '', plz: '10117' });
  });

  it('honours a field map, including null for "keep as custom field"', () => {
    const lead = toLead(
      { 'Company Size': '250', Region: 'EMEA' },
      { 'Company Size': 'employees', Region: null },
    );
    expect(lead.employees).toBe(250);
    expect(lead.state).toBeUndefined();
    expect(lead.fields).toEqual({ Region: 'EMEA' });
  });

  it('takes emailDomain from a column when there is no email', () => {
    expect(toLead({ email_domain: 'www.acme.com' }).emailDomain).toBe('acme.com');
  });
});

describe('fieldValue', () => {
  const lead = toLead({
    email: 'ada@acme.com',
    employees: '1200',
    annual_revenue: 5e6,
    zip: '80331',
    demo_requested: 'yes',
    Plan: 'pro',
    Region: 'EMEA',
  });

  it.each<[string, unknown]>([
    ['employees', 1200],
    ['Employees', 1200],
    ['annualRevenue', 5e6],
    ['annual_revenue', 5e6],
    ['ANNUAL_REVENUE', 5e6],
    ['postalCode', '80331'],
    ['postal_code', '80331'],
    ['zip', '80331'],
    ['demo_requested', true],
    ['email_domain', 'acme.com'],
    ['emailDomain', 'acme.com'],
    ['Plan', 'pro'],
    ['plan', 'pro'],
    ['PLAN', 'pro'],
    ['Region', 'EMEA'],
    ['missing', undefined],
    ['country', undefined],
  ])('%s → %j', (field, expected) => {
    expect(fieldValue(lead, field)).toBe(expected);
  });

  it.each<[string, string | undefined]>([
    ['employees', 'employees'],
    ['number_of_employees', 'employees'],
    ['zip', 'postalCode'],
    ['plan', undefined],
  ])('leadFieldFor(%s) → %s', (field, expected) => {
    expect(leadFieldFor(field)).toBe(expected);
  });
});
