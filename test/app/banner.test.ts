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
      '  writes the app made in the CRM: http://127.0.0.1:3100/_sandbox/writes',
      '  rules rules/saas-inbound/rules.yaml ("SaaS inbound") with its own team (inline)',
      '  health: http://127.0.0.1:3000/healthz · why a lead went where it did: npm run cli -- explain <email>',
    ]);
  });
});
