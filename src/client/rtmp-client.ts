// The RTMP NetChannel: a NetConnection over one RTMP connection (digest handshake, like Flash
// Player), built on the same transport classes as the server, in the client role.
import { connect as tcpConnect, type Socket } from 'node:net';
import { silentLogger, type Logger } from '../util/log.js';
import { formatHostPort } from '../util/host-port.js';
import type { ObjectEncoding } from '../codec/flash-command.js';
import { chunkStreamFor, OutChunkStream } from '../rtmp/chunk-encoder.js';
import { MessageType, type RtmpMessage } from '../rtmp/message-types.js';
import { DEFAULT_OUT_CHUNK_SIZE, RtmpConnection, type RtmpConnectionLimits } from '../rtmp/rtmp-connection.js';
import type { HandshakeForm } from '../rtmp/server-handshake.js';
import { NetConnection, type ConnectOptions } from './net-connection.js';
import { parseRtmpUrl, type RtmpUrl } from './rtmp-url.js';
import { hostLookupError, isLookupFailure } from './host-lookup.js';
import { unlessAborted } from './abortable.js';

export { NetCallError as RtmpCallError, NetStream as RtmpClientStream, type FrameKind } from './net-connection.js';

export interface RtmpClientOptions extends ConnectOptions {
  log?: Logger;
  handshakeForm?: HandshakeForm;
  objectEncoding?: ObjectEncoding;
  /** Our outgoing chunk size (default 4096). */
  chunkSize?: number;
  limits?: Partial<RtmpConnectionLimits>;
  /** Gives up the connection, the handshake or the wait for connect's answer when it aborts (covey play's Ctrl-C). */
  signal?: AbortSignal;
}

/** The longest close() waits for the server to end its side of the TCP connection. */
const CLOSE_BOUND_MS = 1_000;

export class RtmpClient extends NetConnection {
  readonly connection: RtmpConnection;

  private constructor(socket: Socket, options: RtmpClientOptions) {
    super();
    const connection = new RtmpConnection({
      socket,
      role: 'client',
      log: options.log ?? silentLogger,
      handshakeForm: options.handshakeForm,
      limits: options.limits,
    });
    this.connection = connection;
    this.channel = {
      send(streamId, type, timestamp, payload) {
        const csid = type === MessageType.CommandAmf0 || type === MessageType.CommandAmf3 || type === MessageType.SharedObjectAmf0 || type === MessageType.SharedObjectAmf3 ? (streamId === 0 ? OutChunkStream.Command : OutChunkStream.StreamCommand) : chunkStreamFor(type);
        connection.sendMessage(csid, type, streamId, timestamp, payload);
      },
      get bufferedBytes() {
        return connection.queuedBytes;
      },
      streamDeleted() {},
      close(reason) {
        // Ends the socket after what is queued (a publisher's last frames), then waits for the
        // server to close its side, at most CLOSE_BOUND_MS: a dead server must not hold an exit.
        if (socket.destroyed) return Promise.resolve();
        const closed = new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            socket.destroy();
            resolve();
          }, CLOSE_BOUND_MS);
          socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        connection.close(reason, 'normal', true);
        return closed;
      },
    };
    connection.onMessage = (m: RtmpMessage) => this.receive(m.streamId, m.type, m.timestamp, m.payload);
    connection.onUserControl = (e) => this.receiveUserControl(e.event, e.value);
    connection.addCloseListener((info) => this.channelClosed(info.reason));
  }

  /** Connects and sends connect; resolves once the server accepted, rejects with its reason otherwise. */
  static async connect(target: string | RtmpUrl, options: RtmpClientOptions = {}): Promise<RtmpClient> {
    const url = typeof target === 'string' ? parseRtmpUrl(target) : target;
    const timeoutMs = options.timeoutMs ?? 10_000;
    const socket = tcpConnect({ host: url.host, port: url.port });
    const signal = options.signal;
    // Until the handshake is done, an abort drops the TCP connection at once (the server has not
    // taken us as a client: nothing to close politely) and the wait in progress rejects.
    let giveUp: ((err: Error) => void) | undefined;
    const onAbort = () => {
      socket.destroy();
      giveUp?.(new Error('interrupted while connecting'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let client: RtmpClient;
    try {
      await new Promise<void>((resolve, reject) => {
        giveUp = reject;
        if (signal?.aborted) return onAbort();
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`cannot connect to ${formatHostPort(url.host, url.port)}: timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        // An abort also stops the timer, which would otherwise hold the process for timeoutMs.
        giveUp = (err) => {
          clearTimeout(timer);
          reject(err);
        };
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once('error', (err: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          if (isLookupFailure(err)) reject(hostLookupError(url.host, err));
          else reject(new Error(`cannot connect to ${formatHostPort(url.host, url.port)}: ${err.code === 'ECONNREFUSED' ? 'connection refused' : err.message}`));
        });
      });
      client = new RtmpClient(socket, options);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`RTMP handshake with ${formatHostPort(url.host, url.port)} timed out`)), timeoutMs);
        giveUp = (err) => {
          clearTimeout(timer);
          reject(err);
        };
        client.connection.onReady = () => {
          clearTimeout(timer);
          resolve();
        };
        client.connection.addCloseListener((info) => {
          clearTimeout(timer);
          reject(new Error(`connection closed during the handshake: ${info.reason}`));
        });
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    client.connection.setChunkSize(options.chunkSize ?? DEFAULT_OUT_CHUNK_SIZE);
    try {
      await unlessAborted(client.sendConnect(url, options), signal, 'the server to answer connect');
    } catch (err) {
      // Interrupted while connect was unanswered: end the connection, bounded as close() is.
      if (signal?.aborted) await client.close();
      throw err;
    }
    return client;
  }
}
