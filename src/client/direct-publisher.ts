// The publishing side of direct P2P NetStreams (Flash's `new NetStream(nc,
// NetStream.DIRECT_CONNECTIONS).publish(name)`): players that name our peer ID open a P2P session
// to us and a stream flow carrying `play`; each accepted player gets the stream's media on flows
// of its own, straight from us. The server only introduced the two peers.
import { decodeCommand, FlashMessageType, isCommandType, MalformedMessageError } from '../codec/flash-command.js';
import { parseTcMetadata, encodeTcMetadata } from '../codec/tc-metadata.js';
import { encodeTcMessage, parseTcMessage } from '../codec/tc-message.js';
import { isAudioSequenceHeader } from '../codec/audio-tag.js';
import { isOnMetaData } from '../codec/flv-script-data.js';
import { isVideoKeyframe, isVideoSequenceHeader } from '../codec/video-tag.js';
import { FlashFlowPriority } from '../rtmfp/flash-flow-priority.js';
import type { SendFlow } from '../rtmfp/send-flow.js';
import type { IncomingFlow } from '../rtmfp/session.js';
import type { Address } from '../rtmfp/address.js';
import type { Logger } from '../util/log.js';
import { shortPeerId, type PeerConnection } from './peer-connection.js';
import type { PeerSessions } from './peer-sessions.js';
import { sampleAccessMessage, statusMessage, UserControlEvent, userControlMessage } from './direct-stream-messages.js';
import type { DirectFrameKind } from './direct-stream-messages.js';


/** A player asking for one of our direct streams. */
export interface DirectPlayRequest {
  peerId: string;
  /** Where the player is, as our socket sees it. */
  address: Address;
  name: string;
}

export interface DirectPublishOptions {
  /**
   * Flash's onPeerConnect: true accepts the player; false, or a string (the description the
   * player is given), refuses it with NetStream.Connect.Rejected. Default: accept every player.
   */
  onPeerConnect?: (request: DirectPlayRequest) => boolean | string;
  /** Most players served at once; more are refused (default 100). */
  maxPlayers?: number;
}

/**
 * A player whose flows hold more than this unsent (a slow or stalled peer) misses frames until
 * it has drained and the next keyframe comes: the others are not held back, and neither is the
 * publisher. At 2 Mbit/s this is 4 s of media.
 */
const MAX_PLAYER_BACKLOG = 1024 * 1024;
const DEFAULT_MAX_PLAYERS = 100;

/** One accepted player. */
export class DirectSubscriber {
  /** Until a video keyframe: video would not decode from an inter frame. */
  waitingForKeyframe = true;
  private audio: SendFlow | undefined;
  private video: SendFlow | undefined;
  ended = false;

  constructor(
    readonly peer: PeerConnection,
    readonly streamId: number,
    private readonly playFlow: IncomingFlow,
    /** Our first flow to it: stream events, statuses and data messages. */
    private readonly data: SendFlow,
  ) {}

  get peerId(): string {
    return this.peer.peerId;
  }

  get bufferedBytes(): number {
    return this.data.bufferedBytes + (this.audio?.bufferedBytes ?? 0) + (this.video?.bufferedBytes ?? 0);
  }

  /** @internal */
  send(kind: DirectFrameKind, message: Buffer): void {
    if (this.ended || !this.peer.isOpen) return;
    if (kind === 'data') this.data.write(message);
    else if (kind === 'audio') (this.audio ??= this.openMediaFlow(FlashFlowPriority.audio)).write(message);
    else (this.video ??= this.openMediaFlow(FlashFlowPriority.video)).write(message);
  }

  /** @internal Our flows to it end (after a last message on the data flow, if any). */
  end(last?: Buffer): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.peer.isOpen) return;
    if (last) this.data.write(last);
    this.data.close();
    this.audio?.close();
    this.video?.close();
  }

  private openMediaFlow(priority: number): SendFlow {
    // Audio and video each on a flow of their own, as Flash and librtmfp send them: a lost
    // video fragment must not hold audio back.
    return this.peer.openFlow(encodeTcMetadata(this.streamId), { returnFlowId: this.playFlow.flowId, priority });
  }
}

export class DirectPublisher {
  readonly subscribers = new Set<DirectSubscriber>();
  /** A player was accepted and is being served. */
  onSubscribe?: (subscriber: DirectSubscriber) => void;
  /** A player stopped (closed its stream, or its session ended). */
  onUnsubscribe?: (subscriber: DirectSubscriber, reason: string) => void;
  private closed = false;
  /** What a player that joins late needs before the live frames: metadata and codec headers (payloads). */
  private metadata: Buffer | undefined;
  private audioHeader: Buffer | undefined;
  private videoHeader: Buffer | undefined;
  /** The stream's time now: a late player's headers carry it, so its recording has no gap. */
  private lastTimestamp = 0;

  constructor(
    readonly name: string,
    readonly options: DirectPublishOptions,
    private readonly unregister: () => void,
    readonly log: Logger,
  ) {}

  /**
   * Sends a frame to every player: audio and video tag bodies, data as AMF0 (an onMetaData is
   * also kept for players that join later).
   */
  send(kind: DirectFrameKind, timestamp: number, payload: Buffer): void {
    if (this.closed) return;
    const type = kind === 'audio' ? FlashMessageType.Audio : kind === 'video' ? FlashMessageType.Video : FlashMessageType.DataAmf0;
    const message = encodeTcMessage(type, timestamp, payload);
    const keyframe = kind === 'video' && isVideoKeyframe(payload);
    let header = false;
    if (kind !== 'data') this.lastTimestamp = timestamp;
    if (kind === 'data' && isOnMetaData(payload)) this.metadata = payload;
    else if (kind === 'audio' && isAudioSequenceHeader(payload)) this.audioHeader = payload;
    else if (kind === 'video' && isVideoSequenceHeader(payload)) header = Boolean((this.videoHeader = payload));
    for (const s of this.subscribers) {
      if (s.bufferedBytes > MAX_PLAYER_BACKLOG) {
        if (!s.waitingForKeyframe) this.log.debug({ peer: shortPeerId(s.peerId), buffered: s.bufferedBytes }, 'direct player behind: frames skipped until the next keyframe');
        s.waitingForKeyframe = true;
        continue;
      }
      // Audio flows at once (an audio-only stream has no keyframe to wait for).
      if (s.waitingForKeyframe && kind === 'video' && !header) {
        if (!keyframe) continue;
        s.waitingForKeyframe = false;
      }
      s.send(kind, message);
    }
  }

  /** The largest backlog among players (each is capped: see MAX_PLAYER_BACKLOG). */
  get bufferedBytes(): number {
    let most = 0;
    for (const s of this.subscribers) most = Math.max(most, s.bufferedBytes);
    return most;
  }

  /** Stops publishing: every player is told (NetStream.Play.UnpublishNotify, StreamEOF). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unregister();
    for (const s of [...this.subscribers]) {
      s.send('data', statusMessage('status', 'NetStream.Play.UnpublishNotify', `${this.name} is now unpublished.`, this.name));
      s.end(userControlMessage(UserControlEvent.streamEof, s.streamId));
      this.drop(s, 'unpublished');
    }
  }

  /** @internal A player asked for this stream on `flow`. */
  servePlayer(peer: PeerConnection, flow: IncomingFlow, streamId: number, data: SendFlow): DirectSubscriber | undefined {
    const request: DirectPlayRequest = { peerId: peer.peerId, address: peer.address, name: this.name };
    let verdict: boolean | string = true;
    if (this.subscribers.size >= (this.options.maxPlayers ?? DEFAULT_MAX_PLAYERS)) verdict = `too many players (${this.options.maxPlayers ?? DEFAULT_MAX_PLAYERS})`;
    else if (this.options.onPeerConnect) {
      try {
        verdict = this.options.onPeerConnect(request);
      } catch (err) {
        this.log.warn({ err, peer: shortPeerId(peer.peerId) }, 'onPeerConnect failed: player refused');
        verdict = 'the publisher could not decide';
      }
    }
    if (verdict !== true) {
      const description = typeof verdict === 'string' ? verdict : `the publisher of ${this.name} refused this peer`;
      this.log.info({ peer: shortPeerId(peer.peerId), stream: this.name, reason: description }, 'direct player refused');
      data.write(statusMessage('error', 'NetStream.Connect.Rejected', description, this.name));
      data.close();
      return undefined;
    }
    const s = new DirectSubscriber(peer, streamId, flow, data);
    this.subscribers.add(s);
    this.log.info({ peer: shortPeerId(peer.peerId), address: `${peer.address.host}:${peer.address.port}`, stream: this.name }, 'direct player accepted');
    // What Flash's publisher answers a play with (librtmfp's order): StreamBegin, Play.Reset,
    // Play.Start, |RtmpSampleAccess; then the media.
    s.send('data', userControlMessage(UserControlEvent.streamBegin, streamId));
    s.send('data', statusMessage('status', 'NetStream.Play.Reset', `Playing and resetting ${this.name}.`, this.name));
    s.send('data', statusMessage('status', 'NetStream.Play.Start', `Started playing ${this.name}.`, this.name));
    s.send('data', sampleAccessMessage());
    const now = this.lastTimestamp;
    if (this.metadata) s.send('data', encodeTcMessage(FlashMessageType.DataAmf0, now, this.metadata));
    if (this.audioHeader) s.send('audio', encodeTcMessage(FlashMessageType.Audio, now, this.audioHeader));
    if (this.videoHeader) s.send('video', encodeTcMessage(FlashMessageType.Video, now, this.videoHeader));
    flow.onEnd = () => this.drop(s, 'the player closed its stream');
    void peer.closed.then((reason) => this.drop(s, `P2P session ended: ${reason}`));
    this.onSubscribe?.(s);
    return s;
  }

  /** @internal */
  drop(s: DirectSubscriber, reason: string): void {
    if (!this.subscribers.delete(s)) return;
    s.end();
    this.log.info({ peer: shortPeerId(s.peerId), stream: this.name, reason }, 'direct player gone');
    this.onUnsubscribe?.(s, reason);
  }
}


/**
 * The direct streams a client publishes, by name, and the flow handler that takes players'
 * stream flows on its P2P sessions. One per client, made with its first direct publisher.
 */
class DirectStreamHost {
  readonly publishers = new Map<string, DirectPublisher>();

  constructor(
    peers: PeerSessions,
    private readonly log: Logger,
  ) {
    peers.addFlowHandler((peer, flow) => this.offer(peer, flow));
  }

  /**
   * A stream flow (TC metadata, a stream ID other than the NetConnection's) opened by a peer.
   * Once we have published directly, every such flow gets an answer (StreamNotFound for a name
   * we do not publish now); before, a client refuses them (the player hears "no direct streams").
   */
  private offer(peer: PeerConnection, flow: IncomingFlow): boolean {
    const metadata = parseTcMetadata(flow.metadata);
    if (metadata === undefined || metadata.streamId === 0 || flow.returnFlowId !== undefined) return false;
    let subscriber: DirectSubscriber | undefined;
    let publisher: DirectPublisher | undefined;
    let answered = false;
    flow.onMessage = (message) => {
      const m = parseTcMessage(message);
      if (m === undefined || !isCommandType(m.type)) return;
      let command;
      try {
        command = decodeCommand(m.type, m.body);
      } catch (err) {
        if (!(err instanceof MalformedMessageError)) throw err;
        this.log.debug({ peer: shortPeerId(peer.peerId), reason: err.message }, 'malformed command from a direct player ignored');
        return;
      }
      if (command.name === 'play' && !answered) {
        answered = true;
        const name = typeof command.args[0] === 'string' ? command.args[0] : '';
        // Every answer goes on a flow of ours with the same metadata, associated with theirs.
        const data = peer.openFlow(encodeTcMetadata(metadata.streamId), { returnFlowId: flow.flowId, priority: FlashFlowPriority.command });
        publisher = this.publishers.get(name);
        if (publisher === undefined) {
          this.log.info({ peer: shortPeerId(peer.peerId), stream: name }, 'direct player asked for a stream we do not publish');
          data.write(statusMessage('error', 'NetStream.Play.StreamNotFound', `${name} is not published here (direct streams: ${[...this.publishers.keys()].join(', ') || 'none'}).`, name));
          data.close();
          return;
        }
        subscriber = publisher.servePlayer(peer, flow, metadata.streamId, data);
      } else if (command.name === 'closeStream' && subscriber && publisher) {
        publisher.drop(subscriber, 'the player closed its stream');
      }
    };
    return true;
  }
}

const hosts = new WeakMap<PeerSessions, DirectStreamHost>();

/** Publishes `name` to players that connect to us directly (NetStream.DIRECT_CONNECTIONS). */
export function publishDirect(peers: PeerSessions, name: string, options: DirectPublishOptions, log: Logger): DirectPublisher {
  let host = hosts.get(peers);
  if (host === undefined) {
    host = new DirectStreamHost(peers, log);
    hosts.set(peers, host);
  }
  if (name === '') throw new Error('a direct stream needs a name');
  if (host.publishers.has(name)) throw new Error(`already publishing a direct stream named ${name}`);
  const publisher: DirectPublisher = new DirectPublisher(name, options, () => host.publishers.delete(name), log.child({ direct: name }));
  host.publishers.set(name, publisher);
  return publisher;
}
