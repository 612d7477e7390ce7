// RTMP message type ids and user control event types (Adobe RTMP specification 1.0, 5.4 and 7.1).
import { FlashMessageType } from '../codec/flash-command.js';

export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  // User control, audio, video, data, shared object, command and aggregate: what RTMFP carries too.
  ...FlashMessageType,
} as const;

export const UserControlEvent = {
  StreamBegin: 0,
  StreamEof: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
  /** Flash Player extensions, sent by players; nothing to do with them but to accept them. */
  BufferEmpty: 31,
  BufferReady: 32,
} as const;

/** Protocol control messages travel on chunk stream 2, message stream 0 (spec 5.4). */
export const CONTROL_CHUNK_STREAM = 2;

/** Types 1-6: fixed, tiny payloads. A longer one is a broken or hostile peer. */
export function isProtocolControl(type: number): boolean {
  return type >= 1 && type <= 6;
}

/** One complete RTMP message as reassembled from chunks, or as handed to the chunk encoder. */
export interface RtmpMessage {
  type: number;
  /** Message stream id: 0 for the connection, else a NetStream created with createStream. */
  streamId: number;
  /** Milliseconds, unsigned 32-bit (wraps after about 49.7 days). */
  timestamp: number;
  payload: Buffer;
  /** The chunk stream it arrived on (informational). */
  chunkStreamId: number;
}
