// Reassembles RTMP messages from the chunk stream (spec 5.3): the four header types, per chunk
// stream header compression, extended timestamps, the peer's chunk size and abort. Input may be
// cut anywhere. Every resource a peer can make us hold is bounded: message length, the number of
// chunk streams, and the messages (and their bytes) in progress at once, so a hostile peer gets a
// ChunkStreamError naming the limit instead of our memory.
import { ChunkStreamError } from './chunk-stream-error.js';
import { MessageType, isProtocolControl, type RtmpMessage } from './message-types.js';

export interface ChunkDecoderLimits {
  /** Longest message accepted (the 24-bit field allows 16 MiB). */
  maxMessageSize: number;
  /** Distinct chunk stream ids a connection may use (players and encoders use a handful). */
  maxChunkStreams: number;
  /** Messages in progress at once (one per chunk stream at most). */
  maxPartialMessages: number;
  /** Declared bytes of all messages in progress at once. */
  maxPartialBytes: number;
}

export const DEFAULT_CHUNK_DECODER_LIMITS: ChunkDecoderLimits = {
  maxMessageSize: 8 * 1024 * 1024,
  maxChunkStreams: 64,
  maxPartialMessages: 8,
  maxPartialBytes: 16 * 1024 * 1024,
};

export const DEFAULT_CHUNK_SIZE = 128;
/** Set Chunk Size's top bit is reserved (spec 5.4.1). */
export const MAX_CHUNK_SIZE = 0x7fffffff;
/** Control payloads are at most 10 bytes (user control with two 32-bit fields); allow some slack. */
const MAX_CONTROL_MESSAGE_SIZE = 64;
const EXTENDED = 0xffffff;
/** Basic header (3) + message header (11) + extended timestamp (4). */
const MAX_HEADER_SIZE = 18;
const MESSAGE_HEADER_SIZES = [11, 7, 3, 0] as const;

/** What a chunk stream remembers from its last header, for compressed headers that follow. */
interface ChunkStreamState {
  timestamp: number;
  delta: number;
  length: number;
  type: number;
  streamId: number;
  /** The last header's timestamp field was 0xFFFFFF, so type 3 chunks carry 4 more bytes. */
  extended: boolean;
  extendedValue: number;
  /** The message being reassembled, if any, and how much of it has arrived. */
  message: Buffer | undefined;
  received: number;
  /** Whether a header has ever set the fields above (a first type 1/2/3 header is an error). */
  initialized: boolean;
}

export class ChunkDecoder {
  /** The peer's chunk size: changed by its Set Chunk Size messages, which this class applies. */
  chunkSize = DEFAULT_CHUNK_SIZE;
  private readonly limits: ChunkDecoderLimits;
  private readonly streams = new Map<number, ChunkStreamState>();
  private partialMessages = 0;
  private partialBytes = 0;
  /** Header bytes that arrived without the rest of their header. */
  private stash: Buffer | undefined;
  /** The chunk whose body is being read, and how many body bytes are still to come. */
  private current: ChunkStreamState | undefined;
  private currentCsid = 0;
  private bodyLeft = 0;

  constructor(limits: Partial<ChunkDecoderLimits> = {}) {
    this.limits = { ...DEFAULT_CHUNK_DECODER_LIMITS, ...limits };
  }

  /** Bytes held for messages in progress (what a peer can make us keep). */
  get bufferedBytes(): number {
    return this.partialBytes + (this.stash?.length ?? 0);
  }

  /**
   * Feeds bytes; calls `onMessage` for each completed message, in order, before reading on (so a
   * Set Chunk Size takes effect for the very next chunk). Throws ChunkStreamError on a violation.
   */
  push(data: Buffer, onMessage: (message: RtmpMessage) => void): void {
    let offset = 0;
    const end = data.length;
    // A zero-length message completes right after its header, with no body bytes to wait for.
    while (offset < end || (this.current !== undefined && this.bodyLeft === 0)) {
      if (this.current !== undefined) {
        offset = this.readBody(data, offset, onMessage);
        continue;
      }
      // A header: parse in place when it cannot straddle the end, else through the stash.
      if (this.stash === undefined && end - offset >= MAX_HEADER_SIZE) {
        offset += this.parseHeader(data, offset, end - offset);
        continue;
      }
      const stashed = this.stash?.length ?? 0;
      const take = Math.min(MAX_HEADER_SIZE - stashed, end - offset);
      const joined = stashed === 0 ? data.subarray(offset, offset + take) : Buffer.concat([this.stash!, data.subarray(offset, offset + take)]);
      const used = this.parseHeader(joined, 0, joined.length);
      if (used === 0) {
        this.stash = Buffer.from(joined);
        return;
      }
      this.stash = undefined;
      if (used >= stashed) {
        offset += used - stashed;
      } else {
        // The header ended inside the stash (4 bytes peeked for an extended timestamp turned
        // out to be payload): feed the rest of the stash again, then go on with `data`.
        this.push(Buffer.from(joined.subarray(used, stashed)), onMessage);
      }
    }
  }

  /** Drops the message in progress on a chunk stream (the peer's Abort message). */
  abort(csid: number): void {
    const state = this.streams.get(csid);
    if (state?.message !== undefined) this.dropPartial(state);
    if (this.current === state && state !== undefined) {
      // An abort cannot arrive mid-chunk of its own stream, but be safe.
      this.current = undefined;
      this.bodyLeft = 0;
    }
  }

  /**
   * Parses one chunk header at buf[offset..offset+available). Returns its length, or 0 when more
   * bytes are needed. On success the decoder is ready to read that chunk's body.
   */
  private parseHeader(buf: Buffer, offset: number, available: number): number {
    const first = buf[offset]!;
    const fmt = first >> 6;
    let csid = first & 0x3f;
    let pos = offset + 1;
    if (csid === 0) {
      if (available < 2) return 0;
      csid = 64 + buf[pos]!;
      pos += 1;
    } else if (csid === 1) {
      if (available < 3) return 0;
      csid = 64 + buf[pos]! + buf[pos + 1]! * 256;
      pos += 2;
    }
    const headerSize = MESSAGE_HEADER_SIZES[fmt]!;
    if (pos + headerSize - offset > available) return 0;

    let state = this.streams.get(csid);
    if (state === undefined) {
      if (this.streams.size >= this.limits.maxChunkStreams) {
        throw new ChunkStreamError(`too many chunk streams: chunk stream id ${csid} would be number ${this.streams.size + 1}, limit ${this.limits.maxChunkStreams}`);
      }
      state = { timestamp: 0, delta: 0, length: 0, type: 0, streamId: 0, extended: false, extendedValue: 0, message: undefined, received: 0, initialized: false };
      this.streams.set(csid, state);
    }
    if (fmt !== 0 && !state.initialized) {
      throw new ChunkStreamError(`chunk stream ${csid} starts with a type ${fmt} header, which needs a previous header`);
    }

    let timestampField = 0;
    if (fmt <= 2) {
      timestampField = buf.readUIntBE(pos, 3);
      if (fmt <= 1) {
        const length = buf.readUIntBE(pos + 3, 3);
        const type = buf[pos + 6]!;
        if (state.message !== undefined) {
          throw new ChunkStreamError(`chunk stream ${csid} starts a new message (type ${fmt} header) before finishing the last (${state.received}/${state.length} bytes)`);
        }
        state.length = length;
        state.type = type;
        if (fmt === 0) state.streamId = buf.readUInt32LE(pos + 7);
      } else if (state.message !== undefined) {
        throw new ChunkStreamError(`chunk stream ${csid} starts a new message (type 2 header) before finishing the last`);
      }
    }
    pos += headerSize;

    // Type 0-2 say whether an extended timestamp follows; type 3 inherits that from the last header.
    const extended = fmt <= 2 ? timestampField === EXTENDED : state.extended;
    const continuing = fmt === 3 && state.message !== undefined;
    let extendedValue = 0;
    if (extended) {
      if (pos + 4 - offset > available) return 0;
      extendedValue = buf.readUInt32BE(pos);
      if (continuing && extendedValue !== state.extendedValue) {
        // Some encoders leave the extended timestamp out of continuation chunks; these 4 bytes
        // are then payload.
      } else {
        pos += 4;
      }
    }

    if (fmt <= 2) {
      state.extended = extended;
      if (extended) state.extendedValue = extendedValue;
      const value = extended ? extendedValue : timestampField;
      if (fmt === 0) {
        state.timestamp = value;
        // Spec 5.3.1.2.4: a type 3 chunk that follows a type 0 one takes its timestamp as delta.
        state.delta = value;
      } else {
        state.delta = value;
        state.timestamp = (state.timestamp + value) >>> 0;
      }
    } else if (!continuing) {
      // Type 3 starting a new message: same header as before, timestamp advances by the delta.
      state.timestamp = (state.timestamp + state.delta) >>> 0;
    }
    state.initialized = true;

    if (!continuing) this.beginMessage(csid, state);
    this.current = state;
    this.currentCsid = csid;
    this.bodyLeft = Math.min(this.chunkSize, state.length - state.received);
    return pos - offset;
  }

  private beginMessage(csid: number, state: ChunkStreamState): void {
    const { length, type } = state;
    if (length > this.limits.maxMessageSize) {
      throw new ChunkStreamError(`message of ${length} bytes (type ${type}, chunk stream ${csid}) exceeds the ${this.limits.maxMessageSize}-byte limit`);
    }
    if (isProtocolControl(type) && length > MAX_CONTROL_MESSAGE_SIZE) {
      throw new ChunkStreamError(`protocol control message type ${type} of ${length} bytes (at most ${MAX_CONTROL_MESSAGE_SIZE} expected)`);
    }
    if (this.partialMessages + 1 > this.limits.maxPartialMessages) {
      throw new ChunkStreamError(`too many messages in progress at once: ${this.partialMessages + 1} (limit ${this.limits.maxPartialMessages}); chunk streams left incomplete`);
    }
    if (this.partialBytes + length > this.limits.maxPartialBytes) {
      throw new ChunkStreamError(`messages in progress would hold ${this.partialBytes + length} bytes (limit ${this.limits.maxPartialBytes})`);
    }
    this.partialMessages++;
    this.partialBytes += length;
    state.message = Buffer.allocUnsafe(length);
    state.received = 0;
  }

  private dropPartial(state: ChunkStreamState): void {
    this.partialMessages--;
    this.partialBytes -= state.length;
    state.message = undefined;
    state.received = 0;
  }

  private readBody(data: Buffer, offset: number, onMessage: (message: RtmpMessage) => void): number {
    const state = this.current!;
    const n = Math.min(this.bodyLeft, data.length - offset);
    if (n > 0) {
      data.copy(state.message!, state.received, offset, offset + n);
      state.received += n;
      this.bodyLeft -= n;
    }
    if (this.bodyLeft > 0) return offset + n;
    this.current = undefined;
    if (state.received < state.length) return offset + n;
    const message: RtmpMessage = {
      type: state.type,
      streamId: state.streamId,
      timestamp: state.timestamp,
      payload: state.message!,
      chunkStreamId: this.currentCsid,
    };
    this.dropPartial(state);
    this.applyChunkControl(message);
    onMessage(message);
    return offset + n;
  }

  /** Set Chunk Size and Abort change how the following chunks are read, so they apply here. */
  private applyChunkControl(message: RtmpMessage): void {
    if (message.type === MessageType.SetChunkSize) {
      if (message.payload.length < 4) throw new ChunkStreamError(`Set Chunk Size message of ${message.payload.length} bytes`);
      const size = message.payload.readUInt32BE(0);
      if (size > MAX_CHUNK_SIZE) throw new ChunkStreamError(`Set Chunk Size ${size} has the reserved top bit set`);
      if (size < 1) throw new ChunkStreamError('Set Chunk Size 0');
      this.chunkSize = size;
    } else if (message.type === MessageType.Abort) {
      if (message.payload.length < 4) throw new ChunkStreamError(`Abort message of ${message.payload.length} bytes`);
      this.abort(message.payload.readUInt32BE(0));
    }
  }
}
