// NetGroup joins at the server, in one process without sockets: the model (GroupRegistry with
// its bounds checks, the ring, SHA-256 of each ring key, the introduction choice) and the
// encoding of every `0B` introduction it asks for. Flow I/O is NOT included: no RTMFP session
// carries the messages (a session's write of a 33-byte message is a buffer append; sending it
// is the engine's cost, measured by the other benches).
// 1. joins per second into one group of 10,000 members: each timed join is followed by an
//    (untimed) leave of a random member, so the size stays 10,000; leaves are timed apart;
// 2. heap per group member: one group filled to several sizes, heap after a full GC at each,
//    least-squares slope. The clients exist before the first measurement, so what is counted is
//    the group state only (membership, ring slot, per-client group record), not a FlashClient.
// Usage: node --import tsx scripts/bench/netgroup-joins.ts [members=10000] [joins=20000]
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encodeGroupMember } from '../../src/codec/group-control.js';
import type { FlashClient } from '../../src/flash/flash-client.js';
import { FlashServer } from '../../src/flash/flash-server.js';
import type { FlashTransport } from '../../src/flash/flash-transport.js';
import { GroupMembership, JoinRefused, type GroupSink } from '../../src/flash/group-registry.js';
import { silentLogger } from '../../src/util/log.js';
import { fmt } from './bench-util.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const members = Number(process.argv[2] ?? 10_000);
const timedJoins = Number(process.argv[3] ?? 20_000);
const unbounded = { maxGroupsPerClient: 1000, maxMembersPerGroup: 10_000_000, joinsPerSecond: 1e9, joinsPerSecondPerClient: 1e9 };

const transport: FlashTransport = {
  protocol: 'bench',
  remoteAddress: '-',
  log: silentLogger,
  sendCommand: () => {},
  openSubscriber: () => {
    throw new Error('no streams here');
  },
  close: () => {},
};

let introductionBytes = 0;
/** What the RTMFP glue does with an introduction, short of writing it to a flow. */
const sink: GroupSink = {
  introduce: (peerId) => {
    introductionBytes += encodeGroupMember(peerId).length;
  },
};

function connectedClients(flash: FlashServer, n: number): FlashClient[] {
  const app = flash.application('bench')!;
  return Array.from({ length: n }, () => {
    const client = flash.createClient(transport);
    client.state = 'connected';
    client.app = app;
    return client;
  });
}

function join(flash: FlashServer, client: FlashClient, groupId: string, peerId: Buffer): GroupMembership {
  const result = flash.groups.join(client, groupId, peerId, sink);
  if (result instanceof JoinRefused) throw new Error(`join refused: ${result.description}`);
  return result;
}

// ---- 1. Joins per second at 10,000 members ----
{
  const flash = new FlashServer({ log: silentLogger, groups: unbounded });
  const groupId = randomBytes(32).toString('hex');
  const clients = connectedClients(flash, members + timedJoins);
  const peerIds = clients.map(() => randomBytes(32));
  const live: GroupMembership[] = [];
  const t0 = performance.now();
  for (let i = 0; i < members; i++) live.push(join(flash, clients[i]!, groupId, peerIds[i]!));
  const fillMs = performance.now() - t0;
  // Warm up the timed path, then measure.
  introductionBytes = 0;
  const introductionsBefore = flash.groups.counters.introductions;
  let joinMs = 0;
  let leaveMs = 0;
  for (let i = 0; i < timedJoins; i++) {
    const a = performance.now();
    live.push(join(flash, clients[members + i]!, groupId, peerIds[members + i]!));
    const b = performance.now();
    const k = Math.floor(Math.random() * live.length);
    const leaver = live[k]!;
    live[k] = live[live.length - 1]!;
    live.pop();
    flash.groups.leave(leaver, 'bench');
    leaveMs += performance.now() - b;
    joinMs += b - a;
  }
  const group = flash.groups.group('bench', groupId)!;
  const introductions = flash.groups.counters.introductions - introductionsBefore;
  console.log(`NetGroup joins (model + introduction choice + 0B encoding; no flow I/O), one group, ${process.version}:`);
  console.log(`  filling 0 -> ${fmt(members)} members      ${fmt((members / fillMs) * 1000)} joins/s`);
  console.log(`  at ${fmt(group.size)} members: join        ${fmt((timedJoins / joinMs) * 1000)} joins/s (${fmt((joinMs / timedJoins) * 1000, 1)} us each, ${fmt(timedJoins)} joins)`);
  console.log(`  at ${fmt(group.size)} members: leave       ${fmt((timedJoins / leaveMs) * 1000)} leaves/s (${fmt((leaveMs / timedJoins) * 1000, 1)} us each, with the repair introductions)`);
  console.log(`  introductions per join + leave     ${fmt(introductions / timedJoins, 2)} (${fmt(introductionBytes / timedJoins, 0)} bytes of 0B messages)`);
}

// ---- 2. Heap per group member ----
{
  const sizes = [members / 4, members / 2, members, members * 2].map(Math.round);
  const flash = new FlashServer({ log: silentLogger, groups: unbounded });
  const groupId = randomBytes(32).toString('hex');
  const clients = connectedClients(flash, sizes.at(-1)!);
  const peerIds = clients.map(() => randomBytes(32));
  const heap = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const points: Array<{ n: number; heap: number }> = [{ n: 0, heap: heap() }];
  let joined = 0;
  const keep: GroupMembership[] = [];
  for (const size of sizes) {
    for (; joined < size; joined++) keep.push(join(flash, clients[joined]!, groupId, peerIds[joined]!));
    points.push({ n: size, heap: heap() });
  }
  const meanN = points.reduce((s, p) => s + p.n, 0) / points.length;
  const meanHeap = points.reduce((s, p) => s + p.heap, 0) / points.length;
  const slope = points.reduce((s, p) => s + (p.n - meanN) * (p.heap - meanHeap), 0) / points.reduce((s, p) => s + (p.n - meanN) ** 2, 0);
  console.log(`Heap per group member, least squares over N=${points.map((p) => p.n).join(',')}: ${fmt(slope, 0)} bytes`);
  for (const p of points.slice(1)) console.log(`  N=${String(p.n).padStart(6)}: ${fmt((p.heap - points[0]!.heap) / 1024 / 1024, 2)} MB above the empty group`);
  if (keep.length !== sizes.at(-1)) throw new Error('lost members');
}
process.exit(0);
