// The peers an introducer can introduce (RFC 7016 §3.5.1.4): each one's peer ID (the SHA-256 of
// its certificate), the session it keeps with us, and the addresses it reported for itself.
// Its observed address is not stored: it is read from the session at each introduction, so an
// address change the session validated (mobility, NAT rebinding) is what the next initiator gets.
import type { Session } from './session.js';
import type { Address } from './address.js';

export interface RegisteredPeer {
  /** The 32-byte peer ID. */
  readonly peerId: Buffer;
  readonly session: Session;
  /** Addresses the peer reported (its local interfaces): announced with origin 1. */
  reported: readonly Address[];
}

/**
 * Reported addresses kept per peer. Flash reports one per interface (two in the packet dump of
 * Cumulus issue #19, link-local included); a host with IPv6 temporaries and container bridges
 * may have a dozen. Past 8, the initiator sprays IHellos at addresses that almost never
 * answer, and each costs 7-19 bytes of every redirect.
 */
export const DEFAULT_MAX_REPORTED_ADDRESSES = 8;

export class PeerRegistry {
  /** By the peer ID's 32 bytes as a latin1 string: a quarter the work of hex for each lookup. */
  private readonly byId = new Map<string, RegisteredPeer>();

  constructor(readonly maxReported = DEFAULT_MAX_REPORTED_ADDRESSES) {}

  get size(): number {
    return this.byId.size;
  }

  /**
   * Registers the session's far end under its peer ID. A second session with the same ID
   * (a client that reconnected with the same certificate) replaces the first: the newer session
   * is the one the peer listens on.
   */
  register(session: Session, reported: readonly Address[] = []): RegisteredPeer {
    const peer: RegisteredPeer = { peerId: session.farFingerprint, session, reported: reported.slice(0, this.maxReported) };
    this.byId.set(session.farFingerprint.toString('latin1'), peer);
    return peer;
  }

  /** Replaces the addresses a registered session reported; false if it is not registered. */
  setReported(session: Session, reported: readonly Address[]): boolean {
    const peer = this.byId.get(session.farFingerprint.toString('latin1'));
    if (peer === undefined || peer.session !== session) return false;
    peer.reported = reported.slice(0, this.maxReported);
    return true;
  }

  /** Forgets the session (only if it is the one registered under its ID). */
  unregister(session: Session): void {
    const key = session.farFingerprint.toString('latin1');
    if (this.byId.get(key)?.session === session) this.byId.delete(key);
  }

  lookup(peerId: Buffer): RegisteredPeer | undefined {
    return this.byId.get(peerId.toString('latin1'));
  }

  *peers(): IterableIterator<RegisteredPeer> {
    yield* this.byId.values();
  }
}
