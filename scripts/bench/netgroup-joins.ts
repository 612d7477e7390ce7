// NetGroup joins at the server.
// Default (in one process, no sockets): the model (GroupRegistry with its bounds checks, the ring,
// SHA-256 of each ring key, the introduction choice) and the encoding of every `0B` introduction
// it asks for. Flow I/O is NOT included: no RTMFP session carries the messages.
// 1. joins per second into one group of 10,000 members: each timed join is followed by an
//    (untimed) leave of a random member, so the size stays 10,000; leaves are timed apart;
// 2. heap per group member: one group filled to several sizes, heap after a full GC at each,
//    least-squares slope. The clients exist before the first measurement, so what is counted is
//    the group state only (membership, ring slot, per-client group record), not a FlashClient.
// --wire [N]: flow I/O included. The RTMFP server in a process of its own; N members (default
// 1,000, each its own UDP socket and peer ID) connect and join one group, then N/2 more join
// the N-member group one after another; the server's CPU (user + system) per join of those, with
// the group flows, the 0B introductions and their acknowledgements over loopback.
// Usage: node --import tsx scripts/bench/netgroup-joins.ts [members=10000] [joins=20000]
//        node --import tsx scripts/bench/netgroup-joins.ts --wire [members=1000]
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { FlashClient } from '../../src/flash/flash-client.js';
import { FlashServer } from '../../src/flash/flash-server.js';
import type { FlashTransport } from '../../src/flash/flash-transport.js';
import { GroupMembership, JoinRefused, type GroupSink } from '../../src/flash/group-registry.js';
import { silentLogger } from '../../src/util/log.js';
import { decodeCommand, encodeCommand, isCommandType } from '../../src/codec/flash-command.js';
import { encodeGroupJoinById, encodeGroupMember, GROUP_FLOW_METADATA, isGroupFlowMetadata, parseGroupMember } from '../../src/codec/group-control.js';
import { encodeTcMetadata } from '../../src/codec/tc-metadata.js';
import { encodeTcMessage, parseTcMessage } from '../../src/codec/tc-message.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { fmt, sleep, startBenchServer } from './bench-util.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const wire = process.argv.includes('--wire');
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (wire) {
  await wireBench(Number(args[0] ?? 1_000));
  process.exit(0);
}
const members = Number(args[0] ?? 10_000);
const timedJoins = Number(args[1] ?? 20_000);
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

/** A member for the wire bench: its own socket and certificate, connected to `live`. */
async function wireMember(port: number): Promise<{ join: (groupId: Buffer) => void; introduced: () => number; close: () => void }> {
  const endpoint = new RtmfpEndpoint({ port: await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 }), crypto: new FlashCrypto({ server: false, groups: [2] }) });
  const session = await endpoint.connect({ ancillaryData: `rtmfp://127.0.0.1:${port}/live` }, [{ host: '127.0.0.1', port }]);
  let serverControl: number | undefined;
  let introduced = 0;
  const connected = new Promise<void>((resolve) => {
    session.onFlow = (flow) => {
      if (isGroupFlowMetadata(flow.metadata)) {
        flow.onMessage = (m) => void (parseGroupMember(m) && introduced++);
        return;
      }
      flow.onMessage = (message) => {
        const m = parseTcMessage(message);
        if (m && isCommandType(m.type) && decodeCommand(m.type, m.body).name === '_result' && serverControl === undefined) {
          serverControl = flow.flowId;
          resolve();
        }
      };
    };
  });
  const control = session.openFlow(encodeTcMetadata(0), { priority: 3 });
  const { type, payload } = encodeCommand(0, 'connect', 1, { app: 'live', tcUrl: `rtmfp://127.0.0.1:${port}/live`, objectEncoding: 0 });
  control.write(encodeTcMessage(type, 0, payload));
  await connected;
  return {
    join: (groupId) => void session.openFlow(GROUP_FLOW_METADATA, { returnFlowId: serverControl, priority: 3 }).write(encodeGroupJoinById(groupId)),
    introduced: () => introduced,
    close: () => endpoint.close(),
  };
}

async function wireBench(n: number): Promise<void> {
  const extra = Math.max(1, Math.round(n / 2));
  const server = await startBenchServer('./netgroup-bench-server.ts');
  type Report = { cpuMs: number; joins: number; introductions: number; sessions: number };
  const all: Array<Awaited<ReturnType<typeof wireMember>>> = [];
  for (let i = 0; i < n + extra; i += 50) all.push(...(await Promise.all(Array.from({ length: Math.min(50, n + extra - i) }, () => wireMember(server.port)))));
  const groupId = randomBytes(32);
  const delivered = async (count: number) => {
    const t0 = Date.now();
    while (all.reduce((sum, m) => sum + m.introduced(), 0) < count) {
      if (Date.now() - t0 > 60_000) throw new Error('introductions did not all arrive within 60 s');
      await sleep(20);
    }
  };
  // Fill the group (not timed), in batches so that the members' own processing keeps up.
  for (let i = 0; i < n; i += 100) {
    for (const m of all.slice(i, Math.min(n, i + 100))) m.join(groupId);
    const r = await server.ask<Report>({ cmd: 'report' });
    await delivered(r.introductions);
  }
  let r0 = await server.ask<Report>({ cmd: 'report' });
  while (r0.joins < n) {
    await sleep(50);
    r0 = await server.ask<Report>({ cmd: 'report' });
  }
  await delivered(r0.introductions);
  await sleep(500); // the last acknowledgements
  r0 = await server.ask<Report>({ cmd: 'report' });
  const t0 = performance.now();
  for (const m of all.slice(n)) {
    m.join(groupId);
    await sleep(2);
  }
  let r1 = await server.ask<Report>({ cmd: 'report' });
  while (r1.joins < n + extra) {
    await sleep(50);
    r1 = await server.ask<Report>({ cmd: 'report' });
  }
  await delivered(r1.introductions);
  const wallMs = performance.now() - t0;
  await sleep(500);
  // The idle server's own CPU over the same time is set apart (timers, acknowledgements).
  const idle0 = await server.ask<Report>({ cmd: 'report' });
  await sleep(wallMs);
  const idle1 = await server.ask<Report>({ cmd: 'report' });
  r1 = await server.ask<Report>({ cmd: 'report' });
  const busyMs = idle0.cpuMs - r0.cpuMs - (idle1.cpuMs - idle0.cpuMs);
  const joins = idle0.joins - r0.joins;
  const intros = idle0.introductions - r0.introductions;
  console.log(`NetGroup joins over UDP (flow I/O included), ${fmt(r1.sessions)} RTMFP sessions, ${process.version}:`);
  console.log(`  ${fmt(joins)} joins into a group of ${fmt(n)}: server CPU ${fmt(busyMs, 0)} ms less ${fmt(idle1.cpuMs - idle0.cpuMs, 0)} ms idle = ${fmt((busyMs / joins) * 1000, 0)} us a join (${fmt(intros / joins, 1)} introductions each), i.e. ${fmt((joins / busyMs) * 1000)} joins per server CPU second`);
  for (const m of all) m.close();
  server.stop();
}
