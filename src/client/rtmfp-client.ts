// The RTMFP NetChannel: a NetConnection over one RTMFP session (RFC 7425 §5). Our NetConnection
// flow carries connect and calls; each NetStream gets flows of its own (commands and data, audio,
// video) that return-associate with the server's NetConnection flow, as Flash Player's do.
import { isIP } from 'node:net';
import { FlashMessageType, MalformedMessageError } from '../codec/flash-command.js';
import { encodeTcMetadata, parseTcMetadata } from '../codec/tc-metadata.js';
import { encodeTcMessage, parseTcMessage } from '../codec/tc-message.js';
import { FlashCrypto, type FlashCryptoOptions } from '../rtmfp/crypto/flash-crypto.js';
import { RtmfpEndpoint } from '../rtmfp/endpoint.js';
import { NodeDatagramPort } from '../rtmfp/node-platform.js';
import type { DatagramPort } from '../rtmfp/platform.js';
import type { SendFlow } from '../rtmfp/send-flow.js';
import type { IncomingFlow, Session } from '../rtmfp/session.js';
import { FlashFlowPriority } from '../rtmfp/flash-flow-priority.js';
import { silentLogger, type Logger } from '../util/log.js';
import { formatHostPort } from '../util/host-port.js';
import { unlessAborted } from './abortable.js';
import { NetConnection, type ConnectOptions } from './net-connection.js';
import { parseRtmfpUrl, type RtmpUrl } from './rtmp-url.js';
import { encodeCommand } from '../codec/flash-command.js';
import { localPeerAddresses, type LocalAddressPolicy } from './peer-addresses.js';
import { PeerSessions, type ConnectPeerOptions } from './peer-sessions.js';
import type { PeerConnection } from './peer-connection.js';
import { lookupHost } from './host-lookup.js';
import { publishDirect, type DirectPublisher, type DirectPublishOptions } from './direct-publisher.js';
import { playDirect, type DirectPlay, type DirectPlayOptions } from './direct-player.js';

export interface RtmfpClientOptions extends ConnectOptions {
  log?: Logger;
  /** Gives up waiting for the server's handshake or its answer to connect when it aborts (a session is closed first). */
  signal?: AbortSignal;
  /**
   * An endpoint to open the session on (many clients can share one UDP socket, as benchmarks
   * do). Default: a new endpoint on an ephemeral port, closed with the client.
   */
  endpoint?: RtmfpEndpoint;
  /**
   * The socket for a new endpoint (default: a UDP socket on an ephemeral port). Tests give one
   * that loses datagrams; the client owns it and closes it with itself.
   */
  port?: DatagramPort;
  /** HMAC and session sequence negotiation for a new endpoint (default: on request). */
  crypto?: Omit<FlashCryptoOptions, 'server'>;
  /**
   * The local addresses reported to the server with setPeerInfo, for peers that ask for us by
   * peer ID (default 'auto': this machine's addresses; see peer-addresses.ts).
   */
  localAddresses?: LocalAddressPolicy;
}

/** Our flows for one NetStream. */
interface StreamFlows {
  command: SendFlow;
  audio?: SendFlow;
  video?: SendFlow;
}

/**
 * Time to wait for the server to acknowledge our close before dropping the socket anyway: a
 * loopback or LAN server answers in a millisecond, a distant one in a round trip; a dead one
 * never, and the process exiting must not wait on it.
 */
const CLOSE_LINGER_MS = 1_000;

export class RtmfpClient extends NetConnection {
  readonly endpoint: RtmfpEndpoint;
  readonly session: Session;
  readonly log: Logger;
  private readonly ownsEndpoint: boolean;
  private readonly control: SendFlow;
  /** The server's NetConnection flow: our NetStream flows answer it. */
  private serverControl: IncomingFlow | undefined;
  private readonly streamFlows = new Map<number, StreamFlows>();
  /** Our P2P sessions (a client's own endpoint also answers peers that ask for its peer ID). */
  readonly peers: PeerSessions;
  /** Takers of server flows that are not NetConnection/NetStream flows (NetGroup's 47 43). */
  private readonly serverFlowHandlers: Array<(flow: IncomingFlow) => boolean> = [];
  private readonly endListeners: Array<(reason: string) => void> = [];
  private ended = false;
  /** Resolves when the session with the server has ended (closed by either side, or lost). */
  private readonly sessionEnded: Promise<void>;
  private closing: Promise<void> | undefined;

  private constructor(endpoint: RtmfpEndpoint, session: Session, ownsEndpoint: boolean, log: Logger) {
    super();
    this.endpoint = endpoint;
    this.session = session;
    this.ownsEndpoint = ownsEndpoint;
    this.log = log;
    this.peers = new PeerSessions(endpoint, () => session.address, log);
    if (ownsEndpoint) this.peers.acceptIncoming();
    this.control = session.openFlow(encodeTcMetadata(0), { priority: FlashFlowPriority.command });
    session.onFlow = (flow) => this.acceptFlow(flow);
    let sessionEnded!: () => void;
    this.sessionEnded = new Promise((resolve) => (sessionEnded = resolve));
    session.onClose = (reason) => {
      sessionEnded();
      this.notifyEnd(reason);
      this.peers.closeAll(`connection to the server closed: ${reason}`);
      if (this.ownsEndpoint) endpoint.close();
      this.channelClosed(reason);
    };
    const self = this;
    this.channel = {
      send: (streamId, type, timestamp, payload) => this.send(streamId, type, timestamp, payload),
      get bufferedBytes() {
        return self.bufferedMediaBytes();
      },
      streamDeleted: (streamId) => this.releaseStream(streamId),
      close: (reason) => this.closeSession(reason),
    };
  }

  /** Opens a session to the server of `rtmfp://host[:port]/app[/stream]` and connects to the application. */
  static async connect(target: string | RtmpUrl, options: RtmfpClientOptions = {}): Promise<RtmfpClient> {
    const url = typeof target === 'string' ? parseRtmfpUrl(target) : target;
    const log = options.log ?? silentLogger;
    const address = await lookupHost(url.host);
    const ownsEndpoint = options.endpoint === undefined;
    const endpoint =
      options.endpoint ??
      new RtmfpEndpoint({
        port: options.port ?? (await NodeDatagramPort.bind({ host: isIP(address) === 6 ? '::' : '0.0.0.0', port: 0 })),
        crypto: new FlashCrypto({ server: false, ...options.crypto }),
        log,
        // Peers open sessions to us by our peer ID (P2P NetStreams, NetGroups).
        acceptSessions: true,
        handshake: { connectTimeoutMs: options.timeoutMs ?? 10_000 },
      });
    let session: Session;
    const handshake = endpoint.connect({ ancillaryData: url.tcUrl }, [{ host: address, port: url.port }]);
    try {
      // An interrupt during the handshake (a server that does not answer) gives up at once, not
      // after connectTimeoutMs: there is no session yet, so nothing to close.
      session = await unlessAborted(handshake, options.signal, 'the server to answer the handshake');
    } catch (err) {
      if (options.signal?.aborted) {
        // A handshake finishing after the interrupt (on an endpoint we do not own) is closed at once.
        handshake.then((late) => late.close('interrupted during the handshake'), () => undefined);
        if (ownsEndpoint) endpoint.close();
        throw err;
      }
      if (ownsEndpoint) endpoint.close();
      throw new Error(`cannot connect to ${formatHostPort(url.host, url.port)} over RTMFP: ${(err as Error).message} (is the server up, and UDP let through?)`);
    }
    const client = new RtmfpClient(endpoint, session, ownsEndpoint, log);
    try {
      await unlessAborted(client.sendConnect(url, options), options.signal, 'the server to answer connect');
    } catch (err) {
      await client.closeSession('connect failed');
      throw err;
    }
    client.sendPeerInfo(localPeerAddresses(options.localAddresses ?? 'auto', endpoint.localAddress.port, isIP(address) === 6 ? 'both' : 4, address));
    return client;
  }

  /** Our peer ID (Flash's NetConnection.nearID): 64 hex digits. */
  get peerId(): string {
    return this.peers.peerId;
  }

  /** Called for each P2P session a peer opens to us. */
  set onPeer(listener: ((peer: PeerConnection) => void) | undefined) {
    this.peers.onPeer = listener;
  }

  /** Opens (or shares) a P2P session with a peer by its ID, introduced by our server. */
  connectPeer(peerId: string, options?: ConnectPeerOptions): Promise<PeerConnection> {
    return this.peers.connect(peerId, options);
  }

  /** Publishes a stream to players that name our peer ID (Flash's NetStream.DIRECT_CONNECTIONS). */
  publishDirect(name: string, options: DirectPublishOptions = {}): DirectPublisher {
    return publishDirect(this.peers, name, options, this.log);
  }

  /** Plays a stream directly from the peer that publishes it, by its peer ID. */
  playDirect(peerId: string, name: string, options: DirectPlayOptions = {}): Promise<DirectPlay> {
    return playDirect(this.peers, peerId, name, options, this.log);
  }

  /**
   * setPeerInfo (RFC 7425 §5.3.3): our local addresses, one "ip:port" string each, for the
   * server to give to peers that ask for us. Always AMF0, whatever the connection's encoding,
   * as Flash Player and librtmfp send it. Sent even when empty: it tells the server we are a
   * peer that can be introduced (rtmfp-cpp's server introduces no one who has not sent it).
   */
  private sendPeerInfo(addresses: string[]): void {
    const { type, payload } = encodeCommand(0, 'setPeerInfo', 0, null, ...addresses);
    this.send(0, type, 0, payload);
  }

  private send(streamId: number, type: number, timestamp: number, payload: Buffer | readonly Buffer[]): void {
    if (this.session.state !== 'open') return;
    const body = Buffer.isBuffer(payload) ? payload : Buffer.concat(payload as readonly Buffer[]);
    this.flowFor(streamId, type).write(encodeTcMessage(type, timestamp, body));
  }

  /** Our flow for a message: the NetConnection's, or one of its stream's, opened on first use. */
  private flowFor(streamId: number, type: number): SendFlow {
    if (streamId === 0) return this.control;
    let flows = this.streamFlows.get(streamId);
    if (flows === undefined) {
      flows = { command: this.openStreamFlow(streamId, FlashFlowPriority.command) };
      this.streamFlows.set(streamId, flows);
    }
    if (type === FlashMessageType.Audio) return (flows.audio ??= this.openStreamFlow(streamId, FlashFlowPriority.audio));
    if (type === FlashMessageType.Video) return (flows.video ??= this.openStreamFlow(streamId, FlashFlowPriority.video));
    return flows.command;
  }

  private openStreamFlow(streamId: number, priority: number): SendFlow {
    return this.session.openFlow(encodeTcMetadata(streamId), { returnFlowId: this.serverControl?.flowId, priority });
  }

  private bufferedMediaBytes(): number {
    let bytes = this.control.bufferedBytes;
    for (const f of this.streamFlows.values()) bytes += f.command.bufferedBytes + (f.audio?.bufferedBytes ?? 0) + (f.video?.bufferedBytes ?? 0);
    return bytes;
  }

  private releaseStream(streamId: number): void {
    const flows = this.streamFlows.get(streamId);
    if (flows === undefined) return;
    this.streamFlows.delete(streamId);
    flows.command.close();
    flows.audio?.close();
    flows.video?.close();
  }

  /**
   * Opens a flow to the server that return-associates with its NetConnection flow, as Flash
   * opens its NetGroup flow (metadata 47 43; research file §4.2).
   */
  openServerFlow(metadata: Buffer): SendFlow {
    return this.session.openFlow(metadata, { returnFlowId: this.serverControl?.flowId, priority: FlashFlowPriority.command });
  }

  /** Offers the server's flows that carry no NetConnection/NetStream metadata to `handler`; answers a remover. */
  addServerFlowHandler(handler: (flow: IncomingFlow) => boolean): () => void {
    this.serverFlowHandlers.push(handler);
    return () => {
      const i = this.serverFlowHandlers.indexOf(handler);
      if (i >= 0) this.serverFlowHandlers.splice(i, 1);
    };
  }

  /** Calls `listener` once when the connection ends (closed by us, by the server, or lost); answers a remover. */
  addEndListener(listener: (reason: string) => void): () => void {
    if (this.ended) {
      listener(this.closedReason ?? 'closed');
      return () => {};
    }
    this.endListeners.push(listener);
    return () => {
      const i = this.endListeners.indexOf(listener);
      if (i >= 0) this.endListeners.splice(i, 1);
    };
  }

  private notifyEnd(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    for (const listener of this.endListeners.splice(0)) listener(reason);
  }

  /**
   * Sends our close request and waits for the server's acknowledgement, at most CLOSE_LINGER_MS;
   * past that the session ends with one last close request, unanswered. Our endpoint, when we
   * own it, closes after either (its socket sends what is queued first).
   */
  private closeSession(reason: string): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    if (this.session.state !== 'open') {
      this.closing = this.sessionEnded;
      return this.closing;
    }
    this.notifyEnd(reason);
    this.peers.closeAll(reason);
    this.session.close(reason);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_LINGER_MS)));
    this.closing = Promise.race([this.sessionEnded, bound]).then(() => {
      clearTimeout(timer);
      if (this.session.state !== 'closed') this.session.abort(`${reason} (the server did not acknowledge within ${CLOSE_LINGER_MS} ms)`);
      if (this.ownsEndpoint) this.endpoint.close();
    });
    return this.closing;
  }

  private acceptFlow(flow: IncomingFlow): void {
    const metadata = parseTcMetadata(flow.metadata);
    if (metadata === undefined) {
      for (const handler of this.serverFlowHandlers) if (handler(flow)) return;
      flow.reject();
      return;
    }
    if (metadata.streamId === 0) this.serverControl ??= flow;
    flow.onMessage = (message) => {
      const m = parseTcMessage(message);
      if (m === undefined) return;
      try {
        if (m.type === FlashMessageType.UserControl) {
          if (m.body.length >= 6) this.receiveUserControl(m.body.readUInt16BE(0), m.body.readUInt32BE(2));
          return;
        }
        this.receive(metadata.streamId, m.type, m.timestamp, m.body);
      } catch (err) {
        if (!(err instanceof MalformedMessageError)) throw err;
        this.log.warn({ reason: err.message }, 'malformed message from the server ignored');
      }
    };
  }
}
