// One RTMP connection on a TCP socket, either role: handshake, chunk stream both ways, and the
// protocol control layer (chunk size, abort, acknowledgements, window and peer bandwidth, pings).
// Above it, callers see whole messages: commands, data, audio, video, and stream user control
// events. It knows nothing of applications or streams. Every way the peer can misbehave or stall
// ends in close() with a reason that is logged once.
import type { Socket } from 'node:net';
import type { Logger } from '../util/log.js';
import { ChunkDecoder, DEFAULT_CHUNK_DECODER_LIMITS, type ChunkDecoderLimits } from './chunk-decoder.js';
import { encodeChunks, OutChunkStream } from './chunk-encoder.js';
import { ChunkStreamError } from './chunk-stream-error.js';
import { MalformedMessageError } from '../codec/flash-command.js';
import { ClientHandshake } from './client-handshake.js';
import { HandshakeError } from './handshake-error.js';
import { MessageType, UserControlEvent, type RtmpMessage } from './message-types.js';
import {
  PeerBandwidthLimit,
  parseUserControl,
  peerBandwidthPayload,
  readUint32Payload,
  uint32Payload,
  userControlPayload,
  type UserControlMessage,
} from './protocol-control.js';
import { ServerHandshake, type HandshakeForm } from './server-handshake.js';
import { splitAggregate } from './aggregate.js';
import { WriteBatch } from './write-batcher.js';

export interface RtmpConnectionLimits extends ChunkDecoderLimits {
  /** The handshake must complete within this time. */
  handshakeTimeoutMs: number;
  /** Unsent bytes beyond this close the connection: the peer is not reading. */
  maxQueuedBytes: number;
  /** Bytes waiting to be sent with none leaving for this long close the connection. */
  stallTimeoutMs: number;
  /** We send a ping request after this much silence from the peer... */
  pingIntervalMs: number;
  /** ...and close after this much silence. */
  silenceTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: RtmpConnectionLimits = {
  ...DEFAULT_CHUNK_DECODER_LIMITS,
  handshakeTimeoutMs: 10_000,
  maxQueuedBytes: 16 * 1024 * 1024,
  stallTimeoutMs: 20_000,
  pingIntervalMs: 30_000,
  silenceTimeoutMs: 120_000,
};

/** Acknowledgement window and peer bandwidth we announce (the values Adobe's server uses). */
export const DEFAULT_WINDOW_SIZE = 2_500_000;
/** Our outgoing chunk size: large chunks mean fewer headers and cheaper encoding. */
export const DEFAULT_OUT_CHUNK_SIZE = 4096;

export interface RtmpConnectionOptions {
  socket: Socket;
  role: 'server' | 'client';
  log: Logger;
  limits?: Partial<RtmpConnectionLimits>;
  /** Client role: which handshake form to offer (digest by default, like Flash Player). */
  handshakeForm?: HandshakeForm;
}

/** Why a connection closed, and whether the peer was at fault (logged as a warning) or not. */
export interface CloseInfo {
  reason: string;
  /** 'normal' (a peer leaving, our own close), 'protocol' (peer broke a rule or limit), 'error'. */
  kind: 'normal' | 'protocol' | 'error';
}

export class RtmpConnection {
  readonly log: Logger;
  readonly socket: Socket;
  readonly role: 'server' | 'client';
  /** The handshake form the peer used (server role) or the server answered with (client role). */
  handshakeForm: HandshakeForm | undefined;
  /** Our outgoing chunk size; change it with setChunkSize. */
  outChunkSize = 128;
  /** Media written with `merge` may wait this long to leave with the next ones (see write-batcher). */
  mediaMergeMs = 0;
  closed: CloseInfo | undefined;
  bytesIn = 0;
  bytesOut = 0;
  /** The peer's last Acknowledgement (its count of bytes received), and how many came. */
  peerAcknowledged = 0;
  acknowledgements = 0;
  /** Ping responses received (to our ping requests). */
  pingResponses = 0;

  /** Called once the handshake completes. */
  onReady?: () => void;
  /** Commands, data, audio, video, shared objects (aggregates arrive already split). */
  onMessage?: (message: RtmpMessage) => void;
  /** Stream user control events (begin, EOF, dry, buffer length...); pings are answered here. */
  onUserControl?: (event: UserControlMessage) => void;
  onClose?: (info: CloseInfo) => void;
  private readonly closeListeners: Array<(info: CloseInfo) => void> = [];

  private readonly limits: RtmpConnectionLimits;
  private readonly decoder: ChunkDecoder;
  private handshake: ServerHandshake | ClientHandshake | undefined;
  private peerWindow = 0;
  private lastAckAt = 0;
  private lastReceiveAt = Date.now();
  private lastPingAt = 0;
  private readonly openedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** Total bytes handed to the socket, and the bytes of it the kernel had taken at the last check. */
  private bytesQueued = 0;
  private lastProgressBytes = 0;
  private lastProgressAt = Date.now();
  /** What is written and not yet handed to the socket (see write-batcher). */
  private readonly batch: WriteBatch;

  constructor(options: RtmpConnectionOptions) {
    this.socket = options.socket;
    this.batch = new WriteBatch(options.socket);
    this.role = options.role;
    this.log = options.log;
    this.limits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
    this.decoder = new ChunkDecoder(this.limits);
    this.socket.setNoDelay(true);
    this.socket.on('data', (data: Buffer) => this.receive(data));
    this.socket.on('end', () => this.close('peer closed the connection'));
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.close(`socket error: ${err.code ?? err.message}`, 'error'));
    this.socket.on('close', () => this.close('socket closed'));
    this.handshakeTimer = setTimeout(
      () => this.close(`handshake not completed within ${this.limits.handshakeTimeoutMs} ms`, 'protocol'),
      this.limits.handshakeTimeoutMs,
    );
    if (this.role === 'server') {
      this.handshake = new ServerHandshake();
    } else {
      const hs = new ClientHandshake(options.handshakeForm ?? 'digest');
      this.handshake = hs;
      this.writeRaw(hs.start());
    }
  }

  get ready(): boolean {
    return this.handshake === undefined && this.closed === undefined;
  }

  /** Bytes written but not yet taken by the kernel: what a slow peer makes us hold. */
  get queuedBytes(): number {
    return this.socket.writableLength + this.batch.heldBytes;
  }

  /** The peer's chunk size (informational). */
  get inChunkSize(): number {
    return this.decoder.chunkSize;
  }

  /** Sends one message, chunked with our current chunk size. */
  sendMessage(csid: number, type: number, streamId: number, timestamp: number, payload: Buffer | readonly Buffer[]): void {
    this.writeChunks(encodeChunks(csid, type, streamId, timestamp, payload, this.outChunkSize));
  }

  /**
   * Sends bytes already cut into chunks for our chunk size (a shared fan-out encoding); with
   * `merge`, they may wait up to mediaMergeMs to leave with the next media in one syscall.
   */
  writeChunks(chunks: Buffer, merge = false): void {
    if (this.closed !== undefined) return;
    this.writeRaw(chunks, merge ? this.mediaMergeMs : 0);
    const queued = this.queuedBytes;
    if (queued > this.limits.maxQueuedBytes) {
      this.close(`peer is not reading: ${queued} bytes queued (limit ${this.limits.maxQueuedBytes})`, 'protocol');
    }
  }

  setChunkSize(size: number): void {
    this.sendMessage(OutChunkStream.Control, MessageType.SetChunkSize, 0, 0, uint32Payload(size));
    this.outChunkSize = size;
  }

  setWindowAckSize(size: number): void {
    this.sendMessage(OutChunkStream.Control, MessageType.WindowAckSize, 0, 0, uint32Payload(size));
  }

  setPeerBandwidth(size: number, limit: number = PeerBandwidthLimit.Dynamic): void {
    this.sendMessage(OutChunkStream.Control, MessageType.SetPeerBandwidth, 0, 0, peerBandwidthPayload(size, limit));
  }

  sendUserControl(event: number, value: number, extra?: number): void {
    this.sendMessage(OutChunkStream.Control, MessageType.UserControl, 0, 0, userControlPayload(event, value, extra));
  }

  /** Another party to tell when the connection closes (the listener's bookkeeping, say). */
  addCloseListener(listener: (info: CloseInfo) => void): void {
    this.closeListeners.push(listener);
  }

  /**
   * Closes once; the first reason wins and is logged. With `flush`, what was already written
   * (a rejection, say) is sent first, for at most two seconds.
   */
  close(reason: string, kind: CloseInfo['kind'] = 'normal', flush = false): void {
    if (this.closed !== undefined) return;
    this.closed = { reason, kind };
    clearTimeout(this.handshakeTimer);
    clearInterval(this.timer);
    const fields = { reason, bytesIn: this.bytesIn, bytesOut: this.bytesOut, seconds: Math.round((Date.now() - this.openedAt) / 100) / 10 };
    if (kind === 'normal') this.log.info(fields, 'RTMP connection closed');
    else this.log.warn(fields, 'RTMP connection closed');
    if (flush && !this.socket.destroyed) {
      this.batch.flush();
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 2000).unref();
    } else {
      // Unsent data is dropped: a closing peer that does not read must not keep us waiting.
      this.batch.drop();
      this.socket.destroy();
    }
    this.onClose?.(this.closed);
    for (const listener of this.closeListeners) listener(this.closed);
  }

  private writeRaw(data: Buffer, mergeMs = 0): void {
    this.bytesOut += data.length;
    this.bytesQueued += data.length;
    this.batch.write(data, mergeMs);
  }

  private receive(data: Buffer): void {
    if (this.closed !== undefined) return;
    this.bytesIn += data.length;
    this.lastReceiveAt = Date.now();
    try {
      if (this.handshake !== undefined) {
        const step = this.handshake.push(data);
        if (step.reply) this.writeRaw(step.reply);
        if (!step.done) return;
        const echoed = this.handshake instanceof ServerHandshake ? undefined : this.handshake.serverEchoed;
        this.handshakeForm = this.handshake instanceof ServerHandshake ? this.handshake.form : this.handshake.serverForm;
        this.handshake = undefined;
        clearTimeout(this.handshakeTimer);
        this.startTimer();
        this.log.debug(echoed === false ? { form: this.handshakeForm, s2EchoesC1: false } : { form: this.handshakeForm }, 'RTMP handshake done');
        this.onReady?.();
        if (step.rest === undefined || this.closed !== undefined) return;
        data = step.rest;
      }
      this.decoder.push(data, (message) => this.dispatch(message));
      this.acknowledge();
    } catch (err) {
      if (err instanceof HandshakeError) this.close(`bad handshake: ${err.message}`, 'protocol');
      else if (err instanceof ChunkStreamError || err instanceof MalformedMessageError) this.close(`protocol violation: ${err.message}`, 'protocol');
      else {
        this.log.error({ err }, 'error handling RTMP input');
        this.close(`internal error: ${(err as Error).message}`, 'error');
      }
    }
  }

  private acknowledge(): void {
    if (this.peerWindow > 0 && this.bytesIn - this.lastAckAt >= this.peerWindow && this.closed === undefined) {
      this.lastAckAt = this.bytesIn;
      this.sendMessage(OutChunkStream.Control, MessageType.Acknowledgement, 0, 0, uint32Payload(this.bytesIn));
    }
  }

  private dispatch(message: RtmpMessage): void {
    if (this.closed !== undefined) return;
    switch (message.type) {
      case MessageType.SetChunkSize:
      case MessageType.Abort:
        // Applied by the decoder already.
        this.log.debug({ type: message.type, value: message.payload.readUInt32BE(0) }, 'RTMP chunk control');
        return;
      case MessageType.Acknowledgement:
        this.peerAcknowledged = readUint32Payload(message.payload, 'Acknowledgement');
        this.acknowledgements++;
        return;
      case MessageType.WindowAckSize: {
        const size = readUint32Payload(message.payload, 'Window Acknowledgement Size');
        // A tiny window would make us acknowledge every few bytes; treat it as at least 4 KiB.
        this.peerWindow = Math.max(size, 4096);
        return;
      }
      case MessageType.SetPeerBandwidth:
        // We do not throttle on the peer's say-so (TCP does that), but answer as the spec asks.
        if (this.role === 'client') this.setWindowAckSize(readUint32Payload(message.payload, 'Set Peer Bandwidth'));
        return;
      case MessageType.UserControl: {
        const event = parseUserControl(message.payload);
        if (event.event === UserControlEvent.PingRequest) {
          this.sendUserControl(UserControlEvent.PingResponse, event.value);
        } else if (event.event === UserControlEvent.PingResponse) {
          this.pingResponses++;
        } else {
          this.onUserControl?.(event);
        }
        return;
      }
      case MessageType.Aggregate:
        for (const sub of splitAggregate(message)) {
          if (this.closed !== undefined) return;
          this.onMessage?.(sub);
        }
        return;
      default:
        this.onMessage?.(message);
    }
  }

  /** Once a second: a stalled peer (bytes queued, none leaving), silence, and keep-alive pings. */
  private startTimer(): void {
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  private tick(): void {
    if (this.closed !== undefined) return;
    const now = Date.now();
    const queued = this.queuedBytes;
    const sent = this.bytesQueued - queued;
    if (queued === 0 || sent !== this.lastProgressBytes) {
      this.lastProgressBytes = sent;
      this.lastProgressAt = now;
    } else if (now - this.lastProgressAt >= this.limits.stallTimeoutMs) {
      this.close(`peer is not reading: ${queued} bytes queued and none sent for ${Math.round((now - this.lastProgressAt) / 1000)} s`, 'protocol');
      return;
    }
    const silent = now - this.lastReceiveAt;
    if (silent >= this.limits.silenceTimeoutMs) {
      this.close(`peer silent for ${Math.round(silent / 1000)} s (no answer to pings)`, 'protocol');
      return;
    }
    if (silent >= this.limits.pingIntervalMs && now - this.lastPingAt >= this.limits.pingIntervalMs) {
      this.lastPingAt = now;
      this.sendUserControl(UserControlEvent.PingRequest, now - this.openedAt);
    }
  }
}

export { DEFAULT_CHUNK_DECODER_LIMITS };
