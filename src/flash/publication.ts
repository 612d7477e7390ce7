// A live stream being published: its publisher, what late joiners need first (the data frame set
// with @setDataFrame and the latest audio and video sequence headers), and the fan-out of every
// frame to the subscriptions waiting on its name.
import { audioFrame, dataFrame, videoFrame, type MediaFrame } from './media-frame.js';
import type { StreamName } from './stream-name.js';
import type { Subscription } from './subscription.js';

export class Publication {
  dataFrame: MediaFrame | undefined;
  audioHeader: MediaFrame | undefined;
  videoHeader: MediaFrame | undefined;
  /** Video has been seen: players then wait for a keyframe before starting audio too. */
  hasVideo = false;
  /** The latest timestamp seen, given to headers replayed to late joiners. */
  lastTimestamp = 0;
  frames = 0;
  bytes = 0;
  closed = false;
  readonly startedAt = Date.now();

  constructor(
    readonly name: StreamName,
    readonly publisherId: string,
    /** The subscriptions on this name (shared with the application; they outlive us). */
    readonly subscriptions: ReadonlySet<Subscription>,
    private readonly end: (publication: Publication) => void,
  ) {}

  pushAudio(timestamp: number, payload: Buffer): void {
    const frame = audioFrame(timestamp, payload);
    if (frame.sequenceHeader) this.audioHeader = frame;
    this.fanOut(frame);
  }

  pushVideo(timestamp: number, payload: Buffer): void {
    const frame = videoFrame(timestamp, payload);
    this.hasVideo = true;
    if (frame.sequenceHeader) this.videoHeader = frame;
    this.fanOut(frame);
  }

  /** A data message to pass on (onCuePoint, onTextData...), AMF0 bytes. */
  pushData(timestamp: number, payload: Buffer): void {
    this.fanOut(dataFrame(timestamp, payload));
  }

  /** @setDataFrame: keep it for late joiners and pass it on (payload: AMF0 "onMetaData", values). */
  setDataFrame(timestamp: number, payload: Buffer): void {
    this.dataFrame = dataFrame(timestamp, payload);
    this.fanOut(this.dataFrame);
  }

  clearDataFrame(): void {
    this.dataFrame = undefined;
  }

  /** The publisher stopped: subscriptions are told and wait for the next publisher. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.end(this);
  }

  private fanOut(frame: MediaFrame): void {
    if (this.closed) return;
    this.frames++;
    this.bytes += frame.payload.length;
    if (frame.kind !== 'data') this.lastTimestamp = frame.timestamp;
    for (const subscription of this.subscriptions) subscription.deliver(frame);
  }
}
