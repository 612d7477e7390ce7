// Rendezvous at an introducer (RFC 7016 §3.5.1.4): an IHello that names a registered peer's ID
// is answered with a Responder Redirect to the initiator, listing the addresses where the peer
// may be reached, and a Forwarded IHello to the peer inside its session with us, naming the
// initiator's address, so that the two send to each other at once and each opens its NAT for
// the other's packets. Stateless: a retried IHello gets the same two answers again.
import { AddressOrigin, formatAddress, sameAddress, type Address, type AnnouncedAddress } from './address.js';
import type { RtmfpEndpoint } from './endpoint.js';
import { encodeForwardedIHello } from './handshake-chunks.js';
import type { PeerRegistry, RegisteredPeer } from './peer-registry.js';
import type { Logger } from '../util/log.js';

export interface IntroducerOptions {
  /**
   * A redirect is at most this many times the size of the IHello datagram that caused it
   * (addresses are left off to stay within it): whoever spoofs an initiator's address gets
   * little more than they sent reflected at it.
   */
  maxAmplification?: number;
  log?: Logger;
}

export const DEFAULT_MAX_AMPLIFICATION = 3;

export class Introducer {
  private readonly maxAmplification: number;
  private readonly log: Logger;

  constructor(
    private readonly endpoint: RtmfpEndpoint,
    readonly peers: PeerRegistry,
    options: IntroducerOptions = {},
  ) {
    this.maxAmplification = options.maxAmplification ?? DEFAULT_MAX_AMPLIFICATION;
    this.log = options.log ?? endpoint.log;
    endpoint.onIHelloForPeer = (fingerprint, epd, tag, from, datagramLength) => this.introduce(fingerprint, epd, tag, from, datagramLength);
  }

  /** Answers an IHello from `from` naming `peerId`: a redirect and a forwarded IHello, or nothing. */
  introduce(peerId: Buffer, epd: Buffer, tag: Buffer, from: Address, datagramLength: number): void {
    const counters = this.endpoint.counters;
    const peer = this.peers.lookup(peerId);
    if (peer === undefined || peer.session.state !== 'open') {
      // Silence, as rtmfp-cpp, Cumulus and MonaServer's first answer: the initiator retries and
      // gives up on its own, and we tell no prober which IDs were ever here.
      counters.introductionsUnknownPeer++;
      if (this.log.isLevelEnabled('debug')) this.log.debug({ from: formatAddress(from), peerId: peerId.toString('hex') }, 'introduction for an unknown peer: not answered');
      return;
    }
    const target = peer.session.address;
    // The redirect goes first, as rtmfp-cpp orders them (MonaServer and Cumulus forward first):
    // the initiator then sends its IHellos toward the peer, opening its own NAT for the peer's
    // answer, about when the forwarded IHello reaches the peer and it answers with an RHello.
    // The other way round, the peer's RHello may reach the initiator's NAT before any hole for
    // it exists and be dropped, costing the initiator a retransmission period (1 s).
    const listed = this.endpoint.sendRedirect(from, tag, redirectDestinations(peer, from), datagramLength * this.maxAmplification);
    peer.session.sendForwardedIHello(encodeForwardedIHello(epd, from, tag, AddressOrigin.OBSERVED));
    counters.introductions++;
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ from: formatAddress(from), peerId: peer.session.peerId, peer: formatAddress(target), addresses: listed, reported: peer.reported.length }, 'introduction');
    }
  }
}

/**
 * Where the initiator should look for the peer: the address we see it at first (origin 2, the
 * one that works across NATs, and the last to be left off a redirect that must be cut short),
 * then the addresses it reported (origin 1: they work on its own network), without repeats.
 * A reported loopback address goes only to an initiator on loopback itself: anywhere else it
 * would point the initiator's IHellos at its own host.
 */
function redirectDestinations(peer: RegisteredPeer, initiator: Address): AnnouncedAddress[] {
  const observed = peer.session.address;
  const out: AnnouncedAddress[] = [{ host: observed.host, port: observed.port, origin: AddressOrigin.OBSERVED }];
  const initiatorOnLoopback = isLoopback(initiator.host);
  for (const a of peer.reported) {
    if (sameAddress(a, observed) || (!initiatorOnLoopback && isLoopback(a.host))) continue;
    out.push({ host: a.host, port: a.port, origin: AddressOrigin.LOCAL });
  }
  return out;
}

function isLoopback(host: string): boolean {
  return host.startsWith('127.') || host === '::1';
}
