// Delivers one played stream over RTMFP. Status events and data go reliably on the stream's command
// flow; audio and video each get a flow of their own, so a lost video fragment never holds up
// audio, and both are partially reliable: a frame not delivered within its deadline is abandoned
// rather than queued behind. A video frame abandoned breaks the frames after it, so video then
// waits for the next keyframe. Frames are encoded once and the same bytes written to every
// subscriber's flow.
import { FlashMessageType } from '../codec/flash-command.js';
import { encodeTcMessage } from '../codec/tc-message.js';
import type { MediaFrame } from '../flash/media-frame.js';
import { MediaSendPolicy, type MediaQueueLimits } from '../flash/media-send-policy.js';
import type { StatusInfo } from '../flash/status.js';
import type { Subscriber } from '../flash/subscriber.js';
import type { SendFlow, WriteReceipt } from '../rtmfp/send-flow.js';
import { TIME_CRITICAL_PRIORITY } from '../rtmfp/session.js';
import type { RtmfpFlashSession } from './rtmfp-flash-session.js';

/** How long a frame may take to be delivered before it is abandoned, ms. */
export interface MediaDeadlines {
  audio: number;
  video: number;
}

export const DEFAULT_MEDIA_DEADLINES: MediaDeadlines = { audio: 1500, video: 2500 };

const USER_CONTROL_STREAM_BEGIN = 0;
const USER_CONTROL_STREAM_EOF = 1;

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
  private audioFlow: SendFlow | undefined;
  private videoFlow: SendFlow | undefined;
  private closed = false;
  private dropping = false;
  /** Bound once: called for every video frame that settles. */
  private readonly onVideoDone = (receipt: WriteReceipt) => {
    if (receipt.status === 'abandoned' && !this.closed) this.policy.videoLost();
  };

  constructor(
    private readonly transport: RtmfpFlashSession,
    readonly streamId: number,
    limits?: MediaQueueLimits,
    deadlines?: Partial<MediaDeadlines>,
  ) {
    this.policy = new MediaSendPolicy(limits);
    this.deadlines = { ...DEFAULT_MEDIA_DEADLINES, ...deadlines };
  }

  sendStatus(info: StatusInfo): void {
    this.transport.sendCommand(this.streamId, this.transport.objectEncoding, 'onStatus', 0, null, info);
  }

  streamBegin(): void {
    this.userControl(USER_CONTROL_STREAM_BEGIN);
  }

  streamEnd(): void {
    this.userControl(USER_CONTROL_STREAM_EOF);
  }

  sendFrame(frame: MediaFrame): void {
    if (this.closed) return;
    if (frame.kind === 'data') {
      this.transport.commandFlow(this.streamId)?.write(messageFor(frame));
      return;
    }
    const video = frame.kind === 'video';
    const flow = video ? (this.videoFlow ??= this.transport.openFlow(this.streamId, TIME_CRITICAL_PRIORITY + 1)) : (this.audioFlow ??= this.transport.openFlow(this.streamId, TIME_CRITICAL_PRIORITY + 2));
    if (flow === undefined) return;
    const queued = this.queuedBytes();
    const admit = video ? this.policy.admitVideo(frame.keyframe, frame.sequenceHeader, queued) : this.policy.admitAudio(frame.sequenceHeader, queued);
    if (!admit) {
      if (!this.dropping) {
        this.dropping = true;
        this.transport.log.debug({ streamId: this.streamId, queued }, 'subscriber too slow: dropping late frames');
      }
      return;
    }
    if (this.dropping && !this.policy.skippingVideo) {
      this.dropping = false;
      this.transport.log.debug({ streamId: this.streamId, droppedVideo: this.policy.droppedVideo, droppedAudio: this.policy.droppedAudio }, 'subscriber caught up');
    }
    if (frame.sequenceHeader) {
      // Decoders cannot do without these: reliable.
      flow.write(messageFor(frame));
    } else if (video) {
      flow.write(messageFor(frame), { deadlineMs: this.deadlines.video, onDone: this.onVideoDone });
    } else {
      flow.write(messageFor(frame), { deadlineMs: this.deadlines.audio });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.audioFlow?.close();
    this.videoFlow?.close();
  }

  /** Unacknowledged media bytes for this subscriber: what a slow network or client leaves behind. */
  private queuedBytes(): number {
    return (this.audioFlow?.bufferedBytes ?? 0) + (this.videoFlow?.bufferedBytes ?? 0);
  }

  private userControl(event: number): void {
    const body = Buffer.alloc(6);
    body.writeUInt16BE(event, 0);
    body.writeUInt32BE(this.streamId, 2);
    this.transport.commandFlow(this.streamId)?.write(encodeTcMessage(FlashMessageType.UserControl, 0, body));
  }
}
