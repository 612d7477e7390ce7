// NetGroup membership for Covey's client: join a group by groupspec through our server, meet
// the members it introduces over direct P2P sessions with the group handshake, keep the
// neighbours, leave. (Media inside the group is another matter.)
//
// With the server (research file §4.2-4.3): a flow with metadata 47 43 that return-associates
// with our NetConnection flow carries the join `01 21 15` + group ID; the server refuses a join
// by rejecting that flow, and introduces members with `0B` + peer ID messages on a flow of its
// own associated with ours. Closing our flow leaves the group.
//
// Between peers (§5.1-5.2, librtmfp P2PSession): each side opens a report flow (47 52 1C) and
// sends `01` (group-handshake.ts) then `02`, `0E`. The side that asked for the session sends
// first; the other checks the group ID, that it is the one addressed and the key, then answers
// with its own `01`. A peer is our neighbour once both `01`s are out and theirs checked out.
// A refused `01` rejects the flow it came on, so its sender learns of the refusal.
//
// On the report flow after the handshake (§5.2, §5.4): peer-list reports `0A` (one when the
// neighbour's `0E` comes, answered once, then one every 10 s to a neighbour in turn), whose peers
// we contact while we have room for neighbours; `0C` asks us to drop the sender. A malformed
// message there closes that peer's session. Media in the group is group-media.ts's, on flows of
// its own associated with these.
import { timingSafeEqual } from 'node:crypto';
import { encodeGroupJoinById, GROUP_FLOW_METADATA, isGroupFlowMetadata, parseGroupMember } from '../codec/group-control.js';
import type { SendFlow, WriteReceipt } from '../rtmfp/send-flow.js';
import type { IncomingFlow } from '../rtmfp/session.js';
import type { Logger } from '../util/log.js';
import { encodeGroupBegin, encodeGroupInit, groupKey, GROUP_PEER_FLOW_METADATA, GroupPeerMessage, parseGroupInit, type GroupInit } from './group-handshake.js';
import { parseGroupspec, type Groupspec } from './group-spec.js';
import { shortPeerId, type PeerConnection } from './peer-connection.js';
import { encodeGroupReport, GROUP_REPORT, parseGroupReport } from './group-report.js';
import { AddressOrigin } from '../rtmfp/address.js';
import { ASK_CLOSE_MESSAGE, isAskClose } from '../codec/group-media.js';
import { bestList, estimateGroupSize } from './group-neighbors.js';
import type { RtmfpClient } from './rtmfp-client.js';

export interface JoinGroupOptions {
  /** How long the server has to take the join (default 10 s). */
  timeoutMs?: number;
  /** How long a P2P session to an introduced member may take (default 10 s). */
  peerTimeoutMs?: number;
  /**
   * Neighbours kept at most; introductions past it are remembered, not contacted. Default 32:
   * Flash aims at log2(N) + 13 (research file §5.4), 32 covers groups of half a million.
   */
  maxNeighbors?: number;
  /** How often the best list is worked out again (ms; librtmfp's 10,000). */
  bestListPeriodMs?: number;
}

/** The join was refused, failed, or not answered: one line saying which and why. */
export class NetGroupJoinError extends Error {
  constructor(
    message: string,
    /** The status Flash would report: NetGroup.Connect.Rejected or NetGroup.Connect.Failed. */
    readonly code: 'NetGroup.Connect.Rejected' | 'NetGroup.Connect.Failed',
  ) {
    super(message);
  }
}

/** One peer of the group we have a P2P session with, handshake done or under way. */
interface Member {
  readonly peer: PeerConnection;
  /** Our report flow to it. */
  out: SendFlow | undefined;
  /** Its report flow to us, once its `01` checked out. */
  in: IncomingFlow | undefined;
  /** Its `0E`/`0F` arrived. */
  began: boolean;
  neighbor: boolean;
  /** We sent it a report (0A) it has not answered yet; one answer per report. */
  reportSent: boolean;
  reportPending: boolean;
  stopWatching: () => void;
}

/** What the group's media exchange (group-media.ts) hears of neighbours. */
export interface NeighborListener {
  connect(peerId: string): void;
  disconnect(peerId: string, reason: string): void;
  /** Whether the neighbour carries something for us or from us now (it is not asked to drop us then). */
  busy?(peerId: string): boolean;
}

/** A neighbour's P2P session and the report flows both ways (media flows associate with them). */
export interface NeighborLink {
  peer: PeerConnection;
  /** Our report flow to it: its media flows to us return-associate with this one. */
  out: SendFlow;
  /** Its report flow to us: our media flows to it associate with this one. */
  in: IncomingFlow;
}

/** librtmfp sends a report every 10 s (NETGROUP_REPORT_DELAY) to one neighbour. */
const REPORT_PERIOD_MS = 10_000;
/** librtmfp works out its best list every 10 s (NETGROUP_BEST_LIST_DELAY). */
const BEST_LIST_PERIOD_MS = 10_000;
/** A neighbour is asked to drop us (0C) at most this often: librtmfp grants one every 90 s. */
const ASK_CLOSE_EVERY_MS = 90_000;
/** A member whose connects failed this many times in a row (one a best-list period) is given up. */
const MAX_CONNECT_FAILURES = 3;
/**
 * A peer whose session we closed for breaking the group protocol is neither contacted nor
 * admitted again for this long. Without it, the next peer-list report naming it brought it
 * straight back (within milliseconds on loopback), malformed messages and all. Six report
 * periods: the mesh has re-formed around it by then.
 */
const BANNED_MS = 60_000;

/** Report flows that came in before their `01`: taken by whichever of the client's groups it names. */
const groupsOfClient = new WeakMap<RtmfpClient, Set<NetGroup>>();

export class NetGroup {
  /** A member became a neighbour (handshake done both ways). */
  onNeighborConnect?: (peerId: string) => void;
  /** A neighbour is gone (left the group, its session ended, or we left). */
  onNeighborDisconnect?: (peerId: string, reason: string) => void;
  /** A group handshake with a peer failed (refused by either side). */
  onPeerRefused?: (peerId: string, reason: string) => void;
  /**
   * An introduced member could not be reached over a direct P2P session (the reason says which
   * half of the rendezvous failed; behind a symmetric NAT it is the direct path).
   */
  onPeerUnreachable?: (peerId: string, reason: string) => void;
  /** Our membership ended: we left, the server refused us later, or the connection closed. */
  onEnd?: (reason: string) => void;
  /** Why our membership ended, once it has. */
  closedReason: string | undefined;
  /** Peer IDs the server introduced, in order (never our own). */
  readonly introduced: string[] = [];
  /** Handshake refusals seen, by peer ID. */
  readonly refused = new Map<string, string>();
  /** Neighbours we asked to drop us (0C, past our best list), and those we dropped when asked. */
  readonly askClose = { sent: 0, granted: 0 };
  /** Introduced members we failed to open a P2P session to, with why (the last attempt's reason). */
  readonly unreachable = new Map<string, string>();

  private readonly members = new Map<string, Member>();
  /** Introduced members we are opening a session to. */
  private readonly connecting = new Set<string>();
  private readonly log: Logger;
  private readonly maxNeighbors: number;
  private readonly peerTimeoutMs: number;
  private readonly joinFlow: SendFlow;
  private readonly cleanups: Array<() => void> = [];
  private readonly neighborListeners = new Set<NeighborListener>();
  private readonly endListeners = new Set<(reason: string) => void>();
  /** Peers heard of in reports (beyond those the server introduced). */
  private readonly heard = new Set<string>();
  /** Peers closed for a protocol violation, by peer ID: until when they stay out (ms since the epoch). */
  private readonly banned = new Map<string, number>();
  /** The neighbours we want (group-neighbors.ts), worked out every bestListPeriodMs; empty until then. */
  private best = new Set<string>();
  /**
   * Members left out of the best list: those that left the group, and those our last
   * MAX_CONNECT_FAILURES connects to failed. An introduction by the server brings one back.
   */
  private readonly departed = new Set<string>();
  private readonly connectFailures = new Map<string, number>();
  /** When we last asked each neighbour to drop us (0C). */
  private readonly askedToClose = new Map<string, number>();
  private readonly bestListPeriodMs: number;
  private reportTurn = 0;
  /** Events about members held until join() has resolved and its caller could set the handlers (see main's note). */
  private early: Array<() => void> | undefined = [];

  private constructor(
    readonly client: RtmfpClient,
    readonly spec: Groupspec,
    options: JoinGroupOptions,
  ) {
    this.log = client.log.child({ netGroup: spec.groupIdHex.slice(0, 16) });
    this.maxNeighbors = options.maxNeighbors ?? 32;
    this.peerTimeoutMs = options.peerTimeoutMs ?? 10_000;
    this.bestListPeriodMs = options.bestListPeriodMs ?? BEST_LIST_PERIOD_MS;
    this.joinFlow = client.openServerFlow(GROUP_FLOW_METADATA);
  }

  /**
   * Joins the group of `groupspec` (the text from GroupSpecifier.toString(), or a parsed one):
   * resolves once the server took the join, rejects with NetGroupJoinError otherwise.
   */
  static async join(client: RtmfpClient, groupspec: string | Groupspec, options: JoinGroupOptions = {}): Promise<NetGroup> {
    const spec = typeof groupspec === 'string' ? parseGroupspec(groupspec) : groupspec;
    const groups = groupsOfClient.get(client) ?? new Set<NetGroup>();
    for (const g of groups) {
      if (g.spec.groupIdHex === spec.groupIdHex) throw new NetGroupJoinError(`already in group ${spec.groupIdHex.slice(0, 16)}…`, 'NetGroup.Connect.Failed');
    }
    if (client.session.state !== 'open') {
      throw new NetGroupJoinError(`cannot join group ${spec.groupIdHex.slice(0, 16)}…: connection closed: ${client.closedReason ?? 'closing'}`, 'NetGroup.Connect.Failed');
    }
    const group = new NetGroup(client, spec, options);
    if (!groupsOfClient.has(client)) {
      groupsOfClient.set(client, groups);
      // One taker for every group of this client: a report flow names its group in its first message.
      client.peers.addFlowHandler((peer, flow) => takeReportFlow(client, peer, flow));
    }
    groups.add(group);
    try {
      await group.sendJoin(options.timeoutMs ?? 10_000);
    } catch (err) {
      group.early = undefined;
      group.end(`join failed: ${(err as Error).message}`, false);
      throw err;
    }
    // After the caller's continuation (a microtask): it has set its handlers by then.
    setImmediate(() => {
      const early = group.early ?? [];
      group.early = undefined;
      for (const event of early) event();
    });
    return group;
  }

  get groupId(): Buffer {
    return this.spec.groupId;
  }

  /** Peer IDs of our neighbours: members with a P2P session and the group handshake done. */
  get neighbors(): string[] {
    return [...this.members.values()].filter((m) => m.neighbor).map((m) => m.peer.peerId);
  }

  /** @internal Hears of neighbours coming and going (the media exchange); answers a remover. */
  addNeighborListener(listener: NeighborListener): () => void {
    this.neighborListeners.add(listener);
    return () => this.neighborListeners.delete(listener);
  }

  /** @internal Our report flow to a peer, neighbour yet or not (its media flows associate with it). */
  reportFlowTo(peerId: string): SendFlow | undefined {
    return this.members.get(peerId)?.out;
  }

  /** @internal Calls `listener` once when the membership ends; answers a remover. */
  addEndListener(listener: (reason: string) => void): () => void {
    if (this.closedReason !== undefined) {
      listener(this.closedReason);
      return () => {};
    }
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  /** @internal A neighbour's session and report flows. */
  neighborLink(peerId: string): NeighborLink | undefined {
    const m = this.members.get(peerId);
    return m?.neighbor && m.out && m.in ? { peer: m.peer, out: m.out, in: m.in } : undefined;
  }

  /** @internal Closes a peer's session over a protocol violation (a malformed group message): the member goes on. */
  closePeer(peerId: string, reason: string): void {
    const m = this.members.get(peerId);
    const now = Date.now();
    // Bounded: every entry cost its peer a full handshake; past a few thousand, the stale go.
    if (this.banned.size >= 4096) for (const [id, until] of this.banned) if (until <= now) this.banned.delete(id);
    this.banned.set(peerId, now + BANNED_MS);
    this.log.warn({ peer: shortPeerId(peerId), reason, outForMs: BANNED_MS }, 'peer session closed');
    if (m) this.dropMember(m, reason);
    (m?.peer ?? this.client.peers.get(peerId))?.close(reason);
  }

  private isBanned(peerId: string): boolean {
    const until = this.banned.get(peerId);
    if (until === undefined) return false;
    if (Date.now() < until) return true;
    this.banned.delete(peerId);
    return false;
  }

  /** Whether the neighbour sent its ready message (`0E`). */
  hasBegun(peerId: string): boolean {
    return this.members.get(peerId)?.began ?? false;
  }

  /** Leaves the group: closes our group flow with the server and our report flows to the neighbours. */
  leave(): void {
    this.end('left the group', true);
  }

  private sendJoin(timeoutMs: number): Promise<void> {
    const id = `${this.spec.groupIdHex.slice(0, 16)}…`;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (err?: NetGroupJoinError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        removeEnd();
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => settle(new NetGroupJoinError(`the server did not take the join of group ${id} within ${timeoutMs} ms`, 'NetGroup.Connect.Failed')), timeoutMs);
      const removeEnd = this.client.addEndListener((reason) =>
        settle(new NetGroupJoinError(`cannot join group ${id}: connection closed: ${reason}`, 'NetGroup.Connect.Failed')),
      );
      this.joinFlow.onRejected = (code) => {
        // A refused join (the server's limits or its application) or a server without NetGroups:
        // either way the flow is refused, which Flash reports as NetGroup.Connect.Rejected.
        const message = `the server refused to join group ${id} (NetGroup.Connect.Rejected, flow exception ${code})`;
        if (!settled) {
          settle(new NetGroupJoinError(message, 'NetGroup.Connect.Rejected'));
          return;
        }
        this.log.warn({ code }, 'the server closed our group flow');
        this.end('the server closed our group flow', true);
      };
      this.joinFlow.write(encodeGroupJoinById(this.spec.groupId), {
        onDone: (receipt: WriteReceipt) => {
          if (receipt.status !== 'delivered') return;
          // The refusal of a join comes in the very packet that acknowledges it (the server
          // rejects the flow as it reads the message): wait for that packet's other chunks.
          setImmediate(() => {
            if (this.joinFlow.state === 'failed') return;
            this.log.debug({ groupId: this.spec.groupIdHex }, 'joined');
            settle();
          });
        },
      });
      this.cleanups.push(this.client.addServerFlowHandler((flow) => this.takeIntroductionFlow(flow)));
      this.cleanups.push(this.client.addEndListener((reason) => this.end(`connection closed: ${reason}`, false)));
      const reports = setInterval(() => this.reportTick(), REPORT_PERIOD_MS);
      reports.unref();
      const bestLists = setInterval(() => this.bestListTick(), this.bestListPeriodMs);
      bestLists.unref();
      this.cleanups.push(() => clearInterval(reports), () => clearInterval(bestLists));
    });
  }

  /** The server's flow of introductions: metadata 47 43, associated with our group flow. */
  private takeIntroductionFlow(flow: IncomingFlow): boolean {
    if (!isGroupFlowMetadata(flow.metadata) || flow.returnFlowId !== this.joinFlow.flowId) return false;
    if (this.closedReason !== undefined) {
      flow.reject();
      return true;
    }
    flow.onMessage = (message) => {
      const peerId = parseGroupMember(message);
      if (peerId === undefined) {
        this.log.debug({ first: message[0], length: message.length }, 'unknown message from the server on the group flow ignored');
        return;
      }
      this.introduce(peerId.toString('hex'));
    };
    return true;
  }

  private introduce(peerId: string): void {
    if (this.closedReason !== undefined) return;
    if (peerId === this.client.peerId) {
      this.log.debug('the server introduced us to ourselves: ignored');
      return;
    }
    if (!this.introduced.includes(peerId)) this.introduced.push(peerId);
    this.departed.delete(peerId);
    this.connectFailures.delete(peerId);
    if (this.members.has(peerId) || this.connecting.has(peerId)) return;
    if (this.isBanned(peerId)) {
      this.log.debug({ peer: shortPeerId(peerId) }, 'introduced member not contacted: it broke the group protocol lately');
      return;
    }
    if (this.members.size + this.connecting.size >= this.maxNeighbors) {
      this.log.debug({ peer: shortPeerId(peerId), max: this.maxNeighbors }, 'introduced member not contacted: enough neighbours');
      return;
    }
    this.log.debug({ peer: shortPeerId(peerId) }, 'introduced to a member');
    this.contact(peerId);
  }

  /** Opens a P2P session to a member and sends our group handshake on it. */
  private contact(peerId: string): void {
    this.connecting.add(peerId);
    this.client.connectPeer(peerId, { timeoutMs: this.peerTimeoutMs }).then(
      (peer) => {
        this.connecting.delete(peerId);
        this.unreachable.delete(peerId);
        this.connectFailures.delete(peerId);
        if (this.closedReason !== undefined) return;
        // We asked for this session, so our 01 goes first whichever side the engine made
        // initiator (a simultaneous open may have given that role to the peer).
        this.sendInit(this.memberFor(peer));
      },
      (err: Error) => {
        this.connecting.delete(peerId);
        if (this.closedReason !== undefined) return;
        this.connectFailures.set(peerId, (this.connectFailures.get(peerId) ?? 0) + 1);
        this.unreachable.set(peerId, err.message);
        this.log.info({ peer: shortPeerId(peerId), reason: err.message }, 'cannot reach an introduced member');
        this.notify(() => this.onPeerUnreachable?.(peerId, err.message));
      },
    );
  }

  private memberFor(peer: PeerConnection): Member {
    let member = this.members.get(peer.peerId);
    if (member && member.peer !== peer) {
      // An older session with the same peer ended: start over on the new one.
      this.dropMember(member, 'replaced by a new session');
      member = undefined;
    }
    if (member === undefined) {
      const m: Member = { peer, out: undefined, in: undefined, began: false, neighbor: false, reportSent: false, reportPending: false, stopWatching: () => {} };
      let watching = true;
      m.stopWatching = () => (watching = false);
      void peer.closed.then((reason) => {
        if (watching && this.members.get(peer.peerId) === m) this.dropMember(m, `P2P session ended: ${reason}`);
      });
      this.members.set(peer.peerId, m);
      member = m;
    }
    return member;
  }

  /** Our `01`, `02`, `0E` on a report flow of ours, once per member. */
  private sendInit(member: Member): void {
    if (member.out !== undefined || !member.peer.isOpen) return;
    const session = member.peer.session;
    const material = session.keyingMaterial;
    const farNonce = session.farNonce;
    if (material === undefined || farNonce === undefined) {
      this.refuse(member, 'the P2P session kept no keying material (its endpoint was made with keepKeyingMaterial off)');
      return;
    }
    const out = member.peer.openFlow(GROUP_PEER_FLOW_METADATA);
    member.out = out;
    out.onRejected = (code) => {
      if (this.members.get(member.peer.peerId) !== member || member.out !== out) return;
      this.refuse(member, `the peer refused our group handshake (flow exception ${code})`);
    };
    out.write(
      encodeGroupInit({
        groupIdHex: this.spec.groupIdHex,
        key: groupKey(this.spec.groupText, material.sharedSecret, farNonce),
        recipientPeerId: session.farFingerprint,
      }),
    );
    for (const m of encodeGroupBegin()) out.write(m);
    this.log.debug({ peer: shortPeerId(member.peer.peerId) }, 'group handshake sent');
    this.checkNeighbor(member);
  }

  /** @internal A report flow whose `01` names this group (see takeReportFlow). */
  receiveInit(peer: PeerConnection, flow: IncomingFlow, init: GroupInit): void {
    if (this.closedReason !== undefined) {
      flow.reject();
      return;
    }
    if (this.isBanned(peer.peerId)) {
      flow.reject();
      peer.close('it broke the group protocol lately');
      return;
    }
    const member = this.memberFor(peer);
    const reason = this.checkInit(peer, init);
    if (reason !== undefined) {
      flow.reject();
      this.refuse(member, reason);
      return;
    }
    member.in = flow;
    flow.onMessage = (message) => this.receiveReportFlowMessage(member, message);
    flow.onEnd = () => {
      if (this.members.get(peer.peerId) !== member) return;
      // Its report flow closed: it left the group, or dropped us (a granted 0C). Either way, not
      // ours to contact again until the server introduces it anew.
      this.departed.add(peer.peerId);
      this.dropMember(member, 'left the group');
    };
    this.log.debug({ peer: shortPeerId(peer.peerId) }, 'group handshake received');
    if (member.out === undefined) this.sendInit(member);
    else this.checkNeighbor(member);
  }

  /** Why a peer's `01` is refused, or undefined when it checks out. */
  private checkInit(peer: PeerConnection, init: GroupInit): string | undefined {
    if (!init.recipientPeerId.equals(this.client.endpoint.peerId)) return 'group handshake addressed to another peer ID';
    const material = peer.session.keyingMaterial;
    const nearNonce = peer.session.nearNonce;
    if (material === undefined || nearNonce === undefined) return 'the P2P session kept no keying material to check the group key with';
    const expected = groupKey(this.spec.groupText, material.sharedSecret, nearNonce);
    if (!timingSafeEqual(expected, init.key)) return 'wrong group key (the peer does not know this groupspec)';
    return undefined;
  }

  private checkNeighbor(member: Member): void {
    if (member.neighbor || member.out === undefined || member.in === undefined) return;
    member.neighbor = true;
    this.departed.delete(member.peer.peerId);
    this.log.debug({ peer: shortPeerId(member.peer.peerId), neighbors: this.neighbors.length }, 'new neighbour');
    if (member.began && !member.reportSent) this.sendReport(member, true);
    this.notify(() => this.onNeighborConnect?.(member.peer.peerId));
    for (const l of [...this.neighborListeners]) l.connect(member.peer.peerId);
  }

  /** What a neighbour sends on its report flow after its `01`. */
  private receiveReportFlowMessage(member: Member, message: Buffer): void {
    if (this.members.get(member.peer.peerId) !== member) return;
    const first = message[0];
    if (first === GroupPeerMessage.BEGIN || first === GroupPeerMessage.BEGIN_NEAREST) {
      member.began = true;
      // librtmfp answers 0E with its first report (NetGroup.cpp:196-205) and sends its media
      // announcements only once a report came: so do we.
      if (member.neighbor && !member.reportSent) this.sendReport(member, true);
    } else if (first === GROUP_REPORT) {
      const report = parseGroupReport(message);
      if (report === undefined) {
        this.closePeer(member.peer.peerId, `malformed peer-list report (${message.length} bytes)`);
        return;
      }
      if (member.reportPending) member.reportPending = false;
      else if (member.neighbor) this.sendReport(member, false);
      for (const p of report.peers) {
        if (p.peerId === this.client.peerId || this.heard.has(p.peerId)) continue;
        this.heard.add(p.peerId);
        this.introduce(p.peerId);
      }
    } else if (isAskClose(message)) {
      // librtmfp's rule (§5.2): granted when we have a best list, more neighbours than it holds,
      // and the asker is not in it.
      const peerId = member.peer.peerId;
      if (this.best.size > 0 && this.neighbors.length > this.best.size && !this.best.has(peerId)) {
        this.askClose.granted++;
        this.dropMember(member, 'the peer asked us to disconnect (0C)');
      }
      else this.log.debug({ peer: shortPeerId(peerId) }, 'a neighbour asked us to disconnect (0C): kept, we want it');
    } else if (first === GroupPeerMessage.DATA || first === GroupPeerMessage.INIT) {
      // 02 precedes 0E; a second 01 changes nothing.
    } else {
      this.log.debug({ peer: shortPeerId(member.peer.peerId), first }, 'unknown message on a report flow ignored');
    }
  }

  /** A peer-list report to a neighbour: where we see it, our server, and our other neighbours. */
  private sendReport(member: Member, initiator: boolean): void {
    if (member.out === undefined || !member.peer.isOpen) return;
    const peers = [...this.members.values()]
      .filter((m) => m !== member && m.neighbor)
      .map((m) => ({ peerId: m.peer.peerId, secondsSinceHeard: 0, addresses: [{ ...m.peer.address, origin: AddressOrigin.OBSERVED }] }));
    member.out.write(
      encodeGroupReport({
        recipientAddress: { ...member.peer.address, origin: AddressOrigin.OBSERVED },
        senderAddresses: [{ ...this.client.session.address, origin: AddressOrigin.RELAY }],
        peers,
      }),
    );
    member.reportSent = true;
    member.reportPending = initiator;
  }

  /**
   * The members we know of (introduced by the server, named in reports) that a best list may
   * hold: not us, not banned, not gone, not failed MAX_CONNECT_FAILURES times.
   */
  private candidates(): string[] {
    const self = this.client.peerId;
    const wanted = (id: string) => id !== self && !this.isBanned(id) && !this.departed.has(id) && (this.connectFailures.get(id) ?? 0) < MAX_CONNECT_FAILURES;
    return [...new Set([...this.introduced, ...this.heard])].filter(wanted);
  }

  /**
   * The group's size as we estimate it now, as the best list does (group-neighbors.ts: from the
   * ring's density around us, never below the members we know of, us included): Flash's
   * NetGroup.estimatedMemberCount.
   */
  get estimatedMemberCount(): number {
    return estimateGroupSize(this.client.peerId, this.candidates());
  }

  /**
   * Every bestListPeriodMs: the neighbours we want (group-neighbors.ts) among the members we know
   * of. Those we have no session with are contacted (again, if an earlier try failed: a member
   * whose every connect timed out is not left alone); neighbours past the list are asked to drop
   * us (0C), as many as we have too many, each at most every ASK_CLOSE_EVERY_MS, but not those a
   * listener says are busy (a live stream's pushers, either way): every member works out its list
   * about as often, and dropping pushers cut the push trees every 10 s. At N = 50 (bench, 4 runs
   * each, quiet and beside busy processes) frames came late again around 8 and 17 s into the
   * stream (up to 680 a run, in 3 runs of 4) and push chains reached 11-16 hops; keeping pushers,
   * none after 6 s, and 5-6 hops at most.
   */
  private bestListTick(): void {
    if (this.closedReason !== undefined) return;
    const peers = this.candidates().map((peerId) => {
      const m = this.members.get(peerId);
      const rtt = m?.neighbor ? m.peer.session.rtt : undefined;
      return { peerId, rttMs: rtt?.hasSample ? rtt.srtt : undefined };
    });
    this.best = bestList(this.client.peerId, peers);
    for (const peerId of this.best) {
      if (this.members.has(peerId) || this.connecting.has(peerId)) continue;
      this.log.debug({ peer: shortPeerId(peerId) }, 'contacting a member of our best list');
      this.contact(peerId);
    }
    const neighbors = [...this.members.values()].filter((m) => m.neighbor);
    let over = neighbors.length - this.best.size;
    const now = Date.now();
    for (const m of neighbors) {
      if (over <= 0) break;
      const peerId = m.peer.peerId;
      if (this.best.has(peerId) || m.out === undefined || now - (this.askedToClose.get(peerId) ?? -Infinity) < ASK_CLOSE_EVERY_MS) continue;
      if ([...this.neighborListeners].some((l) => l.busy?.(peerId))) continue;
      this.askedToClose.set(peerId, now);
      m.out.write(ASK_CLOSE_MESSAGE);
      this.askClose.sent++;
      over--;
    }
    for (const peerId of this.askedToClose.keys()) if (!this.members.has(peerId)) this.askedToClose.delete(peerId);
  }

  /** Every 10 s, a report to one neighbour in turn, so that news of members spreads. */
  private reportTick(): void {
    const neighbors = [...this.members.values()].filter((m) => m.neighbor);
    if (neighbors.length === 0) return;
    this.sendReport(neighbors[this.reportTurn++ % neighbors.length]!, true);
  }

  private refuse(member: Member, reason: string): void {
    const peerId = member.peer.peerId;
    this.log.warn({ peer: shortPeerId(peerId), reason }, 'group handshake refused');
    this.refused.set(peerId, reason);
    this.dropMember(member, reason);
    this.notify(() => this.onPeerRefused?.(peerId, reason));
  }

  private dropMember(member: Member, reason: string): void {
    const peerId = member.peer.peerId;
    if (this.members.get(peerId) !== member) return;
    this.members.delete(peerId);
    member.stopWatching();
    member.out?.close();
    if (member.neighbor) {
      this.log.debug({ peer: shortPeerId(peerId), reason }, 'neighbour gone');
      this.notify(() => this.onNeighborDisconnect?.(peerId, reason));
      for (const l of [...this.neighborListeners]) l.disconnect(peerId, reason);
    }
  }

  /** Calls `event` now, or once join() has resolved (see `early`). */
  private notify(event: () => void): void {
    if (this.early) this.early.push(event);
    else event();
  }

  private end(reason: string, closeJoinFlow: boolean): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    groupsOfClient.get(this.client)?.delete(this);
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    if (closeJoinFlow && this.joinFlow.state === 'open') this.joinFlow.close();
    // The server closes its flow of introductions when ours ends; what still comes is ignored.
    for (const member of [...this.members.values()]) this.dropMember(member, reason);
    this.connecting.clear();
    this.log.debug({ reason }, 'group membership ended');
    for (const l of [...this.endListeners]) l(reason);
    this.endListeners.clear();
    this.onEnd?.(reason);
  }
}

/** Takes a peer's report flow for the group its first message names (or refuses it). */
function takeReportFlow(client: RtmfpClient, peer: PeerConnection, flow: IncomingFlow): boolean {
  if (!flow.metadata.equals(GROUP_PEER_FLOW_METADATA)) return false;
  flow.onMessage = (message) => {
    const init = parseGroupInit(message);
    const wanted = init?.groupIdHex.toLowerCase();
    const group = wanted === undefined ? undefined : [...(groupsOfClient.get(client) ?? [])].find((g) => g.spec.groupIdHex === wanted);
    if (init === undefined || group === undefined) {
      client.log.debug({ peer: shortPeerId(peer.peerId), first: message[0], group: wanted }, init ? 'group handshake for a group we are not in: refused' : 'report flow without a group handshake: refused');
      flow.reject();
      return;
    }
    // Later messages go to the group's own handler, which receiveInit sets.
    flow.onMessage = () => {};
    group.receiveInit(peer, flow, init);
  };
  return true;
}
