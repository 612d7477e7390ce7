// The client side of Flash communication, whatever carries it: NetConnection (connect, calls both
// ways, createStream) and NetStream (publish, play, status events, media). RTMP and RTMFP each
// supply a NetChannel that moves messages; everything a user of the client sees lives here, so
// the two behave the same.
import { amfObjectProperties } from '../codec/amf-types.js';
import {
  dataAsAmf0,
  decodeCommand,
  encodeCommand,
  encodeData,
  FlashMessageType,
  isCommandType,
  isDataType,
  type CommandMessage,
  type ObjectEncoding,
} from '../codec/flash-command.js';
import { encodeSharedObjectMessage, isSharedObjectType, type SharedObjectMessage } from '../codec/shared-object-message.js';
import { decodeIncomingSharedObject, type SharedObjectHost } from './shared-object.js';

/** What a NetConnection needs from its protocol. */
export interface NetChannel {
  /** Sends one message on the NetConnection (stream 0) or a NetStream. */
  send(streamId: number, type: number, timestamp: number, payload: Buffer | readonly Buffer[]): void;
  /** Bytes accepted but not yet on the wire: publishers slow down when this grows. */
  readonly bufferedBytes: number;
  /** A NetStream was deleted: whatever the channel keeps for it can go. */
  streamDeleted(streamId: number): void;
  /**
   * Ends the connection and resolves once the far end has been told (RTMFP: our close request
   * acknowledged; RTMP: the socket ended), or after a bound when it does not answer, so that a
   * process may exit without leaving the server a session to time out.
   */
  close(reason: string): Promise<void>;
}

/** The server answered with _error (connect refused, call failed) or an error-level status. */
export class NetCallError extends Error {
  constructor(
    message: string,
    readonly info: Record<string, unknown> | undefined,
  ) {
    super(message);
  }
}

export type FrameKind = 'audio' | 'video' | 'data';
export type StatusInfo = Record<string, unknown>;
type StatusListener = (info: StatusInfo) => void;

export interface ConnectTarget {
  app: string;
  tcUrl: string;
}

export interface ConnectOptions {
  objectEncoding?: ObjectEncoding;
  /** Extra connect arguments after the command object. */
  connectArgs?: unknown[];
  /** Extra command object properties (flashVer, fourCcList...). */
  connectProperties?: Record<string, unknown>;
  timeoutMs?: number;
}

interface Pending {
  resolve: (m: CommandMessage) => void;
  reject: (e: Error) => void;
}

/** User control events a NetStream records (RTMP's numbering, which RTMFP reuses). */
const STREAM_BEGIN = 0;
const STREAM_EOF = 1;

export class NetConnection implements SharedObjectHost {
  /** The _result info object of connect. */
  connectInfo: Record<string, unknown> | undefined;
  /** Methods the server may call on us; a missing one is answered with _error. */
  methods: Record<string, (...args: unknown[]) => unknown> = {};
  /** NetConnection status events (onStatus on stream 0). */
  onStatus?: StatusListener;
  /** The connection ended (closed by either side, or lost). */
  onEnd?: (reason: string) => void;
  closedReason: string | undefined;
  protected channel!: NetChannel;
  private readonly pending = new Map<number, Pending>();
  /** Connect goes out as transaction 1, as Flash Player sends it (some servers assume 1). */
  private nextTransaction = 0;
  /** The transaction of a connect still waiting for its answer. */
  private connectTransaction: number | undefined;
  private readonly streams = new Map<number, NetStream>();
  protected encoding: ObjectEncoding = 0;
  /** Connected shared objects by name: their messages are routed to them. */
  private readonly sharedObjects = new Map<string, { receive: (m: SharedObjectMessage) => void; closed: (reason: string) => void }>();

  /** @internal (SharedObject.connect) */
  attachSharedObject(name: string, receive: (m: SharedObjectMessage) => void, closed: (reason: string) => void): void {
    if (this.closedReason !== undefined) {
      queueMicrotask(() => closed(this.closedReason!));
      return;
    }
    this.sharedObjects.set(name, { receive, closed });
  }

  /** @internal */
  detachSharedObject(name: string): void {
    this.sharedObjects.delete(name);
  }

  /** @internal Sends a shared-object message: type 19, or 16 on an AMF3 connection. */
  sendSharedObjectMessage(message: SharedObjectMessage): void {
    if (this.closedReason !== undefined) return;
    const { type, payload } = encodeSharedObjectMessage(this.encoding, message);
    this.channel.send(0, type, 0, payload);
  }

  /** Sends connect and resolves once the server accepted; rejects with its reason otherwise. */
  protected async sendConnect(target: ConnectTarget, options: ConnectOptions): Promise<void> {
    this.encoding = options.objectEncoding ?? 0;
    const commandObject = {
      app: target.app,
      flashVer: 'LNX 9,0,124,2',
      tcUrl: target.tcUrl,
      fpad: false,
      capabilities: 15,
      audioCodecs: 4071,
      videoCodecs: 252,
      videoFunction: 1,
      objectEncoding: this.encoding,
      ...options.connectProperties,
    };
    // connect always goes as AMF0: the server learns our encoding from it.
    this.connectTransaction = this.nextTransaction + 1;
    try {
      const answer = await withTimeout(this.command(0, 'connect', commandObject, options.connectArgs ?? [], 0), options.timeoutMs ?? 10_000, 'connect');
      this.connectInfo = amfObjectProperties(answer.args[0]);
    } finally {
      this.connectTransaction = undefined;
    }
  }

  get bufferedBytes(): number {
    return this.channel.bufferedBytes;
  }

  /** Calls a server method; resolves with its result, rejects with NetCallError on _error. */
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

  /** A new NetStream, neither publishing nor playing yet (Flash's `new NetStream(connection)`). */
  async createNetStream(): Promise<NetStream> {
    return this.openStream(await this.createStream());
  }

  /** Publishes `name` on a new stream; resolves on NetStream.Publish.Start, rejects with the error status otherwise. */
  async publish(name: string, options: { type?: string; timeoutMs?: number; fcPublish?: boolean } = {}): Promise<NetStream> {
    if (options.fcPublish !== false) {
      // What encoders (FFmpeg, OBS) send first; servers answer them.
      this.sendCommand(0, 'releaseStream', ++this.nextTransaction, null, name);
      this.sendCommand(0, 'FCPublish', ++this.nextTransaction, null, name);
    }
    const stream = await this.createNetStream();
    stream.sendCommand('publish', name, options.type ?? 'live');
    await stream.waitStatus((code) => code === 'NetStream.Publish.Start', options.timeoutMs ?? 10_000);
    return stream;
  }

  /** Plays `name` on a new stream; resolves on NetStream.Play.Start (media may come later). */
  async play(name: string, options: { timeoutMs?: number; start?: number; onFrame?: NetStream['onFrame'] } = {}): Promise<NetStream> {
    const stream = await this.createNetStream();
    // Frames can follow Play.Start at once: the handler must be in place before.
    stream.onFrame = options.onFrame;
    stream.sendCommand('play', name, options.start ?? -2);
    await stream.waitStatus((code) => code === 'NetStream.Play.Start', options.timeoutMs ?? 10_000);
    return stream;
  }

  /** Sends a command without waiting for an answer. */
  sendCommand(streamId: number, name: string, transactionId: number, commandObject: unknown, ...args: unknown[]): void {
    const { type, payload } = encodeCommand(this.encoding, name, transactionId, commandObject, ...args);
    this.channel.send(streamId, type, 0, payload);
  }

  /**
   * Closes the connection. Await it before the process exits: the close has to reach the
   * server, or it keeps the session (and counts a player, and sends it media) until it times
   * out. Resolves within about a second even when the server is gone.
   */
  close(): Promise<void> {
    return this.channel.close('client closed');
  }

  /** @internal */
  sendOnStream(streamId: number, type: number, timestamp: number, payload: Buffer | readonly Buffer[]): void {
    this.channel.send(streamId, type, timestamp, payload);
  }

  /** @internal */
  forgetStream(id: number): void {
    this.streams.delete(id);
    this.channel.streamDeleted(id);
  }

  /** Sends a command and waits for its _result. */
  private command(streamId: number, name: string, commandObject: unknown, args: unknown[], encoding: ObjectEncoding = this.encoding): Promise<CommandMessage> {
    if (this.closedReason !== undefined) return Promise.reject(new Error(`connection closed: ${this.closedReason}`));
    const transactionId = ++this.nextTransaction;
    return new Promise((resolve, reject) => {
      this.pending.set(transactionId, { resolve, reject });
      const { type, payload } = encodeCommand(encoding, name, transactionId, commandObject, ...args);
      this.channel.send(streamId, type, 0, payload);
    });
  }

  private openStream(id: number): NetStream {
    const stream = new NetStream(this, id);
    this.streams.set(id, stream);
    return stream;
  }

  /** A message from the server, as the channel decoded its framing. */
  protected receive(streamId: number, type: number, timestamp: number, payload: Buffer): void {
    if (isCommandType(type)) {
      this.receiveCommand(streamId, decodeCommand(type, payload));
      return;
    }
    if (isSharedObjectType(type)) {
      // A malformed one is dropped: it names no object we could tell.
      const message = decodeIncomingSharedObject(type, payload);
      if (message !== undefined) this.sharedObjects.get(message.name)?.receive(message);
      return;
    }
    if (type === FlashMessageType.Audio || type === FlashMessageType.Video || isDataType(type)) {
      // Some servers (Node-Media-Server 4) send media on stream 0 whatever stream is playing.
      const stream = this.streams.get(streamId) ?? (this.streams.size === 1 ? this.streams.values().next().value : undefined);
      if (stream === undefined) return;
      const kind: FrameKind = type === FlashMessageType.Audio ? 'audio' : type === FlashMessageType.Video ? 'video' : 'data';
      const body = isDataType(type) ? dataAsAmf0(type, payload) : payload;
      stream.receivedBytes += body.length;
      stream.onFrame?.(kind, timestamp, body);
    }
  }

  /** A StreamBegin/StreamEOF (or other) user control event about a stream. */
  protected receiveUserControl(event: number, streamId: number): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined || (event !== STREAM_BEGIN && event !== STREAM_EOF)) return;
    stream.userControl.push(event);
    if (event === STREAM_EOF) stream.onEnd?.('StreamEOF');
  }

  /** The channel is gone: fail what waits, end the streams. */
  protected channelClosed(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    for (const p of this.pending.values()) p.reject(new Error(`connection closed: ${reason}`));
    this.pending.clear();
    for (const s of this.streams.values()) s.onEnd?.(`connection closed: ${reason}`);
    const objects = [...this.sharedObjects.values()];
    this.sharedObjects.clear();
    for (const o of objects) o.closed(reason);
    this.onEnd?.(reason);
  }

  private receiveCommand(streamId: number, command: CommandMessage): void {
    // While connect waits, a refusal is a refusal whatever transaction it names (MonaServer
    // answers a rejected connect with _error for transaction 1, then a close command).
    if (this.connectTransaction !== undefined && (command.name === '_error' || command.name === 'close') && command.transactionId !== this.connectTransaction) {
      command = { ...command, name: '_error', transactionId: this.connectTransaction, args: command.name === 'close' ? [{ level: 'error', code: 'NetConnection.Connect.Closed', description: 'the server closed the connection' }] : command.args };
    }
    if (command.name === '_result' || command.name === '_error') {
      const p = this.pending.get(command.transactionId);
      if (p === undefined) return;
      this.pending.delete(command.transactionId);
      if (command.name === '_result') p.resolve(command);
      else {
        const info = amfObjectProperties(command.args[0]);
        p.reject(new NetCallError(String(info?.description ?? info?.code ?? 'call failed'), info));
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

/** One NetStream of a NetConnection: publishing or playing. */
export class NetStream {
  /** Every status event received, in order. */
  readonly statuses: StatusInfo[] = [];
  /** StreamBegin / StreamEOF user control events for this stream, in order. */
  readonly userControl: number[] = [];
  onFrame?: (kind: FrameKind, timestamp: number, payload: Buffer) => void;
  onStatus?: StatusListener;
  /** Unpublished, StreamEOF, or the connection closed. */
  onEnd?: (reason: string) => void;
  receivedBytes = 0;
  private waiters: StatusListener[] = [];

  constructor(
    readonly connection: NetConnection,
    readonly id: number,
  ) {}

  /** @internal */
  status(info: StatusInfo): void {
    this.statuses.push(info);
    for (const w of this.waiters.slice()) w(info);
    this.onStatus?.(info);
  }

  /** Resolves at a status whose code matches; rejects at an error-level status or after the timeout. */
  waitStatus(match: (code: string) => boolean, timeoutMs = 10_000): Promise<StatusInfo> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((x) => x !== waiter);
      };
      const waiter = (info: StatusInfo) => {
        const code = String(info.code);
        if (match(code)) {
          done();
          resolve(info);
        } else if (info.level === 'error') {
          done();
          reject(new NetCallError(`${code}: ${String(info.description)}`, info));
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
    this.send(FlashMessageType.Audio, timestamp, payload);
  }

  sendVideo(timestamp: number, payload: Buffer): void {
    this.send(FlashMessageType.Video, timestamp, payload);
  }

  /** A data message: name then values, AMF0. */
  sendData(timestamp: number, name: string, ...values: unknown[]): void {
    this.send(FlashMessageType.DataAmf0, timestamp, encodeData(name, ...values));
  }

  /** A data message already encoded as AMF0. */
  sendDataBytes(timestamp: number, payload: Buffer): void {
    this.send(FlashMessageType.DataAmf0, timestamp, payload);
  }

  send(type: number, timestamp: number, payload: Buffer | readonly Buffer[]): void {
    this.connection.sendOnStream(this.id, type, timestamp, payload);
  }

  sendCommand(name: string, ...args: unknown[]): void {
    this.connection.sendCommand(this.id, name, 0, null, ...args);
  }

  /** closeStream then deleteStream, as Flash Player does. */
  close(): void {
    this.connection.sendCommand(this.id, 'closeStream', 0, null);
    this.connection.sendCommand(0, 'deleteStream', 0, null, this.id);
    this.connection.forgetStream(this.id);
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
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
