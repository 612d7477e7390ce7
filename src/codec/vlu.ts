// Variable Length Unsigned integers and option lists (RFC 7016 §2.1.2, §2.1.3).
// A VLU carries 7 bits a byte, most significant group first, the high bit set on every byte
// but the last. Values are kept to Number.MAX_SAFE_INTEGER: nothing in RTMFP legitimately
// needs more, and a longer encoding is hostile input.

export class VluError extends Error {}

/** Longest VLU we accept: 8 bytes hold 56 bits, more than any sequence number we track. */
export const MAX_VLU_BYTES = 8;

export function vluLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/** Writes `value` at `offset`; returns the offset just past it. */
export function writeVlu(buf: Uint8Array, offset: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new VluError(`cannot encode ${value} as a VLU`);
  const n = vluLength(value);
  let v = value;
  for (let i = n - 1; i >= 0; i--) {
    const low = v % 128;
    buf[offset + i] = i === n - 1 ? low : low | 0x80;
    v = Math.floor(v / 128);
  }
  return offset + n;
}

export function encodeVlu(value: number): Buffer {
  const out = Buffer.allocUnsafe(vluLength(value));
  writeVlu(out, 0, value);
  return out;
}

/**
 * A cursor over bytes for parsing RTMFP structures. Every read checks the limit and throws
 * VluError on truncation, so parsers never read past a chunk or packet.
 */
export class ByteReader {
  constructor(
    readonly buf: Uint8Array,
    public offset = 0,
    readonly limit = buf.length,
  ) {}

  get remaining(): number {
    return this.limit - this.offset;
  }

  vlu(): number {
    let value = 0;
    for (let i = 0; i < MAX_VLU_BYTES; i++) {
      if (this.offset >= this.limit) throw new VluError('truncated VLU');
      const byte = this.buf[this.offset++]!;
      value = value * 128 + (byte & 0x7f);
      if ((byte & 0x80) === 0) return value;
    }
    throw new VluError('VLU too long');
  }

  u8(): number {
    if (this.offset >= this.limit) throw new VluError('truncated byte');
    return this.buf[this.offset++]!;
  }

  u16(): number {
    if (this.offset + 2 > this.limit) throw new VluError('truncated u16');
    const v = (this.buf[this.offset]! << 8) | this.buf[this.offset + 1]!;
    this.offset += 2;
    return v;
  }

  u32(): number {
    if (this.offset + 4 > this.limit) throw new VluError('truncated u32');
    const b = this.buf;
    const o = this.offset;
    this.offset += 4;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }

  /** A view (not a copy) of the next `n` bytes. */
  bytes(n: number): Buffer {
    if (n < 0 || this.offset + n > this.limit) throw new VluError(`field of ${n} bytes runs past its end`);
    const out = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.offset, n);
    this.offset += n;
    return out;
  }

  /** A VLU length followed by that many bytes. */
  vluBytes(): Buffer {
    return this.bytes(this.vlu());
  }

  rest(): Buffer {
    return this.bytes(this.remaining);
  }
}

/** One option of an option list (RFC 7016 §2.1.3). */
export interface RtmfpOption {
  type: number;
  value: Buffer;
}

/**
 * Parses an option list up to its marker (a zero length) or the end of the bytes, leaving
 * the reader after the marker if there was one.
 */
export function readOptionList(reader: ByteReader): RtmfpOption[] {
  const options: RtmfpOption[] = [];
  while (reader.remaining > 0) {
    const length = reader.vlu();
    if (length === 0) break; // marker
    const end = reader.offset + length;
    if (end > reader.limit) throw new VluError('option runs past its list');
    const type = reader.vlu();
    if (reader.offset > end) throw new VluError('option type runs past its option');
    options.push({ type, value: reader.bytes(end - reader.offset) });
  }
  return options;
}

export function encodeOption(type: number, value: Uint8Array = Buffer.alloc(0)): Buffer {
  const body = vluLength(type) + value.length;
  const out = Buffer.allocUnsafe(vluLength(body) + body);
  let o = writeVlu(out, 0, body);
  o = writeVlu(out, o, type);
  out.set(value, o);
  return out;
}

/** An option whose value is a VLU followed by bytes (DH group ids and keys, HMAC lengths). */
export function encodeVluOption(type: number, vlu: number, rest: Uint8Array = Buffer.alloc(0)): Buffer {
  return encodeOption(type, Buffer.concat([encodeVlu(vlu), rest]));
}

export function findOption(options: readonly RtmfpOption[], type: number): Buffer | undefined {
  return options.find((o) => o.type === type)?.value;
}
