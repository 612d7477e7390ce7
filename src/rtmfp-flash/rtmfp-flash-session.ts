// Binds one RTMFP session to the Flash model (RFC 7425 §5): the client's flows are tagged with the
// stream they belong to (stream 0: its NetConnection), carry one RTMP-typed message each, and our
// answers go on flows of our own that return-associate with the client's NetConnection flow, as
// Flash Player, librtmfp and rtmfp-cpp expect.
import { argumentsWithoutCommandObject, decodeCommand, decodeData, encodeCommand, FlashMessageType, isCommandType, isDataType, MalformedMessageError } from '../codec/flash-command.js';
import { parseTcMetadata, encodeTcMetadata } from '../codec/tc-metadata.js';
import { encodeTcMessage, parseTcMessage } from '../codec/tc-message.js';
import { decodeSharedObjectMessage, isSharedObjectType } from '../codec/shared-object-message.js';
import type { FlashClient } from '../flash/flash-client.js';
import type { FlashServer } from '../flash/flash-server.js';
import type { FlashTransport, ObjectEncoding } from '../flash/flash-transport.js';
import type { MediaQueueLimits } from '../flash/media-send-policy.js';
import { statusInfo } from '../flash/status.js';
import type { Subscriber } from '../flash/subscriber.js';
import { formatAddress } from '../rtmfp/address.js';
import type { SendFlow } from '../rtmfp/send-flow.js';
import type { IncomingFlow, Session } from '../rtmfp/session.js';
import type { Logger } from '../util/log.js';
import { FlashFlowPriority } from '../rtmfp/flash-flow-priority.js';
import type { PeerRegistry } from '../rtmfp/peer-registry.js';
import { DEFAULT_KEEPALIVE, keepaliveEvent, PeerPresence, type KeepalivePeriods } from './peer-presence.js';
import { isGroupFlowMetadata } from '../codec/group-control.js';
import { acceptGroupFlow } from './group-flow.js';
import { RtmfpSubscriber, type MediaDeadlines } from './rtmfp-subscriber.js';

export interface RtmfpSessionOptions {
  /** The connect command must come this soon after the session opens. */
  connectTimeoutMs?: number;
  mediaQueue?: MediaQueueLimits;
  mediaDeadlines?: Partial<MediaDeadlines>;
  /** Media to players may wait this long to leave with the next frames (see RtmfpSubscriber); 0: at once. */
  mediaMergeMs?: number;
  /** Where connected clients are registered for introductions (rendezvous); none: not introduced. */
  peers?: PeerRegistry;
  /** The keepalive periods told to each client after connect. */
  keepalive?: KeepalivePeriods;
}

/** The longest close() waits for our last messages to be acknowledged. */
const CLOSE_FLUSH_MS = 2_000;

export class RtmfpFlashSession implements FlashTransport {
  readonly protocol = 'rtmfp';
  /** Where the client is now (address mobility moves it). */
  remoteAddress: string;
  readonly log: Logger;
  readonly client: FlashClient;
  /** The client's NetConnection flow: our flows answer it. */
  private controlIn: IncomingFlow | undefined;
  /** Our flows carrying commands and data, by stream id (0: the NetConnection). */
  private readonly commandFlows = new Map<number, SendFlow>();
  private readonly subscribers = new Map<number, RtmfpSubscriber>();
  private readonly connectTimer: NodeJS.Timeout;
  /** close() was called: say nothing more, end the session once the flows have drained. */
  private closing = false;
  /** The session's end was logged (once, at the moment it ended). */
  private ended = false;
  private readonly openedAt = performance.now();
  private readonly presence: PeerPresence;

  constructor(
    readonly session: Session,
    flash: FlashServer,
    private readonly options: RtmfpSessionOptions = {},
  ) {
    this.log = session.log;
    this.remoteAddress = formatAddress(session.address);
    this.client = flash.createClient(this);
    this.presence = new PeerPresence(session, options.peers, this.log);
    session.onFlow = (flow) => this.acceptFlow(flow);
    session.onClose = (reason) => this.end(reason);
    session.onAddressChange = (from, to) => {
      this.remoteAddress = formatAddress(to);
      this.client.handleAddressChange(formatAddress(from));
    };
    const ms = options.connectTimeoutMs ?? 10_000;
    this.connectTimer = setTimeout(() => {
      if (this.client.state === 'new') this.close(`no connect command within ${ms} ms of the handshake`);
    }, ms);
    this.connectTimer.unref();
  }

  get objectEncoding(): ObjectEncoding {
    return this.client.objectEncoding;
  }

  sendCommand(streamId: number, encoding: ObjectEncoding, name: string, transactionId: number, commandObject: unknown, ...args: unknown[]): void {
    const { type, payload } = encodeCommand(encoding, name, transactionId, commandObject, ...args);
    const flow = this.commandFlow(streamId);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ streamId, command: name, transactionId, type, flowId: flow?.flowId }, 'command sent');
    flow?.write(encodeTcMessage(type, 0, payload));
  }

  /** Shared objects travel on our NetConnection flow, as RFC 7425 carries any stream-0 message. */
  sendSharedObject(type: number, payload: Buffer): void {
    this.commandFlow(0)?.write(framedSharedObject(type, payload));
  }

  connected(): void {
    this.commandFlow(0)?.write(encodeTcMessage(FlashMessageType.UserControl, 0, keepaliveEvent(this.options.keepalive ?? DEFAULT_KEEPALIVE)));
    this.presence.connected();
  }

  openSubscriber(streamId: number): Subscriber {
    this.subscribers.get(streamId)?.close();
    const subscriber = new RtmfpSubscriber(this, streamId, this.options.mediaQueue, this.options.mediaDeadlines, this.options.mediaMergeMs);
    this.subscribers.set(streamId, subscriber);
    return subscriber;
  }

  streamDeleted(streamId: number): void {
    this.subscribers.get(streamId)?.close();
    this.subscribers.delete(streamId);
    const flow = this.commandFlows.get(streamId);
    if (flow !== undefined && streamId !== 0) {
      this.commandFlows.delete(streamId);
      flow.close();
    }
  }

  /**
   * Ends the session once what we said has been delivered (a rejected connect's _error must
   * reach the client before the session goes), or after CLOSE_FLUSH_MS at most.
   */
  close(reason: string): void {
    if (this.closing) return;
    this.closing = true;
    // Over for the model and the log now, whether or not the client acknowledges our close.
    this.end(reason);
    for (const subscriber of this.subscribers.values()) subscriber.close();
    const flows = [...this.commandFlows.values()].filter((f) => !f.isFinished);
    let open = flows.length;
    const finish = () => {
      clearTimeout(timer);
      this.session.close(reason);
    };
    const timer = setTimeout(finish, CLOSE_FLUSH_MS);
    timer.unref();
    if (open === 0) return finish();
    for (const flow of flows) {
      flow.onComplete = () => {
        if (--open === 0) finish();
      };
      flow.close();
    }
  }

  /**
   * The one line saying when and why the session ended, at the moment it did: the far end closed
   * it, it went silent (dead after unanswered keepalive pings), the server ended it (the reason
   * close() was given) or shut down. The client leaves the model at the same moment: its
   * publications end and its subscriptions stop.
   */
  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.connectTimer);
    this.log.info({ reason, peerId: this.session.peerId, ms: Math.round(performance.now() - this.openedAt) }, 'RTMFP session closed');
    this.presence.closed();
    this.client.handleClose(reason);
  }

  /**
   * Our flow for a stream's commands and data, opened on first use. Undefined once the session
   * is closing: there is no one left to tell.
   */
  commandFlow(streamId: number): SendFlow | undefined {
    if (this.closing) return undefined;
    let flow = this.commandFlows.get(streamId);
    if (flow === undefined) {
      flow = this.openFlow(streamId, FlashFlowPriority.command);
      if (flow === undefined) return undefined;
      this.commandFlows.set(streamId, flow);
    }
    return flow;
  }

  /** A new flow of ours for a stream, answering the client's NetConnection flow. */
  openFlow(streamId: number, priority: number): SendFlow | undefined {
    if (this.session.state !== 'open' || this.closing) return undefined;
    const flow = this.session.openFlow(encodeTcMetadata(streamId), { returnFlowId: this.controlIn?.flowId, priority });
    flow.onRejected = (code) => this.log.debug({ streamId, code }, 'client rejected our flow');
    return flow;
  }

  private acceptFlow(flow: IncomingFlow): void {
    if (isGroupFlowMetadata(flow.metadata) && this.controlIn !== undefined) return acceptGroupFlow(flow, this.session, this.client);
    const metadata = parseTcMetadata(flow.metadata);
    if (metadata === undefined) {
      this.log.debug({ metadata: flow.metadata.toString('hex') }, 'flow without Flash metadata rejected');
      flow.reject();
      return;
    }
    const { streamId } = metadata;
    if (streamId === 0) {
      this.controlIn ??= flow;
    } else if (this.controlIn === undefined) {
      // A NetStream exists only through a NetConnection: a stream flow first is nonsense.
      this.log.debug({ streamId }, 'NetStream flow before any NetConnection flow rejected');
      flow.reject();
      return;
    }
    flow.onMessage = (message) => this.receive(streamId, message);
  }

  private receive(streamId: number, message: Buffer): void {
    const m = parseTcMessage(message);
    if (m === undefined) {
      this.log.debug({ streamId, length: message.length }, 'flow message too short for a header ignored');
      return;
    }
    const { type, timestamp, body } = m;
    try {
      if (type === FlashMessageType.Audio) this.client.handleAudio(streamId, timestamp, body);
      else if (type === FlashMessageType.Video) this.client.handleVideo(streamId, timestamp, body);
      else if (isDataType(type)) this.client.handleData(streamId, timestamp, decodeData(type, body));
      else if (isCommandType(type)) {
        const command = decodeCommand(type, body);
        if (this.log.isLevelEnabled('debug')) this.log.debug({ streamId, command: command.name, transactionId: command.transactionId, type }, 'command received');
        if (streamId === 0 && command.name === 'setPeerInfo') {
          // For the transport, not the application: no answer unless one is asked for (as rtmfp-cpp).
          this.presence.peerInfo(argumentsWithoutCommandObject(command));
          if (command.transactionId > 0) this.sendCommand(0, this.objectEncoding, '_result', command.transactionId, null, null);
        } else this.client.handleCommand(streamId, command);
      }
      else if (isSharedObjectType(type)) {
        if (streamId === 0) this.client.handleSharedObject(decodeSharedObjectMessage(type, body));
        else this.log.debug({ streamId, type }, 'shared object message on a NetStream flow ignored');
      }
      else if (type === FlashMessageType.UserControl) this.log.trace({ streamId, event: body.length >= 2 ? body.readUInt16BE(0) : undefined }, 'user control message');
      else this.log.debug({ streamId, type }, 'message of an unsupported type ignored');
    } catch (err) {
      if (!(err instanceof MalformedMessageError)) throw err;
      // RTMP would have to drop the connection (its stream is out of step); here only this
      // message is lost, so say so and carry on, as Adobe's server does.
      this.log.warn({ streamId, type, reason: err.message }, 'malformed message');
      if (this.client.state === 'connected') this.client.sendStatus(statusInfo('error', 'NetConnection.Call.BadVersion', err.message));
    }
  }
}

/**
 * The last shared-object message framed for a flow. The model encodes a change once and hands the
 * same payload to every user of the object in a row, so it is framed once for all of them (flows
 * keep the buffer, uncopied, until it is acknowledged). Framing it per user cost a copy each: in
 * the fan-out benchmark (100 RTMFP users, ~1,400 updates/s) sendSharedObject and encodeTcMessage
 * took 7% of the server's CPU, and garbage collection 23%.
 */
let lastPayload: Buffer | undefined;
let lastType = -1;
let lastFramed: Buffer = Buffer.alloc(0);
function framedSharedObject(type: number, payload: Buffer): Buffer {
  if (payload !== lastPayload || type !== lastType) {
    lastFramed = encodeTcMessage(type, 0, payload);
    lastPayload = payload;
    lastType = type;
  }
  return lastFramed;
}
