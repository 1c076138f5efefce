// The HTTP server: HubSpot webhook intake, the OAuth install flow, health probes. It only verifies,
// records and answers; routing happens in the worker (DESIGN.md, data flow step 1).
import type { Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { healthRouter } from './health.js';
import { linkPage } from './html.js';
import { RejectionLog } from './rejections.js';
import { oauthRouter } from './oauth.js';
import { salesforceOAuthRouter } from './salesforce-oauth.js';
import { SETUP_GUIDE_PATH, setupGuideRouter, type GuidedCrm } from './setup-guide.js';
import { settingsRouter } from '../settings/index.js';
import type { ServerDeps } from './types.js';
import { webhookRouter } from './webhooks.js';

export interface RunningServer {
  /** `http://host:port`, with the port actually bound (useful with port 0). */
  url: string;
  close(): Promise<void>;
}

export interface AppServer {
  app: express.Express;
  /**
   * Binds `port` on `host` (default 127.0.0.1; pass 0.0.0.0 to listen on every interface), or takes over
   * a socket already bound (`host` is then its own).
   */
  listen(port: number | NetServer, host?: string): Promise<RunningServer>;
}

/** Body-parser errors carry `status` and `type` (413 `entity.too.large`, 400 `request.aborted`, …). */
function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const status = (error as { status?: unknown }).status ?? (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : undefined;
}

/**
 * Binds an express app to `port` on `host`, or to a socket already bound; `close` also ends keep-alive
 * connections, which would hold it open otherwise.
 */
export function listenOn(
  app: express.Express,
  port: number | NetServer,
  host: string,
): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const server: Server = typeof port === 'number' ? app.listen(port, host) : app.listen(port);
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve({
        url: `http://${shownHost}:${address.port}`,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err === undefined ? done() : fail(err)));
            server.closeAllConnections();
          }),
      });
    });
  });
}

export function createServer(deps: ServerDeps): AppServer {
  const { logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  // node:querystring parsing (no nesting; a repeated key becomes an array, which the zod schemas reject).
  app.set('query parser', 'simple');

  // The URL the banner prints: what there is to look at.
  app.get('/', (_req: Request, res: Response) => {
    res.type('html').send(
      linkPage('lead-router', [
        { href: '/healthz', label: 'Health', about: 'the process answers' },
        { href: '/readyz', label: 'Readiness', about: 'the database answers and CRM calls succeed' },
        ...(deps.metrics === undefined
          ? []
          : [
              {
                href: '/metrics',
                label: 'Metrics',
                about: 'Prometheus: webhooks, queue, decisions, CRM calls',
              },
            ]),
        {
          href: SETUP_GUIDE_PATH,
          label: 'Setup guide',
          about: 'connecting the CRM, what the app writes in it, uninstalling',
        },
        ...(deps.homeLinks ?? []),
      ]),
    );
  });
  app.use(healthRouter(deps));
  // One aggregate for every request refused before it reaches a handler or by one (log flooding).
  const rejections = new RejectionLog(logger);
  app.use(webhookRouter(deps, rejections));
  if (deps.hubspot !== undefined) app.use(oauthRouter(deps, deps.hubspot));
  app.use(salesforceOAuthRouter(deps));
  // The CRMs whose installs this server runs: the setup guide is theirs.
  const guided: GuidedCrm[] = [
    ...(deps.hubspot === undefined ? [] : (['hubspot'] as const)),
    ...(deps.salesforce === undefined ? [] : (['salesforce'] as const)),
  ];
  app.use(setupGuideRouter({ crms: guided, publicUrl: deps.publicUrl }));
  if (deps.settings !== undefined) app.use(settingsRouter(deps.settings));

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });
  // Express 5 routes rejected promises here too. Client errors (oversized or aborted bodies) keep their
  // status with a bare body; anything else is our fault and is logged.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = httpStatusOf(error);
    if (status !== undefined && status < 500) {
      const type = (error as { type?: unknown }).type;
      rejections.reject('request rejected', `${status} ${typeof type === 'string' ? type : ''}`.trim(), {
        path: req.path.slice(0, 200),
      });
      res.status(status).end();
      return;
    }
    logger.error('request failed', {
      path: req.path,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    if (!res.headersSent) res.status(500).end();
  });

  return {
    app,
    listen: async (port, host = '127.0.0.1') => {
      const running = await listenOn(app, port, host);
      // Stopping logs what the current window of rejections has not said yet.
      return { url: running.url, close: () => running.close().finally(() => rejections.flush()) };
    },
  };
}

export { hubspotRedirectUri, WEBHOOK_PATH, INSTALL_PATH, CALLBACK_PATH } from './types.js';
export type {
  ServerDeps,
  ServerStorage,
  HubSpotServerConfig,
  SalesforceServerConfig,
  HomeLink,
} from './types.js';
export {
  salesforceRedirectUri,
  SALESFORCE_INSTALL_PATH,
  SALESFORCE_CALLBACK_PATH,
} from './salesforce-oauth.js';
export type { StoredHubSpotTokens } from './oauth.js';
export { createOAuthStateStore, type OAuthStateStore } from './oauth-state.js';
export { pingDatabase } from './health.js';
