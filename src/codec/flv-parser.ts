// Incremental FLV parsing: feed chunks of any size (file reads, pipe data, one byte at a time) and
// get back the tags they complete. Bytes are only copied when a header or tag straddles chunks;
// otherwise tag bodies are views of the chunks passed in.
import { asBuffer } from './buffer-view.js';
import {
  FLV_FLAG_AUDIO,
  FLV_FLAG_VIDEO,
  FLV_HEADER_SIZE,
  FLV_PREVIOUS_TAG_SIZE_SIZE,
  FLV_TAG_FILTER_BIT,
  FLV_TAG_HEADER_SIZE,
  FLV_TAG_TYPE_MASK,
  type FlvHeader,
  type FlvTag,
} from './flv-format.js';
import { MediaFormatError } from './media-format-error.js';

export interface FlvParserOptions {
  /**
   * Reject a PreviousTagSize that does not match the tag before it. Off by default: several muxers
   * write wrong values and the field is redundant for forward reading.
   */
  strictPreviousTagSize?: boolean;
}

/** Pending chunks kept separately before they are merged into one buffer. */
const MAX_PENDING_CHUNKS = 256;

type ParserState =
  | { step: 'header' }
  | { step: 'header-padding'; remaining: number }
  | { step: 'first-previous-tag-size' }
  | { step: 'tag-header' }
  | { step: 'tag-body'; type: number; filtered: boolean; timestamp: number; streamId: number; dataSize: number };

export class FlvParser {
  /** The file header, once its bytes have arrived. */
  header: FlvHeader | undefined;
  private readonly strictPreviousTagSize: boolean;
  private state: ParserState = { step: 'header' };
  /** Received bytes not yet consumed, oldest first, starting at chunks[head]. */
  private chunks: Buffer[] = [];
  private head = 0;
  private pendingLength = 0;
  /** File offset of the first pending byte, for error messages. */
  private consumed = 0;

  constructor(options: FlvParserOptions = {}) {
    this.strictPreviousTagSize = options.strictPreviousTagSize ?? false;
  }

  /** Bytes received but not yet part of a complete header or tag. */
  get bufferedBytes(): number {
    return this.pendingLength;
  }

  /**
   * Adds `chunk` and returns the tags it completed, in file order. Tag bodies may be views of the
   * chunks given: copy a body to keep it past a later change to the chunk's memory.
   */
  push(chunk: Uint8Array): FlvTag[] {
    const tags: FlvTag[] = [];
    if (chunk.length === 0) return tags;
    if (this.head > 0) {
      // Forget consumed chunks so their memory can be released.
      this.chunks.splice(0, this.head);
      this.head = 0;
    }
    this.chunks.push(asBuffer(chunk));
    this.pendingLength += chunk.length;
    if (this.chunks.length > MAX_PENDING_CHUNKS) {
      // Tiny chunks trickling into a large tag: merge them rather than keep one object per byte.
      this.chunks = [Buffer.concat(this.chunks)];
    }
    for (;;) {
      const state = this.state;
      if (state.step === 'header-padding') {
        const skipped = this.discard(Math.min(state.remaining, this.pendingLength));
        state.remaining -= skipped;
        if (state.remaining > 0) break;
        this.state = { step: 'first-previous-tag-size' };
        continue;
      }
      const needed = this.bytesNeeded(state);
      if (this.pendingLength < needed) break;
      const start = this.consumed;
      const bytes = this.take(needed);
      switch (state.step) {
        case 'header':
          this.readHeader(bytes, start);
          break;
        case 'first-previous-tag-size':
          if (this.strictPreviousTagSize && bytes.readUInt32BE(0) !== 0) {
            throw new MediaFormatError(`FLV PreviousTagSize0 is ${bytes.readUInt32BE(0)}, expected 0`, start);
          }
          this.state = { step: 'tag-header' };
          break;
        case 'tag-header':
          this.state = {
            step: 'tag-body',
            type: bytes[0]! & FLV_TAG_TYPE_MASK,
            filtered: (bytes[0]! & FLV_TAG_FILTER_BIT) !== 0,
            dataSize: bytes.readUIntBE(1, 3),
            // The extension byte is the top 8 bits of a signed 32-bit value.
            timestamp: (bytes[7]! << 24) | bytes.readUIntBE(4, 3),
            streamId: bytes.readUIntBE(8, 3),
          };
          break;
        case 'tag-body': {
          const previousTagSize = bytes.readUInt32BE(state.dataSize);
          if (this.strictPreviousTagSize && previousTagSize !== FLV_TAG_HEADER_SIZE + state.dataSize) {
            throw new MediaFormatError(
              `FLV PreviousTagSize is ${previousTagSize}, expected ${FLV_TAG_HEADER_SIZE + state.dataSize}`,
              start + state.dataSize,
            );
          }
          tags.push({
            type: state.type,
            timestamp: state.timestamp,
            data: bytes.subarray(0, state.dataSize),
            streamId: state.streamId,
            filtered: state.filtered,
          });
          this.state = { step: 'tag-header' };
          break;
        }
      }
    }
    return tags;
  }

  /**
   * Declares the input finished. Throws if it stopped inside the header or a tag (a cut recording,
   * say); the tags returned so far are all complete and usable either way.
   */
  end(): void {
    const step = this.state.step;
    if (step === 'tag-header' && this.pendingLength === 0) return;
    if (step === 'header' && this.pendingLength === 0 && this.consumed === 0) {
      throw new MediaFormatError('empty input: no FLV header');
    }
    const where = step === 'tag-header' || step === 'tag-body' ? 'tag' : 'header';
    throw new MediaFormatError(`truncated FLV: input ends inside a ${where} (${this.pendingLength} bytes left over)`, this.consumed);
  }

  private bytesNeeded(state: ParserState): number {
    switch (state.step) {
      case 'header':
        return FLV_HEADER_SIZE;
      case 'first-previous-tag-size':
        return FLV_PREVIOUS_TAG_SIZE_SIZE;
      case 'tag-header':
        return FLV_TAG_HEADER_SIZE;
      case 'tag-body':
        return state.dataSize + FLV_PREVIOUS_TAG_SIZE_SIZE;
      case 'header-padding':
        return 0;
    }
  }

  private readHeader(bytes: Buffer, start: number): void {
    if (bytes[0] !== 0x46 || bytes[1] !== 0x4c || bytes[2] !== 0x56) {
      throw new MediaFormatError(`not an FLV file: signature is ${bytes.subarray(0, 3).toString('hex')}, expected 464c56 ("FLV")`, start);
    }
    const headerSize = bytes.readUInt32BE(5);
    if (headerSize < FLV_HEADER_SIZE) {
      throw new MediaFormatError(`FLV header size ${headerSize} is smaller than ${FLV_HEADER_SIZE}`, start + 5);
    }
    const flags = bytes[4]!;
    this.header = {
      version: bytes[3]!,
      hasAudio: (flags & FLV_FLAG_AUDIO) !== 0,
      hasVideo: (flags & FLV_FLAG_VIDEO) !== 0,
      headerSize,
    };
    this.state =
      headerSize > FLV_HEADER_SIZE
        ? { step: 'header-padding', remaining: headerSize - FLV_HEADER_SIZE }
        : { step: 'first-previous-tag-size' };
  }

  /** Removes and returns the next `count` pending bytes (count <= pendingLength). */
  private take(count: number): Buffer {
    this.pendingLength -= count;
    this.consumed += count;
    const first = this.chunks[this.head]!;
    if (first.length >= count) {
      this.dropFront(first, count);
      return first.subarray(0, count);
    }
    const joined = Buffer.allocUnsafe(count);
    let copied = 0;
    while (copied < count) {
      const chunk = this.chunks[this.head]!;
      const used = Math.min(chunk.length, count - copied);
      chunk.copy(joined, copied, 0, used);
      this.dropFront(chunk, used);
      copied += used;
    }
    return joined;
  }

  /** Removes up to `count` pending bytes without copying them; returns how many. */
  private discard(count: number): number {
    this.pendingLength -= count;
    this.consumed += count;
    let left = count;
    while (left > 0) {
      const chunk = this.chunks[this.head]!;
      const used = Math.min(chunk.length, left);
      this.dropFront(chunk, used);
      left -= used;
    }
    return count;
  }

  /** Consumes `count` bytes of the head chunk, dropping it once empty. */
  private dropFront(chunk: Buffer, count: number): void {
    if (count < chunk.length) {
      this.chunks[this.head] = chunk.subarray(count);
      return;
    }
    this.head++;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    }
  }
}
