// The app as `npm start` runs it on a DATA_DIR (the sandbox CRM of either flavour, its data kept there),
// quiet and without demo leads, for tests of what a start leaves in or takes from DATA_DIR.
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/app/config.js';
import { startApp, type RunningApp } from '../../src/app/start.js';
import { createLogger } from '../../src/log.js';

const logger = createLogger({ level: 'error', stream: new Writable({ write: (_c, _e, done) => done() }) });

export function startDemoOn(dataDir: string, crm: 'hubspot' | 'salesforce'): Promise<RunningApp> {
  const config = loadConfig({
    PORT: '0',
    SANDBOX_PORT: '0',
    DATA_DIR: dataDir,
    DEMO_RATE: '0',
    CRM: crm,
    ...(crm === 'salesforce' ? { RULES: 'rules/salesforce-demo/rules.yaml' } : {}),
  });
  return startApp(config, { logger, generate: false, keepSandboxData: true });
}
