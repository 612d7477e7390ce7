// Delivers one played stream over an RTMP connection: status events as onStatus on the message
// stream, StreamBegin/StreamEOF user control events, and frames as audio/video/data messages.
// A frame is chunked once for all subscribers sharing a chunk size and stream id (the usual case:
// every player gets stream 1 and our chunk size), and late audio/video is dropped per connection.
import type { MediaFrame } from '../flash/media-frame.js';
import type { StatusInfo } from '../flash/status.js';
import type { Subscriber } from '../flash/subscriber.js';
import { encodeChunks, OutChunkStream } from '../rtmp/chunk-encoder.js';
import { MediaSendPolicy, type MediaQueueLimits } from '../flash/media-send-policy.js';
import { MessageType, UserControlEvent } from '../rtmp/message-types.js';
import type { RtmpConnection } from '../rtmp/rtmp-connection.js';

/**
 * Chunk encodings of the frame being fanned out, by chunk size and stream id. A publication hands
 * a frame to all its subscribers in one synchronous loop, so remembering the last frame is enough.
 */
let cachedFrame: MediaFrame | undefined;
const cachedChunks = new Map<number, Buffer>();

function chunksFor(frame: MediaFrame, streamId: number, chunkSize: number): Buffer {
  if (frame !== cachedFrame) {
    cachedFrame = frame;
    cachedChunks.clear();
  }
  const key = chunkSize * 0x100000 + streamId;
  let chunks = cachedChunks.get(key);
  if (chunks === undefined) {
    const [csid, type] =
      frame.kind === 'video' ? [OutChunkStream.Video, MessageType.Video]
      : frame.kind === 'audio' ? [OutChunkStream.Audio, MessageType.Audio]
      : [OutChunkStream.StreamCommand, MessageType.DataAmf0];
    chunks = encodeChunks(csid, type, streamId, frame.timestamp, frame.payload, chunkSize);
    cachedChunks.set(key, chunks);
  }
  return chunks;
}

export class RtmpSubscriber implements Subscriber {
  readonly policy: MediaSendPolicy;

  constructor(
    private readonly connection: RtmpConnection,
    readonly streamId: number,
    private readonly sendStatusCommand: (streamId: number, info: StatusInfo) => void,
    limits?: MediaQueueLimits,
  ) {
    this.policy = new MediaSendPolicy(limits);
  }

  sendStatus(info: StatusInfo): void {
    this.sendStatusCommand(this.streamId, info);
  }

  streamBegin(): void {
    this.connection.sendUserControl(UserControlEvent.StreamBegin, this.streamId);
  }

  streamEnd(): void {
    this.connection.sendUserControl(UserControlEvent.StreamEof, this.streamId);
  }

  sendFrame(frame: MediaFrame): void {
    const connection = this.connection;
    if (connection.closed !== undefined) return;
    if (!this.policy.admit(frame, connection.queuedBytes, connection.log, this.streamId)) return;
    connection.writeChunks(chunksFor(frame, this.streamId, connection.outChunkSize), true);
  }
}
