// `npm start`: the app, its worker and — with no HubSpot credentials — the bundled sandbox CRM with a
// demo portal that keeps creating contacts. Prints one readable line per routing decision.
import { createLogger } from './log.js';
import { ConfigError, loadConfig } from './app/config.js';
import { startApp, type DecisionEvent } from './app/start.js';

function decisionLine(event: DecisionEvent, now: number): string {
  const created = event.lead.createdAt;
  const after = created === undefined ? '' : ` · ${((now - created) / 1000).toFixed(1)} s after creation`;
  return `${event.summary}${after}`;
}

async function main(): Promise<void> {
  const config = loadConfig();
  // Operational logs go to a file-like stream (stderr) as JSON; the console shows the decisions.
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
  const app = await startApp(config, {
    logger,
    onDecision: (event) => process.stdout.write(decisionLine(event, Date.now()) + '\n'),
  });
  const intake =
    app.sandbox === undefined
      ? `  serving HubSpot; webhooks: ${app.url}/webhooks/hubspot, install: ${app.url}/oauth/hubspot/install`
      : `  sandbox CRM at ${app.sandbox.url} (portal ${app.sandbox.portalId}), demo contacts every ${(1 / config.demoRate).toFixed(1)} s`;
  const lines =
    config.role === 'worker'
      ? [`lead-router worker running (pid ${process.pid}): routing leads from the shared database`, '']
      : [
          `lead-router ${config.role === 'web' ? 'intake (no worker) ' : ''}is running at ${app.url}`,
          intake,
          app.sandbox === undefined
            ? ''
            : `  writes the app made in the CRM: ${app.sandbox.url}/_sandbox/writes`,
          `  health: ${app.url}/healthz · why a lead went where it did: npm run cli -- explain <email>`,
          '',
        ];
  process.stdout.write(lines.filter((l, i) => l !== '' || i === lines.length - 1).join('\n') + '\n');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: finishing in-flight work…\n`);
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { error: String(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`lead-router: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
});
