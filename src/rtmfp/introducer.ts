// Rendezvous at an introducer (RFC 7016 §3.5.1.4): an IHello that names a registered peer's ID
// is answered with a Responder Redirect to the initiator, listing the addresses where the peer
// may be reached, and a Forwarded IHello to the peer inside its session with us, naming the
// initiator's address, so that the two send to each other at once and each opens its NAT for
// the other's packets. Stateless: a retried IHello gets the same two answers again.
import { AddressOrigin, formatAddress, sameAddress, type Address, type AnnouncedAddress } from './address.js';
import type { RtmfpEndpoint } from './endpoint.js';
import { encodeForwardedIHello } from './handshake-chunks.js';
import type { PeerRegistry, RegisteredPeer } from './peer-registry.js';
import { RateLimiter, type RateLimit } from './rate-limiter.js';
import type { Logger } from '../util/log.js';

export interface IntroducerOptions {
  /**
   * A redirect is at most this many times the size of the IHello datagram that caused it
   * (addresses are left off to stay within it): whoever spoofs an initiator's address gets
   * little more than they sent reflected at it.
   */
  maxAmplification?: number;
  /** Introductions answered per initiator IP address (whatever its port). */
  perSource?: Partial<RateLimit>;
  /** Introductions to one peer. */
  perTarget?: Partial<RateLimit>;
  /**
   * For an IHello naming a peer that is not here, when `wanted()` (an application knowing
   * another server where it may be: MonaServer's onRendezVousUnknown): the addresses to
   * redirect the initiator to, or none for the usual silence. Asked within the per-source rate
   * limit only; while not wanted, unknown peers cost no bucket, as before.
   */
  unknownPeer?: { wanted(): boolean; addresses(peerId: Buffer, from: Address): readonly Address[] | undefined };
  log?: Logger;
}

export const DEFAULT_MAX_AMPLIFICATION = 3;
/**
 * Per initiator address. An introduction makes us send a redirect (at most 3 times the IHello)
 * and makes the target send an RHello (about 230 bytes) to the initiator's address, which may be
 * spoofed: at 50/s that is some 25 KB/s toward one victim, next to nothing. A real initiator
 * needs far less: a NetGroup member opens sessions to log2(N) + 13 peers (about 30 for 100,000
 * members, librtmfp's rule), each IHello retried after 1 s, 1.5 s, ...; a burst of 100 covers a
 * whole join, and a NAT shared by a few such clients.
 */
export const DEFAULT_PER_SOURCE: RateLimit = { perSecond: 50, burst: 100, maxKeys: 10_000 };
/**
 * Per target peer: each introduction costs it a forwarded IHello in and an RHello out. 50/s lets
 * a publisher with direct connections take a crowd of players arriving at once (Flash's
 * maxPeerConnections defaults to 8, so few come anyway) and a group member its neighbours.
 */
export const DEFAULT_PER_TARGET: RateLimit = { perSecond: 50, burst: 100, maxKeys: 10_000 };

type DropReason = 'unknown peer' | 'rate limited (source)' | 'rate limited (target)' | 'too many sources' | 'too many targets';

export class Introducer {
  private readonly maxAmplification: number;
  private readonly unknownPeer: IntroducerOptions['unknownPeer'];
  private readonly log: Logger;
  readonly perSource: RateLimiter;
  readonly perTarget: RateLimiter;
  /** Drops since the last debug line about them, and when that was: one line a second at most. */
  private readonly dropped = new Map<DropReason, number>();
  private droppedLoggedAt = -Infinity;

  constructor(
    private readonly endpoint: RtmfpEndpoint,
    readonly peers: PeerRegistry,
    options: IntroducerOptions = {},
  ) {
    this.maxAmplification = options.maxAmplification ?? DEFAULT_MAX_AMPLIFICATION;
    this.unknownPeer = options.unknownPeer;
    this.log = options.log ?? endpoint.log;
    this.perSource = new RateLimiter({ ...DEFAULT_PER_SOURCE, ...options.perSource }, endpoint.clock);
    this.perTarget = new RateLimiter({ ...DEFAULT_PER_TARGET, ...options.perTarget }, endpoint.clock);
    endpoint.onIHelloForPeer = (fingerprint, epd, tag, from, datagramLength) => this.introduce(fingerprint, epd, tag, from, datagramLength);
  }

  /** Answers an IHello from `from` naming `peerId`: a redirect and a forwarded IHello, or nothing. */
  introduce(peerId: Buffer, epd: Buffer, tag: Buffer, from: Address, datagramLength: number): void {
    const counters = this.endpoint.counters;
    const peer = this.peers.lookup(peerId);
    if (peer === undefined || peer.session.state !== 'open') {
      // Silence, as rtmfp-cpp, Cumulus and MonaServer's first answer: the initiator retries and
      // gives up on its own, and we tell no prober which IDs were ever here.
      if (this.unknownPeer?.wanted() && this.redirectUnknown(peerId, tag, from, datagramLength)) return;
      counters.introductionsUnknownPeer++;
      this.drop('unknown peer', from);
      return;
    }
    // Checked only for peers we would introduce: a lookup that finds nobody sends nothing and
    // keeps nothing, and so needs no bucket (a flood of them leaves no state behind).
    const bySource = this.perSource.take(from.host);
    if (bySource !== 'ok') {
      counters.introductionsRateLimitedSource++;
      this.drop(bySource === 'limited' ? 'rate limited (source)' : 'too many sources', from);
      return;
    }
    const byTarget = this.perTarget.take(peer.peerId.toString('latin1'));
    if (byTarget !== 'ok') {
      counters.introductionsRateLimitedTarget++;
      this.drop(byTarget === 'limited' ? 'rate limited (target)' : 'too many targets', from);
      return;
    }
    const target = peer.session.address;
    // The redirect goes first, as rtmfp-cpp orders them (MonaServer and Cumulus forward first):
    // the initiator then sends its IHellos toward the peer, opening its own NAT for the peer's
    // answer, about when the forwarded IHello reaches the peer and it answers with an RHello.
    // The other way round, the peer's RHello may reach the initiator's NAT before any hole for
    // it exists and be dropped, costing the initiator a retransmission period (1 s).
    const destinations = redirectDestinations(peer, from);
    const listed = this.endpoint.sendRedirect(from, tag, destinations, datagramLength * this.maxAmplification);
    if (listed < destinations.length) counters.redirectAddressesDropped += destinations.length - listed;
    peer.session.sendForwardedIHello(encodeForwardedIHello(epd, from, tag, AddressOrigin.OBSERVED));
    counters.introductions++;
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ from: formatAddress(from), peerId: peer.session.peerId, peer: formatAddress(target), addresses: listed, leftOff: destinations.length - listed }, 'introduction');
    }
  }

  /** Sends the initiator where the unknownPeer hook says the peer is; answers whether it did. */
  private redirectUnknown(peerId: Buffer, tag: Buffer, from: Address, datagramLength: number): boolean {
    // The hook may cost (a script): only within the initiator's introduction budget.
    if (this.perSource.take(from.host) !== 'ok') return false;
    let addresses: readonly Address[] | undefined;
    try {
      addresses = this.unknownPeer!.addresses(peerId, from);
    } catch (err) {
      this.log.error({ err }, 'unknown-peer hook failed');
      return false;
    }
    if (addresses === undefined || addresses.length === 0) return false;
    const listed = this.endpoint.sendRedirect(from, tag, addresses.map((a) => ({ host: a.host, port: a.port, origin: AddressOrigin.RELAY })), datagramLength * this.maxAmplification);
    this.log.debug({ from: formatAddress(from), peerId: peerId.toString('hex'), to: addresses.slice(0, listed).map(formatAddress) }, 'unknown peer: initiator sent elsewhere');
    return true;
  }

  /**
   * Notes an IHello not answered for the debug log: the first at once, then at most one line a
   * second with the counts, so that a flood cannot flood the log as well.
   */
  private drop(reason: DropReason, from: Address): void {
    if (!this.log.isLevelEnabled('debug')) return;
    const now = this.endpoint.clock.now();
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1);
    if (now - this.droppedLoggedAt < 1000) return;
    this.droppedLoggedAt = now;
    this.log.debug({ last: { from: formatAddress(from), reason }, dropped: Object.fromEntries(this.dropped) }, 'introductions not answered');
    this.dropped.clear();
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
