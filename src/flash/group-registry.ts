// The server's NetGroups: who is a member of which, within the bounds the configuration sets,
// with the application asked about each join. A transport hands it joins (with a sink that
// delivers introductions to that member) and leaves; the registry decides and says who must be
// told about whom (see net-group.ts for that choice). NetGroup exists only over RTMFP, but
// nothing here knows that: a member is a client, a 32-byte peer ID and a sink.
//
// Groups belong to an application: two applications' groups of the same ID are different
// groups, as an application decides who may join its own (the Lua scripts will see them per
// application too).
import { TokenBucket } from '../util/token-bucket.js';
import type { FlashClient } from './flash-client.js';
import { NetGroup, ringKey, type Introduction, type RingMember } from './net-group.js';

export interface GroupLimits {
  /** Groups one client (one NetConnection) may be in at once. */
  maxGroupsPerClient: number;
  /** Members of one group. */
  maxMembersPerGroup: number;
  /** Join attempts a second, per client (also its burst). */
  joinsPerSecondPerClient: number;
  /** Join attempts a second, all clients together (also its burst). */
  joinsPerSecond: number;
}

/**
 * Flash applications use one group or two per NetConnection, so 16 leaves room and stops a
 * client from holding thousands. 50,000 members is about 35 MB of state here (700 bytes a
 * member, scripts/bench/netgroup-joins.ts), more than one server holds sessions for. 10 joins a
 * second per client lets one join all its groups at once. 2,000 a second overall is about the
 * rate at which the server completes RTMFP handshakes on one core (rtmfp-handshakes bench), so a
 * crowd arriving at full speed gets in, while a flood's joins (17 us each, then some 12
 * introductions to send) stay under a tenth of a core.
 */
export const DEFAULT_GROUP_LIMITS: GroupLimits = { maxGroupsPerClient: 16, maxMembersPerGroup: 50_000, joinsPerSecondPerClient: 10, joinsPerSecond: 2_000 };

/** How the registry reaches a member: introductions go through it. */
export interface GroupSink {
  /** Tell the member about another member (by its 32-byte peer ID). */
  introduce(peerId: Buffer): void;
}

/** One client's membership of one group. */
export class GroupMembership implements RingMember {
  readonly ringKey: string;

  constructor(
    readonly group: NetGroup<GroupMembership>,
    readonly client: FlashClient,
    readonly peerId: Buffer,
    readonly sink: GroupSink,
  ) {
    this.ringKey = ringKey(peerId);
  }

  get active(): boolean {
    return this.group.has(this);
  }
}

export type JoinRefusal = 'not-connected' | 'server-rate' | 'client-rate' | 'groups-per-client' | 'members-per-group' | 'already-member' | 'application';

/** Why a join was refused, for the log and the transport. */
export class JoinRefused {
  constructor(
    readonly reason: JoinRefusal,
    readonly description: string,
  ) {}
}

interface ClientGroups {
  readonly memberships: Set<GroupMembership>;
  readonly joins: TokenBucket;
}

export interface GroupRegistryOptions {
  limits?: Partial<GroupLimits>;
  now?: () => number;
  random?: () => number;
}

export class GroupRegistry {
  readonly limits: GroupLimits;
  readonly counters = { joins: 0, leaves: 0, refused: 0, introductions: 0 };
  readonly refusedBy: Record<JoinRefusal, number> = {
    'not-connected': 0,
    'server-rate': 0,
    'client-rate': 0,
    'groups-per-client': 0,
    'members-per-group': 0,
    'already-member': 0,
    application: 0,
  };
  /** By application name, then group ID (hex). */
  private readonly groups = new Map<string, Map<string, NetGroup<GroupMembership>>>();
  /** A weak map: what a client holds goes with it even if no one calls leaveAll. */
  private readonly clients = new WeakMap<FlashClient, ClientGroups>();
  private readonly joins: TokenBucket;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(options: GroupRegistryOptions) {
    this.limits = { ...DEFAULT_GROUP_LIMITS, ...options.limits };
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.joins = new TokenBucket(this.limits.joinsPerSecond, this.limits.joinsPerSecond, this.now);
  }

  /** A group of an application, if it has members. */
  group(app: string, groupId: string): NetGroup<GroupMembership> | undefined {
    return this.groups.get(app)?.get(groupId);
  }

  /** An application's groups (those with members). */
  groupsOf(app: string): Iterable<NetGroup<GroupMembership>> {
    return this.groups.get(app)?.values() ?? [];
  }

  /** The groups a client is in. */
  membershipsOf(client: FlashClient): Iterable<GroupMembership> {
    return this.clients.get(client)?.memberships ?? [];
  }

  /** Groups with members, all applications together. */
  get groupCount(): number {
    let n = 0;
    for (const groups of this.groups.values()) n += groups.size;
    return n;
  }

  /**
   * A client joins a group (groupId: hex of the 32-byte ID) as `peerId`. On success the member
   * and the members around it have been told about each other; otherwise nothing changed and
   * the refusal says why (counted, and logged at debug).
   */
  join(client: FlashClient, groupId: string, peerId: Buffer, sink: GroupSink): GroupMembership | JoinRefused {
    const app = client.app;
    if (client.state !== 'connected' || app === undefined) return this.refuse(client, groupId, 'not-connected', 'join before a successful connect');
    // The rates first, so that a flood is refused for the price of a subtraction or two.
    if (!this.joins.take()) return this.refuse(client, groupId, 'server-rate', `more than ${this.limits.joinsPerSecond} joins a second on this server`);
    const mine = this.clientGroups(client);
    if (!mine.joins.take()) return this.refuse(client, groupId, 'client-rate', `more than ${this.limits.joinsPerSecondPerClient} joins a second from this client`);
    if (mine.memberships.size >= this.limits.maxGroupsPerClient) return this.refuse(client, groupId, 'groups-per-client', `already in ${mine.memberships.size} groups (the most one connection may join)`);
    let groups = this.groups.get(app.name);
    let group = groups?.get(groupId);
    if (group !== undefined) {
      if (group.member(peerId) !== undefined) return this.refuse(client, groupId, 'already-member', 'this peer is already a member of the group');
      if (group.size >= this.limits.maxMembersPerGroup) return this.refuse(client, groupId, 'members-per-group', `the group is full (${group.size} members)`);
    }
    const fresh = group === undefined;
    group ??= new NetGroup<GroupMembership>(groupId, this.random);
    let refusal: string | undefined | void;
    try {
      refusal = app.hooks.onJoinGroup?.(client, group, peerId.toString('hex'));
    } catch (err) {
      refusal = `application error: ${(err as Error).message}`;
    }
    if (typeof refusal === 'string') return this.refuse(client, groupId, 'application', refusal);
    if (fresh) {
      if (groups === undefined) this.groups.set(app.name, (groups = new Map()));
      groups.set(groupId, group);
      client.log.info({ netGroup: groupId }, 'group created');
    }
    const membership = new GroupMembership(group, client, Buffer.from(peerId), sink);
    const introductions = group.join(membership)!;
    mine.memberships.add(membership);
    this.counters.joins++;
    if (client.log.isLevelEnabled('debug')) client.log.debug({ netGroup: groupId, peerId: peerId.toString('hex'), members: group.size, introductions: introductions.length }, 'group joined');
    this.introduce(introductions, 'join');
    return membership;
  }

  /** A member leaves (its group flow closed, say): its ring neighbours meet each other. */
  leave(membership: GroupMembership, reason: string): void {
    const { group, client } = membership;
    if (!group.has(membership)) return;
    const repairs = group.leave(membership);
    this.clients.get(client)?.memberships.delete(membership);
    this.counters.leaves++;
    const app = client.app;
    if (client.log.isLevelEnabled('debug')) client.log.debug({ netGroup: group.id, reason, members: group.size }, 'group left');
    if (group.size === 0 && app !== undefined) {
      const groups = this.groups.get(app.name);
      groups?.delete(group.id);
      if (groups?.size === 0) this.groups.delete(app.name);
      client.log.info({ netGroup: group.id }, 'group emptied');
    }
    this.introduce(repairs, 'repair');
    try {
      app?.hooks.onLeaveGroup?.(client, group);
    } catch (err) {
      client.log.error({ err }, 'onLeaveGroup hook failed');
    }
  }

  /** The client is gone: it leaves every group it was in. */
  leaveAll(client: FlashClient, reason: string): void {
    const mine = this.clients.get(client);
    if (mine === undefined) return;
    for (const membership of [...mine.memberships]) this.leave(membership, reason);
  }

  private introduce(introductions: Array<Introduction<GroupMembership>>, why: 'join' | 'repair'): void {
    for (const { to, about } of introductions) {
      this.counters.introductions++;
      if (to.client.log.isLevelEnabled('debug')) to.client.log.debug({ netGroup: to.group.id, peerId: about.peerId.toString('hex'), why }, 'group member introduced');
      to.sink.introduce(about.peerId);
    }
  }

  private clientGroups(client: FlashClient): ClientGroups {
    let mine = this.clients.get(client);
    if (mine === undefined) {
      mine = { memberships: new Set(), joins: new TokenBucket(this.limits.joinsPerSecondPerClient, this.limits.joinsPerSecondPerClient, this.now) };
      this.clients.set(client, mine);
    }
    return mine;
  }

  private refuse(client: FlashClient, groupId: string, reason: JoinRefusal, description: string): JoinRefused {
    this.counters.refused++;
    this.refusedBy[reason]++;
    client.log.debug({ netGroup: groupId, reason, description }, 'group join refused');
    return new JoinRefused(reason, description);
  }
}
