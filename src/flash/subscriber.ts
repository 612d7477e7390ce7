// What the model needs from a transport to deliver one played stream to one client. RTMP
// implements it over a message stream; RTMFP over a NetStream flow. Queueing, dropping late
// audio/video for a slow client, and encoding are the transport's business.
import type { MediaFrame } from './media-frame.js';
import type { StatusInfo } from './status.js';

export interface Subscriber {
  /** A NetStream status event for this stream (onStatus): Play.Reset/Start, PublishNotify... */
  sendStatus(info: StatusInfo): void;
  /** Media starts (or starts again after a publisher change): RTMP's StreamBegin. */
  streamBegin(): void;
  /** The publisher stopped: RTMP's StreamEOF. */
  streamEnd(): void;
  /**
   * An audio, video or data frame with the publisher's timestamp. The transport may drop audio or
   * video that would arrive late; it must not drop sequence headers or data frames. Frames are
   * shared between subscribers: never modify one.
   */
  sendFrame(frame: MediaFrame): void;
  /** Media held to be merged with the next frames goes now (a joining player's GOP). */
  flush?(): void;
  /** The client stopped playing: what the transport holds for this stream (flows, queues) can go. */
  close?(): void;
}
