// A sandbox CRM serves this machine only: on a port of 127.0.0.1, or on a socket its caller bound there
// already (the app's start holds SANDBOX_PORT from its first step on).
import type { Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import type express from 'express';

/** Where a sandbox listens: a port of 127.0.0.1 (0 picks one), or a socket bound there already. */
export type SandboxPort = number | NetServer;

export function listenLocally(
  app: express.Express,
  port: SandboxPort,
): Promise<{ server: Server; url: string }> {
  return new Promise((resolve, reject) => {
    const listening = (err?: Error): void => {
      if (err) return reject(err);
      const { port: actual } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${actual}` });
    };
    const server =
      typeof port === 'number' ? app.listen(port, '127.0.0.1', listening) : app.listen(port, listening);
  });
}
