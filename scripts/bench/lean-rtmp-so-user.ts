// A benchmark-only RTMP user of one shared object that does the least a user can: the handshake,
// connect, the shared object's Use; then it reads chunk headers, keeps the bodies of the few
// messages it must look into (shared-object messages, chunk size, window size, pings) and skips
// the rest. A shared-object update is scanned in place for the slot's new value
// (so-update-reader.ts), nothing decoded. Covey's full client (RtmpClient with SharedObject)
// costs several times more per update, and 1,000 of them on a 2-core machine measured the users'
// event loops more than the server (issue 18).
//
// It answers what a server may ask of a client: pings (a silent peer is closed), and an
// Acknowledgement per window of bytes, as Covey's client does.
import { connect as tcpConnect, type Socket } from 'node:net';
import { decodeCommand, encodeCommand } from '../../src/codec/flash-command.js';
import { encodeSharedObjectMessage, SharedObjectEventType } from '../../src/codec/shared-object-message.js';
import { ClientHandshake } from '../../src/rtmp/client-handshake.js';
import { encodeChunks, OutChunkStream } from '../../src/rtmp/chunk-encoder.js';
import { MessageType, UserControlEvent } from '../../src/rtmp/message-types.js';
import { uint32Payload, userControlPayload } from '../../src/rtmp/protocol-control.js';
import { readSharedObjectUpdates, type SharedObjectUpdateSink } from './so-update-reader.js';

const EXTENDED = 0xffffff;
/**
 * Every user's socket reads into this one buffer (net's `onread`): no buffer allocated and no
 * stream 'data' event per read. Safe because a read is handled to the end before the next, and
 * what must outlive it (a partial header, a body over several chunks, the handshake) is copied.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const MESSAGE_HEADER_SIZES = [11, 7, 3, 0] as const;
/** Our chunk size for what we send (connect is the longest, about 200 bytes). */
const OUT_CHUNK_SIZE = 4096;

/** What a chunk stream remembers for the compressed headers after its first. */
interface ChunkStream {
  length: number;
  type: number;
  extended: boolean;
  received: number;
  /** The body being gathered over several chunks, when it is one we read. */
  body: Buffer | undefined;
}

/** Messages whose bodies are read; every other message is skipped by its length. */
function isRead(type: number): boolean {
  return (
    type === MessageType.SharedObjectAmf0 ||
    type === MessageType.SharedObjectAmf3 ||
    type === MessageType.SetChunkSize ||
    type === MessageType.WindowAckSize ||
    type === MessageType.UserControl ||
    type === MessageType.CommandAmf0
  );
}

export class LeanRtmpSoUser {
  /** Chunks or messages it could not make sense of. */
  malformed = 0;
  private chunkSize = 128;
  private readonly streams = new Map<number, ChunkStream>();
  private current: ChunkStream | undefined;
  private bodyLeft = 0;
  private stash: Buffer | undefined;
  private handshake: ClientHandshake | undefined = new ClientHandshake('digest');
  private bytesIn = 0;
  private window = 0;
  private ackedAt = 0;
  /** Until the Use is answered: connect's answer, then UseSuccess. */
  private setup: { resolve: () => void; reject: (err: Error) => void; step: 'handshake' | 'connect' | 'use' } | undefined;
  private readonly sink: SharedObjectUpdateSink;

  private constructor(
    private readonly socket: Socket,
    private readonly slot: number,
    onValue: (value: number) => void,
  ) {
    this.sink = {
      useSuccess: () => {
        if (this.setup?.step === 'use') this.setup.resolve();
      },
      value: onValue,
    };
    socket.setNoDelay(true);
    socket.on('error', (err) => this.setup?.reject(err));
    socket.on('close', () => this.setup?.reject(new Error('the server closed the connection')));
  }

  /**
   * Connects to `app` at host:port and uses the transient object `objectName`; `onValue` gets
   * each number the server announces for the one-letter slot `slot` from then on.
   */
  static async open(host: string, port: number, app: string, objectName: string, slot: string, onValue: (value: number) => void): Promise<LeanRtmpSoUser> {
    let user: LeanRtmpSoUser | undefined;
    const socket = tcpConnect({
      host,
      port,
      onread: {
        buffer: READ_BUFFER,
        callback: (length) => {
          user!.receive(READ_BUFFER, length);
          return true;
        },
      },
    });
    user = new LeanRtmpSoUser(socket, slot.charCodeAt(0), onValue);
    await user.step('handshake', () => socket.write(user.handshake!.start()));
    await user.step('connect', () => {
      const tcUrl = `rtmp://${host}:${port}/${app}`;
      const c = encodeCommand(0, 'connect', 1, { app, flashVer: 'LNX 9,0,124,2', tcUrl, fpad: false, capabilities: 15, audioCodecs: 4071, videoCodecs: 252, videoFunction: 1, objectEncoding: 0 });
      user.send(OutChunkStream.Control, MessageType.SetChunkSize, uint32Payload(OUT_CHUNK_SIZE));
      user.send(OutChunkStream.Command, c.type, c.payload);
    });
    await user.step('use', () => {
      const m = encodeSharedObjectMessage(0, { name: objectName, version: 0, persistent: false, events: [{ type: SharedObjectEventType.Use }] });
      user.send(OutChunkStream.Command, m.type, m.payload);
    });
    user.setup = undefined;
    return user;
  }

  private step(step: 'handshake' | 'connect' | 'use', start: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`lean RTMP user: no answer to ${step} within 60 s`)), 60_000);
      this.setup = {
        step,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      start();
    });
  }

  /** Ends the connection and reads on until the server closes its side (a reset would be logged as an error). */
  close(): void {
    this.socket.end();
  }

  private send(csid: number, type: number, payload: Buffer): void {
    this.socket.write(encodeChunks(csid, type, 0, 0, payload, OUT_CHUNK_SIZE));
  }

  /** The first `length` bytes of `data` arrived (READ_BUFFER: nothing here may keep it). */
  private receive(data: Buffer, length: number): void {
    this.bytesIn += length;
    let end = length;
    if (this.handshake !== undefined) {
      // The handshake keeps what it is given until it has S0-S2.
      const step = this.handshake.push(Buffer.from(data.subarray(0, length)));
      if (step.reply) this.socket.write(step.reply);
      if (!step.done) return;
      this.handshake = undefined;
      this.setup?.resolve();
      if (step.rest === undefined) return;
      data = step.rest;
      end = data.length;
    }
    let buf = data;
    if (this.stash !== undefined) {
      buf = Buffer.concat([this.stash, data.subarray(0, end)]);
      end = buf.length;
      this.stash = undefined;
    }
    let o = 0;
    while (o < end) {
      const s = this.current;
      if (s !== undefined) {
        const n = Math.min(this.bodyLeft, end - o);
        if (s.body !== undefined) buf.copy(s.body, s.received, o, o + n);
        s.received += n;
        this.bodyLeft -= n;
        o += n;
        if (this.bodyLeft === 0) this.chunkEnded(s);
        continue;
      }
      const used = this.header(buf, o, end);
      if (used === 0) {
        this.stash = Buffer.from(buf.subarray(o, end));
        break;
      }
      o += used;
    }
    if (this.window > 0 && this.bytesIn - this.ackedAt >= this.window) {
      this.ackedAt = this.bytesIn;
      this.send(OutChunkStream.Control, MessageType.Acknowledgement, uint32Payload(this.bytesIn >>> 0));
    }
  }

  /**
   * A chunk header at buf[o] (bytes up to `end`): its length, or 0 when the header is not all
   * there. A message that is whole in this chunk and in `buf` is read in place, and its length
   * is included.
   */
  private header(buf: Buffer, o: number, end: number): number {
    const available = end - o;
    const first = buf[o]!;
    const fmt = first >> 6;
    let csid = first & 0x3f;
    let p = o + 1;
    if (csid === 0) {
      if (available < 2) return 0;
      csid = 64 + buf[p++]!;
    } else if (csid === 1) {
      if (available < 3) return 0;
      csid = 64 + buf[p]! + buf[p + 1]! * 256;
      p += 2;
    }
    if (p + MESSAGE_HEADER_SIZES[fmt]! > end) return 0;
    let s = this.streams.get(csid);
    if (s === undefined) this.streams.set(csid, (s = { length: 0, type: 0, extended: false, received: 0, body: undefined }));
    let extended = s.extended;
    if (fmt <= 2) {
      extended = buf.readUIntBE(p, 3) === EXTENDED;
      if (fmt <= 1) {
        s.length = buf.readUIntBE(p + 3, 3);
        s.type = buf[p + 6]!;
      }
    }
    p += MESSAGE_HEADER_SIZES[fmt]!;
    if (extended) {
      if (p + 4 > end) return 0;
      p += 4;
    }
    s.extended = extended;
    const continuing = fmt === 3 && s.received > 0 && s.received < s.length;
    if (!continuing) {
      s.received = 0;
      s.body = undefined;
      if (isRead(s.type)) {
        if (s.length <= this.chunkSize && end - p >= s.length) {
          // The usual case: the whole message is here.
          s.received = s.length;
          this.message(s.type, buf, p, p + s.length);
          return p + s.length - o;
        }
        s.body = Buffer.allocUnsafe(s.length);
      }
    }
    this.current = s;
    this.bodyLeft = Math.min(this.chunkSize, s.length - s.received);
    if (this.bodyLeft === 0) this.chunkEnded(s);
    return p - o;
  }

  private chunkEnded(s: ChunkStream): void {
    this.current = undefined;
    if (s.received < s.length || s.body === undefined) return;
    const body = s.body;
    s.body = undefined;
    this.message(s.type, body, 0, body.length);
  }

  private message(type: number, buf: Buffer, from: number, end: number): void {
    switch (type) {
      case MessageType.SharedObjectAmf0:
      case MessageType.SharedObjectAmf3:
        if (!readSharedObjectUpdates(type, (at) => buf[at]!, from, end, this.slot, this.sink)) this.malformed++;
        return;
      case MessageType.SetChunkSize:
        if (end - from >= 4) this.chunkSize = buf.readUInt32BE(from) & 0x7fffffff;
        return;
      case MessageType.WindowAckSize:
        if (end - from >= 4) this.window = buf.readUInt32BE(from);
        return;
      case MessageType.UserControl:
        if (end - from >= 6 && buf.readUInt16BE(from) === UserControlEvent.PingRequest) {
          this.send(OutChunkStream.Control, MessageType.UserControl, userControlPayload(UserControlEvent.PingResponse, buf.readUInt32BE(from + 2)));
        }
        return;
      case MessageType.CommandAmf0:
        if (this.setup?.step === 'connect') {
          const command = decodeCommand(type, buf.subarray(from, end));
          if (command.transactionId !== 1) return;
          if (command.name === '_result') this.setup.resolve();
          else this.setup.reject(new Error(`lean RTMP user: connect answered ${command.name}`));
        }
        return;
    }
  }
}
