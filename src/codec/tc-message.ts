// RFC 7425 message framing on an RTMFP flow: one RTMP message per flow message, as its type
// (1 byte), timestamp (4 bytes, milliseconds) and body. The stream ID is the flow's (see
// tc-metadata.ts), so it is not repeated here.

export const TC_MESSAGE_HEADER_LENGTH = 5;

export interface TcMessage {
  type: number;
  timestamp: number;
  /** A view into the flow message, not a copy. */
  body: Buffer;
}

export function encodeTcMessage(type: number, timestamp: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(TC_MESSAGE_HEADER_LENGTH + body.length);
  out[0] = type;
  out.writeUInt32BE(timestamp >>> 0, 1);
  body.copy(out, TC_MESSAGE_HEADER_LENGTH);
  return out;
}

/** The message in a flow message, or undefined if it is too short to hold a header. */
export function parseTcMessage(message: Buffer): TcMessage | undefined {
  if (message.length < TC_MESSAGE_HEADER_LENGTH) return undefined;
  return { type: message[0]!, timestamp: message.readUInt32BE(1), body: message.subarray(TC_MESSAGE_HEADER_LENGTH) };
}
