// Appends chunks to a packet being assembled, never past its size limit.
// One writer is reused for every packet a session sends, so assembling costs no allocation.
import { CHUNK_HEADER_LENGTH } from './chunk-types.js';
import { writeVlu } from '../codec/vlu.js';

export class ChunkWriter {
  /** Where the current chunk's header starts, or -1 outside a chunk. */
  private chunkStart = -1;

  constructor(
    readonly buf: Buffer,
    public offset: number,
    public limit: number,
  ) {}

  /** Starts over at `offset`, for the next packet. */
  reset(offset: number, limit: number): void {
    this.offset = offset;
    this.limit = limit;
    this.chunkStart = -1;
  }

  /** Bytes left for chunk bodies after one more chunk header. */
  get roomForBody(): number {
    return this.limit - this.offset - CHUNK_HEADER_LENGTH;
  }

  begin(type: number): void {
    this.chunkStart = this.offset;
    this.buf[this.offset] = type;
    this.offset += CHUNK_HEADER_LENGTH;
  }

  end(): void {
    const length = this.offset - this.chunkStart - CHUNK_HEADER_LENGTH;
    this.buf.writeUInt16BE(length, this.chunkStart + 1);
    this.chunkStart = -1;
  }

  /** Drops a chunk begun but not worth sending after all. */
  cancel(): void {
    if (this.chunkStart >= 0) this.offset = this.chunkStart;
    this.chunkStart = -1;
  }

  u8(v: number): void {
    this.buf[this.offset++] = v;
  }

  u16(v: number): void {
    this.buf.writeUInt16BE(v, this.offset);
    this.offset += 2;
  }

  u32(v: number): void {
    this.buf.writeUInt32BE(v >>> 0, this.offset);
    this.offset += 4;
  }

  vlu(v: number): void {
    this.offset = writeVlu(this.buf, this.offset, v);
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.offset);
    this.offset += b.length;
  }

  /** Writes `b[start..end)` (the whole of `b` without making a view of it). */
  bytesOf(b: Uint8Array, start: number, end: number): void {
    this.buf.set(start === 0 && end === b.length ? b : b.subarray(start, end), this.offset);
    this.offset += end - start;
  }

  vluBytes(b: Uint8Array): void {
    this.vlu(b.length);
    this.bytes(b);
  }

  /** Writes a whole chunk if it fits; answers whether it did. */
  chunk(type: number, body: Uint8Array): boolean {
    if (body.length > this.roomForBody) return false;
    this.begin(type);
    this.bytes(body);
    this.end();
    return true;
  }
}
