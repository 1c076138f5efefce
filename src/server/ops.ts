// The HTTP surface of a `ROLE=worker` process: health, readiness and metrics only, so an orchestrator
// can probe and scrape workers as it does web instances.
import type { Server as NetServer } from 'node:net';
import express from 'express';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { healthRouter } from './health.js';
import { listenOn, type RunningServer } from './index.js';
import type { ServerDeps, ServerStorage } from './types.js';

export function listenOps(
  deps: {
    storage: Pick<ServerStorage, 'db' | 'pausedTenants'>;
    logger: Logger;
    metrics: Metrics;
    streams?: ServerDeps['streams'];
    clock?: ServerDeps['clock'];
  },
  port: number | NetServer,
  host: string,
): Promise<RunningServer> {
  const app = express();
  app.disable('x-powered-by');
  app.use(healthRouter(deps));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return listenOn(app, port, host);
}
