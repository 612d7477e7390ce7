// One P2P session between this client and another peer, whoever opened it (RFC 7016 sessions
// need no server once open). It carries whatever runs between the two peers: direct NetStreams,
// NetGroup flows. Several users can share it: each incoming flow is offered to the flow handlers
// in turn, and `closed` tells any number of them when it ends.
import type { Address } from '../rtmfp/address.js';
import type { OpenFlowOptions, IncomingFlow, Session } from '../rtmfp/session.js';
import type { SendFlow } from '../rtmfp/send-flow.js';

/** Takes an incoming flow (sets its onMessage) and answers true, or answers false to pass it on. */
export type PeerFlowHandler = (peer: PeerConnection, flow: IncomingFlow) => boolean;

export class PeerConnection {
  /** The far peer's ID: 64 hex digits, the SHA-256 of its certificate. */
  readonly peerId: string;
  /** Resolves with the reason once the session has ended (closed by either side, or lost). */
  readonly closed: Promise<string>;
  closedReason: string | undefined;
  private resolveClosed!: (reason: string) => void;

  constructor(
    readonly session: Session,
    private readonly flowHandlers: () => Iterable<PeerFlowHandler>,
  ) {
    this.peerId = session.peerId;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    session.onFlow = (flow) => this.offer(flow);
    session.onClose = (reason) => this.ended(reason);
    if (session.state !== 'open') this.ended('closed before use');
  }

  /** Where the peer is, as our socket sees it (its NAT's public side, or a LAN address). */
  get address(): Address {
    return this.session.address;
  }

  /** Whether this side opened the session (false when the peer did, or won a simultaneous open). */
  get initiator(): boolean {
    return this.session.isInitiator;
  }

  get isOpen(): boolean {
    return this.closedReason === undefined;
  }

  openFlow(metadata: Buffer, options?: OpenFlowOptions): SendFlow {
    if (this.closedReason !== undefined) throw new Error(`P2P session with ${shortPeerId(this.peerId)} closed: ${this.closedReason}`);
    return this.session.openFlow(metadata, options);
  }

  /** Closes the session, telling the peer. */
  close(reason = 'closed by application'): void {
    this.session.close(reason);
    // The session reports its end only once the far end acknowledges; our users hear at once.
    this.ended(reason);
  }

  /** @internal Ends it at once (the client's endpoint is going away). */
  abort(reason: string): void {
    this.session.abort(reason);
    this.ended(reason);
  }

  private offer(flow: IncomingFlow): void {
    if (this.closedReason !== undefined) {
      flow.reject();
      return;
    }
    for (const handler of this.flowHandlers()) if (handler(this, flow)) return;
    flow.reject();
  }

  private ended(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.resolveClosed(reason);
  }
}

/** The first and last few digits of a peer ID, for messages and logs. */
export function shortPeerId(peerId: string): string {
  return peerId.length > 16 ? `${peerId.slice(0, 8)}…${peerId.slice(-4)}` : peerId;
}
