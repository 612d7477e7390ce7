// A growable big-endian byte buffer shared by the AMF and FLV writers. Capacity doubles, so
// building a message costs amortised O(1) per byte and one final view, with no per-value
// allocations.

/** Up to this length a JS loop beats a call into Buffer's native UTF-8 code. */
const SHORT_STRING_LENGTH = 64;

/** UTF-8 byte length of `text`, fast for the short ASCII names AMF is full of. */
export function utf8ByteLength(text: string): number {
  if (text.length > SHORT_STRING_LENGTH) return Buffer.byteLength(text, 'utf8');
  for (let index = 0; index < text.length; index++) {
    if (text.charCodeAt(index) > 0x7f) return Buffer.byteLength(text, 'utf8');
  }
  return text.length;
}

export class ByteWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(initialCapacity = 128) {
    this.buffer = Buffer.allocUnsafe(Math.max(16, initialCapacity));
  }

  /** Bytes written so far. */
  get byteLength(): number {
    return this.length;
  }

  /**
   * The bytes written so far, as a view (no copy). Writing more afterwards does not change the
   * returned bytes, but the view keeps the whole backing store alive: copy it if it is kept long.
   */
  toBuffer(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  /** Forgets everything written, keeping the capacity for the next message. */
  reset(): void {
    this.length = 0;
  }

  writeUInt8(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  writeUInt16BE(value: number): void {
    this.reserve(2);
    this.length = this.buffer.writeUInt16BE(value, this.length);
  }

  writeInt16BE(value: number): void {
    this.reserve(2);
    this.length = this.buffer.writeInt16BE(value, this.length);
  }

  writeUInt24BE(value: number): void {
    this.reserve(3);
    this.length = this.buffer.writeUIntBE(value, this.length, 3);
  }

  writeUInt32BE(value: number): void {
    this.reserve(4);
    this.length = this.buffer.writeUInt32BE(value, this.length);
  }

  writeInt32BE(value: number): void {
    this.reserve(4);
    this.length = this.buffer.writeInt32BE(value, this.length);
  }

  writeDoubleBE(value: number): void {
    this.reserve(8);
    this.length = this.buffer.writeDoubleBE(value, this.length);
  }

  writeBytes(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Overwrites 4 bytes already written at `offset` (a length known only after what follows it). */
  patchUInt32BE(offset: number, value: number): void {
    if (offset + 4 > this.length) throw new RangeError(`patch at ${offset} beyond the ${this.length} bytes written`);
    this.buffer.writeUInt32BE(value, offset);
  }

  /** Writes `text` as UTF-8 whose encoded length the caller already knows (and has written). */
  writeUtf8(text: string, byteLength: number): void {
    this.reserve(byteLength);
    // Equal lengths mean every character is ASCII (anything else takes more UTF-8 bytes).
    if (byteLength === text.length && byteLength <= SHORT_STRING_LENGTH) {
      const buffer = this.buffer;
      let offset = this.length;
      for (let index = 0; index < byteLength; index++) buffer[offset++] = text.charCodeAt(index);
      this.length = offset;
      return;
    }
    this.length += this.buffer.write(text, this.length, byteLength, 'utf8');
  }

  private reserve(count: number): void {
    const needed = this.length + count;
    if (needed <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = Buffer.allocUnsafe(capacity);
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}
