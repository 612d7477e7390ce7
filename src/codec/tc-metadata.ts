// RFC 7425 flow metadata: every RTMFP flow carrying Flash messages is tagged 'T' 'C', a flags
// byte and the RTMP stream ID it belongs to (0: the NetConnection), so the receiver can route a
// new flow before its first message arrives.
import { ByteReader, encodeVlu, VluError } from './vlu.js';

/** Stream ID present: always set (RFC 7425 §5.1.3). */
const FLAG_SID = 0x04;
/** Receive intent: deliver in network order rather than in sequence. */
const FLAG_RXI_NETWORK = 0x01;

export interface TcMetadata {
  streamId: number;
  /** The sender would rather have its messages delivered as they arrive than in order. */
  networkOrder: boolean;
}

export function encodeTcMetadata(streamId: number, networkOrder = false): Buffer {
  return Buffer.concat([Buffer.from([0x54, 0x43, FLAG_SID | (networkOrder ? FLAG_RXI_NETWORK : 0)]), encodeVlu(streamId)]);
}

/** The metadata of a Flash flow, or undefined when the flow is something else. */
export function parseTcMetadata(metadata: Buffer): TcMetadata | undefined {
  if (metadata.length < 4 || metadata[0] !== 0x54 || metadata[1] !== 0x43) return undefined;
  const flags = metadata[2]!;
  if ((flags & FLAG_SID) === 0) return undefined;
  try {
    const streamId = new ByteReader(metadata, 3).vlu();
    if (streamId > 0xffffffff) return undefined;
    return { streamId, networkOrder: (flags & FLAG_RXI_NETWORK) !== 0 };
  } catch (err) {
    if (err instanceof VluError) return undefined;
    throw err;
  }
}
