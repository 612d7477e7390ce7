// A Flash client's place in the peer registry: registered once the application accepted its
// connect (an IHello naming it is then introduced), its setPeerInfo addresses kept current, and
// removed when its session ends. Also the Set Keepalive Timers event Flash/AIR expect after
// connect (RFC 7425 §5.3.4).
import { formatAddress, type Address } from '../rtmfp/address.js';
import type { PeerRegistry } from '../rtmfp/peer-registry.js';
import type { Session } from '../rtmfp/session.js';
import type { Logger } from '../util/log.js';
import { parsePeerInfo } from './peer-info.js';

export interface KeepalivePeriods {
  /** How often the client should make itself heard to us, ms. */
  serverMs: number;
  /** How often it should do so in its P2P sessions, ms. */
  peerMs: number;
}

/**
 * MonaServer2's defaults (RTMFProtocol.cpp): 15 s to the server, 10 s between peers; the
 * dump of Cumulus issue #19 shows 5 s / 5 s. NAT bindings for UDP last 30 s or more on most
 * home routers (RFC 4787 asks for at least 2 min), so either keeps them.
 */
export const DEFAULT_KEEPALIVE: KeepalivePeriods = { serverMs: 15_000, peerMs: 10_000 };
/** RFC 7425 §5.3.4: clients use no period under 5 s (rtmfp-cpp clamps there); we send none. */
export const MIN_KEEPALIVE_MS = 5_000;
/** User control event "Set Keepalive Timers": u16 event, u32 server period, u32 peer period. */
export const USER_CONTROL_SET_KEEPALIVE = 0x29;

export function keepaliveEvent(periods: KeepalivePeriods): Buffer {
  const body = Buffer.alloc(10);
  body.writeUInt16BE(USER_CONTROL_SET_KEEPALIVE, 0);
  body.writeUInt32BE(Math.max(MIN_KEEPALIVE_MS, periods.serverMs), 2);
  body.writeUInt32BE(Math.max(MIN_KEEPALIVE_MS, periods.peerMs), 6);
  return body;
}

export class PeerPresence {
  /** What the client reported, kept from before connect completes (it may come first). */
  private reported: Address[] = [];
  private registered = false;

  constructor(
    private readonly session: Session,
    private readonly registry: PeerRegistry | undefined,
    private readonly log: Logger,
  ) {}

  connected(): void {
    if (this.registry === undefined || this.session.state !== 'open') return;
    this.registry.register(this.session, this.reported);
    this.registered = true;
    if (this.log.isLevelEnabled('debug')) this.log.debug({ peerId: this.session.peerId, reported: this.reported.length }, 'peer registered for introductions');
  }

  /** setPeerInfo's arguments: its addresses (the null Flash writes before them left out). */
  peerInfo(args: readonly unknown[]): void {
    const { addresses, ignored } = parsePeerInfo(args, this.registry?.maxReported ?? 0);
    this.reported = addresses;
    if (this.log.isLevelEnabled('debug')) this.log.debug({ addresses: addresses.map(formatAddress) }, 'setPeerInfo');
    if (ignored.length > 0) this.log.debug({ ignored }, 'setPeerInfo: entries that are not "ip:port" ignored');
    if (this.registered) this.registry!.setReported(this.session, addresses);
  }

  closed(): void {
    if (this.registered) this.registry!.unregister(this.session);
    this.registered = false;
  }
}
