// Which members of a NetGroup a member keeps as neighbours: Flash's "best list" as librtmfp
// reproduces it (research file netgroup.md §5.4, LR NetGroup.cpp:504-580). Peers sit on a ring
// at SHA-256(21 0F + peer ID); a member wants log2(N) + 13 neighbours: its closest peers on the
// ring (so the ring holds together), its lowest-latency peers (so media moves fast), one at
// random, then peers across the ring at N/2, N/4, ... from it (so that anything crosses the
// group in about log2(N) hops). Every member applies the same rule, so the lists mostly agree.
//
// One difference, on purpose: librtmfp estimates N from the ring distance between its N-2 and
// N+2 neighbours; we count the members we know of (the server's introductions and the peers
// named in reports), which is exact in the small groups where the two differ most.
import { createHash } from 'node:crypto';

/** Peers kept on each side of us on the ring (librtmfp's 6 closest). */
export const RING_NEIGHBORS_PER_SIDE = 3;
/** Connected peers kept for their latency. */
export const LOWEST_LATENCY_PEERS = 6;
/** Up to this many peers, all are kept. */
export const KEEP_ALL_UP_TO = 6;

/** SHA-256(21 0F + peer ID): where a peer sits on its groups' ring (hex, so that string order is ring order). */
export function groupAddress(peerId: string): string {
  return createHash('sha256').update(Buffer.from([0x21, 0x0f])).update(Buffer.from(peerId, 'hex')).digest('hex');
}

/** Neighbours a member of a group of `members` wants: log2(N) + 13, rounded up (§5.4). */
export function targetNeighbors(members: number): number {
  return Math.ceil(Math.log2(Math.max(members, 1))) + 13;
}

export interface KnownPeer {
  peerId: string;
  /** Smoothed round trip of our session with it, when we have one (ms). */
  rttMs?: number;
}

/**
 * The best list of `self` among `peers` (never containing self): every peer when there are at
 * most KEEP_ALL_UP_TO; else ring neighbours, lowest latency, one random, then ring offsets N/2,
 * N/4, ... until `target` peers (default targetNeighbors of the group: the peers plus us).
 */
export function bestList(self: string, peers: readonly KnownPeer[], options: { target?: number; random?: () => number } = {}): Set<string> {
  const others = peers.filter((p) => p.peerId !== self);
  if (others.length <= KEEP_ALL_UP_TO) return new Set(others.map((p) => p.peerId));
  const random = options.random ?? Math.random;
  const n = others.length + 1;
  const target = Math.min(others.length, options.target ?? targetNeighbors(n));
  // The ring, us included, in address order.
  const ring = [...others.map((p) => ({ peerId: p.peerId, at: groupAddress(p.peerId) })), { peerId: self, at: groupAddress(self) }].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const me = ring.findIndex((r) => r.peerId === self);
  const step = (d: number) => ring[(((me + d) % n) + n) % n]!.peerId;
  const best = new Set<string>();
  const add = (id: string) => {
    if (id !== self && best.size < target) best.add(id);
  };
  for (let d = 1; d <= RING_NEIGHBORS_PER_SIDE; d++) {
    add(step(-d));
    add(step(d));
  }
  const byLatency = others.filter((p) => p.rttMs !== undefined && !best.has(p.peerId)).sort((a, b) => a.rttMs! - b.rttMs!);
  for (const p of byLatency.slice(0, LOWEST_LATENCY_PEERS)) add(p.peerId);
  const rest = others.filter((p) => !best.has(p.peerId));
  if (rest.length > 0) add(rest[Math.floor(random() * rest.length)]!.peerId);
  // Across the ring: N/2, N/4, ... from us, each the nearest peer not already taken at or past it.
  for (let offset = Math.floor(n / 2); offset >= 1 && best.size < target; offset = Math.floor(offset / 2)) {
    for (let d = offset; d < offset + n && best.size < target; d++) {
      const id = step(d);
      if (id === self || best.has(id)) continue;
      add(id);
      break;
    }
  }
  // A ring too dense for the offsets to fill the target: the nearest on the ring, alternating sides.
  for (let d = RING_NEIGHBORS_PER_SIDE + 1; best.size < target && d < n; d++) {
    add(step(-d));
    add(step(d));
  }
  return best;
}
