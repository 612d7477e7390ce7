// Delivers one played stream over RTMFP. Status events and data go reliably on the stream's command
// flow; audio and video each get a flow of their own, so a lost video fragment never holds up
// audio, and both are partially reliable: a frame not delivered within its deadline is abandoned
// rather than queued behind. A video frame abandoned breaks the frames after it, so video then
// waits for the next keyframe. Frames are encoded once and the same bytes written to every
// subscriber's flow.
import { FlashMessageType } from '../codec/flash-command.js';
import { encodeTcMessage } from '../codec/tc-message.js';
import type { MediaFrame } from '../flash/media-frame.js';
import { DEFAULT_MEDIA_MERGE_MS, MediaSendPolicy, type MediaQueueLimits } from '../flash/media-send-policy.js';
import type { StatusInfo } from '../flash/status.js';
import type { Subscriber } from '../flash/subscriber.js';
import type { SendFlow, WriteOptions, WriteReceipt } from '../rtmfp/send-flow.js';
import { FlashFlowPriority } from '../rtmfp/flash-flow-priority.js';
import type { RtmfpFlashSession } from './rtmfp-flash-session.js';

/** How long a frame may take to be delivered before it is abandoned, ms. */
export interface MediaDeadlines {
  audio: number;
  video: number;
}

export const DEFAULT_MEDIA_DEADLINES: MediaDeadlines = { audio: 1500, video: 2500 };

/** The longest a status event waits for the media written before it to be delivered. */
const STATUS_WAIT_MAX_MS = 1000;
const STATUS_WAIT_POLL_MS = 20;

const USER_CONTROL_STREAM_BEGIN = 0;
const USER_CONTROL_STREAM_EOF = 1;

/** Subscribers holding media for the shared merge timer, and that timer. */
const holding = new Set<RtmfpSubscriber>();
let holdTimer: NodeJS.Timeout | undefined;

function releaseHeld(): void {
  holdTimer = undefined;
  for (const subscriber of holding) subscriber.flush();
  holding.clear();
}

/** What a held frame is, as bits (see RtmfpSubscriber.heldKinds). */
const HELD_VIDEO = 1;
/** A sequence header: written reliably. */
const HELD_RELIABLE = 2;
const EMPTY = Buffer.alloc(0);

/**
 * The encoding of the frame being fanned out. A publication hands a frame to all its subscribers
 * in one synchronous loop, so remembering the last frame is enough.
 */
let cachedFrame: MediaFrame | undefined;
let cachedMessage: Buffer = Buffer.alloc(0);

function messageFor(frame: MediaFrame): Buffer {
  if (frame !== cachedFrame) {
    const type = frame.kind === 'audio' ? FlashMessageType.Audio : frame.kind === 'video' ? FlashMessageType.Video : FlashMessageType.DataAmf0;
    cachedMessage = encodeTcMessage(type, frame.timestamp, frame.payload);
    cachedFrame = frame;
  }
  return cachedMessage;
}

export class RtmfpSubscriber implements Subscriber {
  readonly policy: MediaSendPolicy;
  private readonly deadlines: MediaDeadlines;
  /**
   * Frames admitted and waiting for the merge timer: their messages, and HELD_* bits for each,
   * in parallel arrays that keep their capacity (an object per frame per subscriber was most of
   * what the merge window cost in garbage).
   */
  private heldMessages: Buffer[] = [];
  private heldKinds: number[] = [];
  private heldCount = 0;
  /** Status events waiting for the media before them (see afterMedia). */
  private waiting: Array<() => void> = [];
  private waitTimer: NodeJS.Timeout | undefined;
  private heldBytes = 0;
  private readonly videoOptions: WriteOptions;
  private readonly audioOptions: WriteOptions;
  private audioFlow: SendFlow | undefined;
  private videoFlow: SendFlow | undefined;
  private closed = false;
  /** Bound once: called for every video frame that settles. */
  private readonly onVideoDone = (receipt: WriteReceipt) => {
    if (receipt.status === 'abandoned' && !this.closed) this.policy.videoLost();
  };

  constructor(
    private readonly transport: RtmfpFlashSession,
    readonly streamId: number,
    limits?: MediaQueueLimits,
    deadlines?: Partial<MediaDeadlines>,
    /**
     * Media may wait this long to leave with the next frames: audio then shares packets with
     * video, and every packet saved is a send and half an ack fewer, the bulk of fan-out cost.
     * 0 writes each frame at once.
     */
    private readonly mergeMs = DEFAULT_MEDIA_MERGE_MS,
  ) {
    this.policy = new MediaSendPolicy(limits);
    this.deadlines = { ...DEFAULT_MEDIA_DEADLINES, ...deadlines };
    this.videoOptions = { deadlineMs: this.deadlines.video, onDone: this.onVideoDone };
    this.audioOptions = { deadlineMs: this.deadlines.audio };
  }

  sendStatus(info: StatusInfo): void {
    this.afterMedia(() => this.transport.sendCommand(this.streamId, this.transport.objectEncoding, 'onStatus', 0, null, info));
  }

  streamBegin(): void {
    this.afterMedia(() => this.userControl(USER_CONTROL_STREAM_BEGIN));
  }

  streamEnd(): void {
    this.afterMedia(() => this.userControl(USER_CONTROL_STREAM_EOF));
  }

  /**
   * Status events and stream begin/end travel on the command flow, media on flows of their own,
   * and nothing orders flows against each other: an UnpublishNotify written behind the last
   * frames would reach the player before them (and players stop there). So these wait until the
   * media written before them is delivered, for STATUS_WAIT_MAX_MS at most.
   */
  private afterMedia(send: () => void): void {
    this.flush();
    if (this.waiting.length === 0 && this.queuedBytes() === 0) {
      send();
      return;
    }
    this.waiting.push(send);
    if (this.waitTimer === undefined) {
      const since = Date.now();
      this.waitTimer = setInterval(() => {
        if (this.queuedBytes() > 0 && Date.now() - since < STATUS_WAIT_MAX_MS) return;
        clearInterval(this.waitTimer);
        this.waitTimer = undefined;
        const waiting = this.waiting;
        this.waiting = [];
        if (!this.closed) for (const w of waiting) w();
      }, STATUS_WAIT_POLL_MS);
    }
  }

  sendFrame(frame: MediaFrame): void {
    if (this.closed) return;
    if (frame.kind === 'data') {
      // Data shares the command flow with status events: it keeps its place behind waiting ones.
      const message = messageFor(frame);
      if (this.waiting.length > 0) this.waiting.push(() => this.transport.commandFlow(this.streamId)?.write(message));
      else this.transport.commandFlow(this.streamId)?.write(message);
      return;
    }
    const video = frame.kind === 'video';
    const flow = video ? (this.videoFlow ??= this.transport.openFlow(this.streamId, FlashFlowPriority.video)) : (this.audioFlow ??= this.transport.openFlow(this.streamId, FlashFlowPriority.audio));
    if (flow === undefined) return;
    if (!this.policy.admit(frame, this.queuedBytes(), this.transport.log, this.streamId)) return;
    // Sequence headers go reliably: decoders cannot do without them.
    const kind = (video ? HELD_VIDEO : 0) | (frame.sequenceHeader ? HELD_RELIABLE : 0);
    const message = messageFor(frame);
    if (this.mergeMs <= 0) {
      flow.write(message, this.writeOptions(kind));
      return;
    }
    this.heldMessages[this.heldCount] = message;
    this.heldKinds[this.heldCount] = kind;
    this.heldCount++;
    this.heldBytes += message.length;
    if (!holding.has(this)) {
      holding.add(this);
      holdTimer ??= setTimeout(releaseHeld, this.mergeMs);
    }
  }

  /** Writes the media held for the merge timer. */
  flush(): void {
    const count = this.heldCount;
    if (count === 0) return;
    this.heldCount = 0;
    this.heldBytes = 0;
    for (let i = 0; i < count; i++) {
      const message = this.heldMessages[i]!;
      this.heldMessages[i] = EMPTY;
      if (this.closed) continue;
      const kind = this.heldKinds[i]!;
      (kind & HELD_VIDEO ? this.videoFlow : this.audioFlow)?.write(message, this.writeOptions(kind));
    }
  }

  /** Media goes partially reliable with its kind's deadline; sequence headers reliably. */
  private writeOptions(kind: number): WriteOptions | undefined {
    if (kind & HELD_RELIABLE) return undefined;
    return kind & HELD_VIDEO ? this.videoOptions : this.audioOptions;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.heldMessages = [];
    this.heldKinds = [];
    this.heldCount = 0;
    this.heldBytes = 0;
    this.waiting = [];
    clearInterval(this.waitTimer);
    this.waitTimer = undefined;
    holding.delete(this);
    this.audioFlow?.close();
    this.videoFlow?.close();
  }

  /** Media bytes held or unacknowledged for this subscriber: what a slow network or client leaves behind. */
  private queuedBytes(): number {
    return this.heldBytes + (this.audioFlow?.bufferedBytes ?? 0) + (this.videoFlow?.bufferedBytes ?? 0);
  }

  private userControl(event: number): void {
    const body = Buffer.alloc(6);
    body.writeUInt16BE(event, 0);
    body.writeUInt32BE(this.streamId, 2);
    this.transport.commandFlow(this.streamId)?.write(encodeTcMessage(FlashMessageType.UserControl, 0, body));
  }
}
