// Bounds-checked big-endian reads over a Buffer, shared by the AMF0 and AMF3 readers. Every read
// names what it was after, so a truncated input reports e.g. "truncated AMF0 string: need 12
// bytes, 3 left (at byte 40)" instead of a RangeError from deep inside Buffer.
import { AmfError } from './amf-types.js';
import { asBuffer } from './buffer-view.js';

export class AmfByteReader {
  readonly buffer: Buffer;
  /** Offset of the next byte to read; callers may move it. */
  offset = 0;

  constructor(input: Uint8Array) {
    this.buffer = asBuffer(input);
  }

  get remaining(): number {
    return this.buffer.length - this.offset;
  }

  get hasMore(): boolean {
    return this.offset < this.buffer.length;
  }

  /** Throws unless `count` more bytes are available. */
  need(count: number, what: string): void {
    const left = this.buffer.length - this.offset;
    if (count > left) {
      throw new AmfError(`truncated ${what}: need ${count} bytes, ${Math.max(0, left)} left`, this.offset);
    }
  }

  readUInt8(what = 'byte'): number {
    this.need(1, what);
    return this.buffer[this.offset++]!;
  }

  readUInt16BE(what = 'uint16'): number {
    this.need(2, what);
    const value = this.buffer.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  readInt16BE(what = 'int16'): number {
    this.need(2, what);
    const value = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  readUInt32BE(what = 'uint32'): number {
    this.need(4, what);
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  readInt32BE(what = 'int32'): number {
    this.need(4, what);
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  readDoubleBE(what = 'double'): number {
    this.need(8, what);
    const value = this.buffer.readDoubleBE(this.offset);
    this.offset += 8;
    return value;
  }

  readUtf8(byteLength: number, what = 'string'): string {
    this.need(byteLength, what);
    const start = this.offset;
    this.offset += byteLength;
    return this.buffer.toString('utf8', start, this.offset);
  }

  /** A copy, so the result stays valid when the caller reuses its input buffer. */
  readBytes(byteLength: number, what = 'bytes'): Buffer {
    this.need(byteLength, what);
    const start = this.offset;
    this.offset += byteLength;
    return Buffer.from(this.buffer.subarray(start, this.offset));
  }
}
