// A real CRM app says at start when the address it gives the CRM cannot work: PUBLIC_URL unset, or not
// https (the CRMs send webhooks and admins back to https only; http only to this machine).
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/app/config.js';
import { startApp } from '../../src/app/start.js';
import { capturingLogger } from '../support/logs.js';

async function warningsAt(publicUrl: string | undefined): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'lead-router-public-url-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dir,
    HUBSPOT_CLIENT_ID: 'hs-client',
    HUBSPOT_CLIENT_SECRET: 'hs-secret',
    HUBSPOT_APP_ID: '4242',
    TOKEN_ENCRYPTION_KEY: 'ab'.repeat(32),
    RULES: 'rules/hubspot-demo/rules.yaml',
    ...(publicUrl === undefined ? {} : { PUBLIC_URL: publicUrl }),
  });
  const { logger, records } = capturingLogger();
  const app = await startApp(config, { logger });
  try {
    return records()
      .filter((l) => l['level'] === 'warn')
      .map((l) => String(l['message']))
      .filter((m) => m.startsWith('PUBLIC_URL'));
  } finally {
    await app.stop();
  }
}

it('warns of a PUBLIC_URL that is unset or not https, not of an https one', async () => {
  expect(await warningsAt(undefined)).toEqual([expect.stringMatching(/^PUBLIC_URL is not set: /)]);
  expect(await warningsAt('http://router.example.com')).toEqual([
    'PUBLIC_URL http://router.example.com is not https: HubSpot and Salesforce send events and admins back only to https addresses (http only to this machine); set it to the https address this app is reached at',
  ]);
  expect(await warningsAt('https://router.example.com')).toEqual([]);
  expect(await warningsAt('http://localhost:3000')).toEqual([]);
}, 60_000);
