// Binds one RTMP connection to the Flash model: decodes its command, data and media messages for
// a FlashClient, and implements FlashTransport (commands out, subscribers, close) on top of it.
import type { FlashClient } from '../flash/flash-client.js';
import type { FlashServer } from '../flash/flash-server.js';
import type { FlashTransport, ObjectEncoding } from '../flash/flash-transport.js';
import type { StatusInfo } from '../flash/status.js';
import type { Subscriber } from '../flash/subscriber.js';
import type { Logger } from '../util/log.js';
import { formatHostPort } from '../util/host-port.js';
import { encodeChunks, OutChunkStream } from '../rtmp/chunk-encoder.js';
import { decodeCommand, decodeData, encodeCommand, MalformedMessageError } from '../codec/flash-command.js';
import { decodeSharedObjectMessage } from '../codec/shared-object-message.js';
import { statusInfo } from '../flash/status.js';
import { DEFAULT_MEDIA_MERGE_MS, type MediaQueueLimits } from '../flash/media-send-policy.js';
import { MessageType, UserControlEvent, type RtmpMessage } from '../rtmp/message-types.js';
import { DEFAULT_OUT_CHUNK_SIZE, DEFAULT_WINDOW_SIZE, type RtmpConnection } from '../rtmp/rtmp-connection.js';
import { RtmpSubscriber } from './rtmp-subscriber.js';

export interface RtmpSessionOptions {
  /** The connect command must come this soon after the handshake. */
  connectTimeoutMs?: number;
  /**
   * Media to players may wait this long to leave together with the next (default 100 ms): far
   * fewer syscalls per subscriber (they dominate fan-out cost) for a little latency, which
   * players buffer far more than anyway. 0 sends each message at once.
   */
  mediaMergeMs?: number;
  mediaQueue?: MediaQueueLimits;
}


export class RtmpFlashSession implements FlashTransport {
  readonly protocol = 'rtmp';
  readonly remoteAddress: string;
  readonly log: Logger;
  readonly client: FlashClient;
  private connectTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly connection: RtmpConnection,
    flash: FlashServer,
    private readonly options: RtmpSessionOptions = {},
  ) {
    this.log = connection.log;
    this.remoteAddress = formatHostPort(connection.socket.remoteAddress ?? '?', connection.socket.remotePort ?? 0);
    this.client = flash.createClient(this);
    connection.mediaMergeMs = options.mediaMergeMs ?? DEFAULT_MEDIA_MERGE_MS;
    connection.onReady = () => {
      const ms = options.connectTimeoutMs ?? 10_000;
      this.connectTimer = setTimeout(() => {
        if (this.client.state === 'new') connection.close(`no connect command within ${ms} ms of the handshake`, 'protocol');
      }, ms);
      this.connectTimer.unref();
    };
    connection.onMessage = (message) => this.receive(message);
    connection.onUserControl = (event) => {
      if (event.event === UserControlEvent.SetBufferLength) this.log.trace({ streamId: event.value, ms: event.extra }, 'client buffer length');
    };
    connection.addCloseListener((info) => {
      clearTimeout(this.connectTimer);
      this.client.handleClose(info.reason);
    });
  }

  sendCommand(streamId: number, encoding: ObjectEncoding, name: string, transactionId: number, commandObject: unknown, ...args: unknown[]): void {
    const { type, payload } = encodeCommand(encoding, name, transactionId, commandObject, ...args);
    this.connection.sendMessage(streamId === 0 ? OutChunkStream.Command : OutChunkStream.StreamCommand, type, streamId, 0, payload);
  }

  /** Shared objects go on the NetConnection's chunk stream (3) and message stream 0, as Red5 sends them. */
  sendSharedObject(type: number, payload: Buffer): void {
    this.connection.writeChunks(chunkedSharedObject(type, payload, this.connection.outChunkSize));
  }

  openSubscriber(streamId: number): Subscriber {
    return new RtmpSubscriber(this.connection, streamId, (id, info) => this.sendStatus(id, info), this.options.mediaQueue);
  }

  close(reason: string): void {
    this.connection.close(reason, 'normal', true);
  }

  private sendStatus(streamId: number, info: StatusInfo): void {
    this.sendCommand(streamId, this.client.objectEncoding, 'onStatus', 0, null, info);
  }

  private receive(message: RtmpMessage): void {
    switch (message.type) {
      case MessageType.Audio:
        this.client.handleAudio(message.streamId, message.timestamp, message.payload);
        return;
      case MessageType.Video:
        this.client.handleVideo(message.streamId, message.timestamp, message.payload);
        return;
      case MessageType.DataAmf0:
      case MessageType.DataAmf3:
        this.client.handleData(message.streamId, message.timestamp, decodeData(message.type, message.payload));
        return;
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3: {
        const command = decodeCommand(message.type, message.payload);
        if (command.name === 'connect') this.beforeConnect();
        this.client.handleCommand(message.streamId, command);
        return;
      }
      case MessageType.SharedObjectAmf0:
      case MessageType.SharedObjectAmf3: {
        let decoded;
        try {
          decoded = decodeSharedObjectMessage(message.type, message.payload);
        } catch (err) {
          if (!(err instanceof MalformedMessageError)) throw err;
          // The chunk stream is still in step (the message's length was framed): only this
          // message is lost, so the connection and everyone else's objects carry on.
          this.log.warn({ type: message.type, reason: err.message }, 'malformed shared object message dropped');
          if (this.client.state === 'connected') this.client.sendStatus(statusInfo('error', 'NetConnection.Call.BadVersion', err.message));
          return;
        }
        this.client.handleSharedObject(decoded);
        return;
      }
      default:
        this.log.debug({ type: message.type }, 'unknown RTMP message type ignored');
    }
  }

  /** What Adobe's server sends ahead of the connect result: window, bandwidth, chunk size. */
  private beforeConnect(): void {
    clearTimeout(this.connectTimer);
    if (this.client.state !== 'new') return;
    this.connection.setWindowAckSize(DEFAULT_WINDOW_SIZE);
    this.connection.setPeerBandwidth(DEFAULT_WINDOW_SIZE);
    this.connection.setChunkSize(DEFAULT_OUT_CHUNK_SIZE);
    this.connection.sendUserControl(UserControlEvent.StreamBegin, 0);
  }
}

/**
 * The last shared-object message cut into chunks. The model encodes a change once and hands the
 * same payload to every user of the object in a row; chunks depend only on it and the chunk size
 * (chunk-encoder.ts), so they are cut once for all of them and the sockets share the buffer.
 * Cutting them per user cost an allocation and a copy each: with 1,000 lean RTMP users in the
 * fan-out benchmark, encodeChunks and its buffers were 4% of the server's CPU, and garbage
 * collection 19%.
 */
let lastPayload: Buffer | undefined;
let lastType = -1;
let lastChunkSize = -1;
let lastChunks: Buffer = Buffer.alloc(0);
function chunkedSharedObject(type: number, payload: Buffer, chunkSize: number): Buffer {
  if (payload !== lastPayload || type !== lastType || chunkSize !== lastChunkSize) {
    lastChunks = encodeChunks(OutChunkStream.Command, type, 0, 0, payload, chunkSize);
    lastPayload = payload;
    lastType = type;
    lastChunkSize = chunkSize;
  }
  return lastChunks;
}
