// The rules and team the app starts with are what new installs route with, so they must suit every CRM
// it serves: a queue target a Salesforce org cannot have (a team) stops the start, naming the file, the
// line and the queue, before anything listens; the same rules start with HubSpot.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ConfigError, loadConfig, type AppConfig } from '../../src/app/config.js';
import { startApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';

const logger = createLogger({
  level: 'error',
  stream: new Writable({ write: (_chunk, _enc, done) => done() }),
});

const noTeams = (file: string, line: string, queue: string, team: string): string =>
  `${file}:${line} ${queue}.team: Salesforce has no teams, so queue "${queue.split('.').pop()}" cannot land on team ${team}: give it an owner instead, { owner: a user's email, or a Lead queue's name or id (00G…) }`;

const SAAS_INBOUND = [
  noTeams('rules/saas-inbound/rules.yaml', '84:26', 'team.queues.emea-triage', 'EMEA'),
  noTeams('rules/saas-inbound/rules.yaml', '85:24', 'team.queues.us-triage', 'NA'),
  noTeams('rules/saas-inbound/rules.yaml', '86:29', 'team.queues.inbound-triage', 'Inbound'),
].join('\n');

/** A configuration on free ports and a data directory of its own. */
async function config(env: Record<string, string>): Promise<AppConfig> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-start-rules-'));
  return loadConfig({ PORT: '0', SANDBOX_PORT: '0', DATA_DIR: dir, ...env });
}

describe('the rules npm start is given, against the CRMs it serves', () => {
  it('CRM=salesforce refuses queues that target teams (inline in the rules), naming file, line and queue; CRM=hubspot starts with them', async () => {
    const salesforce = await config({ CRM: 'salesforce', RULES: 'rules/saas-inbound/rules.yaml' });
    await expect(startApp(salesforce, { logger })).rejects.toThrow(new ConfigError(SAAS_INBOUND));

    const hubspot = await config({ CRM: 'hubspot', RULES: 'rules/saas-inbound/rules.yaml' });
    const app = await startApp(hubspot, { logger, generate: false });
    try {
      expect(app.rules).toEqual({
        path: 'rules/saas-inbound/rules.yaml',
        name: 'SaaS inbound',
        team: { kind: 'inline' },
      });
    } finally {
      await app.stop();
    }
  }, 60_000);

  it('a team file is checked too: the HubSpot demo team with CRM=salesforce', async () => {
    const hubspotDemo = await config({ CRM: 'salesforce', RULES: 'rules/hubspot-demo/rules.yaml' });
    await expect(startApp(hubspotDemo, { logger })).rejects.toThrow(
      noTeams('rules/hubspot-demo/team.yaml', '18:17', 'queues.EMEA', '410001'),
    );
  });

  it('with real HubSpot and Salesforce apps, the rules must suit both', async () => {
    const both = await config({
      HUBSPOT_CLIENT_ID: 'hs-client',
      HUBSPOT_CLIENT_SECRET: 'hs-secret',
      HUBSPOT_APP_ID: '4242',
      SALESFORCE_CLIENT_ID: 'sf-client',
      TOKEN_ENCRYPTION_KEY: 'ab'.repeat(32),
      RULES: 'rules/saas-inbound/rules.yaml',
    });
    await expect(startApp(both, { logger })).rejects.toThrow(new ConfigError(SAAS_INBOUND));
  });
});
