// One NetGroup as the server sees it: its members on a ring, and which members to introduce to
// which when one joins or leaves. The server only bootstraps the mesh; the members then find
// their own neighbours by gossip (research file §4.3, §5.4). What it must get right is that a
// newcomer is linked at once, that the links follow the ring the clients themselves use, and that
// a departure does not cut the ring.
//
// The ring. Flash and librtmfp place a peer at SHA-256(21 0F + peer ID) (librtmfp
// NetGroup.cpp:47-54; MonaServer2 calls it the member ID) and each keeps the 6 peers closest to
// it on that ring in its "best list" (§5.4). So the introductions worth making are ring
// neighbours in that same order: they are the sessions the clients will want anyway.
//
// The choice, against the servers that came before:
// - MonaServer2 tells up to 3 members on each side of the newcomer about it and tells the newcomer
//   nothing. A newcomer whose neighbours are slow to act (or whose introductions are lost) waits.
// - MonaServer (M1) tells the newcomer 6 members in peer-ID order, Cumulus the 5 most recent plus
//   1 random. Neither follows the clients' ring, and Cumulus's recency rule split 2000-member
//   groups into islands (Cumulus #93).
// Here the newcomer is told its ring neighbours, 3 on each side (the 6 of Flash's best list),
// plus 2 random members elsewhere on the ring: long links, so the gossip that follows reaches
// the far side of a big group at once rather than walking the ring (Flash's best list likewise
// keeps a random peer and peers at N/2, N/4...). And the members immediately before and after
// it are told about the newcomer: they are the two whose closest neighbour just changed, and
// telling both ends means the link forms even when one side is slow (two simultaneous opens
// are resolved by RFC 7425 §4.3.6). That is at most 10 messages a join, whatever the size.
// On a leave, the leaver's two neighbours are introduced to each other, which closes the gap in
// the ring (Cumulus and M1 repair the same way, with a peer 5-6 places earlier; MonaServer2 does
// not repair at all).
import { createHash } from 'node:crypto';

/** Neighbours on each side told to a newcomer: with both sides, Flash's 6 closest (§5.4). */
export const RING_NEIGHBOURS_PER_SIDE = 3;
/** Members elsewhere on the ring told to a newcomer, for long links. */
export const RANDOM_PICKS = 2;

/** SHA-256(21 0F + peer ID), hex: where a peer sits on its groups' ring. */
export function ringKey(peerId: Buffer): string {
  return createHash('sha256').update(RING_KEY_PREFIX).update(peerId).digest('hex');
}
const RING_KEY_PREFIX = Buffer.from([0x21, 0x0f]);

export interface RingMember {
  /** 32 bytes: the member's RTMFP peer ID (SHA-256 of its certificate). */
  readonly peerId: Buffer;
  /** ringKey(peerId); hex, so that string order is ring order. */
  readonly ringKey: string;
}

/** Who is to be told about whom: `to` learns `about` (and opens a session to it). */
export interface Introduction<M> {
  to: M;
  about: M;
}

export class NetGroup<M extends RingMember = RingMember> {
  /** Members in ring order (ascending ring key). */
  private readonly ring: M[] = [];
  private readonly byPeerId = new Map<string, M>();

  constructor(
    /** The group ID, hex (SHA-256 of the groupspec text, or the ID the client sent). */
    readonly id: string,
    private readonly random: () => number = Math.random,
  ) {}

  get size(): number {
    return this.ring.length;
  }

  /** The members, in ring order. */
  get members(): readonly M[] {
    return this.ring;
  }

  member(peerId: Buffer | string): M | undefined {
    return this.byPeerId.get(typeof peerId === 'string' ? peerId : peerId.toString('hex'));
  }

  has(member: M): boolean {
    return this.byPeerId.get(member.peerId.toString('hex')) === member;
  }

  /**
   * Adds a member and returns the introductions its arrival calls for. A peer ID already in
   * the group is not added again (undefined): a second member at one ring position would be
   * introduced to itself.
   */
  join(member: M): Array<Introduction<M>> | undefined {
    const key = member.peerId.toString('hex');
    if (this.byPeerId.has(key)) return undefined;
    const at = this.insertionIndex(member.ringKey);
    this.ring.splice(at, 0, member);
    this.byPeerId.set(key, member);
    return this.arrivalIntroductions(at);
  }

  /** Removes a member and returns the introductions that repair the ring where it was. */
  leave(member: M): Array<Introduction<M>> {
    const key = member.peerId.toString('hex');
    if (this.byPeerId.get(key) !== member) return [];
    const at = this.indexOf(member);
    this.ring.splice(at, 1);
    this.byPeerId.delete(key);
    const n = this.ring.length;
    if (n < 2) return [];
    const before = this.ring[(at - 1 + n) % n]!;
    const after = this.ring[at % n]!;
    if (before === after) return [];
    return [
      { to: before, about: after },
      { to: after, about: before },
    ];
  }

  private arrivalIntroductions(at: number): Array<Introduction<M>> {
    const n = this.ring.length;
    const newcomer = this.ring[at]!;
    const out: Array<Introduction<M>> = [];
    if (n === 1) return out;
    // Its neighbours, nearest first, alternating sides; a small ring wraps onto itself.
    const told = new Set<M>([newcomer]);
    for (let d = 1; d <= RING_NEIGHBOURS_PER_SIDE; d++) {
      for (const i of [at - d, at + d]) {
        const m = this.ring[((i % n) + n) % n]!;
        if (told.has(m)) continue;
        told.add(m);
        out.push({ to: newcomer, about: m });
      }
    }
    // Random members elsewhere: as many as there are, up to RANDOM_PICKS. Few left to pick from
    // means a small ring; then walk it rather than guess.
    const left = n - told.size;
    if (left <= RANDOM_PICKS) {
      for (const m of this.ring) if (!told.has(m)) out.push({ to: newcomer, about: m });
    } else {
      // Each guess hits an untold member with odds left/n: told holds at most 7 and more than 2
      // are left, so at least 3 in 10; all 64 guesses miss with odds under 1e-9.
      for (let picked = 0, tries = 0; picked < RANDOM_PICKS && tries < 64; tries++) {
        const m = this.ring[Math.floor(this.random() * n)]!;
        if (told.has(m)) continue;
        told.add(m);
        picked++;
        out.push({ to: newcomer, about: m });
      }
    }
    // The two whose nearest neighbour it now is.
    const before = this.ring[(at - 1 + n) % n]!;
    const after = this.ring[(at + 1) % n]!;
    out.push({ to: before, about: newcomer });
    if (after !== before) out.push({ to: after, about: newcomer });
    return out;
  }

  /** Where a ring key goes: after every smaller key (binary search). */
  private insertionIndex(key: string): number {
    let lo = 0;
    let hi = this.ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ring[mid]!.ringKey < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private indexOf(member: M): number {
    // Ring keys are SHA-256 values: equal keys mean equal peer IDs, which join() keeps out.
    const at = this.insertionIndex(member.ringKey);
    if (this.ring[at] !== member) throw new Error(`ring out of order at ${at}`);
    return at;
  }
}
