// The playing side of a direct P2P NetStream (Flash's `new NetStream(nc, publisherPeerId)
// .play(name)`): a P2P session to the publisher by its peer ID, a stream flow of our own with
// `play`, and the publisher's answers and media on flows it associates with ours.
import { amfObjectProperties } from '../codec/amf-types.js';
import { argumentsWithoutCommandObject, dataAsAmf0, decodeCommand, FlashMessageType, isCommandType, isDataType, MalformedMessageError } from '../codec/flash-command.js';
import { encodeTcMetadata } from '../codec/tc-metadata.js';
import { parseTcMessage } from '../codec/tc-message.js';
import { FlashFlowPriority } from '../rtmfp/flash-flow-priority.js';
import type { SendFlow } from '../rtmfp/send-flow.js';
import type { IncomingFlow } from '../rtmfp/session.js';
import type { Logger } from '../util/log.js';
import { shortPeerId, type PeerConnection } from './peer-connection.js';
import type { PeerSessions } from './peer-sessions.js';
import { closeStreamMessage, FIRST_DIRECT_STREAM_ID, playMessage, UserControlEvent } from './direct-stream-messages.js';
import type { DirectFrameKind } from './direct-stream-messages.js';

export type StatusInfo = Record<string, unknown>;

export interface DirectPlayOptions {
  /** Reaching the peer and its Play.Start, together, within this long (default 10 s). */
  timeoutMs?: number;
  /** Every frame; data as AMF0. May be called before playDirect resolves. */
  onFrame?: (kind: DirectFrameKind, timestamp: number, payload: Buffer) => void;
}

/** The publisher answered play with an error status (refused, no such stream). */
export class DirectPlayRefused extends Error {
  constructor(
    message: string,
    readonly info: StatusInfo,
  ) {
    super(message);
  }
}

/** How long a player keeps listening after the publisher announced its end: media may still be on other flows. */
const END_GRACE_MS = 300;

/** The next stream ID for a play on each P2P session (Flash's 2,000,000 + n). */
const nextStreamIds = new WeakMap<PeerConnection, number>();

export class DirectPlay {
  /** Every status event received, in order. */
  readonly statuses: StatusInfo[] = [];
  /** StreamBegin / StreamEOF events, in order. */
  readonly userControl: number[] = [];
  onFrame?: DirectPlayOptions['onFrame'];
  onStatus?: (info: StatusInfo) => void;
  /** The stream ended: unpublished, the publisher closed it, or the P2P session ended. Once. */
  onEnd?: (reason: string) => void;
  receivedBytes = 0;
  endedReason: string | undefined;
  private readonly removeHandler: () => void;
  private readonly waiters: Array<(info: StatusInfo | Error) => void> = [];
  private endTimer: NodeJS.Timeout | undefined;
  /** The publisher said the stream ends (UnpublishNotify, StreamEOF): its frames may still be on the way. */
  private announcedEnd: string | undefined;

  constructor(
    readonly peer: PeerConnection,
    readonly name: string,
    readonly streamId: number,
    private readonly flow: SendFlow,
    peers: PeerSessions,
    private readonly log: Logger,
  ) {
    // The publisher's flows come associated with ours (data first, then audio and video).
    let dataFlow: IncomingFlow | undefined;
    this.removeHandler = peers.addFlowHandler((p, incoming) => {
      if (p !== peer || incoming.returnFlowId !== flow.flowId) return false;
      dataFlow ??= incoming;
      incoming.onMessage = (message) => this.receive(message);
      incoming.onEnd = () => {
        // After an announced end, that announcement is the reason.
        if (incoming === dataFlow) this.ended(this.announcedEnd ?? 'the publisher closed the stream');
      };
      return true;
    });
    flow.onRejected = () => this.ended(`peer ${shortPeerId(peer.peerId)} refused the stream flow (it publishes no direct streams)`);
    void peer.closed.then((reason) => this.ended(`P2P session ended: ${reason}`));
  }

  /** Resolves at NetStream.Play.Start; rejects at an error status, the end of the stream, or the timeout. */
  waitStart(timeoutMs: number): Promise<StatusInfo> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`peer ${shortPeerId(this.peer.peerId)} did not answer play ${this.name} within ${timeoutMs} ms`)), timeoutMs);
      const finish = (outcome: StatusInfo | Error) => {
        clearTimeout(timer);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const waiter = (info: StatusInfo | Error) => {
        if (info instanceof Error) finish(info);
        else if (info.code === 'NetStream.Play.Start') finish(info);
        else if (info.level === 'error') finish(new DirectPlayRefused(`peer ${shortPeerId(this.peer.peerId)} refused play ${this.name}: ${String(info.code)}: ${String(info.description)}`, info));
      };
      if (this.endedReason !== undefined) {
        finish(new Error(`play ${this.name} from peer ${shortPeerId(this.peer.peerId)} ended: ${this.endedReason}`));
        return;
      }
      this.waiters.push(waiter);
    });
  }

  /** Stops playing: closeStream, then our flow ends (the publisher stops sending to us). The P2P session stays. */
  close(): void {
    if (this.endedReason === undefined && this.peer.isOpen) this.flow.write(closeStreamMessage());
    this.ended('closed by the player', false);
  }

  private receive(message: Buffer): void {
    if (this.endedReason !== undefined) return;
    const m = parseTcMessage(message);
    if (m === undefined) return;
    try {
      if (m.type === FlashMessageType.Audio || m.type === FlashMessageType.Video) {
        this.receivedBytes += m.body.length;
        this.onFrame?.(m.type === FlashMessageType.Audio ? 'audio' : 'video', m.timestamp, m.body);
      } else if (isDataType(m.type)) {
        const body = dataAsAmf0(m.type, m.body);
        this.receivedBytes += body.length;
        this.onFrame?.('data', m.timestamp, body);
      } else if (isCommandType(m.type)) {
        const command = decodeCommand(m.type, m.body);
        // librtmfp's publisher writes no null before the info object (see argumentsWithoutCommandObject).
        if (command.name === 'onStatus') this.status(amfObjectProperties(argumentsWithoutCommandObject(command)[0]) ?? {});
      } else if (m.type === FlashMessageType.UserControl && m.body.length >= 6) {
        const event = m.body.readUInt16BE(0);
        this.userControl.push(event);
        if (event === UserControlEvent.streamEof) this.endSoon('StreamEOF');
      }
    } catch (err) {
      if (!(err instanceof MalformedMessageError)) throw err;
      this.log.warn({ peer: shortPeerId(this.peer.peerId), reason: err.message }, 'malformed message from a direct publisher ignored');
    }
  }

  private status(info: StatusInfo): void {
    this.statuses.push(info);
    for (const w of this.waiters.slice()) w(info);
    this.onStatus?.(info);
    const code = String(info.code);
    if (code === 'NetStream.Play.UnpublishNotify' || code === 'NetStream.Play.Stop') this.endSoon(`${code}: the publisher stopped`);
    else if (info.level === 'error') this.ended(`${code}: ${String(info.description)}`);
  }

  private endSoon(reason: string): void {
    this.announcedEnd ??= reason;
    this.endTimer ??= setTimeout(() => this.ended(reason), END_GRACE_MS);
  }

  private ended(reason: string, notify = true): void {
    if (this.endedReason !== undefined) return;
    this.endedReason = reason;
    clearTimeout(this.endTimer);
    this.removeHandler();
    if (this.peer.isOpen) this.flow.close();
    for (const w of this.waiters.slice()) w(new Error(`play ${this.name} from peer ${shortPeerId(this.peer.peerId)} ended: ${reason}`));
    this.log.debug({ peer: shortPeerId(this.peer.peerId), stream: this.name, reason }, 'direct play ended');
    if (notify) this.onEnd?.(reason);
  }
}

/** Plays `name` from the peer of that ID, directly: resolves once it started (NetStream.Play.Start). */
export async function playDirect(peers: PeerSessions, peerId: string, name: string, options: DirectPlayOptions, log: Logger): Promise<DirectPlay> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const started = Date.now();
  const peer = await peers.connect(peerId, { timeoutMs });
  const streamId = nextStreamIds.get(peer) ?? FIRST_DIRECT_STREAM_ID;
  nextStreamIds.set(peer, streamId + 1);
  // Unassociated, as Flash opens it: there is no NetConnection flow between peers.
  const flow = peer.openFlow(encodeTcMetadata(streamId), { priority: FlashFlowPriority.command });
  const play = new DirectPlay(peer, name, streamId, flow, peers, log);
  play.onFrame = options.onFrame;
  flow.write(playMessage(name));
  try {
    await play.waitStart(Math.max(1, timeoutMs - (Date.now() - started)));
  } catch (err) {
    play.close();
    throw err;
  }
  return play;
}
