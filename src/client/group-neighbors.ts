// Which members of a NetGroup a member keeps as neighbours: Flash's "best list" as librtmfp
// reproduces it (research file netgroup.md §5.4, LR NetGroup.cpp:504-580). Peers sit on a ring
// at SHA-256(21 0F + peer ID); a member wants log2(N) + 13 neighbours: its closest peers on the
// ring (so the ring holds together), its lowest-latency peers (so media moves fast), one at
// random, then peers across the ring at N/2, N/4, ... from it (so that anything crosses the
// group in about log2(N) hops). Every member applies the same rule, so the lists mostly agree.
//
// N, the group's size, is estimated as librtmfp does, from how densely peers sit on the ring
// around us (research file §5.4: the ring distance between our second neighbours on either
// side), since in a large group a member knows only a part of it: its ring neighbours (every
// member keeps those, and reports name them) but few others. One difference, on purpose: N is
// never taken below the count of members we know of (the server's introductions and the peers
// named in reports): they exist, and in a small group, where we know everyone, the count is
// exact while four ring gaps say N only to within a factor of about 2 (0.45-1.8 N 8 times in 10).
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

/** Ring neighbours on each side whose span estimates the group's size (§5.4: the second ones). */
export const DENSITY_NEIGHBORS_PER_SIDE = 2;

/** The first 52 bits of a ring address (hex), as a fraction of the ring: exact in a double. */
const ringFraction = (address: string): number => parseInt(address.slice(0, 13), 16) / 2 ** 52;

/**
 * The group's size as the ring's density around `self` says it. N members at random on the ring
 * cut it into N gaps; the k = 4 gaps between our second neighbours on either side span a
 * fraction f of it, about k/N. f is then Beta(k, N - k) distributed, the mean of 1/f is
 * (N - 1)/(k - 1), so 1 + (k - 1)/f estimates N without bias. Undefined below k + 1 members
 * known (us included): no span to measure.
 */
export function ringDensityEstimate(self: string, peerIds: readonly string[]): number | undefined {
  const gaps = 2 * DENSITY_NEIGHBORS_PER_SIDE;
  const others = [...new Set(peerIds)].filter((id) => id !== self);
  if (others.length < gaps) return undefined;
  const at = ringFraction(groupAddress(self));
  // Each peer's distance from us going round the ring one way; its second-nearest on each side.
  const ahead = others.map((id) => (ringFraction(groupAddress(id)) - at + 1) % 1).sort((a, b) => a - b);
  const span = ahead[DENSITY_NEIGHBORS_PER_SIDE - 1]! + (1 - ahead[ahead.length - DENSITY_NEIGHBORS_PER_SIDE]!);
  return span > 0 ? 1 + (gaps - 1) / span : undefined;
}

/** N for the neighbour count: the ring-density estimate, never below the members known (us included). */
export function estimateGroupSize(self: string, peerIds: readonly string[]): number {
  const known = new Set(peerIds).add(self).size;
  return Math.max(known, Math.round(ringDensityEstimate(self, peerIds) ?? 0));
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
 * N/4, ... (N here the peers we know, us included: offsets on the ring we can see) until
 * `target` peers (default targetNeighbors of estimateGroupSize).
 */
export function bestList(self: string, peers: readonly KnownPeer[], options: { target?: number; random?: () => number } = {}): Set<string> {
  const others = peers.filter((p) => p.peerId !== self);
  if (others.length <= KEEP_ALL_UP_TO) return new Set(others.map((p) => p.peerId));
  const random = options.random ?? Math.random;
  const n = others.length + 1;
  const target = Math.min(others.length, options.target ?? targetNeighbors(estimateGroupSize(self, others.map((p) => p.peerId))));
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
