// The RTMFP packet outside and inside the encryption (RFC 7016 §2.2):
// [scrambled session ID][encrypted: flags, timestamp?, timestamp echo?, chunks..., padding].
import { ChunkType, HeaderFlag, TIMESTAMP_TICK_MS } from './chunk-types.js';

export class PacketError extends Error {}

/** The session ID is XORed with the first two 32-bit words of the ciphertext (§2.2.1). */
export function readSessionId(datagram: Buffer): number {
  return (datagram.readUInt32BE(0) ^ datagram.readUInt32BE(4) ^ datagram.readUInt32BE(8)) >>> 0;
}

/** Writes `sessionId`, scrambled with the ciphertext behind it, into a datagram's first 4 bytes. */
export function writeScrambledSessionId(datagram: Buffer, sessionId: number): void {
  datagram.writeUInt32BE((sessionId ^ datagram.readUInt32BE(4) ^ datagram.readUInt32BE(8)) >>> 0, 0);
}

/** Smallest datagram that can hold a session ID and one cipher block. */
export const MIN_DATAGRAM = 4 + 16;

export interface PacketHeader {
  flags: number;
  mode: number;
  timestamp?: number;
  timestampEcho?: number;
}

export interface ChunkView {
  type: number;
  body: Buffer;
}

/** Parses the header and chunks of a decrypted packet. Throws PacketError on malformed input. */
export function parsePacket(plain: Buffer): { header: PacketHeader; chunks: ChunkView[] } {
  if (plain.length < 1) throw new PacketError('empty packet');
  const flags = plain[0]!;
  let o = 1;
  const header: PacketHeader = { flags, mode: flags & HeaderFlag.MODE_MASK };
  if (flags & HeaderFlag.TIMESTAMP) {
    if (o + 2 > plain.length) throw new PacketError('truncated timestamp');
    header.timestamp = plain.readUInt16BE(o);
    o += 2;
  }
  if (flags & HeaderFlag.TIMESTAMP_ECHO) {
    if (o + 2 > plain.length) throw new PacketError('truncated timestamp echo');
    header.timestampEcho = plain.readUInt16BE(o);
    o += 2;
  }
  const chunks: ChunkView[] = [];
  while (o < plain.length) {
    const type = plain[o]!;
    if (type === ChunkType.PADDING_FF || type === ChunkType.PADDING_0) break;
    if (o + 3 > plain.length) throw new PacketError('truncated chunk header');
    const length = plain.readUInt16BE(o + 1);
    const start = o + 3;
    if (start + length > plain.length) throw new PacketError(`chunk 0x${type.toString(16)} of ${length} bytes runs past the packet`);
    chunks.push({ type, body: plain.subarray(start, start + length) });
    o = start + length;
  }
  return { header, chunks };
}

/** Writes the packet header at `offset`; answers the offset after it. */
export function writePacketHeader(buf: Buffer, offset: number, h: PacketHeader): number {
  let flags = h.flags & ~(HeaderFlag.TIMESTAMP | HeaderFlag.TIMESTAMP_ECHO | HeaderFlag.MODE_MASK);
  flags |= h.mode & HeaderFlag.MODE_MASK;
  if (h.timestamp !== undefined) flags |= HeaderFlag.TIMESTAMP;
  if (h.timestampEcho !== undefined) flags |= HeaderFlag.TIMESTAMP_ECHO;
  buf[offset++] = flags;
  if (h.timestamp !== undefined) offset = buf.writeUInt16BE(h.timestamp & 0xffff, offset);
  if (h.timestampEcho !== undefined) offset = buf.writeUInt16BE(h.timestampEcho & 0xffff, offset);
  return offset;
}

/** A packet timestamp for `now` (milliseconds): 4 ms ticks, modulo 2^16 (RFC 7016 §2.2.4). */
export function timestampTicks(now: number): number {
  return Math.floor(now / TIMESTAMP_TICK_MS) & 0xffff;
}

/**
 * The timestamp echo for a packet sent at `now`: the last timestamp received (at `receivedAt`),
 * advanced by the ticks since, so the far end's RTT sample leaves out how long we held it; none
 * once that is 128 s old, as the 16-bit tick count would wrap (RFC 7016 §2.2.4).
 */
export function timestampEcho(received: number, receivedAt: number, now: number): number | undefined {
  if (now - receivedAt >= 128_000) return undefined;
  return (received + Math.floor((now - receivedAt) / TIMESTAMP_TICK_MS)) & 0xffff;
}
