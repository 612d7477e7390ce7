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
import { SortedRing, type RingPosition } from './sorted-ring.js';

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
  private readonly ring = new SortedRing<M>();
  private readonly byPeerId = new Map<string, M>();

  constructor(
    /** The group ID, hex (SHA-256 of the groupspec text, or the ID the client sent). */
    readonly id: string,
    private readonly random: () => number = Math.random,
  ) {}

  get size(): number {
    return this.ring.size;
  }

  /** The members in ring order (a new array each time: for reading, not for every packet). */
  get members(): M[] {
    return this.ring.toArray();
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
    const at = this.ring.insert(member);
    this.byPeerId.set(key, member);
    return this.arrivalIntroductions(member, at);
  }

  /** Removes a member and returns the introductions that repair the ring where it was. */
  leave(member: M): Array<Introduction<M>> {
    const key = member.peerId.toString('hex');
    if (this.byPeerId.get(key) !== member) return [];
    const at = this.ring.position(member);
    if (at === undefined) throw new Error('a member missing from its ring');
    const before = this.ring.step(at, -1);
    const after = this.ring.step(at, 1);
    this.ring.remove(member);
    this.byPeerId.delete(key);
    if (this.ring.size < 2 || before === after) return [];
    return [
      { to: before, about: after },
      { to: after, about: before },
    ];
  }

  private arrivalIntroductions(newcomer: M, at: RingPosition): Array<Introduction<M>> {
    const n = this.ring.size;
    const out: Array<Introduction<M>> = [];
    if (n === 1) return out;
    // Its neighbours, nearest first, alternating sides; a small ring wraps onto itself.
    const told = new Set<M>([newcomer]);
    for (let d = 1; d <= RING_NEIGHBOURS_PER_SIDE; d++) {
      for (const offset of [-d, d]) {
        const m = this.ring.step(at, offset);
        if (told.has(m)) continue;
        told.add(m);
        out.push({ to: newcomer, about: m });
      }
    }
    // Random members elsewhere: as many as there are, up to RANDOM_PICKS. Few left to pick from
    // means a small ring; then walk it rather than guess.
    const left = n - told.size;
    if (left <= RANDOM_PICKS) {
      for (const m of this.ring.toArray()) if (!told.has(m)) out.push({ to: newcomer, about: m });
    } else {
      // Each guess hits an untold member with odds left/n: told holds at most 7 and more than 2
      // are left, so at least 3 in 10; all 64 guesses miss with odds under 1e-9.
      for (let picked = 0, tries = 0; picked < RANDOM_PICKS && tries < 64; tries++) {
        const m = this.ring.random(this.random);
        if (told.has(m)) continue;
        told.add(m);
        picked++;
        out.push({ to: newcomer, about: m });
      }
    }
    // The two whose nearest neighbour it now is.
    const before = this.ring.step(at, -1);
    const after = this.ring.step(at, 1);
    out.push({ to: before, about: newcomer });
    if (after !== before) out.push({ to: after, about: newcomer });
    return out;
  }
}
