// Bodies of the startup chunks (RFC 7016 §2.3.2-2.3.8): parsing never reads past a chunk and
// throws VluError on truncation; encoding returns the body for ChunkWriter.chunk(). The two a
// responder sends for every handshake (RHello, RIKeying) can also be written straight into the
// packet being assembled, with no body buffer in between.
import { ByteReader, encodeVlu, vluLength } from '../codec/vlu.js';
import { ChunkType } from './chunk-types.js';
import type { ChunkWriter } from './chunk-writer.js';
import { encodeAddress, readAddress, type Address, type AnnouncedAddress } from './address.js';

export interface IHello { epd: Buffer; tag: Buffer }
export interface RHello { tag: Buffer; cookie: Buffer; certificate: Buffer }
export interface IIKeying { initiatorSessionId: number; cookie: Buffer; certificate: Buffer; skic: Buffer; signature: Buffer }
export interface RIKeying { responderSessionId: number; skrc: Buffer; signature: Buffer }
export interface ForwardedIHello { epd: Buffer; replyAddress: AnnouncedAddress; tag: Buffer }
export interface Redirect { tag: Buffer; destinations: AnnouncedAddress[] }
export interface CookieChange { oldCookie: Buffer; newCookie: Buffer }

const vb = (b: Uint8Array) => Buffer.concat([encodeVlu(b.length), b]);

export function parseIHello(body: Buffer): IHello {
  const r = new ByteReader(body);
  return { epd: r.vluBytes(), tag: r.rest() };
}
export function encodeIHello(m: IHello): Buffer {
  return Buffer.concat([vb(m.epd), m.tag]);
}

export function parseRHello(body: Buffer): RHello {
  const r = new ByteReader(body);
  return { tag: r.vluBytes(), cookie: r.vluBytes(), certificate: r.rest() };
}
export function encodeRHello(m: RHello): Buffer {
  return Buffer.concat([vb(m.tag), vb(m.cookie), m.certificate]);
}

/**
 * Writes an RHello chunk with `cookieLength` bytes left for its cookie; answers where the
 * cookie goes (the caller writes it there), or -1 if the chunk does not fit.
 */
export function writeRHello(w: ChunkWriter, tag: Uint8Array, cookieLength: number, certificate: Uint8Array): number {
  const length = vluLength(tag.length) + tag.length + vluLength(cookieLength) + cookieLength + certificate.length;
  if (length > w.roomForBody) return -1;
  w.begin(ChunkType.RHELLO);
  w.vluBytes(tag);
  w.vlu(cookieLength);
  const cookieAt = w.offset;
  w.offset += cookieLength;
  w.bytes(certificate);
  w.end();
  return cookieAt;
}

export function parseIIKeying(body: Buffer): IIKeying {
  const r = new ByteReader(body);
  return { initiatorSessionId: r.u32(), cookie: r.vluBytes(), certificate: r.vluBytes(), skic: r.vluBytes(), signature: r.rest() };
}
export function encodeIIKeying(m: IIKeying): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(m.initiatorSessionId >>> 0);
  return Buffer.concat([id, vb(m.cookie), vb(m.certificate), vb(m.skic), m.signature]);
}

export function parseRIKeying(body: Buffer): RIKeying {
  const r = new ByteReader(body);
  return { responderSessionId: r.u32(), skrc: r.vluBytes(), signature: r.rest() };
}
export function encodeRIKeying(m: RIKeying): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(m.responderSessionId >>> 0);
  return Buffer.concat([id, vb(m.skrc), m.signature]);
}

/** Writes an RIKeying chunk; false if it does not fit. */
export function writeRIKeying(w: ChunkWriter, m: RIKeying): boolean {
  const length = 4 + vluLength(m.skrc.length) + m.skrc.length + m.signature.length;
  if (length > w.roomForBody) return false;
  w.begin(ChunkType.RIKEYING);
  w.u32(m.responderSessionId);
  w.vluBytes(m.skrc);
  w.bytes(m.signature);
  w.end();
  return true;
}

export function parseForwardedIHello(body: Buffer): ForwardedIHello {
  const r = new ByteReader(body);
  return { epd: r.vluBytes(), replyAddress: readAddress(r), tag: r.rest() };
}
export function encodeForwardedIHello(epd: Buffer, replyAddress: Address, tag: Buffer, origin = 2): Buffer {
  return Buffer.concat([vb(epd), encodeAddress(replyAddress, origin), tag]);
}

export function parseRedirect(body: Buffer): Redirect {
  const r = new ByteReader(body);
  const tag = r.vluBytes();
  const destinations: AnnouncedAddress[] = [];
  while (r.remaining > 0) destinations.push(readAddress(r));
  return { tag, destinations };
}
export function encodeRedirect(tag: Buffer, destinations: Array<Address & { origin?: number }>): Buffer {
  return Buffer.concat([vb(tag), ...destinations.map((d) => encodeAddress(d, d.origin ?? 0))]);
}

export function parseCookieChange(body: Buffer): CookieChange {
  const r = new ByteReader(body);
  return { oldCookie: r.vluBytes(), newCookie: r.rest() };
}
export function encodeCookieChange(m: CookieChange): Buffer {
  return Buffer.concat([vb(m.oldCookie), m.newCookie]);
}
