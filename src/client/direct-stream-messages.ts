// The messages of a direct P2P NetStream (Flash's NetStream.DIRECT_CONNECTIONS), as Flash Player
// and librtmfp exchange them with no server in between: the player opens a flow tagged with a
// stream ID of its own choosing (RFC 7425 TC metadata) and sends `play`; the publisher answers on
// flows of the same metadata, return-associated with that flow (see research netgroup.md §6).
import { encodeCommand, encodeData, FlashMessageType } from '../codec/flash-command.js';
import { encodeTcMessage } from '../codec/tc-message.js';

/**
 * Flash numbers its P2P NetStreams from 2,000,000 up (the first is 2,000,001, `FA 89 01` as a
 * VLU); there is no createStream between peers, so the player picks the ID.
 */
export const FIRST_DIRECT_STREAM_ID = 2_000_001;

export type DirectFrameKind = 'audio' | 'video' | 'data';

/** User control events (RTMP numbering, which RFC 7425 keeps). */
export const UserControlEvent = { streamBegin: 0, streamEof: 1 } as const;

export type StatusLevel = 'status' | 'error';

/** An onStatus command for the stream, always AMF0 (peers negotiate no object encoding). */
export function statusMessage(level: StatusLevel, code: string, description: string, details?: string): Buffer {
  const info: Record<string, unknown> = { level, code, description };
  if (details !== undefined) info.details = details;
  const { type, payload } = encodeCommand(0, 'onStatus', 0, null, info);
  return encodeTcMessage(type, 0, payload);
}

/** The `play` command a player sends on its stream flow (AMF0: librtmfp insists, as Flash sends). */
export function playMessage(name: string): Buffer {
  const { type, payload } = encodeCommand(0, 'play', 0, null, name);
  return encodeTcMessage(type, 0, payload);
}

export function closeStreamMessage(): Buffer {
  const { type, payload } = encodeCommand(0, 'closeStream', 0, null);
  return encodeTcMessage(type, 0, payload);
}

/** A user control event naming the stream: `00 0E`-style type 4 body, event then stream ID. */
export function userControlMessage(event: number, streamId: number): Buffer {
  const body = Buffer.alloc(6);
  body.writeUInt16BE(event, 0);
  body.writeUInt32BE(streamId >>> 0, 2);
  return encodeTcMessage(FlashMessageType.UserControl, 0, body);
}

/** `|RtmpSampleAccess` (true, true): the player may read the audio and video it receives. */
export function sampleAccessMessage(): Buffer {
  return encodeTcMessage(FlashMessageType.DataAmf0, 0, encodeData('|RtmpSampleAccess', true, true));
}
