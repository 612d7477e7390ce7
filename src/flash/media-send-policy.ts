// Drops audio and video for a subscriber that cannot keep up, rather than queueing without
// limit. The measure is the transport's unsent (RTMP) or unacknowledged (RTMFP) media bytes: past
// a bound, what we would add is late.
// Video then skips to the next keyframe (frames in between cannot be decoded without those
// dropped); audio frames stand alone and are simply skipped. Sequence headers and data are
// never dropped: they are small and decoders need them. Nor is a joining player's GOP replayed
// from the cache: without all of it the player would freeze until the next keyframe, and its
// size is bounded by the cache's.

import type { Logger } from '../util/log.js';
import type { MediaFrame } from './media-frame.js';

export interface MediaQueueLimits {
  /** Unsent bytes beyond which video frames are dropped (until a keyframe once below again). */
  videoDropBytes: number;
  /** Unsent bytes beyond which audio frames are dropped. Higher: audio is cheap and gaps are heard. */
  audioDropBytes: number;
}

/**
 * How long media to a player may wait to leave with the next frames, by default, in both
 * transports: sends per player (the bulk of fan-out cost) fall by a third or more, for a delay
 * players' buffers absorb. See `media.mergeMs` in the configuration.
 */
export const DEFAULT_MEDIA_MERGE_MS = 100;

export const DEFAULT_MEDIA_QUEUE_LIMITS: MediaQueueLimits = {
  videoDropBytes: 768 * 1024,
  audioDropBytes: 1536 * 1024,
};

export class MediaSendPolicy {
  droppedVideo = 0;
  droppedAudio = 0;
  /** True from a dropped video frame until the next keyframe that fits. */
  private waitKeyframe = false;
  /** Dropping since the last "too slow" log line, until caught up. */
  private dropping = false;

  constructor(private readonly limits: MediaQueueLimits = DEFAULT_MEDIA_QUEUE_LIMITS) {}

  /**
   * Whether to send `frame` now, given the bytes already waiting for this subscriber. Logs once
   * when the subscriber starts dropping and once when it has caught up.
   */
  admit(frame: MediaFrame, queuedBytes: number, log: Logger, streamId: number): boolean {
    if (frame.replayed === true) {
      // A replayed GOP starts on its keyframe: what follows it can be decoded.
      if (frame.keyframe) this.waitKeyframe = false;
      return true;
    }
    const admitted =
      frame.kind === 'video' ? this.admitVideo(frame.keyframe, frame.sequenceHeader, queuedBytes)
      : frame.kind === 'audio' ? this.admitAudio(frame.sequenceHeader, queuedBytes)
      : true;
    if (!admitted) {
      if (!this.dropping) {
        this.dropping = true;
        log.debug({ streamId, queued: queuedBytes }, 'subscriber too slow: dropping late frames');
      }
    } else if (this.dropping && !this.waitKeyframe) {
      this.dropping = false;
      log.debug({ streamId, droppedVideo: this.droppedVideo, droppedAudio: this.droppedAudio }, 'subscriber caught up');
    }
    return admitted;
  }

  /** Whether to send a video frame now, given the bytes already waiting. */
  admitVideo(keyframe: boolean, sequenceHeader: boolean, queuedBytes: number): boolean {
    if (sequenceHeader) return true;
    if (queuedBytes > this.limits.videoDropBytes) {
      this.waitKeyframe = true;
      this.droppedVideo++;
      return false;
    }
    if (this.waitKeyframe) {
      if (!keyframe) {
        this.droppedVideo++;
        return false;
      }
      this.waitKeyframe = false;
    }
    return true;
  }

  /** A video frame admitted earlier never arrived (abandoned): what follows cannot be decoded until a keyframe. */
  videoLost(): void {
    this.waitKeyframe = true;
  }

  admitAudio(sequenceHeader: boolean, queuedBytes: number): boolean {
    if (sequenceHeader || queuedBytes <= this.limits.audioDropBytes) return true;
    this.droppedAudio++;
    return false;
  }
}
