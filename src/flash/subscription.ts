// One client playing one stream name. It outlives publishers: a player that comes first waits,
// and one whose publisher leaves waits for the next. It decides what reaches the subscriber and
// when: stored headers first, then the publication's cached GOP from its keyframe (a player joining
// mid-stream starts at once), then live media, minus what the client paused or turned off.
import { dataFrame, replayed, retimed, type MediaFrame } from './media-frame.js';
import type { Publication } from './publication.js';
import { statusInfo } from './status.js';
import type { StreamName } from './stream-name.js';
import type { Subscriber } from './subscriber.js';
import { encodeAmf0 } from '../codec/amf0.js';

/** Sent after Play.Start so Flash players may read pixels and samples (BitmapData.draw, SoundMixer). */
const SAMPLE_ACCESS = encodeAmf0('|RtmpSampleAccess', true, true);
/**
 * Audio frames held while a player waits for its first keyframe, at most. An RTMFP publisher
 * sends audio and video on flows of their own, so audio published right after a keyframe can
 * reach the server before the keyframe's last fragment: dropped as "before the start", every
 * player that was waiting missed the stream's first audio frame (ts 0, right after the first
 * keyframe; each of N plain players 99.87-99.93% of frames in the group-multicast bench). Held,
 * those from the keyframe's timestamp on follow it. 50 frames is a second of AAC at 48 kHz; the
 * reordering is a few milliseconds.
 */
const MAX_HELD_AUDIO = 50;

export class Subscription {
  paused = false;
  audio = true;
  video = true;
  closed = false;
  /** Frames handed to the subscriber (the transport may still drop some). */
  framesSent = 0;
  private publication: Publication | undefined;
  /** Waiting for a first video keyframe: nothing but headers and data pass until it comes. */
  private waitingForStart = true;
  /** Video off until a keyframe (after a join, unpause or receiveVideo(true)). */
  private videoReady = false;
  /** StreamEOF was sent and no StreamBegin since. */
  private ended = false;
  /** Audio that came while waiting for the start, the newest MAX_HELD_AUDIO (see there). */
  private heldAudio: MediaFrame[] = [];

  constructor(
    readonly name: StreamName,
    readonly subscriber: Subscriber,
    readonly clientId: string,
    private readonly leave: (subscription: Subscription) => void,
  ) {}

  /** The first messages of a play: Reset, Start, sample access, then what the publisher left. */
  start(publication: Publication | undefined, reset: boolean): void {
    const s = this.subscriber;
    s.streamBegin();
    if (reset) s.sendStatus(statusInfo('status', 'NetStream.Play.Reset', `Playing and resetting ${this.name.key}.`, { details: this.name.key, clientid: this.clientId }));
    s.sendStatus(statusInfo('status', 'NetStream.Play.Start', `Started playing ${this.name.key}.`, { details: this.name.key, clientid: this.clientId }));
    s.sendFrame(dataFrame(0, SAMPLE_ACCESS));
    if (publication) this.attach(publication, false);
  }

  /** A publisher for our name: send its stored data frame, sequence headers and cached GOP. */
  attach(publication: Publication, notify: boolean): void {
    this.publication = publication;
    this.waitingForStart = true;
    this.videoReady = false;
    this.heldAudio = [];
    if (notify) {
      if (this.ended) this.subscriber.streamBegin();
      this.subscriber.sendStatus(statusInfo('status', 'NetStream.Play.PublishNotify', `${this.name.key} is now published.`, { details: this.name.key, clientid: this.clientId }));
    }
    this.ended = false;
    this.sendStart();
  }

  /** The publisher left. */
  detach(): void {
    if (this.publication === undefined) return;
    this.publication = undefined;
    this.subscriber.sendStatus(statusInfo('status', 'NetStream.Play.UnpublishNotify', `${this.name.key} is now unpublished.`, { details: this.name.key, clientid: this.clientId }));
    this.subscriber.streamEnd();
    this.ended = true;
  }

  get live(): boolean {
    return this.publication !== undefined;
  }

  deliver(frame: MediaFrame): void {
    if (this.paused) return;
    if (frame.kind === 'data') {
      this.send(frame);
      return;
    }
    if (frame.kind === 'video') {
      if (!this.video) return;
      if (frame.sequenceHeader) {
        this.send(frame);
        return;
      }
      if (!this.videoReady) {
        if (!frame.keyframe) return;
        this.videoReady = true;
        this.waitingForStart = false;
        this.send(frame);
        this.sendHeldAudio(frame.timestamp);
        return;
      }
      this.send(frame);
      return;
    }
    if (!this.audio) return;
    if (frame.sequenceHeader) {
      this.send(frame);
      return;
    }
    // Audio waits with video for the first keyframe so both start together, unless there is no
    // video (or the client turned it off).
    if (this.waitingForStart && this.video && this.publication?.hasVideo === true) {
      if (this.heldAudio.length === MAX_HELD_AUDIO) this.heldAudio.shift();
      this.heldAudio.push(frame);
      return;
    }
    this.waitingForStart = false;
    this.heldAudio.length = 0;
    this.send(frame);
  }

  /** After the starting keyframe: the held audio from its timestamp on, in the order it came. */
  private sendHeldAudio(keyframeTs: number): void {
    const held = this.heldAudio;
    if (held.length === 0) return;
    this.heldAudio = [];
    if (!this.audio) return;
    // Timestamps are unsigned 32-bit milliseconds: compared as a signed difference, they wrap.
    for (const frame of held) if (((frame.timestamp - keyframeTs) | 0) >= 0) this.send(frame);
  }

  pause(paused: boolean): void {
    if (paused === this.paused) return;
    this.paused = paused;
    const code = paused ? 'NetStream.Pause.Notify' : 'NetStream.Unpause.Notify';
    this.subscriber.sendStatus(statusInfo('status', code, `${paused ? 'Pausing' : 'Unpausing'} ${this.name.key}.`, { details: this.name.key, clientid: this.clientId }));
    if (!paused) {
      // Resume from a keyframe, headers first (the decoder may have been reset meanwhile).
      this.waitingForStart = true;
      this.videoReady = false;
      this.heldAudio = [];
      this.sendStoredHeaders(this.publication?.lastTimestamp ?? 0);
    }
  }

  receiveAudio(on: boolean): void {
    this.audio = on;
  }

  receiveVideo(on: boolean): void {
    if (on && !this.video) this.videoReady = false;
    this.video = on;
  }

  /** The client stopped playing (closeStream, deleteStream, another play, disconnect). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.publication = undefined;
    this.heldAudio = [];
    this.leave(this);
    this.subscriber.close?.();
  }

  /**
   * What a player needs to start now: the stored headers, then the cached GOP from its keyframe.
   * The headers take the GOP's first timestamp, so the player's timeline runs on from there
   * without a gap; with nothing cached, the latest timestamp seen, and video waits for the next
   * keyframe.
   */
  private sendStart(): void {
    const p = this.publication;
    if (p === undefined) return;
    const gop = p.gopCache.frames;
    if (gop.length === 0) {
      this.sendStoredHeaders(p.lastTimestamp);
      return;
    }
    this.sendStoredHeaders(p.gopCache.startTimestamp);
    for (const frame of gop) this.deliver(replayed(frame));
    // Merging would hold the GOP up to media.mergeMs: it goes now, right behind Play.Start.
    this.subscriber.flush?.();
  }

  private sendStoredHeaders(ts: number): void {
    const p = this.publication;
    if (p === undefined) return;
    if (p.dataFrame) this.send(retimed(p.dataFrame, ts));
    if (p.audioHeader && this.audio) this.send(retimed(p.audioHeader, ts));
    if (p.videoHeader && this.video) this.send(retimed(p.videoHeader, ts));
  }

  private send(frame: MediaFrame): void {
    this.framesSent++;
    this.subscriber.sendFrame(frame);
  }
}
