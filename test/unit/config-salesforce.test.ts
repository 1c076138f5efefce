// Which CRMs the environment configures: the sandbox of CRM (HubSpot by default), or the real apps whose
// variables are set — HubSpot, Salesforce, or both — and a clear error for each inconsistent mix.
import { ConfigError, loadConfig } from '../../src/app/config.js';

const KEY = 'ab'.repeat(32);
const HUBSPOT = { HUBSPOT_CLIENT_ID: 'h', HUBSPOT_CLIENT_SECRET: 'hs', HUBSPOT_APP_ID: '1' };
const SALESFORCE = { SALESFORCE_CLIENT_ID: 'key', SALESFORCE_CLIENT_SECRET: 'secret' };
const RULES = 'rules/ours/rules.yaml';

describe('CRM configuration', () => {
  it('runs the HubSpot sandbox by default, the Salesforce one with CRM=salesforce, each with its demo rules', () => {
    expect(loadConfig({})).toMatchObject({
      sandboxCrm: 'hubspot',
      rulesPath: 'rules/hubspot-demo/rules.yaml',
      salesforce: undefined,
    });
    expect(loadConfig({ CRM: 'salesforce' })).toMatchObject({
      sandboxCrm: 'salesforce',
      rulesPath: 'rules/salesforce-demo/rules.yaml',
      hubspot: undefined,
      salesforceUsageSlowdown: 0.8,
    });
    expect(loadConfig({ CRM: 'salesforce', RULES: 'rules/x.yaml' }).rulesPath).toBe('rules/x.yaml');
  });

  it('serves a real Salesforce org, HubSpot, or both, from the variables set', () => {
    expect(loadConfig({ ...SALESFORCE, TOKEN_ENCRYPTION_KEY: KEY, RULES })).toMatchObject({
      sandboxCrm: undefined,
      hubspot: undefined,
      salesforce: { clientId: 'key', clientSecret: 'secret', loginUrl: 'https://login.salesforce.com' },
      rulesPath: RULES,
    });
    const both = loadConfig({
      ...HUBSPOT,
      ...SALESFORCE,
      SALESFORCE_LOGIN_URL: 'https://test.salesforce.com/',
      TOKEN_ENCRYPTION_KEY: KEY,
      RULES,
    });
    expect(both).toMatchObject({
      sandboxCrm: undefined,
      salesforce: { loginUrl: 'https://test.salesforce.com' },
    });
    expect(both.hubspot).toBeDefined();
    // A public client (PKCE only) needs no secret.
    expect(loadConfig({ SALESFORCE_CLIENT_ID: 'key', TOKEN_ENCRYPTION_KEY: KEY, RULES }).salesforce).toEqual({
      clientId: 'key',
      clientSecret: undefined,
      loginUrl: 'https://login.salesforce.com',
    });
    expect(
      loadConfig({ ...SALESFORCE, TOKEN_ENCRYPTION_KEY: KEY, RULES, SALESFORCE_API_USAGE_SLOWDOWN: '0.6' })
        .salesforceUsageSlowdown,
    ).toBe(0.6);
  });

  it('refuses a real app without RULES: the demo rules would route real leads to the sandbox reps', () => {
    expect(() => loadConfig({ ...SALESFORCE, TOKEN_ENCRYPTION_KEY: KEY })).toThrow(
      /RULES is required with a real Salesforce app/,
    );
    expect(() => loadConfig({ ...HUBSPOT, TOKEN_ENCRYPTION_KEY: KEY, RULES: '' })).toThrow(
      /RULES is required with a real HubSpot app/,
    );
  });

  it('takes PUBLIC_URL without its trailing slash, so links built on it have one slash', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://router.example.com/' }).publicUrl).toBe(
      'https://router.example.com',
    );
    expect(loadConfig({ PUBLIC_URL: 'https://example.com/router//' }).publicUrl).toBe(
      'https://example.com/router',
    );
  });

  it.each([
    [{ SALESFORCE_CLIENT_SECRET: 's' }, /SALESFORCE_CLIENT_SECRET set without SALESFORCE_CLIENT_ID/],
    [
      { SALESFORCE_LOGIN_URL: 'https://login.salesforce.com' },
      /SALESFORCE_LOGIN_URL set without SALESFORCE_CLIENT_ID/,
    ],
    [{ ...SALESFORCE }, /TOKEN_ENCRYPTION_KEY is required with a real Salesforce app/],
    [
      { ...SALESFORCE, TOKEN_ENCRYPTION_KEY: KEY, SALESFORCE_LOGIN_URL: 'http://login.example.com' },
      /SALESFORCE_LOGIN_URL="http:\/\/login\.example\.com": expected the https login host only/,
    ],
    // One message for the variable, not one per check it fails.
    [
      { ...SALESFORCE, TOKEN_ENCRYPTION_KEY: KEY, SALESFORCE_LOGIN_URL: 'login.salesforce.com' },
      /^invalid environment: SALESFORCE_LOGIN_URL="login\.salesforce\.com": expected the https login host only, [^;]*$/,
    ],
    // The OAuth paths are the app's to add: a pasted authorize URL would send admins to …/authorize/services/…
    [
      {
        ...SALESFORCE,
        TOKEN_ENCRYPTION_KEY: KEY,
        SALESFORCE_LOGIN_URL: 'https://login.salesforce.com/services/oauth2/authorize',
      },
      /SALESFORCE_LOGIN_URL="https:\/\/login\.salesforce\.com\/services\/oauth2\/authorize": expected the https login host only/,
    ],
    [
      { ...SALESFORCE, TOKEN_ENCRYPTION_KEY: KEY, SALESFORCE_API_USAGE_SLOWDOWN: '80' },
      /SALESFORCE_API_USAGE_SLOWDOWN="80": expected a fraction between 0 and 1/,
    ],
    [{ ...HUBSPOT, CRM: 'salesforce', TOKEN_ENCRYPTION_KEY: KEY }, /CRM=salesforce with a HubSpot app only/],
    [{ ...SALESFORCE, CRM: 'hubspot', TOKEN_ENCRYPTION_KEY: KEY }, /CRM=hubspot with a Salesforce app only/],
    [{ CRM: 'salesforce', ROLE: 'web' }, /ROLE=web needs a real CRM app/],
    [{ CRM: 'pipedrive' }, /CRM="pipedrive": /],
  ])('%j is refused: %s', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  describe('SALESFORCE_LOGIN_URL: a host that can be Salesforce login, not a typo found only at install', () => {
    const loginUrl = (url: string) =>
      loadConfig({ ...SALESFORCE, TOKEN_ENCRYPTION_KEY: KEY, RULES, SALESFORCE_LOGIN_URL: url }).salesforce
        ?.loginUrl;

    it.each([
      'https://login.salesforce.com',
      'https://test.salesforce.com',
      'https://acme.my.salesforce.com',
      'https://acme--uat.sandbox.my.salesforce.com',
      'https://acme-dev-ed.develop.my.salesforce.com',
      'https://fun-shape-1234.scratch.my.salesforce.com',
      'https://acme.my.salesforce.mil',
      'https://acme.cloudforce.com',
      'https://na1.salesforce.com',
      'https://cs42.salesforce.com',
      'https://usa77.salesforce.com',
      // The sandbox CRM and the tests log in on this machine.
      'http://127.0.0.1:4100',
      'http://localhost:3100',
    ])('%s is taken', (url) => {
      expect(loginUrl(url)).toBe(url);
    });

    it.each([
      ['https://login.salesforce.con', 'https://login.salesforce.com'],
      ['https://logn.salesforce.com', 'https://login.salesforce.com'],
      ['https://tset.salesforce.com', 'https://test.salesforce.com'],
      ['https://acme.my.salesforce.co', 'https://acme.my.salesforce.com'],
      ['https://acme.my.salesfroce.com', 'https://acme.my.salesforce.com'],
      // An org's page hosts, copied from the address bar: its My Domain login host, in the same partition.
      ['https://acme.lightning.force.com', 'https://acme.my.salesforce.com'],
      ['https://acme--uat.sandbox.lightning.force.com', 'https://acme--uat.sandbox.my.salesforce.com'],
      ['https://acme-dev-ed.develop.lightning.force.com', 'https://acme-dev-ed.develop.my.salesforce.com'],
      ['https://acme.my.salesforce-setup.com', 'https://acme.my.salesforce.com'],
      ['https://acme.my.site.com', 'https://acme.my.salesforce.com'],
      ['https://acme--c.vf.force.com', 'https://acme.my.salesforce.com'],
      ['https://acme--uat--c.sandbox.vf.force.com', 'https://acme--uat.sandbox.my.salesforce.com'],
      ['https://lightning.force.com', undefined],
      ['https://login.example.com', undefined],
      ['https://salesforce.com', undefined],
      ['https://my.salesforce.com', undefined],
    ])('%s is refused, naming the variable, the host it likely meant and what to write', (url, meant) => {
      const host = new URL(url).hostname;
      const refusal = `invalid environment: SALESFORCE_LOGIN_URL="${url}": ${host} is not a Salesforce login host${meant === undefined ? '' : ` (did you mean ${meant}?)`}: write https://login.salesforce.com (production and Developer Edition orgs), https://test.salesforce.com (sandboxes) or the org's My Domain, https://<name>.my.salesforce.com`;
      expect(() => loginUrl(url)).toThrow(new ConfigError(refusal));
    });
  });

  it.each([
    ['https://acme.lightning.force.com/lightning/page/home', 'https://acme.my.salesforce.com'],
    [
      'https://acme.my.salesforce-setup.com/lightning/setup/SetupOneHome/home',
      'https://acme.my.salesforce.com',
    ],
    ['https://acme.my.salesforce.com/?ec=302', 'https://acme.my.salesforce.com'],
    ['https://login.salesforce.com/services/oauth2/authorize', 'https://login.salesforce.com'],
    ['https://example.com/path', undefined],
    ['http://127.0.0.1:4100/path', undefined],
  ])('a whole address-bar URL %s is refused with the login host it names: %s', (url, meant) => {
    const refusal = `invalid environment: SALESFORCE_LOGIN_URL="${url}": expected the https login host only${meant === undefined ? '' : ` (did you mean ${meant}?)`}, such as https://login.salesforce.com`;
    expect(() =>
      loadConfig({ ...SALESFORCE, TOKEN_ENCRYPTION_KEY: KEY, RULES, SALESFORCE_LOGIN_URL: url }),
    ).toThrow(refusal);
  });

  it('takes an empty SALESFORCE_* variable as unset, as for DATABASE_URL', () => {
    expect(loadConfig({ SALESFORCE_CLIENT_ID: '', SALESFORCE_CLIENT_SECRET: '' })).toMatchObject({
      sandboxCrm: 'hubspot',
      salesforce: undefined,
    });
    expect(
      loadConfig({ ...SALESFORCE, SALESFORCE_LOGIN_URL: '', TOKEN_ENCRYPTION_KEY: KEY, RULES }).salesforce,
    ).toMatchObject({ loginUrl: 'https://login.salesforce.com' });
  });

  it('lets web and worker processes serve Salesforce orgs over PostgreSQL', () => {
    const env = { ...SALESFORCE, TOKEN_ENCRYPTION_KEY: KEY, RULES, DATABASE_URL: 'postgres://db/x' };
    expect(loadConfig({ ...env, ROLE: 'web' }).role).toBe('web');
    expect(loadConfig({ ...env, ROLE: 'worker' }).role).toBe('worker');
  });
});
