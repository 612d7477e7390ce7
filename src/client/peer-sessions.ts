// A client's P2P sessions: those other peers open to us (our endpoint answers IHellos naming
// our peer ID, and Forwarded IHellos from our server), and those we open by peer ID through our
// server (RFC 7016 §3.5.1.1.1: IHello with the peer's fingerprint to the server and to any
// address we already know; the server redirects us and forwards our IHello to the peer, so both
// sides send at once and their NATs let the other in). One session per peer: a second connect
// to the same peer shares the first, and a simultaneous open resolves in the engine.
import { ConnectError, type RtmfpEndpoint } from '../rtmfp/endpoint.js';
import { formatAddress, type Address } from '../rtmfp/address.js';
import type { Session } from '../rtmfp/session.js';
import type { Logger } from '../util/log.js';
import { PeerConnection, shortPeerId, type PeerFlowHandler } from './peer-connection.js';

export interface ConnectPeerOptions {
  /** Give up after this long (default 10 s: the handshake retransmits at 1, 2.5, 4.75, 8.1 s). */
  timeoutMs?: number;
  /** Addresses where the peer may be reached directly, tried with the server. */
  addresses?: readonly Address[];
}

const PEER_ID = /^[0-9a-f]{64}$/i;

/** Checks a peer ID given by a user: 64 hex digits. Answers it in lower case. */
export function parsePeerId(text: string): string {
  const id = text.trim();
  if (!PEER_ID.test(id)) throw new Error(`not a peer ID: "${text}" (expected 64 hexadecimal digits, as printed by the peer)`);
  return id.toLowerCase();
}

/**
 * A P2P session could not be opened. `introducedAt` holds the addresses the server gave for the
 * peer: empty when the server never answered for it (not connected there), filled when it
 * introduced us and the direct path is what failed.
 */
export class PeerUnreachableError extends Error {
  constructor(
    message: string,
    readonly peerId: string,
    readonly introducedAt: readonly Address[],
  ) {
    super(message);
  }
}

/**
 * One line on why a connect to a peer failed. Rendezvous has two halves, and users need to know
 * which failed: the server not answering for the peer (it is not connected there), or the server
 * introducing us while the peer's packets never arrive. The latter is what a NAT that maps each
 * destination to a port of its own (symmetric) does: the peer answers to the port the server
 * saw, which is not the one our NAT opened towards it, and both NATs drop the other's packets
 * (test/client/nat-traversal.test.ts shows it with two Linux NATs, one fully-random).
 */
function connectFailure(peerId: string, server: Address, err: Error): PeerUnreachableError {
  const peer = shortPeerId(peerId);
  const introducedAt = err instanceof ConnectError ? err.redirectedTo : [];
  if (err instanceof ConnectError && introducedAt.length > 0) {
    const within = / within (\d+ ms)$/.exec(err.message)?.[1];
    if (err.stage === 'hello') {
      return new PeerUnreachableError(
        `cannot reach peer ${peer}: the server at ${formatAddress(server)} introduced it at ${introducedAt.map(formatAddress).join(', ')}, but nothing came back from there${within ? ` within ${within}` : ''}: ` +
          'a NAT or firewall between us drops the direct packets (most likely a symmetric NAT on either side, one that gives each destination a port of its own: hole punching cannot pass it)',
        peerId,
        introducedAt,
      );
    }
    return new PeerUnreachableError(`cannot reach peer ${peer}: it answered, but the handshake went no further: ${err.message}`, peerId, introducedAt);
  }
  return new PeerUnreachableError(`cannot reach peer ${peer} through the server at ${formatAddress(server)}: ${err.message} (is that peer connected to the same server?)`, peerId, introducedAt);
}

export class PeerSessions {
  /** A peer opened a session to us. */
  onPeer?: (peer: PeerConnection) => void;
  private readonly peers = new Map<string, PeerConnection>();
  private readonly opening = new Map<string, Promise<PeerConnection>>();
  private readonly flowHandlers: PeerFlowHandler[] = [];
  private closedReason: string | undefined;

  constructor(
    private readonly endpoint: RtmfpEndpoint,
    /** Where our server is now (its session's address follows mobility). */
    private readonly server: () => Address,
    private readonly log: Logger,
  ) {}

  /** Our peer ID (NetConnection.nearID): 64 hex digits. */
  get peerId(): string {
    return this.endpoint.peerId.toString('hex');
  }

  /** Takes the P2P sessions that peers open to our endpoint. */
  acceptIncoming(): void {
    this.endpoint.onSession = (session) => {
      const peer = this.adopt(session);
      if (peer === undefined) return;
      this.log.debug({ peer: shortPeerId(peer.peerId), address: formatAddress(peer.address) }, 'P2P session opened by a peer');
      this.onPeer?.(peer);
    };
  }

  /** Offers every incoming P2P flow to `handler` (before those added later); answers a remover. */
  addFlowHandler(handler: PeerFlowHandler): () => void {
    this.flowHandlers.push(handler);
    return () => {
      const i = this.flowHandlers.indexOf(handler);
      if (i >= 0) this.flowHandlers.splice(i, 1);
    };
  }

  /** The open session with a peer, if there is one. */
  get(peerId: string): PeerConnection | undefined {
    const peer = this.peers.get(peerId.toLowerCase());
    return peer?.isOpen ? peer : undefined;
  }

  /** Opens (or shares) a P2P session with the peer of that ID, introduced by our server. */
  connect(peerIdText: string, options: ConnectPeerOptions = {}): Promise<PeerConnection> {
    let peerId: string;
    try {
      peerId = parsePeerId(peerIdText);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.closedReason !== undefined) return Promise.reject(new Error(`cannot reach peer ${shortPeerId(peerId)}: connection closed: ${this.closedReason}`));
    if (peerId === this.peerId) return Promise.reject(new Error('cannot open a P2P session with our own peer ID'));
    const open = this.get(peerId);
    if (open) return Promise.resolve(open);
    let pending = this.opening.get(peerId);
    if (pending === undefined) {
      pending = this.open(peerId, options).finally(() => this.opening.delete(peerId));
      this.opening.set(peerId, pending);
    }
    return pending;
  }

  private async open(peerId: string, options: ConnectPeerOptions): Promise<PeerConnection> {
    const server = this.server();
    const timeoutMs = options.timeoutMs ?? 10_000;
    let session: Session;
    try {
      session = await this.endpoint.connect({ fingerprint: Buffer.from(peerId, 'hex') }, [server, ...(options.addresses ?? [])], { timeoutMs });
    } catch (err) {
      throw connectFailure(peerId, server, err as Error);
    }
    // A peer that connected to us meanwhile (and won no glare: it asked first) may already be here.
    const existing = this.get(peerId);
    if (existing && existing.session !== session) {
      session.close('duplicate P2P session');
      return existing;
    }
    const peer = this.adopt(session);
    if (peer === undefined) throw new Error(`cannot reach peer ${shortPeerId(peerId)}: connection closed: ${this.closedReason}`);
    this.log.debug({ peer: shortPeerId(peerId), address: formatAddress(peer.address), initiator: peer.initiator }, 'P2P session opened');
    return peer;
  }

  private adopt(session: Session): PeerConnection | undefined {
    if (this.closedReason !== undefined) {
      session.abort(this.closedReason);
      return undefined;
    }
    const peer = new PeerConnection(session, () => this.flowHandlers);
    this.peers.set(peer.peerId, peer);
    void peer.closed.then((reason) => {
      if (this.peers.get(peer.peerId) === peer) this.peers.delete(peer.peerId);
      this.log.debug({ peer: shortPeerId(peer.peerId), reason }, 'P2P session ended');
    });
    return peer;
  }

  /** Closes every P2P session: our connection to the server is ending. */
  closeAll(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    for (const peer of this.peers.values()) peer.close(reason);
    this.peers.clear();
  }
}
