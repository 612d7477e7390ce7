// An RTMP client for tests, benchmarks and the CLI: connect (digest handshake, like Flash Player),
// calls both ways, createStream, publish and play. Built on the same transport classes as the
// server, in the client role.
import { connect as tcpConnect, type Socket } from 'node:net';
import { silentLogger, type Logger } from '../util/log.js';
import { amfObjectProperties } from '../codec/amf-types.js';
import { chunkStreamFor, OutChunkStream } from '../rtmp/chunk-encoder.js';
import { decodeCommand, encodeCommand, encodeData, type CommandMessage, type ObjectEncoding } from '../rtmp/command-message.js';
import { MessageType, UserControlEvent, type RtmpMessage } from '../rtmp/message-types.js';
import { DEFAULT_OUT_CHUNK_SIZE, RtmpConnection, type CloseInfo, type RtmpConnectionLimits } from '../rtmp/rtmp-connection.js';
import type { HandshakeForm } from '../rtmp/server-handshake.js';
import { parseRtmpUrl, type RtmpUrl } from './rtmp-url.js';

export interface RtmpClientOptions {
  log?: Logger;
  handshakeForm?: HandshakeForm;
  objectEncoding?: ObjectEncoding;
  /** Extra connect arguments after the command object. */
  connectArgs?: unknown[];
  /** Extra command object properties (flashVer, fourCcList...). */
  connectProperties?: Record<string, unknown>;
  /** Our outgoing chunk size (default 4096). */
  chunkSize?: number;
  timeoutMs?: number;
  limits?: Partial<RtmpConnectionLimits>;
}

/** The server answered connect with _error (or a call with _error); `info` is its status object. */
export class RtmpCallError extends Error {
  constructor(
    message: string,
    readonly info: Record<string, unknown> | undefined,
  ) {
    super(message);
  }
}

interface Pending {
  resolve: (m: CommandMessage) => void;
  reject: (e: Error) => void;
}

type StatusListener = (info: Record<string, unknown>) => void;

export class RtmpClient {
  readonly connection: RtmpConnection;
  /** The _result info object of connect. */
  connectInfo: Record<string, unknown> | undefined;
  /** Methods the server may call on us; a missing one is answered with _error. */
  methods: Record<string, (...args: unknown[]) => unknown> = {};
  /** NetConnection status events (onStatus on stream 0). */
  onStatus?: StatusListener;
  onClose?: (info: CloseInfo) => void;
  private readonly pending = new Map<number, Pending>();
  private nextTransaction = 1;
  private readonly streams = new Map<number, RtmpClientStream>();
  private readonly encoding: ObjectEncoding;

  private constructor(socket: Socket, options: RtmpClientOptions) {
    this.encoding = options.objectEncoding ?? 0;
    this.connection = new RtmpConnection({
      socket,
      role: 'client',
      log: options.log ?? silentLogger,
      handshakeForm: options.handshakeForm,
      limits: options.limits,
    });
    this.connection.onMessage = (m) => this.receive(m);
    this.connection.onUserControl = (e) => {
      const stream = this.streams.get(e.value);
      if (stream && (e.event === UserControlEvent.StreamBegin || e.event === UserControlEvent.StreamEof)) stream.userControl.push(e.event);
      if (stream && e.event === UserControlEvent.StreamEof) stream.onEnd?.('StreamEOF');
    };
    this.connection.addCloseListener((info) => {
      for (const p of this.pending.values()) p.reject(new Error(`connection closed: ${info.reason}`));
      this.pending.clear();
      for (const s of this.streams.values()) s.onEnd?.(`connection closed: ${info.reason}`);
      this.onClose?.(info);
    });
  }

  /** Connects and sends connect; resolves once the server accepted, rejects with its reason otherwise. */
  static async connect(target: string | RtmpUrl, options: RtmpClientOptions = {}): Promise<RtmpClient> {
    const url = typeof target === 'string' ? parseRtmpUrl(target) : target;
    const timeoutMs = options.timeoutMs ?? 10_000;
    const socket = tcpConnect({ host: url.host, port: url.port });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`cannot connect to ${url.host}:${url.port}: timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to ${url.host}:${url.port}: ${err.code === 'ECONNREFUSED' ? 'connection refused' : err.message}`));
      });
    });
    const client = new RtmpClient(socket, options);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`RTMP handshake with ${url.host}:${url.port} timed out`)), timeoutMs);
      client.connection.onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      client.connection.addCloseListener((info) => {
        clearTimeout(timer);
        reject(new Error(`connection closed during the handshake: ${info.reason}`));
      });
    });
    client.connection.setChunkSize(options.chunkSize ?? DEFAULT_OUT_CHUNK_SIZE);
    const commandObject = {
      app: url.app,
      flashVer: 'LNX 9,0,124,2',
      tcUrl: url.tcUrl,
      fpad: false,
      capabilities: 15,
      audioCodecs: 4071,
      videoCodecs: 252,
      videoFunction: 1,
      objectEncoding: client.encoding,
      ...options.connectProperties,
    };
    const answer = await withTimeout(client.command(0, 'connect', commandObject, options.connectArgs ?? [], 0), timeoutMs, 'connect');
    client.connectInfo = amfObjectProperties(answer.args[0]);
    return client;
  }

  /** Calls a server method; resolves with its result, rejects with RtmpCallError on _error. */
  async call(method: string, ...args: unknown[]): Promise<unknown> {
    const answer = await this.command(0, method, null, args);
    return answer.args[0];
  }

  async createStream(): Promise<number> {
    const answer = await this.command(0, 'createStream', null, []);
    const id = answer.args[0];
    if (typeof id !== 'number') throw new Error(`createStream answered ${JSON.stringify(id)}`);
    return id;
  }

  /** Publishes `name` on a new stream; resolves on NetStream.Publish.Start, rejects with the error status otherwise. */
  async publish(name: string, options: { type?: string; timeoutMs?: number; fcPublish?: boolean } = {}): Promise<RtmpClientStream> {
    if (options.fcPublish !== false) {
      // What encoders (FFmpeg, OBS) send first; servers answer them.
      this.sendCommand(0, 'releaseStream', ++this.nextTransaction, null, name);
      this.sendCommand(0, 'FCPublish', ++this.nextTransaction, null, name);
    }
    const stream = this.openStream(await this.createStream());
    this.sendCommand(stream.id, 'publish', 0, null, name, options.type ?? 'live');
    await stream.waitStatus((code) => code === 'NetStream.Publish.Start', options.timeoutMs ?? 10_000);
    return stream;
  }

  /** Plays `name` on a new stream; resolves on NetStream.Play.Start (media may come later). */
  async play(
    name: string,
    options: { timeoutMs?: number; start?: number; onFrame?: RtmpClientStream['onFrame'] } = {},
  ): Promise<RtmpClientStream> {
    const stream = this.openStream(await this.createStream());
    // Frames can follow Play.Start in the same read: the handler must be in place before.
    stream.onFrame = options.onFrame;
    this.sendCommand(stream.id, 'play', 0, null, name, options.start ?? -2);
    await stream.waitStatus((code) => code === 'NetStream.Play.Start', options.timeoutMs ?? 10_000);
    return stream;
  }

  /** Sends a command without waiting for an answer. */
  sendCommand(streamId: number, name: string, transactionId: number, commandObject: unknown, ...args: unknown[]): void {
    const { type, payload } = encodeCommand(this.encoding, name, transactionId, commandObject, ...args);
    this.connection.sendMessage(streamId === 0 ? OutChunkStream.Command : OutChunkStream.StreamCommand, type, streamId, 0, payload);
  }

  close(): void {
    this.connection.close('client closed');
  }

  /** Sends a command and waits for its _result (connect always goes as AMF0). */
  private command(streamId: number, name: string, commandObject: unknown, args: unknown[], encoding: ObjectEncoding = this.encoding): Promise<CommandMessage> {
    const transactionId = ++this.nextTransaction;
    return new Promise((resolve, reject) => {
      this.pending.set(transactionId, {
        resolve,
        reject,
      });
      const { type, payload } = encodeCommand(encoding, name, transactionId, commandObject, ...args);
      this.connection.sendMessage(OutChunkStream.Command, type, streamId, 0, payload);
    });
  }

  private openStream(id: number): RtmpClientStream {
    const stream = new RtmpClientStream(this, id);
    this.streams.set(id, stream);
    return stream;
  }

  /** @internal */
  forgetStream(id: number): void {
    this.streams.delete(id);
  }

  private receive(message: RtmpMessage): void {
    switch (message.type) {
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3:
        this.receiveCommand(message.streamId, decodeCommand(message.type, message.payload));
        return;
      case MessageType.Audio:
      case MessageType.Video:
      case MessageType.DataAmf0:
      case MessageType.DataAmf3: {
        // Some servers (Node-Media-Server 4) send media on stream 0 whatever stream is playing.
        const stream = this.streams.get(message.streamId) ?? (this.streams.size === 1 ? this.streams.values().next().value : undefined);
        if (stream === undefined) return;
        const kind = message.type === MessageType.Audio ? 'audio' : message.type === MessageType.Video ? 'video' : 'data';
        const payload = message.type === MessageType.DataAmf3 && message.payload[0] === 0 ? message.payload.subarray(1) : message.payload;
        stream.receivedBytes += payload.length;
        stream.onFrame?.(kind, message.timestamp, payload);
        return;
      }
    }
  }

  private receiveCommand(streamId: number, command: CommandMessage): void {
    if (command.name === '_result' || command.name === '_error') {
      const p = this.pending.get(command.transactionId);
      if (p === undefined) return;
      this.pending.delete(command.transactionId);
      if (command.name === '_result') p.resolve(command);
      else {
        const info = amfObjectProperties(command.args[0]);
        p.reject(new RtmpCallError(String(info?.description ?? info?.code ?? 'call failed'), info));
      }
      return;
    }
    if (command.name === 'onStatus') {
      const info = amfObjectProperties(command.args[0]) ?? {};
      if (streamId === 0) this.onStatus?.(info);
      else this.streams.get(streamId)?.status(info);
      return;
    }
    const method = Object.hasOwn(this.methods, command.name) ? this.methods[command.name] : undefined;
    if (command.transactionId === 0) {
      method?.(...command.args);
      return;
    }
    if (method === undefined) {
      this.sendCommand(0, '_error', command.transactionId, null, { level: 'error', code: 'NetConnection.Call.Failed', description: `Method not found (${command.name}).` });
      return;
    }
    Promise.resolve()
      .then(() => method(...command.args))
      .then(
        (value) => this.sendCommand(0, '_result', command.transactionId, null, value),
        (err: Error) => this.sendCommand(0, '_error', command.transactionId, null, { level: 'error', code: 'NetConnection.Call.Failed', description: err.message }),
      );
  }
}

export type FrameKind = 'audio' | 'video' | 'data';

/** One NetStream of an RtmpClient: publishing or playing. */
export class RtmpClientStream {
  /** Every status event received, in order. */
  readonly statuses: Array<Record<string, unknown>> = [];
  /** StreamBegin / StreamEOF user control events for this stream, in order. */
  readonly userControl: number[] = [];
  onFrame?: (kind: FrameKind, timestamp: number, payload: Buffer) => void;
  onStatus?: StatusListener;
  /** Unpublished, StreamEOF, or the connection closed. */
  onEnd?: (reason: string) => void;
  receivedBytes = 0;
  private waiters: Array<(info: Record<string, unknown>) => void> = [];

  constructor(
    readonly client: RtmpClient,
    readonly id: number,
  ) {}

  /** @internal */
  status(info: Record<string, unknown>): void {
    this.statuses.push(info);
    for (const w of this.waiters.slice()) w(info);
    this.onStatus?.(info);
  }

  /** Resolves at a status whose code matches; rejects at an error-level status or after the timeout. */
  waitStatus(match: (code: string) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((x) => x !== waiter);
      };
      const waiter = (info: Record<string, unknown>) => {
        const code = String(info.code);
        if (match(code)) {
          done();
          resolve(info);
        } else if (info.level === 'error') {
          done();
          reject(new RtmpCallError(`${code}: ${String(info.description)}`, info));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching status within ${timeoutMs} ms (got ${this.statuses.map((s) => s.code).join(', ') || 'none'})`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  sendAudio(timestamp: number, payload: Buffer): void {
    this.send(MessageType.Audio, timestamp, payload);
  }

  sendVideo(timestamp: number, payload: Buffer): void {
    this.send(MessageType.Video, timestamp, payload);
  }

  /** A data message: name then values, AMF0. */
  sendData(timestamp: number, name: string, ...values: unknown[]): void {
    this.send(MessageType.DataAmf0, timestamp, encodeData(name, ...values));
  }

  /** A data message already encoded as AMF0. */
  sendDataBytes(timestamp: number, payload: Buffer): void {
    this.send(MessageType.DataAmf0, timestamp, payload);
  }

  send(type: number, timestamp: number, payload: Buffer | readonly Buffer[]): void {
    this.client.connection.sendMessage(chunkStreamFor(type), type, this.id, timestamp, payload);
  }

  sendCommand(name: string, ...args: unknown[]): void {
    this.client.sendCommand(this.id, name, 0, null, ...args);
  }

  /** closeStream then deleteStream, as Flash Player does. */
  close(): void {
    this.client.sendCommand(this.id, 'closeStream', 0, null);
    this.client.sendCommand(0, 'deleteStream', 0, null, this.id);
    this.client.forgetStream(this.id);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not answered within ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
