// Cuts an RTMP message into chunks (spec 5.3). Each message opens with a type 0 header (absolute
// timestamp) and continues with type 3 headers, so the bytes depend only on the chunk stream,
// message stream, chunk size and the message itself, not on what was sent before: one encoding
// can then be written to every subscriber that shares those parameters. The few bytes a type 1/2
// header would save per message do not matter next to that.
import { MessageType } from './message-types.js';

const EXTENDED = 0xffffff;

function basicHeaderSize(csid: number): number {
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

function writeBasicHeader(out: Buffer, pos: number, fmt: number, csid: number): number {
  if (csid < 64) {
    out[pos] = (fmt << 6) | csid;
    return pos + 1;
  }
  if (csid < 320) {
    out[pos] = fmt << 6;
    out[pos + 1] = csid - 64;
    return pos + 2;
  }
  out[pos] = (fmt << 6) | 1;
  out[pos + 1] = (csid - 64) & 0xff;
  out[pos + 2] = (csid - 64) >> 8;
  return pos + 3;
}

/** Size of the encoded chunks for a payload, without building them. */
export function encodedChunksSize(csid: number, timestamp: number, payloadLength: number, chunkSize: number): number {
  const basic = basicHeaderSize(csid);
  const ext = timestamp >= EXTENDED ? 4 : 0;
  const chunks = Math.max(1, Math.ceil(payloadLength / chunkSize));
  return basic + 11 + ext + (chunks - 1) * (basic + ext) + payloadLength;
}

/**
 * One message as chunks in one buffer. `payload` may be several buffers (a header and a body, say),
 * sent as their concatenation.
 */
export function encodeChunks(
  csid: number,
  type: number,
  streamId: number,
  timestamp: number,
  payload: Buffer | readonly Buffer[],
  chunkSize: number,
): Buffer {
  const parts = Buffer.isBuffer(payload) ? [payload] : payload;
  let length = 0;
  for (const p of parts) length += p.length;
  if (length > 0xffffff) throw new RangeError(`RTMP message of ${length} bytes exceeds the 24-bit length field`);
  const ts = timestamp >>> 0;
  const extended = ts >= EXTENDED;
  const out = Buffer.allocUnsafe(encodedChunksSize(csid, ts, length, chunkSize));
  let pos = writeBasicHeader(out, 0, 0, csid);
  out.writeUIntBE(extended ? EXTENDED : ts, pos, 3);
  out.writeUIntBE(length, pos + 3, 3);
  out[pos + 6] = type;
  out.writeUInt32LE(streamId >>> 0, pos + 7);
  pos += 11;
  if (extended) pos = out.writeUInt32BE(ts, pos);

  // Copy the payload parts, inserting a type 3 header (with the extended timestamp, as Flash and
  // FFmpeg expect) at every chunk boundary.
  let inChunk = 0;
  for (const part of parts) {
    let from = 0;
    while (from < part.length) {
      if (inChunk === chunkSize) {
        pos = writeBasicHeader(out, pos, 3, csid);
        if (extended) pos = out.writeUInt32BE(ts, pos);
        inChunk = 0;
      }
      const n = Math.min(chunkSize - inChunk, part.length - from);
      part.copy(out, pos, from, from + n);
      pos += n;
      from += n;
      inChunk += n;
    }
  }
  return out;
}

/** Chunk streams we send on. Any ids work; these follow what Adobe's server does. */
export const OutChunkStream = {
  Control: 2,
  Command: 3,
  /** Stream-level status and data messages. */
  StreamCommand: 5,
  Audio: 6,
  Video: 7,
} as const;

/** Picks our chunk stream for a stream message type. */
export function chunkStreamFor(type: number): number {
  if (type === MessageType.Audio) return OutChunkStream.Audio;
  if (type === MessageType.Video) return OutChunkStream.Video;
  return OutChunkStream.StreamCommand;
}
