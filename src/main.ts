// `npm start`: the app, its worker and — with no CRM credentials — the bundled sandbox CRM with a demo
// portal that keeps creating contacts (CRM=salesforce: a demo org that keeps creating leads). Prints one
// readable line per lead routed (or dead-lettered).
// `npm start` runs this file with `exec node`, so SIGTERM and SIGINT sent to npm reach this process.
import { createLogger } from './log.js';
import { bannerLines } from './app/banner.js';
import { ConfigError, loadConfig } from './app/config.js';
import { outcomeLine } from './app/outcome-line.js';
import { startApp } from './app/start.js';

async function main(): Promise<void> {
  const config = loadConfig();
  // Operational logs go to a file-like stream (stderr) as JSON; the console shows the decisions.
  const logger = createLogger({ level: config.logLevel ?? 'warn' });
  const app = await startApp(config, {
    logger,
    keepSandboxData: true,
    // A lead's line once the CRM took its writes (or it became a dead letter), never at the decision.
    onSettled: (outcome) => process.stdout.write(outcomeLine(outcome, Date.now()) + '\n'),
  });
  const crms = { hubspot: config.hubspot !== undefined, salesforce: config.salesforce !== undefined };
  process.stdout.write(bannerLines(config, app, process.pid, crms).join('\n') + '\n\n');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: finishing in-flight work…\n`);
    app.stop().then(
      () => {
        process.stdout.write('lead-router stopped\n');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error('shutdown failed', { error: String(err) });
        process.stdout.write('lead-router stopped (shutdown failed; see the log)\n');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

// A start-up mistake is one line and exit code 1, never a stack.
main().catch((err: unknown) => {
  const message =
    err instanceof ConfigError
      ? err.message
      : `could not start: ${String(err instanceof Error ? err.message : err)}`;
  process.stderr.write(`lead-router: ${message}\n`);
  process.exit(1);
});
