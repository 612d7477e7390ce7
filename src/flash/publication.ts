// A live stream being published: its publisher, what late joiners need first (the data frame set
// with @setDataFrame, the latest audio and video sequence headers, and the frames since the last
// keyframe), and the fan-out of every frame to the subscriptions waiting on its name.
import { DEFAULT_GOP_CACHE_BYTES, GopCache } from './gop-cache.js';
import { audioFrame, dataFrame, videoFrame, type MediaFrame } from './media-frame.js';
import type { StreamName } from './stream-name.js';
import type { Subscription } from './subscription.js';

export interface PublicationOptions {
  /** Payload bytes of the GOP cache at most; 0 disables it (players then wait for the next keyframe). */
  gopCacheBytes: number;
}

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
  /**
   * When the last audio or video frame came (Date.now()), or the start before the first: how
   * long the publisher has sent nothing, for a takeover of the name (Application.publish).
   */
  lastMediaAt = this.startedAt;
  /**
   * Set by whoever feeds the publication: told when another publisher took the name over
   * (`by`, its client ID), just before the publication closes, so it stops feeding it and says so.
   */
  onTakenOver: ((by: string, idleMs: number) => void) | undefined;
  /** The frames since the last keyframe, replayed to players joining mid-stream. */
  readonly gopCache: GopCache;
  /**
   * Sees every frame before the players (an application that asked for packets: a Lua script
   * defining publication:onAudio and the like). Unset otherwise, so a publication costs nothing more.
   */
  observer: ((frame: MediaFrame) => void) | undefined;

  constructor(
    readonly name: StreamName,
    readonly publisherId: string,
    /** The subscriptions on this name (shared with the application; they outlive us). */
    readonly subscriptions: ReadonlySet<Subscription>,
    private readonly end: (publication: Publication) => void,
    options: Partial<PublicationOptions> = {},
  ) {
    this.gopCache = new GopCache(options.gopCacheBytes ?? DEFAULT_GOP_CACHE_BYTES);
  }

  pushAudio(timestamp: number, payload: Buffer): void {
    const frame = audioFrame(timestamp, payload);
    this.lastMediaAt = Date.now();
    if (frame.sequenceHeader) this.audioHeader = this.newHeader(this.audioHeader, frame);
    else this.gopCache.push(frame);
    this.fanOut(frame);
  }

  pushVideo(timestamp: number, payload: Buffer): void {
    const frame = videoFrame(timestamp, payload);
    this.lastMediaAt = Date.now();
    this.hasVideo = true;
    if (frame.sequenceHeader) this.videoHeader = this.newHeader(this.videoHeader, frame);
    else this.gopCache.push(frame);
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
    this.gopCache.restart();
    this.end(this);
  }

  /**
   * A sequence header replacing `old`. Encoders may repeat the same one (before each keyframe,
   * say); a different one is a codec change, and cached frames made for the old one must go.
   */
  private newHeader(old: MediaFrame | undefined, header: MediaFrame): MediaFrame {
    if (old !== undefined && !old.payload.equals(header.payload)) this.gopCache.restart();
    return header;
  }

  private fanOut(frame: MediaFrame): void {
    if (this.closed) return;
    this.frames++;
    this.bytes += frame.payload.length;
    if (frame.kind !== 'data') this.lastTimestamp = frame.timestamp;
    if (this.observer !== undefined) this.observer(frame);
    for (const subscription of this.subscriptions) subscription.deliver(frame);
  }
}
