import { bannerLines, demoRateText } from '../../src/app/banner.js';

describe('the npm start banner', () => {
  it.each([
    [0.5, 'demo contacts every 2.0 s'],
    [0.2, 'demo contacts every 5.0 s'],
    [1, '1 demo contact per second'],
    [2.5, '2.5 demo contacts per second'],
    // Was "every 0.0 s".
    [20, '20 demo contacts per second'],
    [100, '100 demo contacts per second'],
    [0, 'no demo contacts (DEMO_RATE=0)'],
  ])('DEMO_RATE=%s: %s', (rate, text) => {
    expect(demoRateText(rate)).toBe(text);
  });

  const sandboxApp = (resumed: boolean) => ({
    url: 'http://127.0.0.1:3000',
    sandbox: {
      url: 'http://127.0.0.1:3100',
      portalId: '62515',
      resumed,
    } as never,
    rules: {
      path: 'rules/saas-inbound/rules.yaml',
      name: 'SaaS inbound',
      team: { kind: 'inline' as const },
    },
  });

  it('says which rules and which team are in force, and when the demo continues an earlier run', () => {
    expect(bannerLines({ role: 'all', demoRate: 20 }, sandboxApp(true), 1)).toEqual([
      'lead-router is running at http://127.0.0.1:3000',
      '  sandbox CRM at http://127.0.0.1:3100 (portal 62515, continued from DATA_DIR; npm run demo:reset starts afresh), 20 demo contacts per second',
      '  writes the app made in the CRM: http://127.0.0.1:3100/_sandbox/writes?source=api',
      '  rules rules/saas-inbound/rules.yaml ("SaaS inbound") with its own team (inline)',
      '  health: http://127.0.0.1:3000/healthz · why a lead went where it did: npm run cli -- explain <email>',
    ]);
  });

  it('says when the demo routes with a team edited in the settings tab rather than the team file', () => {
    const app = {
      ...sandboxApp(true),
      rules: {
        path: 'rules/hubspot-demo/rules.yaml',
        name: 'HubSpot demo portal',
        team: { kind: 'file' as const, path: 'rules/hubspot-demo/team.yaml' },
        publishedInTab: { team: '4f2a9c01b7de' },
      },
    };
    expect(bannerLines({ role: 'all', demoRate: 20 }, app, 1)[3]).toBe(
      '  rules rules/hubspot-demo/rules.yaml ("HubSpot demo portal") with team 4f2a9c01b7de, as published in the settings tab: rules/hubspot-demo/team.yaml unchanged since the install (a changed file is routed with at the next start)',
    );
  });

  it('names the Salesforce sandbox and its org with CRM=salesforce, and the CRMs served with real apps', () => {
    const rules = {
      path: 'rules/salesforce-demo/rules.yaml',
      name: 'Salesforce demo org',
      team: { kind: 'inline' as const },
    };
    const sf = {
      url: 'http://127.0.0.1:3000',
      sandbox: undefined,
      salesforceSandbox: {
        url: 'http://127.0.0.1:3100',
        orgId: '00D8d0000000001EAA',
        resumed: false,
      } as never,
      rules,
    };
    expect(bannerLines({ role: 'all', demoRate: 0.5 }, sf, 1).slice(1, 3)).toEqual([
      '  Salesforce sandbox at http://127.0.0.1:3100 (org 00D8d0000000001EAA), demo leads every 2.0 s',
      '  writes the app made in the CRM: http://127.0.0.1:3100/_sandbox/writes?source=api',
    ]);
    const real = { url: 'https://router.example.com', sandbox: undefined, rules };
    expect(
      bannerLines({ role: 'all', demoRate: 0 }, real, 1, { hubspot: true, salesforce: true }).slice(1, 3),
    ).toEqual([
      '  serving HubSpot; webhooks: https://router.example.com/webhooks/hubspot, install: https://router.example.com/oauth/hubspot/install',
      '  serving Salesforce; install: https://router.example.com/oauth/salesforce/install (change events read per org)',
    ]);
  });
});
