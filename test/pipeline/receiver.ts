// A local HTTP receiver for notification tests: a generic webhook endpoint, or Slack's incoming webhook
// URL (the real `@slack/webhook` client posts to it). Answers 503 while `down`, or to a body `refuses`
// names; records what it took.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Receiver {
  url: string;
  down: boolean;
  refuses?: ((body: string) => boolean) | undefined;
  hits: { status: number; headers: Record<string, string>; body: string }[];
  close(): Promise<void>;
}

export async function receiver(path = '/hooks/lead-router'): Promise<Receiver> {
  const r: Omit<Receiver, 'url' | 'close'> = { down: false, hits: [] };
  const read = async (req: IncomingMessage): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  const server: Server = createServer((req, res) => {
    void read(req).then((body) => {
      const status = r.down || r.refuses?.(body) === true ? 503 : 200;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      r.hits.push({ status, headers, body });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(r, {
    url: `http://127.0.0.1:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections of the clients would hold the process open.
        server.closeAllConnections();
      }),
  });
}
