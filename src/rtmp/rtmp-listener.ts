// The TCP side of the RTMP transport: accepts sockets, wraps each in a server-role RtmpConnection
// with its own child logger, bounds how many are open, and closes them all on shutdown.
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../util/log.js';
import { formatHostPort } from '../util/host-port.js';
import { RtmpConnection, type RtmpConnectionLimits } from './rtmp-connection.js';

export interface RtmpListenerOptions {
  host: string;
  port: number;
  log: Logger;
  limits?: Partial<RtmpConnectionLimits>;
  /** Sockets beyond this are refused at once (logged). */
  maxConnections?: number;
  /** A new connection, handshake not yet done. */
  onConnection: (connection: RtmpConnection) => void;
}

export class RtmpListener {
  readonly connections = new Set<RtmpConnection>();
  private nextId = 1;

  private constructor(
    private readonly server: Server,
    private readonly options: RtmpListenerOptions,
  ) {}

  static listen(options: RtmpListenerOptions): Promise<RtmpListener> {
    const server = createServer({ noDelay: true });
    const listener = new RtmpListener(server, options);
    server.on('connection', (socket) => listener.accept(socket));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: options.host, port: options.port }, () => {
        server.off('error', reject);
        server.on('error', (err) => options.log.error({ err }, 'RTMP listener error'));
        resolve(listener);
      });
    });
  }

  get address(): { address: string; port: number } {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('RTMP listener is not bound');
    return { address: a.address, port: a.port };
  }

  /** Stops listening and closes every connection. */
  close(): Promise<void> {
    for (const c of this.connections) c.close('server shutting down');
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const peer = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    const max = this.options.maxConnections ?? 10_000;
    if (this.connections.size >= max) {
      this.options.log.warn({ peer, open: this.connections.size }, 'RTMP connection refused: too many connections');
      socket.destroy();
      return;
    }
    const log = this.options.log.child({ conn: this.nextId++, peer });
    log.debug('RTMP connection opened');
    const connection = new RtmpConnection({ socket, role: 'server', log, limits: this.options.limits });
    this.connections.add(connection);
    connection.addCloseListener(() => this.connections.delete(connection));
    this.options.onConnection(connection);
  }
}
