// Live media inside a NetGroup (multicast): the publisher cuts each message into numbered fragments
// and its neighbours pass them on, neighbour to neighbour; the server never sees a byte of it.
// The wire is librtmfp's (research file netgroup.md §5.1-5.3; codecs in src/codec/group-media.ts):
//
//   per neighbour and stream, each side opens a flow 47 52 11 associated with the other's report
//   flow (47 52 1C), carrying its stream announce `21` (name, stream key, window and periods),
//   fragments maps `22`, push masks `23` and pulls `2B`; fragments `20`/`30`/`10`/`00` go on a flow
//   47 52 12 associated with the other's 47 52 11 flow, so each side knows which stream they are.
//
// Push: a member asks a neighbour for each slice of the stream (fragment ID mod 8), one pusher a
// slice. Every holder pushes what it gets to the neighbours it took for that slice: pushLimit + 1
// a slice at most (librtmfp's bound), taken while there is room; one asked when the slice was full
// sees nothing of it come, and within half a second asks another neighbour (not that one again for
// 5 s), so every member finds a pusher for every slice and the slices' push trees cover the group.
// A pusher silent for a second while the stream reaches us otherwise is replaced the same way.
// Pushers are asked among the neighbours whose maps show them furthest ahead in the slice (nearest
// the publisher), which keeps the trees shallow; for that, a member's maps go to every neighbour
// for its first 3 s with the stream (START_MAPS_MS), then to one neighbour an update, in turn.
// Pull (`2B`): a fragment no pusher will bring (its slice has none, or it is older than the
// pusher's first) is pulled from a neighbour whose map shows it 200 ms after it was known; one a
// pusher should bring, after the fetch period; a pull unanswered, from another holder after one
// more fetch period, or at once when the neighbour asked goes; MAX_PULLS_PER_HOLDER (48) pending
// pulls a neighbour at most. Where answers take longer than those periods (a member short of
// CPU), pulls are asked again and pushers judged only after the time an answer takes
// (AnswerTime). Fragments older than the window (plus the relay margin) are dropped. The wire is
// librtmfp's throughout: a full pusher says nothing (there is no message for it), and librtmfp
// members that ask us are served the same way.
//
// A player delivers messages in fragment order. It starts on a video keyframe, preceded by the
// stream's latest metadata and codec headers; to make that possible for members that join late,
// the publisher repeats metadata and headers before each keyframe (a Covey choice: how Flash
// publishers handle late joiners is unknown), and players deliver a header only when it differs
// from the one they delivered last. A keyframe that cannot be decoded without a header we never
// got is passed over for the next one (once). Malformed group messages close that peer's session only.
import { randomBytes } from 'node:crypto';
import { isAudioSequenceHeader } from '../codec/audio-tag.js';
import { isOnMetaData } from '../codec/flv-script-data.js';
import { dataAsAmf0, FlashMessageType } from '../codec/flash-command.js';
import {
  encodeFragmentsMap,
  encodeMediaFragment,
  encodePull,
  encodePushRequest,
  encodeStreamEnd,
  encodeStreamInfo,
  GroupMediaMessage,
  isMessageStart,
  mapHas,
  parseFragmentsMap,
  parseMediaFragment,
  parsePull,
  parsePushRequest,
  parseStreamInfo,
  splitMediaMessage,
  type FragmentsMap,
  type GroupStreamInfo,
  type MediaFragment,
} from '../codec/group-media.js';
import { isVideoKeyframe, isVideoSequenceHeader, needsSequenceHeader } from '../codec/video-tag.js';
import { FlashFlowPriority } from '../rtmfp/flash-flow-priority.js';
import type { SendFlow } from '../rtmfp/send-flow.js';
import type { IncomingFlow } from '../rtmfp/session.js';
import type { Logger } from '../util/log.js';
import type { NetGroup } from './net-group.js';
import { shortPeerId, type PeerConnection } from './peer-connection.js';

export type GroupFrameKind = 'audio' | 'video' | 'data';

export interface GroupMediaOptions {
  /** How long fragments are kept and offered to neighbours (ms; librtmfp's default 8,000). */
  windowMs?: number;
  /** How often a fragments map goes out (ms; default 100). */
  availabilityUpdateMs?: number;
  /** How long a missing fragment is left to pushes before it is pulled (ms; default 2,500). */
  fetchPeriodMs?: number;
  /** Neighbours each fragment is pushed to, less one (default 4, as librtmfp). */
  pushLimit?: number;
  /** Fragments maps to every neighbour at each update, not to one in turn (default false, as librtmfp). */
  sendToAll?: boolean;
}

const FLOW_MEDIA_CONTROL = Buffer.from([0x47, 0x52, 0x11]);
const FLOW_MEDIA_DATA = Buffer.from([0x47, 0x52, 0x12]);
/** librtmfp's relayMargin: fragments are kept this much past the window, for neighbours behind. */
const RELAY_MARGIN_MS = 2000;
/** librtmfp pulls every 100 ms (NETGROUP_PULL_DELAY). */
const PULL_PERIOD_MS = 100;
/** Pending pulls at most (librtmfp's NETGROUP_PULL_LIMIT). */
const MAX_PENDING_PULLS = 300;
/**
 * Pending pulls to one neighbour at most: as a stream begins, before the push trees form, only
 * the publisher holds anything, and each of its neighbours would pull all of it there at once.
 * 48 is a third of a second of a 1 Mbit/s stream (135 fragments a second).
 */
const MAX_PULLS_PER_HOLDER = 48;
/**
 * How often slices without a working pusher are offered to another neighbour. librtmfp adds one
 * pusher every 2 s (NETGROUP_PUSH_DELAY), 16 s before all 8 slices are pushed; we check each slice
 * every 100 ms, so that a new member is pushed the whole stream within a second.
 */
const PUSH_CHECK_MS = 100;
/**
 * A neighbour asked to push a slice that sent none of it for this long, while PUSH_SLICE_LAG
 * newer fragments of the slice reached us otherwise, did not take us (its slice was full): we
 * ask another. At 1 Mbit/s a slice has 17 fragments a second: one comes every 60 ms.
 */
const PUSH_TRIAL_MS = 500;
/** A pusher that sent nothing of its slice for this long, while the stream went on, is replaced. */
const PUSH_STALE_MS = 1000;
/**
 * How many newer fragments of the slice we must hold (pulled, or of other slices as far as the
 * IDs go) before a pusher counts as silent. Counted in fragments that reached us, not in fragments
 * maps say exist: when this process is short of CPU, every pusher is late alike, and dropping
 * them for it (then pulling) only added work; at N = 50 in one process that fed on itself. A
 * neighbour on trial that sent nothing for four trial periods while maps showed the stream going
 * on is dropped too (a member refused everywhere as the stream began holds nothing newer), and
 * one on trial whose own map shows it holding that many newer fragments of the slice, after one
 * trial period: it has them and did not push them, so its slice was full (its maps go on a flow
 * below its pushes, so cannot overtake them). Waiting the four periods for it, as the stream
 * begins and the publisher refuses all but 5 a slice, left the stream's first 2 s late at N = 50
 * (1,600-3,700 frames over 1 s late at a member, p99 2.1-3.2 s); dropping it after one period,
 * none (p99 0.6-0.7 s).
 */
const PUSH_SLICE_LAG = 3;
/** A neighbour that did not push a slice we asked for is not asked for it again before this. */
const PUSH_RETRY_MS = 5000;
/**
 * A fragment of a slice no pusher serves us is pulled once a map has shown it for this long (not
 * after the fetch period: nothing will push it). Two map periods: the fragment may be on its way.
 */
const PULL_UNCOVERED_MS = 200;

/** Fragments held at most, whatever the window says (64 MB of 959-byte fragments). */
const MAX_FRAGMENTS = 70_000;
/** A neighbour whose media flow holds more than this unsent is not pushed to (it can pull). */
const MAX_LINK_BACKLOG = 512 * 1024;
/** A fragment ID this far past anything known is hostile, not early. */
const MAX_ID_JUMP = 1_000_000;
/**
 * For this long after a member first holds a fragment of the stream, its fragments map goes to
 * every neighbour at each update, not to one in turn: that is when its neighbours choose their
 * pushers, and they choose by maps (PUSHER_FRONT_SLACK). In turn, a map reaches each of 17
 * neighbours once in 1.7 s, too stale to tell who is near the publisher. At N = 50 (bench, load
 * 0.3-0.8), with both this and the front preference, the last member got frames after a median
 * 8 ms, p99 2.1 s (only the stream's first 2 s late), against 0.5-1 s and 5.0-5.1 s without
 * either; maps to all for the whole stream instead cost twice the members' CPU (a packet and its
 * ack a map) and, without the front preference, left push chains 17 hops deep. For 1 s instead of
 * 3 (2 runs each at N = 50 and 100), the start was later: p99 3.3-3.9 s against 2.6-3.6 s.
 */
const START_MAPS_MS = 3000;
/**
 * A slice's new pusher is picked at random among neighbours whose maps put them at most this many
 * fragment IDs (one fragment of the slice) behind the one furthest ahead in it. Picked among all,
 * the push trees grew deep (up to 17 hops at N = 50): every hop adds a member's delay, and when
 * members near the root change pushers the whole subtree waits. Preferring the front, with maps
 * fresh as the trees form (START_MAPS_MS), kept most fragments 2-3 hops from the publisher (13 at
 * most) and removed late pushes (N = 50: late frames 8,984 -> 1,597, duplicates 194-275 -> 24,
 * pulls 31,000 -> 11,800); alone, with maps 1.7 s old, it left the first 5 s late.
 */
const PUSHER_FRONT_SLACK = 8;

interface StoredFragment {
  f: MediaFragment;
  wire: Buffer;
  from: string | undefined;
}

/** One neighbour, for one stream. */
class Link {
  /** Our 47 52 11 flow to it. */
  control: SendFlow | undefined;
  /** Its 47 52 11 flow to us (its announce came on it). */
  in: IncomingFlow | undefined;
  /** Our 47 52 12 flow to it, opened with the first fragment we send. */
  media: SendFlow | undefined;
  map: FragmentsMap | undefined;
  /** Slices it asked us to push. */
  pushOut = 0;
  /** Of those, the slices we push to it (each slice goes to pushLimit + 1 neighbours at most). */
  served = 0;
  /** Slices we asked it to push. */
  pushIn = 0;
  /**
   * Per slice: its newest fragment of the slice less ours, when its newest map came. Relative, so
   * that neighbours whose maps came at different times compare (a map in turn is seconds old).
   */
  readonly ahead = new Int32Array(8);
  /** The `last` of the map we sent it last. */
  lastMapSent = 0;
  announced = false;

  constructor(readonly peer: PeerConnection) {}

  get peerId(): string {
    return this.peer.peerId;
  }

  has(id: number): boolean {
    return this.map !== undefined && mapHas(this.map, id);
  }

  sendControl(message: Buffer): void {
    if (this.control && this.peer.isOpen && this.control.state === 'open') this.control.write(message);
  }

  sendPushMask(mask: number): void {
    if (mask === this.pushIn) return;
    this.pushIn = mask;
    this.sendControl(encodePushRequest(mask));
  }

  sendFragment(wire: Buffer): boolean {
    if (this.in === undefined || !this.peer.isOpen) return false;
    this.media ??= this.peer.openFlow(FLOW_MEDIA_DATA, { returnFlowId: this.in.flowId, priority: FlashFlowPriority.video });
    if (this.media.state !== 'open' || this.media.bufferedBytes > MAX_LINK_BACKLOG) return false;
    this.media.write(wire);
    return true;
  }

  close(): void {
    if (!this.peer.isOpen) return;
    if (this.control?.state === 'open') this.control.close();
    if (this.media?.state === 'open') this.media.close();
  }
}

/** Counters a player or publisher reports. */
export interface GroupMediaStats {
  /** Fragments that came from neighbours (pushed or pulled), duplicates left out. */
  fragmentsFromPeers: number;
  fragmentsPushedToUs: number;
  fragmentsPulled: number;
  duplicateFragments: number;
  pullsSent: number;
  /** Pushers dropped: asked ones that pushed nothing (their slice was full), silent ones. */
  pushersDropped: number;
  /** Fragments we sent to neighbours (pushed or pulled from us). */
  fragmentsSent: number;
  /** Fragments given up on (missing for longer than the window). */
  fragmentsSkipped: number;
  framesDelivered: number;
}

/** One stream of the group, as a publisher or a player holds it. */
abstract class GroupStream {
  readonly links = new Map<string, Link>();
  readonly fragments = new Map<number, StoredFragment>();
  /** Oldest fragment ID we may still hold; everything below is gone. */
  low = 1;
  /** Newest fragment we hold. */
  newest = 0;
  /** Every fragment from low up to this one (excluded) is held: maps need not look them up (encodeFragmentsMap). */
  private heldBelow = 1;
  /** Newest fragment we know exists (from maps and fragments). */
  newestKnown = 0;
  /** When newestKnown grew: [time, id], oldest first (for the fetch period and the window). */
  protected readonly knownAt: Array<[number, number]> = [];
  /** The ID the end message named: one past the publisher's last fragment (librtmfp's numbering, codec encodeStreamEnd). */
  endFragment: number | undefined;
  readonly stats: GroupMediaStats = { fragmentsFromPeers: 0, fragmentsPushedToUs: 0, fragmentsPulled: 0, duplicateFragments: 0, pullsSent: 0, pushersDropped: 0, fragmentsSent: 0, fragmentsSkipped: 0, framesDelivered: 0 };
  protected readonly timers: NodeJS.Timeout[] = [];
  private mapTurn = 0;
  /** When we first held a fragment and sent maps (START_MAPS_MS counts from it). */
  private firstHeldAt = 0;
  closed = false;

  constructor(
    readonly host: GroupMediaHost,
    readonly info: GroupStreamInfo,
    readonly pushLimit: number,
    readonly log: Logger,
  ) {
    this.every(info.availabilityUpdateMs, () => this.sendMaps());
  }

  get keyHex(): string {
    return this.info.streamKey.toString('hex');
  }

  get neighbors(): number {
    return [...this.links.values()].filter((l) => l.in !== undefined).length;
  }

  protected every(ms: number, task: () => void): void {
    const t = setInterval(() => {
      if (!this.closed) task();
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  /** A neighbour to exchange this stream with: our announce and map go out once its report flow is known. */
  link(peer: PeerConnection): Link {
    let link = this.links.get(peer.peerId);
    if (link && link.peer !== peer) {
      this.unlink(peer.peerId);
      link = undefined;
    }
    if (link === undefined) {
      link = new Link(peer);
      this.links.set(peer.peerId, link);
    }
    this.announceTo(link);
    return link;
  }

  announceTo(link: Link): void {
    if (link.announced || this.closed) return;
    const neighbor = this.host.group.neighborLink(link.peerId);
    if (neighbor === undefined || !link.peer.isOpen) return;
    link.control = link.peer.openFlow(FLOW_MEDIA_CONTROL, { returnFlowId: neighbor.in.flowId, priority: FlashFlowPriority.command });
    link.announced = true;
    link.sendControl(encodeStreamInfo(this.info));
    this.sendMap(link);
    if (this.endFragment !== undefined) link.sendControl(encodeStreamEnd(this.endFragment));
  }

  unlink(peerId: string): void {
    const link = this.links.get(peerId);
    if (link === undefined) return;
    this.links.delete(peerId);
    link.close();
    this.linkGone(link);
    if (link.served !== 0) this.fillSlices();
  }

  protected linkGone(_link: Link): void {}

  /** Whether a neighbour pushes us some slice, or we push it one. */
  pushesWith(peerId: string): boolean {
    const link = this.links.get(peerId);
    return link !== undefined && (link.pushIn !== 0 || link.served !== 0);
  }

  /**
   * A neighbour's push mask. Each slice goes to pushLimit + 1 neighbours at most (librtmfp's
   * bound), the first that asked: a slice already full is not served to a later asker, which
   * sees nothing of it come and asks another neighbour (GroupPlayStream.checkPushers). Serving
   * whoever came first in our neighbour list instead (librtmfp's way, and ours before) left the
   * others of a full slice asking in vain; at N = 50 on loopback, most of the stream then came by
   * pull, 2.5 s late or more.
   */
  private pushRequest(link: Link, mask: number): void {
    link.pushOut = mask & 0xff;
    link.served &= link.pushOut;
    this.fillSlices();
    if (link.served !== link.pushOut) this.log.debug({ peer: shortPeerId(link.peerId), asked: link.pushOut, served: link.served }, 'push request: slices full or pushed to us by that neighbour, not served');
  }

  /** Gives each slice with room to neighbours still asking for it, in neighbour order (a slice given up, or a neighbour gone, frees room). */
  protected fillSlices(): void {
    for (let slice = 0; slice < 8; slice++) {
      const bit = 1 << slice;
      let room = this.pushLimit + 1;
      for (const l of this.links.values()) if (l.served & bit) room--;
      for (const l of this.links.values()) {
        if (room <= 0) break;
        if ((l.pushOut & bit) === 0 || l.served & bit || !this.acceptsPush(l, slice)) continue;
        l.served |= bit;
        room--;
      }
    }
  }

  /** Whether pushing this slice to that neighbour is of any use (a player does not push a slice back to its pusher). */
  protected acceptsPush(_link: Link, _slice: number): boolean {
    return true;
  }

  /** A message on a neighbour's 47 52 11 flow after its announce. */
  receiveControl(link: Link, message: Buffer): void {
    const type = message[0];
    if (type === GroupMediaMessage.FRAGMENTS_MAP) {
      const map = parseFragmentsMap(message);
      if (map === undefined || map.last > this.newestKnown + MAX_ID_JUMP) return this.host.malformed(link.peerId, 'malformed fragments map');
      // Maps only move forward (librtmfp ignores older ones too).
      const newer = link.map === undefined || map.last >= link.map.last;
      if (newer) link.map = map;
      this.mapCame(link, map, newer);
      this.learn(map.last);
    } else if (type === GroupMediaMessage.PUSH) {
      const mask = parsePushRequest(message);
      if (mask === undefined) return this.host.malformed(link.peerId, 'malformed push request');
      this.pushRequest(link, mask);
    } else if (type === GroupMediaMessage.PULL) {
      const id = parsePull(message);
      if (id === undefined) return this.host.malformed(link.peerId, 'malformed pull');
      const stored = this.fragments.get(id);
      if (stored && link.sendFragment(stored.wire)) this.stats.fragmentsSent++;
    } else if (type === GroupMediaMessage.STREAM_INFO) {
      const info = parseStreamInfo(message);
      if (info === undefined) return this.host.malformed(link.peerId, 'malformed stream announce');
      if (info.kind === 'end') this.ended(info.endId);
      // A second announce of the same stream changes nothing.
    } else {
      this.host.malformed(link.peerId, `unknown message ${type?.toString(16).padStart(2, '0')} on a media control flow`);
    }
  }

  /** The stream ends before fragment `end`: tell every neighbour (not all hear it from the publisher). */
  protected ended(end: number): void {
    if (this.endFragment !== undefined) return;
    this.endFragment = end;
    this.learn(end - 1);
    for (const l of this.links.values()) if (l.announced) l.sendControl(encodeStreamEnd(end));
  }

  /** A neighbour's fragments map came (`newer`: it is the newest it sent, now `link.map`). */
  protected mapCame(_link: Link, _map: FragmentsMap, _newer: boolean): void {}

  protected learn(id: number): void {
    if (id <= this.newestKnown) return;
    this.newestKnown = id;
    this.knownAt.push([Date.now(), id]);
  }

  /** Adds a fragment (ours or a neighbour's) and pushes it on to neighbours that asked for its slice. */
  protected store(f: MediaFragment, wire: Buffer, from: Link | undefined): boolean {
    if (f.id < this.low || this.fragments.has(f.id)) return false;
    this.fragments.set(f.id, { f, wire, from: from?.peerId });
    if (f.id === this.heldBelow) this.advanceHeld();
    if (f.id > this.newest) this.newest = f.id;
    this.learn(f.id);
    const bit = 1 << (f.id % 8);
    // At most pushLimit + 1 neighbours have the bit served (pushRequest).
    for (const l of this.links.values()) {
      if (l === from || (l.served & bit) === 0 || l.has(f.id)) continue;
      if (l.sendFragment(wire)) this.stats.fragmentsSent++;
    }
    if (this.fragments.size > MAX_FRAGMENTS) this.dropBelow(this.newest - MAX_FRAGMENTS + 1);
    return true;
  }

  /** Drops what fell out of the window (and relay margin). */
  protected expire(): void {
    const cutoff = Date.now() - this.info.windowMs - RELAY_MARGIN_MS;
    let expiredId = 0;
    let drop = 0;
    while (drop < this.knownAt.length && this.knownAt[drop]![0] < cutoff) expiredId = this.knownAt[drop++]![1];
    // Keep the newest of the expired marks: it dates the fragments after it.
    if (drop > 1) this.knownAt.splice(0, drop - 1);
    if (expiredId > 0) this.dropBelow(expiredId);
  }

  protected dropBelow(id: number): void {
    if (id <= this.low) return;
    for (let i = this.low; i < id; i++) this.fragments.delete(i);
    this.low = id;
    if (this.heldBelow < id) {
      this.heldBelow = id;
      this.advanceHeld();
    }
  }

  /** Forgets a fragment we hold (a piece that did not fit its message). */
  protected forget(id: number): void {
    if (this.fragments.delete(id) && id < this.heldBelow) this.heldBelow = id;
  }

  private advanceHeld(): void {
    while (this.fragments.has(this.heldBelow)) this.heldBelow++;
  }

  private sendMaps(): void {
    this.expire();
    const links = [...this.links.values()].filter((l) => l.announced);
    if (links.length === 0 || this.newest === 0) return;
    if (this.firstHeldAt === 0) this.firstHeldAt = Date.now();
    if (this.info.sendToAll || Date.now() - this.firstHeldAt < START_MAPS_MS) for (const l of links) this.sendMap(l);
    else this.sendMap(links[this.mapTurn++ % links.length]!);
  }

  protected sendMap(link: Link): void {
    if (this.newest === 0 || link.lastMapSent === this.newest) return;
    link.lastMapSent = this.newest;
    link.sendControl(encodeFragmentsMap(this.newest, this.low, (id) => this.fragments.has(id), this.heldBelow));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const id of [...this.links.keys()]) this.unlink(id);
  }

  abstract receiveFragment(link: Link, f: MediaFragment, wire: Buffer): void;
}

/** Publishing a stream into the group. */
export class GroupPublisher extends GroupStream {
  private nextId = 1;
  private metadata: Buffer | undefined;
  private audioHeader: Buffer | undefined;
  private videoHeader: Buffer | undefined;
  /** Headers went out since the last keyframe (so the next keyframe needs no repeat). */
  private headersSinceKeyframe = false;

  /** Sends one frame into the group: audio and video tag bodies, data as AMF0. */
  send(kind: GroupFrameKind, timestamp: number, payload: Buffer): void {
    if (this.closed) return;
    if (kind === 'data') {
      if (isOnMetaData(payload)) {
        this.metadata = payload;
        this.headersSinceKeyframe = true;
      }
    } else if (kind === 'audio' && isAudioSequenceHeader(payload)) {
      this.audioHeader = payload;
      this.headersSinceKeyframe = true;
    } else if (kind === 'video' && isVideoSequenceHeader(payload)) {
      this.videoHeader = payload;
      this.headersSinceKeyframe = true;
    } else if (kind === 'video' && isVideoKeyframe(payload)) {
      // Late members start here: metadata and headers again just before it (players drop repeats).
      if (!this.headersSinceKeyframe) {
        if (this.metadata) this.emit(FlashMessageType.DataAmf0, timestamp, this.metadata);
        if (this.audioHeader) this.emit(FlashMessageType.Audio, timestamp, this.audioHeader);
        if (this.videoHeader) this.emit(FlashMessageType.Video, timestamp, this.videoHeader);
      }
      this.headersSinceKeyframe = false;
    }
    const type = kind === 'audio' ? FlashMessageType.Audio : kind === 'video' ? FlashMessageType.Video : FlashMessageType.DataAmf0;
    this.emit(type, timestamp, payload);
  }

  private emit(type: number, timestamp: number, payload: Buffer): void {
    const pieces = splitMediaMessage(this.nextId, type, timestamp, payload);
    this.nextId += pieces.length;
    for (const f of pieces) this.store(f, encodeMediaFragment(f), undefined);
  }

  /** Fragments published so far. */
  get lastFragment(): number {
    return this.nextId - 1;
  }

  receiveFragment(): void {
    // A publisher has every fragment of its stream; what neighbours send back is ignored.
  }

  /** Ends the stream: neighbours hear where it ends (the ID after its last fragment), then our flows close. */
  override close(): void {
    if (this.closed) return;
    this.ended(this.lastFragment + 1);
    this.host.removeStream(this);
    super.close();
  }
}

export interface GroupPlayOptions extends GroupMediaOptions {
  onFrame?: (kind: GroupFrameKind, timestamp: number, payload: Buffer) => void;
  /**
   * End when no new fragment came from the group for this long (ms) once the stream was found: its
   * publisher is gone without the end message (killed, or its network cut), and nothing else says
   * so. Default: no limit (wait until closed).
   */
  idleMs?: number;
  /** Each new fragment as it arrives: pushed or pulled, and from which neighbour (for benchmarks and logs). */
  onFragment?: (id: number, via: 'push' | 'pull', fromPeerId: string) => void;
}

/** Where a player stands, in fragment IDs. */
export interface GroupPlayProgress {
  /** The fragment playing started from (1: from the stream's start); undefined until the first map. */
  from: number | undefined;
  /** The next fragment to deliver. */
  next: number;
  /** Oldest fragment still kept. */
  low: number;
  /** Newest fragment held, and newest known to exist. */
  newest: number;
  newestKnown: number;
  /** The stream's last fragment, once its end was announced. */
  end: number | undefined;
  /** Fragments held, and pulls not answered yet. */
  held: number;
  pendingPulls: number;
  neighbors: number;
}

/** Playing a stream from the group. */
export class GroupPlayer {
  onFrame?: GroupPlayOptions['onFrame'];
  /** The first frame was delivered. */
  onStart?: () => void;
  /** The stream ended (the publisher's last fragment was delivered), or we stopped. Once. */
  onEnd?: (reason: string) => void;
  endedReason: string | undefined;
  /** When the first frame was delivered (ms since the epoch). */
  startedAt: number | undefined;
  stream: GroupPlayStream | undefined;
  private readonly emptyStats: GroupMediaStats = { fragmentsFromPeers: 0, fragmentsPushedToUs: 0, fragmentsPulled: 0, duplicateFragments: 0, pullsSent: 0, pushersDropped: 0, fragmentsSent: 0, fragmentsSkipped: 0, framesDelivered: 0 };

  constructor(
    readonly host: GroupMediaHost,
    readonly name: string,
    readonly options: GroupPlayOptions,
  ) {
    this.onFrame = options.onFrame;
  }

  get stats(): GroupMediaStats {
    return this.stream?.stats ?? this.emptyStats;
  }

  /** Neighbours exchanging this stream with us. */
  get neighbors(): number {
    return this.stream?.neighbors ?? 0;
  }

  /** Where playing stands, in fragment IDs (for logs and for saying what is missing). */
  get progress(): GroupPlayProgress | undefined {
    return this.stream?.progress;
  }

  /** Stops playing; the group membership stays. */
  close(): void {
    this.ended('closed by the player');
  }

  /** @internal */
  ended(reason: string): void {
    if (this.endedReason !== undefined) return;
    this.endedReason = reason;
    this.host.removePlayer(this);
    this.stream?.close();
    this.onEnd?.(reason);
  }
}

/** Who pushes us one slice of the stream (fragment ID mod 8). */
interface SlicePusher {
  /** The neighbour asked for it, on trial until its first fragment of the slice comes. */
  peerId: string | undefined;
  askedAt: number;
  /** The newest fragment we held when we asked, and the newest we knew of. */
  askedHeld: number;
  askedKnown: number;
  /** It pushed us the slice since we asked. */
  confirmed: boolean;
  /** The first and newest fragments of the slice it pushed us, and when the newest came. */
  firstId: number;
  lastId: number;
  lastAt: number;
  /** Neighbours that did not push the slice when asked, and until when they are not asked again. */
  refused: Map<string, number>;
}

/**
 * How long this member's pulls take to be answered: the smoothed round trip and its deviation, as
 * TCP times its retransmissions (Jacobson's estimator, Karn's rule and backoff; RFC 6298), from
 * pulls asked once and answered by the neighbour asked. Under CPU load the round trip grows past
 * our fixed periods (N = 50 beside 8 busy processes: answers after 1-3 s and more), and a pull
 * asked again because its answer was merely late, or a pusher dropped because its first push was,
 * only added work: 74,000 duplicate fragments, 44,000 pulls asked again, the members' threads 95%
 * busy, 39% of the frames delivered. A pull is asked again after the fetch period or this timeout,
 * whichever is longer; a pusher is judged on its trial or silence period or this timeout.
 */
class AnswerTime {
  private srtt = 0;
  private rttvar = 0;
  private sampled = false;
  /** Doubles while pulls time out with no answer to time (every answer then comes to one asked twice). */
  private backoff = 1;
  private backoffAt = 0;

  add(ms: number): void {
    if (!this.sampled) {
      this.sampled = true;
      this.srtt = ms;
      this.rttvar = ms / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms);
      this.srtt = 0.875 * this.srtt + 0.125 * ms;
    }
    this.backoff = 1;
  }

  /** How long an answer may take here (0 before the first answer). */
  get timeout(): number {
    return this.srtt + 4 * this.rttvar;
  }

  /** How long a pull waits before it is asked again: at least `floor`, `cap` at most. */
  wait(floor: number, cap: number): number {
    return Math.min(Math.max(floor, this.timeout) * this.backoff, Math.max(floor, cap));
  }

  /** A pull timed out: the next ones wait twice as long, once a wait (as TCP's timer backs off). */
  timedOut(now: number, wait: number): void {
    if (now - this.backoffAt < wait) return;
    this.backoffAt = now;
    this.backoff = Math.min(this.backoff * 2, 64);
  }
}

/** A stream a player receives: fragments in, messages out in order. */
class GroupPlayStream extends GroupStream {
  /** Where delivery starts looking (1 when we saw the stream from its first fragment). */
  private floor: number | undefined;
  private started = false;
  /** Next fragment to deliver (once started) or to examine (before). */
  private cursor = 0;
  private waitingFor = 0;
  private waitingSince = 0;
  /** Headers seen before the start, delivered just ahead of the first keyframe. */
  private pendingMetadata: Buffer | undefined;
  private pendingAudioHeader: [number, Buffer] | undefined;
  private pendingVideoHeader: [number, Buffer] | undefined;
  private pendingMetadataTime = 0;
  private lastMetadata: Buffer | undefined;
  private lastAudioHeader: Buffer | undefined;
  private lastVideoHeader: Buffer | undefined;
  private sawVideo = false;
  /** We passed over a keyframe that came without its codec header (once at most). */
  private skippedHeaderless = false;
  /** Fragment ID -> the neighbour asked last, when (0: it went), those asked, how many times: pulls not answered yet. */
  private readonly pending = new Map<number, { peerId: string; at: number; tried: Set<string>; asks: number }>();
  /** How long pulls take to be answered here and now (see AnswerTime). */
  private readonly answerTime = new AnswerTime();
  private pullCursor = 1;
  private lastPushCheck = 0;
  /** When the stream last grew for us: a fragment newer than any we knew of, or one we lacked. */
  private grewAt = Date.now();
  /** Pending pulls by the neighbour asked (worked out at each pull round). */
  private readonly pullsTo = new Map<string, number>();
  /** Who pushes each slice to us, and the newest fragment of it they sent. */
  private readonly pushers: SlicePusher[] = Array.from({ length: 8 }, () => ({ peerId: undefined, askedAt: 0, askedHeld: 0, askedKnown: 0, confirmed: false, firstId: 0, lastId: 0, lastAt: 0, refused: new Map() }));

  constructor(
    host: GroupMediaHost,
    info: GroupStreamInfo,
    pushLimit: number,
    log: Logger,
    readonly player: GroupPlayer,
  ) {
    super(host, info, pushLimit, log);
    this.every(PULL_PERIOD_MS, () => {
      if (!this.idle()) this.pull();
    });
    this.every(PUSH_CHECK_MS, () => this.checkPushers());
  }

  get progress(): GroupPlayProgress {
    return { from: this.floor, next: this.cursor, low: this.low, newest: this.newest, newestKnown: this.newestKnown, end: this.endFragment, held: this.fragments.size, pendingPulls: this.pending.size, neighbors: this.neighbors };
  }

  /** A neighbour announced the stream to us before it held any of it: we are here from its start. */
  sawEmptyAnnounce = false;

  /**
   * The first map decides where we start: from fragment 1 when a neighbour announced the stream
   * to us while it held nothing (we were here before the stream began), otherwise (a late joiner)
   * from what comes now on, on a keyframe. The first map need not show fragment 1: it may come
   * from a neighbour that has not pulled the stream's first fragments yet (they were published
   * before anyone asked for pushes, so every member but the publisher gets them by pull, a fetch
   * period later). Requiring fragment 1 there made a member present from the start begin at the
   * next keyframe, 2 s late, its first 139 frames never delivered, whenever such a map beat the
   * publisher's own (20 members beside other test suites: 1 run in 15, and CI).
   */
  protected override mapCame(link: Link, map: FragmentsMap, newer: boolean): void {
    if (this.floor === undefined) this.setFloor(this.sawEmptyAnnounce ? 1 : map.last);
    if (newer) this.measureAhead(link, map);
  }

  /** How far ahead of us a neighbour is in each slice, by its map (for PUSHER_FRONT_SLACK). */
  private measureAhead(link: Link, map: FragmentsMap): void {
    for (let slice = 0; slice < 8; slice++) {
      link.ahead[slice] = newestOfSlice(slice, map.last, (id) => mapHas(map, id)) - newestOfSlice(slice, this.newest, (id) => this.fragments.has(id));
    }
  }

  private setFloor(floor: number): void {
    this.floor = floor;
    this.cursor = floor;
    this.pullCursor = floor;
    if (floor > 1) this.dropBelow(floor);
  }

  protected override linkGone(link: Link): void {
    for (const p of this.pushers) {
      if (p.peerId === link.peerId) p.peerId = undefined;
      p.refused.delete(link.peerId);
    }
    // Pulls it had not answered go to another holder at the next round, not after the fetch
    // period: their answers went with its session. Members drop neighbours past their best list
    // mid-stream (0C), and a fragment left waiting 2.5 s holds up every frame after it.
    for (const p of this.pending.values()) if (p.peerId === link.peerId) p.at = 0;
  }

  receiveFragment(link: Link, f: MediaFragment, wire: Buffer): void {
    if (f.id > this.newestKnown + MAX_ID_JUMP) return this.host.malformed(link.peerId, `fragment ${f.id} far past the stream`);
    const pulled = this.pending.get(f.id);
    if (pulled) {
      this.pending.delete(f.id);
      // Only a pull asked once, answered by the neighbour asked, times a round trip (Karn's rule).
      if (pulled.asks === 1 && pulled.peerId === link.peerId && pulled.at > 0) this.answerTime.add(Date.now() - pulled.at);
    } else if ((link.pushIn & (1 << (f.id % 8))) !== 0) {
      this.pushedBy(link, f.id);
    }
    // A fragment before any map: pushed to us as it was made; the stream starts here for us.
    if (this.floor === undefined) this.setFloor(f.id <= 8 ? 1 : f.id);
    if (!this.store(f, wire, link)) {
      this.stats.duplicateFragments++;
      return;
    }
    this.stats.fragmentsFromPeers++;
    this.grewAt = Date.now();
    if (pulled) this.stats.fragmentsPulled++;
    else this.stats.fragmentsPushedToUs++;
    this.player.options.onFragment?.(f.id, pulled ? 'pull' : 'push', link.peerId);
    this.deliver();
  }

  /** A fragment of a slice we asked `link` to push: it is the slice's pusher now, confirmed. */
  private pushedBy(link: Link, id: number): void {
    const slice = id % 8;
    const p = this.pushers[slice]!;
    if (p.peerId !== link.peerId) {
      // One we asked before and dropped (our mask has not reached it yet): only one pusher a slice.
      if (p.peerId !== undefined && this.links.has(p.peerId)) return link.sendPushMask(link.pushIn & ~(1 << slice));
      this.asked(p, link.peerId, Date.now());
    }
    if (!p.confirmed) {
      p.confirmed = true;
      p.firstId = id;
    }
    if (id > p.lastId) {
      p.lastId = id;
      p.lastAt = Date.now();
    }
  }

  private asked(p: SlicePusher, peerId: string, now: number): void {
    p.peerId = peerId;
    p.askedAt = now;
    p.askedHeld = this.newest;
    p.askedKnown = this.newestKnown;
    p.confirmed = false;
    p.firstId = 0;
    p.lastId = 0;
    p.lastAt = now;
  }

  /** We do not push a slice to the neighbour that pushes it to us (a loop of two). */
  protected override acceptsPush(link: Link, slice: number): boolean {
    return this.pushers[slice]!.peerId !== link.peerId;
  }

  /**
   * Keeps a pusher on each slice: one asked that pushed nothing of it within PUSH_TRIAL_MS (its
   * slice was full, or it is cut off itself), or a pusher silent for PUSH_STALE_MS, is dropped and
   * not asked again for PUSH_RETRY_MS, and another neighbour with the stream is asked, at random,
   * leaving out those we push the slice to (a loop; longer loops go silent and break the same way).
   */
  private checkPushers(): void {
    const now = Date.now();
    // This timer firing late means this process is short of CPU: pushers look silent only because
    // we are late reading them, so none is judged then (but slices without one still get one: a
    // first version returned here, and a member starved from the start never asked anyone,
    // pulling everything: 3.7% delivered at N = 50, load 8-9).
    const late = now - this.lastPushCheck > 3 * PUSH_CHECK_MS;
    this.lastPushCheck = now;
    if (this.newestKnown === 0) return;
    const candidates = [...this.links.values()].filter((l) => l.in !== undefined && l.map !== undefined && l.peer.isOpen);
    for (let slice = 0; slice < 8; slice++) {
      const p = this.pushers[slice]!;
      const bit = 1 << slice;
      const current = p.peerId === undefined ? undefined : this.links.get(p.peerId);
      if (current !== undefined) {
        if (late) continue;
        const lag = 8 * PUSH_SLICE_LAG;
        const silence = p.confirmed ? now - p.lastAt : now - p.askedAt;
        // No pusher is judged on less time than a pull takes to be answered here (AnswerTime).
        const answer = this.answerTime.timeout;
        const limit = Math.max(p.confirmed ? PUSH_STALE_MS : PUSH_TRIAL_MS, answer);
        const held = this.newest > (p.confirmed ? p.lastId : p.askedHeld) + lag;
        const known = !p.confirmed && this.newestKnown > p.askedKnown + lag;
        const map = current.map;
        // Its own map shows it holding newer fragments of the slice than any we knew when we asked: refused.
        const shown = !p.confirmed && map !== undefined && newestOfSlice(slice, map.last, (id) => mapHas(map, id)) > p.askedKnown + lag;
        if (!(((held || shown) && silence > limit) || (known && silence > Math.max(4 * PUSH_TRIAL_MS, answer)))) continue;
        current.sendPushMask(current.pushIn & ~bit);
        p.refused.set(current.peerId, now + PUSH_RETRY_MS);
        this.stats.pushersDropped++;
        this.log.debug({ peer: shortPeerId(current.peerId), slice, confirmed: p.confirmed }, p.confirmed ? 'pusher silent: asking another' : 'asked pusher sent nothing (slice full?): asking another');
      }
      p.peerId = undefined;
      p.confirmed = false;
      for (const [peerId, until] of p.refused) if (until <= now || !this.links.has(peerId)) p.refused.delete(peerId);
      const fresh = candidates.filter((l) => !p.refused.has(l.peerId) && (l.served & bit) === 0);
      if (fresh.length === 0) {
        // Every neighbour was tried: try them again from the next check on.
        p.refused.clear();
        continue;
      }
      let front = -Infinity;
      for (const l of fresh) front = Math.max(front, l.ahead[slice]!);
      const near = fresh.filter((l) => l.ahead[slice]! >= front - PUSHER_FRONT_SLACK);
      const pick = near[Math.floor(Math.random() * near.length)]!;
      pick.sendPushMask(pick.pushIn | bit);
      this.asked(p, pick.peerId, now);
    }
  }

  protected override learn(id: number): void {
    if (id > this.newestKnown) this.grewAt = Date.now();
    super.learn(id);
  }

  /** Ends the player when the group brought nothing new for the idle limit (a publisher gone without a word). */
  private idle(): boolean {
    const limit = this.player.options.idleMs;
    if (limit === undefined || this.endFragment !== undefined || Date.now() - this.grewAt < limit) return false;
    this.log.info({ idleMs: limit, neighbors: this.neighbors, progress: this.progress }, 'nothing new from the group for the idle limit: the publisher is gone without ending the stream');
    this.player.ended(`no fragment from the group for ${limit / 1000} s: its publisher is gone without ending the stream`);
    return true;
  }

  /**
   * Whether the slice's pusher will push fragment `id`: a confirmed one from its first fragment
   * on, one on trial what comes after we asked it (nothing older: that is pulled).
   */
  private covered(id: number): boolean {
    const p = this.pushers[id % 8]!;
    if (p.peerId === undefined || !this.links.has(p.peerId)) return false;
    return p.confirmed ? id >= p.firstId : id > p.askedKnown;
  }

  /**
   * Asks a holder for fragments a fetch period overdue, and at once (PULL_UNCOVERED_MS) for those
   * no pusher will push us; again elsewhere when a pull is not answered within a fetch period.
   */
  private pull(): void {
    if (this.floor === undefined) return;
    // With no neighbour left, only the end can move us on (see hole()).
    if (this.links.size === 0) return this.deliver();
    const now = Date.now();
    const fetch = this.info.fetchPeriodMs;
    this.pullsTo.clear();
    for (const p of this.pending.values()) this.pullsTo.set(p.peerId, (this.pullsTo.get(p.peerId) ?? 0) + 1);
    // Never past half the window: a fragment asked again later than that is hardly in time.
    const reask = this.answerTime.wait(fetch, this.info.windowMs / 2);
    const due = this.knownBy(now - fetch);
    const dueUncovered = this.knownBy(now - PULL_UNCOVERED_MS);
    for (const [id, p] of this.pending) {
      if (id < this.low || this.fragments.has(id)) {
        this.pending.delete(id);
        continue;
      }
      if (now - p.at < reask) continue;
      // p.at 0: its neighbour went (linkGone), which is no timeout.
      if (p.at > 0) this.answerTime.timedOut(now, reask);
      let other = this.holder(id, p.tried);
      if (other === undefined) {
        // Every holder was asked once: start over with any of them (a pull or its answer can be
        // lost with a session or flow that closed), so that no fragment waits unasked.
        p.tried.clear();
        other = this.holder(id, p.tried);
        if (other === undefined) continue;
      }
      other.sendControl(encodePull(id));
      this.stats.pullsSent++;
      p.tried.add(other.peerId);
      p.asks++;
      this.countPull(p.peerId, -1);
      this.countPull(other.peerId, 1);
      p.peerId = other.peerId;
      p.at = now;
    }
    if (this.pullCursor < this.low) this.pullCursor = this.low;
    for (let id = this.pullCursor; id <= dueUncovered && this.pending.size < MAX_PENDING_PULLS; id++) {
      if (this.fragments.has(id) || this.pending.has(id)) {
        if (id === this.pullCursor) this.pullCursor++;
        continue;
      }
      if (id > due && this.covered(id)) continue;
      const link = this.holder(id, new Set());
      if (link === undefined) continue;
      link.sendControl(encodePull(id));
      this.stats.pullsSent++;
      this.countPull(link.peerId, 1);
      this.pending.set(id, { peerId: link.peerId, at: now, tried: new Set([link.peerId]), asks: 1 });
      if (id === this.pullCursor) this.pullCursor++;
    }
    this.deliver();
  }

  /** The newest fragment known by `time` (0 if none): knownAt is in time order, so a binary search. */
  private knownBy(time: number): number {
    const k = this.knownAt;
    let lo = 0;
    let hi = k.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (k[mid]![0] <= time) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? 0 : k[lo - 1]![1];
  }

  private countPull(peerId: string, n: number): void {
    this.pullsTo.set(peerId, (this.pullsTo.get(peerId) ?? 0) + n);
  }

  /** A neighbour whose map shows fragment `id`, not one of `tried`, with room for pulls, chosen at random. */
  private holder(id: number, tried: Set<string>): Link | undefined {
    const holders = [...this.links.values()].filter((l) => l.in !== undefined && l.peer.isOpen && !tried.has(l.peerId) && (this.pullsTo.get(l.peerId) ?? 0) < MAX_PULLS_PER_HOLDER && l.has(id));
    return holders.length === 0 ? undefined : holders[Math.floor(Math.random() * holders.length)];
  }

  protected override ended(end: number): void {
    super.ended(end);
    this.deliver();
  }

  /** The message starting at `id`, if all its pieces are here: [type, time, payload, pieces]. */
  private message(id: number): { type: number; time: number; payload: Buffer; pieces: number } | undefined | 'corrupt' {
    const first = this.fragments.get(id);
    if (first === undefined) return undefined;
    const f = first.f;
    if (f.marker === GroupMediaMessage.MEDIA_DATA) return { type: f.type, time: f.time, payload: f.payload, pieces: 1 };
    const parts = [f.payload];
    for (let i = 1; i <= f.remaining; i++) {
      const piece = this.fragments.get(id + i);
      if (piece === undefined) return undefined;
      const expected = i === f.remaining ? GroupMediaMessage.MEDIA_END : GroupMediaMessage.MEDIA_NEXT;
      if (piece.f.marker !== expected || piece.f.remaining !== f.remaining - i) {
        // A piece that does not fit its message: whoever sent it lied.
        if (piece.from) this.host.malformed(piece.from, `fragment ${id + i} does not continue message ${id}`);
        return 'corrupt';
      }
      parts.push(piece.f.payload);
    }
    return { type: f.type, time: f.time, payload: Buffer.concat(parts), pieces: f.remaining + 1 };
  }

  /** Delivers every complete message in order; before the start, looks for a keyframe to start on. */
  private deliver(): void {
    if (this.closed || this.floor === undefined) return;
    const now = Date.now();
    for (;;) {
      if (this.cursor < this.low) this.cursor = this.low;
      if (this.endFragment !== undefined && this.cursor >= this.endFragment) {
        this.player.ended('the publisher ended the stream');
        return;
      }
      const stored = this.fragments.get(this.cursor);
      if (stored === undefined) {
        // Past the newest fragment we wait for more, unless the end says more was published.
        if (this.cursor > this.newest && this.endFragment === undefined) return;
        this.hole(now);
        return;
      }
      if (!isMessageStart(stored.f)) {
        // A piece of a message whose start we never had (we joined mid-message, or gave up on it).
        this.cursor++;
        this.stats.fragmentsSkipped++;
        continue;
      }
      const m = this.message(this.cursor);
      if (m === 'corrupt') {
        for (let i = 0; i <= stored.f.remaining; i++) this.forget(this.cursor + i);
        return;
      }
      if (m === undefined) {
        this.hole(now);
        return;
      }
      this.waitingFor = 0;
      const at = this.cursor;
      this.cursor += m.pieces;
      this.consume(m.type, m.time, m.payload, at);
      if (this.closed) return;
    }
  }

  /**
   * Waits for the fragment at the cursor (or a piece after it); past the window, gives up on it.
   * Once the stream has ended and no neighbour with it is left, nothing more can come: what is
   * missing is given up at once. librtmfp's TestClient ends so: its last two fragments (the
   * UnpublishNotify and closeStream commands) stay unflushed in its media writer, the end message
   * goes out, and its session closes in the same millisecond.
   */
  private hole(now: number): void {
    let missing = this.cursor;
    while (this.fragments.has(missing)) missing++;
    if (this.waitingFor !== missing) {
      this.waitingFor = missing;
      this.waitingSince = now;
    }
    const orphaned = this.endFragment !== undefined && ![...this.links.values()].some((l) => l.in !== undefined && l.peer.isOpen);
    if (!orphaned && now - this.waitingSince < this.info.windowMs) return;
    // Lost for good: resume at the next message start we hold, or at the end.
    let next = missing + 1;
    while (next <= this.newest && !(this.fragments.get(next) && isMessageStart(this.fragments.get(next)!.f))) next++;
    if (next > this.newest && this.endFragment !== undefined) next = Math.max(next, this.endFragment);
    this.stats.fragmentsSkipped += next - this.cursor;
    this.log.info({ from: this.cursor, to: next - 1 }, orphaned ? 'fragments missing at the end, no neighbour left to send them: skipped' : 'fragments missing for longer than the window: skipped');
    this.cursor = next;
    this.waitingFor = 0;
    this.started = this.started && this.sawVideo ? false : this.started; // video resumes on a keyframe
    this.deliver();
  }

  private consume(type: number, time: number, payload: Buffer, _id: number): void {
    const kind: GroupFrameKind | undefined = type === FlashMessageType.Audio ? 'audio' : type === FlashMessageType.Video ? 'video' : type === FlashMessageType.DataAmf0 || type === FlashMessageType.DataAmf3 ? 'data' : undefined;
    if (kind === undefined) return; // commands (librtmfp's UnpublishNotify, closeStream): the 21 end says as much
    const body = kind === 'data' ? dataAsAmf0(type, payload) : payload;
    if (kind === 'video') this.sawVideo = true;
    if (!this.started) {
      if (kind === 'data' && isOnMetaData(body)) {
        this.pendingMetadata = body;
        this.pendingMetadataTime = time;
      } else if (kind === 'audio' && isAudioSequenceHeader(body)) this.pendingAudioHeader = [time, body];
      else if (kind === 'video' && isVideoSequenceHeader(body)) this.pendingVideoHeader = [time, body];
      else if (kind === 'video' && isVideoKeyframe(body) && this.pendingVideoHeader === undefined && needsSequenceHeader(body) && !this.skippedHeaderless) {
        // Not decodable without its header, which never reached us (below where we started, or
        // given up on): the next keyframe, before which publishers repeat it (Covey's, librtmfp's).
        // Once only: a publisher that never sends one is played as it is.
        this.skippedHeaderless = true;
        this.log.info({ time }, 'a keyframe without its codec header: starting at the next one');
      } else if ((kind === 'video' && isVideoKeyframe(body)) || (kind === 'audio' && !this.sawVideo && this.pendingVideoHeader === undefined && this.pendingAudioHeader !== undefined)) {
        this.started = true;
        if (this.pendingMetadata) this.emit('data', this.pendingMetadataTime, this.pendingMetadata);
        if (this.pendingVideoHeader) this.emit('video', ...this.pendingVideoHeader);
        if (this.pendingAudioHeader) this.emit('audio', ...this.pendingAudioHeader);
        this.emit(kind, time, body);
      }
      return;
    }
    this.emit(kind, time, body);
  }

  /** Delivers a frame, leaving out a header identical to the last one delivered (the publisher's repeats). */
  private emit(kind: GroupFrameKind, time: number, body: Buffer): void {
    if (kind === 'data' && isOnMetaData(body)) {
      if (this.lastMetadata?.equals(body)) return;
      this.lastMetadata = body;
    } else if (kind === 'audio' && isAudioSequenceHeader(body)) {
      if (this.lastAudioHeader?.equals(body)) return;
      this.lastAudioHeader = body;
    } else if (kind === 'video' && isVideoSequenceHeader(body)) {
      if (this.lastVideoHeader?.equals(body)) return;
      this.lastVideoHeader = body;
    }
    this.stats.framesDelivered++;
    const player = this.player;
    if (player.startedAt === undefined) {
      player.startedAt = Date.now();
      player.onStart?.();
    }
    player.onFrame?.(kind, time, body);
  }

  override close(): void {
    if (this.closed) return;
    this.host.removeStream(this);
    super.close();
    this.player.ended('closed');
  }
}


/**
 * The media side of one NetGroup membership: its streams by key, the media flows neighbours open
 * to us, and neighbours coming and going. One per NetGroup, made with its first publisher or player.
 */
export class GroupMediaHost {
  private readonly streams = new Map<string, GroupStream>();
  private readonly players = new Set<GroupPlayer>();
  private readonly removers: Array<() => void> = [];
  /** Our 47 52 11 flows, by peer ID and flow ID (IDs are per session) -> the stream and link they serve. */
  private readonly controlFlows = new Map<string, { stream: GroupStream; link: Link }>();
  readonly log: Logger;

  constructor(readonly group: NetGroup) {
    this.log = group.client.log.child({ groupMedia: group.spec.groupIdHex.slice(0, 16) });
    this.removers.push(
      group.addNeighborListener({
        connect: (peerId) => this.neighborConnected(peerId),
        disconnect: (peerId) => {
          for (const s of this.streams.values()) s.unlink(peerId);
        },
        busy: (peerId) => {
          for (const s of this.streams.values()) if (s.pushesWith(peerId)) return true;
          return false;
        },
      }),
      group.client.peers.addFlowHandler((peer, flow) => this.offer(peer, flow)),
    );
    this.removers.push(group.addEndListener(() => this.close()));
  }

  publish(name: string, options: GroupMediaOptions): GroupPublisher {
    for (const s of this.streams.values()) if (s instanceof GroupPublisher && s.info.name === name) throw new Error(`already publishing ${name} in this group`);
    const info = streamInfo(name, randomBytes(32), options);
    const publisher = new GroupPublisher(this, info, options.pushLimit ?? 4, this.log.child({ publish: name }));
    this.streams.set(publisher.keyHex, publisher);
    for (const peerId of this.group.neighbors) this.linkTo(publisher, peerId);
    this.log.info({ stream: name, neighbors: this.group.neighbors.length }, 'publishing into the group');
    return publisher;
  }

  play(name: string, options: GroupPlayOptions): GroupPlayer {
    const player = new GroupPlayer(this, name, options);
    this.players.add(player);
    return player;
  }

  /** @internal */
  removePlayer(player: GroupPlayer): void {
    this.players.delete(player);
  }

  /** @internal */
  removeStream(stream: GroupStream): void {
    if (this.streams.get(stream.keyHex) === stream) this.streams.delete(stream.keyHex);
    for (const [id, c] of this.controlFlows) if (c.stream === stream) this.controlFlows.delete(id);
  }

  /** @internal A peer broke the group media protocol: its session goes, we stay. */
  malformed(peerId: string, reason: string): void {
    this.group.closePeer(peerId, `malformed group message: ${reason}`);
  }

  private linkTo(stream: GroupStream, peerId: string): void {
    const neighbor = this.group.neighborLink(peerId);
    if (neighbor === undefined) return;
    const link = stream.link(neighbor.peer);
    if (link.control) this.controlFlows.set(`${link.peerId}/${link.control.flowId}`, { stream, link });
  }

  private neighborConnected(peerId: string): void {
    for (const s of this.streams.values()) this.linkTo(s, peerId);
  }

  /** Media flows from neighbours: 47 52 11 (associated with our report flow) and 47 52 12 (with our 47 52 11). */
  private offer(peer: PeerConnection, flow: IncomingFlow): boolean {
    if (flow.metadata.equals(FLOW_MEDIA_CONTROL)) {
      // Matched on our report flow, neighbour yet or not: its announce may overtake the end of the handshake.
      const ours = this.group.reportFlowTo(peer.peerId);
      if (ours === undefined || flow.returnFlowId !== ours.flowId) return false;
      let bound: { stream: GroupStream; link: Link } | undefined;
      flow.onMessage = (message) => {
        if (bound) {
          if (!bound.stream.closed) bound.stream.receiveControl(bound.link, message);
          return;
        }
        const info = parseStreamInfo(message);
        if (info === undefined || info.kind !== 'announce') {
          this.malformed(peer.peerId, 'a media control flow that does not begin with a stream announce');
          return;
        }
        const stream = this.streamFor(info);
        if (stream === undefined) {
          // Not a stream we play or publish: refused, as librtmfp closes its flow.
          flow.reject();
          return;
        }
        const link = stream.link(peer);
        link.in = flow;
        // A neighbour with fragments sends its map in the same breath as its announce (same
        // packet): none by the end of this packet means it held nothing yet, so the stream has not
        // begun. A microtask runs once this datagram is processed, before the next one is read (a
        // setImmediate ran after every datagram already queued, so that a loaded process read
        // other neighbours' maps first and took itself for a late joiner).
        queueMicrotask(() => {
          if (link.map === undefined && stream instanceof GroupPlayStream) stream.sawEmptyAnnounce = true;
        });
        if (link.control) this.controlFlows.set(`${link.peerId}/${link.control.flowId}`, { stream, link });
        bound = { stream, link };
      };
      flow.onEnd = () => {
        if (bound && bound.link.in === flow) bound.stream.unlink(peer.peerId);
      };
      return true;
    }
    if (flow.metadata.equals(FLOW_MEDIA_DATA)) {
      const c = flow.returnFlowId === undefined ? undefined : this.controlFlows.get(`${peer.peerId}/${flow.returnFlowId}`);
      if (c === undefined || c.link.peer !== peer) return false;
      flow.onMessage = (message) => {
        if (c.stream.closed) return;
        const f = parseMediaFragment(message);
        if (f === undefined) {
          this.malformed(peer.peerId, `malformed media fragment (${message.length} bytes)`);
          return;
        }
        c.stream.receiveFragment(c.link, f, message);
      };
      return true;
    }
    return false;
  }

  /** The stream an announce names: one we have, or a new one a player of ours waits for. */
  private streamFor(info: GroupStreamInfo): GroupStream | undefined {
    const existing = this.streams.get(info.streamKey.toString('hex'));
    if (existing) return existing;
    const player = [...this.players].find((p) => p.name === info.name && p.stream === undefined);
    if (player === undefined) return undefined;
    const stream = new GroupPlayStream(this, boundedInfo(info, this.log), player.options.pushLimit ?? 4, this.log.child({ play: info.name }), player);
    player.stream = stream;
    this.streams.set(stream.keyHex, stream);
    this.log.info({ stream: info.name, window: info.windowMs, fetch: info.fetchPeriodMs }, 'stream found in the group');
    // Tell our other neighbours of it, as librtmfp does, so that it spreads.
    for (const peerId of this.group.neighbors) this.linkTo(stream, peerId);
    return stream;
  }

  private close(): void {
    for (const r of this.removers.splice(0)) r();
    for (const p of [...this.players]) p.ended('left the group');
    for (const s of [...this.streams.values()]) s.close();
  }
}

/**
 * The newest fragment of a slice held at or below `top`, looking back 8 fragments of the slice at
 * most (a holder missing more than that of it counts as that far behind: it is only compared).
 */
function newestOfSlice(slice: number, top: number, holds: (id: number) => boolean): number {
  let id = top - ((top - slice + 8) % 8);
  while (id > 0 && id > top - 64 && !holds(id)) id -= 8;
  return id;
}

function streamInfo(name: string, streamKey: Buffer, o: GroupMediaOptions): GroupStreamInfo {
  return {
    name,
    streamKey,
    windowMs: o.windowMs ?? 8000,
    availabilityUpdateMs: o.availabilityUpdateMs ?? 100,
    fetchPeriodMs: o.fetchPeriodMs ?? 2500,
    sendToAll: o.sendToAll ?? false,
  };
}

/** Fragments maps at least every 20 ms and at most every 2 s (librtmfp's default 100 ms). */
const UPDATE_PERIOD_BOUNDS: readonly [number, number] = [20, 2000];
/** A window of 1 s to 60 s (librtmfp's default 8 s); fragments are capped by MAX_FRAGMENTS besides. */
const WINDOW_BOUNDS: readonly [number, number] = [1000, 60_000];
/** A fetch period of 100 ms up to the window (librtmfp's default 2.5 s). */
const MIN_FETCH_PERIOD_MS = 100;

/**
 * An announced stream's periods, within what a member can honour (they drive our timers). Needed
 * for librtmfp: its TestClient keeps --updatePeriod in a char, so 200 goes on the wire as
 * 4294967240 (-56 as a UInt32), and Node runs a timer that long every 1 ms.
 */
function boundedInfo(info: GroupStreamInfo, log: Logger): GroupStreamInfo {
  const clamp = (v: number, [lo, hi]: readonly [number, number]) => Math.min(hi, Math.max(lo, v));
  const windowMs = clamp(info.windowMs, WINDOW_BOUNDS);
  const bounded = {
    ...info,
    windowMs,
    availabilityUpdateMs: clamp(info.availabilityUpdateMs, UPDATE_PERIOD_BOUNDS),
    fetchPeriodMs: clamp(info.fetchPeriodMs, [MIN_FETCH_PERIOD_MS, windowMs]),
  };
  if (bounded.windowMs !== info.windowMs || bounded.availabilityUpdateMs !== info.availabilityUpdateMs || bounded.fetchPeriodMs !== info.fetchPeriodMs) {
    log.warn(
      { stream: info.name, announced: { window: info.windowMs, update: info.availabilityUpdateMs, fetch: info.fetchPeriodMs }, using: { window: bounded.windowMs, update: bounded.availabilityUpdateMs, fetch: bounded.fetchPeriodMs } },
      'stream announce with periods out of bounds: bounded',
    );
  }
  return bounded;
}

const hosts = new WeakMap<NetGroup, GroupMediaHost>();

function hostOf(group: NetGroup): GroupMediaHost {
  if (group.closedReason !== undefined) throw new Error(`not in the group any more: ${group.closedReason}`);
  let host = hosts.get(group);
  if (host === undefined) {
    host = new GroupMediaHost(group);
    hosts.set(group, host);
  }
  return host;
}

/** Publishes `name` into the group: its neighbours carry it to every member that plays it. */
export function publishToGroup(group: NetGroup, name: string, options: GroupMediaOptions = {}): GroupPublisher {
  if (name === '') throw new Error('a group stream needs a name');
  return hostOf(group).publish(name, options);
}

/** Plays `name` from the group, as soon as a neighbour announces it. */
export function playFromGroup(group: NetGroup, name: string, options: GroupPlayOptions = {}): GroupPlayer {
  if (name === '') throw new Error('a group stream needs a name');
  return hostOf(group).play(name, options);
}

export { shortPeerId };
