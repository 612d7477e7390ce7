// Payloads of the protocol control messages (types 1-6, spec 5.4 and 7.1.7).
import { ChunkStreamError } from './chunk-stream-error.js';
import { UserControlEvent } from './message-types.js';

export function uint32Payload(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}

/** Set Peer Bandwidth limit types. */
export const PeerBandwidthLimit = { Hard: 0, Soft: 1, Dynamic: 2 } as const;

export function peerBandwidthPayload(windowSize: number, limitType: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b.writeUInt32BE(windowSize >>> 0, 0);
  b[4] = limitType;
  return b;
}

export function userControlPayload(event: number, value: number, extra?: number): Buffer {
  const b = Buffer.allocUnsafe(extra === undefined ? 6 : 10);
  b.writeUInt16BE(event, 0);
  b.writeUInt32BE(value >>> 0, 2);
  if (extra !== undefined) b.writeUInt32BE(extra >>> 0, 6);
  return b;
}

export interface UserControlMessage {
  event: number;
  /** Stream id for stream events, timestamp for pings. */
  value: number;
  /** Buffer length in ms for SetBufferLength. */
  extra?: number;
}

export function parseUserControl(payload: Buffer): UserControlMessage {
  if (payload.length < 6) throw new ChunkStreamError(`user control message of ${payload.length} bytes`);
  const event = payload.readUInt16BE(0);
  const value = payload.readUInt32BE(2);
  if (event === UserControlEvent.SetBufferLength) {
    if (payload.length < 10) throw new ChunkStreamError('SetBufferLength user control message without its length');
    return { event, value, extra: payload.readUInt32BE(6) };
  }
  return { event, value };
}

export function readUint32Payload(payload: Buffer, what: string): number {
  if (payload.length < 4) throw new ChunkStreamError(`${what} message of ${payload.length} bytes`);
  return payload.readUInt32BE(0);
}
