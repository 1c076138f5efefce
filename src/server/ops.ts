// The HTTP surface of a `ROLE=worker` process: health, readiness and metrics only, so an orchestrator
// can probe and scrape workers as it does web instances.
import type { Server } from 'node:http';
import express from 'express';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { healthRouter } from './health.js';
import type { ServerStorage } from './types.js';

export async function listenOps(
  deps: { storage: Pick<ServerStorage, 'db'>; logger: Logger; metrics: Metrics },
  port: number,
  host: string,
): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.disable('x-powered-by');
  app.use(healthRouter(deps));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(port, host);
    s.once('error', reject);
    s.once('listening', () => resolve(s));
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return {
    url: `http://${host}:${bound}`,
    close: () =>
      new Promise<void>((done, fail) => {
        server.close((err) => (err === undefined ? done() : fail(err)));
        server.closeAllConnections();
      }),
  };
}
