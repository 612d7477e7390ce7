// What every PublishSession of `covey publish` does the same way, whatever carries the stream
// (the server's NetStream, a NetGroup, direct P2P players): send a frame as the Flash message a
// server expects, and let what was sent leave before the stream is closed.
import { encodeAmf0 } from '../codec/amf0.js';
import { FlashMessageType } from '../codec/flash-command.js';
import { isOnMetaData } from '../codec/flv-script-data.js';
import type { NetStream } from './net-connection.js';
import type { StreamFrameKind } from './stream-client.js';

const SET_DATA_FRAME = encodeAmf0('@setDataFrame');
/** The longest a publisher's close waits for its last frames to be delivered. */
const CLOSE_DRAIN_MAX_MS = 2_000;

/** Sends a frame on a published NetStream; onMetaData goes as @setDataFrame, so the server keeps it for late players. */
export function sendFrame(stream: NetStream, kind: StreamFrameKind, timestamp: number, payload: Buffer): void {
  if (kind === 'audio') stream.send(FlashMessageType.Audio, timestamp, payload);
  else if (kind === 'video') stream.send(FlashMessageType.Video, timestamp, payload);
  else stream.send(FlashMessageType.DataAmf0, timestamp, isOnMetaData(payload) ? [SET_DATA_FRAME, payload] : payload);
}

/**
 * Waits until nothing is left queued (`queuedBytes`), the connection is gone (`closed`), or
 * CLOSE_DRAIN_MAX_MS: over RTMFP a close travels on another flow and could overtake the last frames.
 */
export async function drainBeforeClose(queuedBytes: () => number, closed: () => boolean): Promise<void> {
  const since = Date.now();
  while (queuedBytes() > 0 && !closed() && Date.now() - since < CLOSE_DRAIN_MAX_MS) await new Promise((r) => setTimeout(r, 10));
}
