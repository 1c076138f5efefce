// `npm run demo:reset`: the sandbox demo starts afresh at the next `npm start` — removes the sandbox
// CRM's data and the app's SQLite database from DATA_DIR (the token encryption key stays).
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config.js';
import { dataDirHolder, DEMO_DATA_FILES } from './data-dir.js';

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function reset(): Promise<string> {
  const config = loadConfig();
  if (config.databaseUrl !== undefined)
    throw new ConfigError(
      'DATABASE_URL is set: demo:reset clears only the sandbox demo kept in DATA_DIR (SQLite); nothing removed',
    );
  const holder = await dataDirHolder(config.dataDir);
  if (holder !== undefined)
    throw new ConfigError(
      `lead-router (pid ${holder}) is running with DATA_DIR=${config.dataDir}: stop it first`,
    );
  const removed: string[] = [];
  for (const name of DEMO_DATA_FILES) {
    const path = join(config.dataDir, name);
    if (!(await exists(path))) continue;
    await rm(path, { force: true });
    removed.push(name);
  }
  return removed.length === 0
    ? `nothing to reset in DATA_DIR=${config.dataDir}`
    : `reset: removed ${removed.join(', ')} from DATA_DIR=${config.dataDir}; npm start begins a new demo`;
}

reset().then(
  (line) => process.stdout.write(`${line}\n`),
  (err: unknown) => {
    process.stderr.write(`lead-router: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
