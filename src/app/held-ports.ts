// The ports a start listens on (PORT, and SANDBOX_PORT in sandbox mode) are bound first, before DATA_DIR
// is made or written, and held until their servers take the sockets over. A port that is taken fails the
// start with one line and leaves nothing behind; and no other program can take one while the start opens
// the database, which a check that bound and let go could not promise.
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { ConfigError, type AppConfig } from './config.js';

type PortVariable = 'PORT' | 'SANDBOX_PORT';

/** A bound port whose server is not listening yet; a connection before then is closed at once. */
export class HeldPort {
  constructor(
    /** The port actually bound (PORT=0 picks one). */
    readonly port: number,
    private socket: NetServer | undefined,
  ) {}

  /** The bound socket, for a server to listen on (`server.listen(socket)`), which closes it when it stops. */
  take(): NetServer {
    const socket = this.socket;
    if (socket === undefined) throw new Error(`port ${this.port} was already taken over`);
    this.socket = undefined;
    return socket;
  }

  /** Lets the port go if no server took it over (a start that failed before listening). */
  async release(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket !== undefined) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

export interface HeldPorts {
  /** PORT, on HOST. */
  app: HeldPort;
  /** SANDBOX_PORT's socket (on this machine only), for the sandbox CRM to listen on; sandbox mode only. */
  takeSandbox(): NetServer;
  /** Lets go of the ports no server took over. */
  release(): Promise<void>;
}

/** Binds PORT (and SANDBOX_PORT in sandbox mode), or fails with one line naming what to change. */
export async function holdPorts(config: AppConfig): Promise<HeldPorts> {
  if (config.sandboxCrm !== undefined && config.port !== 0 && config.port === config.sandboxPort)
    throw new ConfigError(
      `PORT and SANDBOX_PORT are both ${config.port}: set one of them to another free port`,
    );
  const app = await holdPort('PORT', config.host, config.port);
  let sandbox: HeldPort | undefined;
  try {
    if (config.sandboxCrm !== undefined)
      sandbox = await holdPort('SANDBOX_PORT', '127.0.0.1', config.sandboxPort);
  } catch (err) {
    await app.release();
    throw err;
  }
  return {
    app,
    takeSandbox: () => {
      if (sandbox === undefined) throw new Error('SANDBOX_PORT is held in sandbox mode only');
      return sandbox.take();
    },
    release: async () => {
      await app.release();
      await sandbox?.release();
    },
  };
}

async function holdPort(variable: PortVariable, host: string, port: number): Promise<HeldPort> {
  const socket = createNetServer();
  // Until its server listens, a connection has no one to answer it: closed, as if nothing listened.
  socket.on('connection', (connection) => connection.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.listen(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw explainListenError(variable, port, err);
  }
  const address = socket.address();
  if (address === null || typeof address === 'string') throw new Error(`port ${port} is not a TCP port`);
  return new HeldPort(address.port, socket);
}

/** A refused listen as one line naming the variable that picks another port; anything else as it is. */
function explainListenError(variable: PortVariable, port: number, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE')
    return new ConfigError(`port ${port} is in use (${variable}=${port}): set ${variable} to a free port`);
  if (code === 'EACCES')
    return new ConfigError(
      `not allowed to listen on port ${port} (${variable}=${port}): set ${variable} to a port above 1023`,
    );
  if (code === 'EADDRNOTAVAIL')
    return new ConfigError(`cannot listen on HOST: the address is not on this machine (${variable}=${port})`);
  return err;
}
