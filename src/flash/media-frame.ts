// One audio, video or data message of a stream, as the model moves it from a publisher to its
// subscribers. Payloads are FLV tag bodies (audio/video, legacy or Enhanced RTMP, never
// rewritten) or AMF0 data (handler name then values). The codec facts fan-out needs are worked
// out once here, when the frame enters the server.
import { isAudioSequenceHeader } from '../codec/audio-tag.js';
import { isVideoKeyframe, isVideoSequenceHeader } from '../codec/video-tag.js';

export type FrameKind = 'audio' | 'video' | 'data';

export interface MediaFrame {
  readonly kind: FrameKind;
  /** Milliseconds, unsigned 32-bit, as the publisher sent them. */
  readonly timestamp: number;
  readonly payload: Buffer;
  /** A decoder configuration (AVC/HEVC/AV1/VP9 record, AAC config...) to keep for late joiners. */
  readonly sequenceHeader: boolean;
  /** Video: a coded keyframe a new viewer can start on. Always false for audio and data. */
  readonly keyframe: boolean;
  /**
   * Sent again from the GOP cache to a player joining mid-stream: a burst bounded by the cache,
   * which the transport admits whatever it already holds (see MediaSendPolicy).
   */
  readonly replayed?: boolean;
}

export function audioFrame(timestamp: number, payload: Buffer): MediaFrame {
  return { kind: 'audio', timestamp, payload, sequenceHeader: isAudioSequenceHeader(payload), keyframe: false };
}

export function videoFrame(timestamp: number, payload: Buffer): MediaFrame {
  const sequenceHeader = isVideoSequenceHeader(payload);
  return { kind: 'video', timestamp, payload, sequenceHeader, keyframe: !sequenceHeader && isVideoKeyframe(payload) };
}

export function dataFrame(timestamp: number, payload: Buffer): MediaFrame {
  return { kind: 'data', timestamp, payload, sequenceHeader: false, keyframe: false };
}

/** The same frame at another timestamp (stored headers replayed to a late joiner). */
export function retimed(frame: MediaFrame, timestamp: number): MediaFrame {
  return frame.timestamp === timestamp ? frame : { ...frame, timestamp };
}

/** The same frame, replayed from the GOP cache to one joining player. */
export function replayed(frame: MediaFrame): MediaFrame {
  return { ...frame, replayed: true };
}
