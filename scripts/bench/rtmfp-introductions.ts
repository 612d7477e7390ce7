// Rendezvous at the server (RFC 7016 §3.5.1.4), over real UDP with the server in its own process
// (rendezvous-bench-server.ts: Covey's RTMFP service, Flash model, peer registry, introducer).
// 1. Introductions per server CPU second: `targets` Flash-like peers connect (each its own socket
//    and certificate, connect + setPeerInfo with two addresses) and stay registered; hand-made
//    initiators on 127.0.0.2, 127.0.0.3, ... (one UDP socket each) send IHellos whose EPD is
//    `21 0F` + a target's peer ID (a fresh tag each); for each the server sends the initiator a
//    Responder Redirect (the target's observed address and its two reported ones) and the target
//    a Forwarded IHello in its session. Closed loop: at most `window` IHellos without their
//    redirect; every redirect received lets the next IHello go. The server's CPU (user + system)
//    over each round is read over IPC. Its rate limits are raised out of the way (each target is
//    asked for hundreds of times a second from a few addresses), but still consulted: their cost
//    is in the figure. The targets count their forwarded IHellos and do not
//    answer them (their RHellos to the initiators would be the targets' CPU, not the server's).
//    Target (issue 16): at least 20,000 introductions a second on one core.
// 2. Memory per registered peer: more peers connect (as above) until the server holds several
//    sizes N; its heap and RSS after a full GC at each, least-squares slope. That is everything a
//    connected Flash client costs (session, flows, Flash client, registry entry); the registry
//    entry alone is measured apart, in this process (PeerRegistry with N entries, same method).
// Usage: node --import tsx scripts/bench/rtmfp-introductions.ts [rounds=5] [perRound=100000]
//          [--targets 100] [--sources 8] [--window 256] [--peers 1000,2000,3000,4000]
//        BENCH_PROFILE=dir writes the server's CPU profile there (node --cpu-prof).
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { PacketProtection, PROTECTION_BACK_MARGIN, PROTECTION_FRONT_MARGIN } from '../../src/rtmfp/crypto/packet-protection.js';
import { parsePacket, writePacketHeader } from '../../src/rtmfp/packet.js';
import { ChunkType, PacketMode } from '../../src/rtmfp/chunk-types.js';
import { ChunkWriter } from '../../src/rtmfp/chunk-writer.js';
import { encodeIHello, parseRedirect } from '../../src/rtmfp/handshake-chunks.js';
import { wholeDatagram } from '../../src/rtmfp/platform.js';
import { PeerRegistry } from '../../src/rtmfp/peer-registry.js';
import type { Session } from '../../src/rtmfp/session.js';
import { decodeCommand, encodeCommand, isCommandType } from '../../src/codec/flash-command.js';
import { encodeTcMetadata } from '../../src/codec/tc-metadata.js';
import { encodeTcMessage, parseTcMessage } from '../../src/codec/tc-message.js';
import { fmt, sleep, startBenchServer } from './bench-util.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
const rounds = Number(positional[0] ?? 5);
const perRound = Number(positional[1] ?? 100_000);
const targetCount = Number(option('targets', '100'));
const sourceCount = Number(option('sources', '8'));
const window = Number(option('window', '256'));
const peerSizes = option('peers', '1000,2000,3000,4000').split(',').map(Number);
if (!(sourceCount >= 1 && sourceCount <= 250)) throw new Error(`--sources ${sourceCount}: expected 1-250 (127.0.0.2 up to 127.0.0.251)`);

interface Report {
  cpuMs: number; introductions: number; unknown: number; limitedSource: number; limitedTarget: number;
  packetsReceived: number; packetsSent: number; sessions: number; peers: number; sourceBuckets: number;
  heapUsed: number; rss: number; external: number;
}

const server = await startBenchServer('./rendezvous-bench-server.ts');
const serverAddress = { host: '127.0.0.1', port: server.port };

// ---- Peers: connected as Flash connects, registered for introductions ----
let forwardedIHellos = 0;
interface Peer { peerId: Buffer; close(): void }

async function connectPeer(): Promise<Peer> {
  const udp = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
  const endpoint = new RtmfpEndpoint({ port: udp, crypto: new FlashCrypto({ server: false, groups: [2] }), handshake: { connectTimeoutMs: 20_000 } });
  // Counted, not answered: answering is the target's work, not the server's.
  endpoint.forwardedIHello = () => void forwardedIHellos++;
  const tcUrl = `rtmfp://127.0.0.1:${server.port}/bench`;
  const session = await endpoint.connect({ ancillaryData: tcUrl }, [serverAddress]);
  const nc = session.openFlow(encodeTcMetadata(0), { priority: 3 });
  const connected = new Promise<void>((resolve, reject) => {
    session.onFlow = (flow) => {
      flow.onMessage = (message) => {
        const m = parseTcMessage(message);
        if (!m || !isCommandType(m.type)) return;
        const c = decodeCommand(m.type, m.body);
        if (c.transactionId !== 1) return;
        if (c.name === '_result') resolve();
        else reject(new Error(`connect refused: ${JSON.stringify(c.args)}`));
      };
    };
  });
  const connect = encodeCommand(0, 'connect', 1, { app: 'bench', tcUrl, objectEncoding: 0 });
  nc.write(encodeTcMessage(connect.type, 0, connect.payload));
  await connected;
  // Two interface addresses, as Flash reports them (the dump of Cumulus issue #19). Loopback
  // ones: the server lists them in redirects to loopback initiators only, and nothing is sent there.
  const { port } = udp.localAddress();
  const info = encodeCommand(0, 'setPeerInfo', 0, null, `127.0.0.2:${port}`, `127.0.0.3:${port}`);
  nc.write(encodeTcMessage(info.type, 0, info.payload));
  return { peerId: endpoint.crypto.fingerprint, close: () => endpoint.close() };
}

async function connectPeers(n: number, into: Peer[]): Promise<void> {
  for (let i = 0; i < n; i += 50) into.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, connectPeer))));
}

async function registered(n: number): Promise<Report> {
  for (let t0 = Date.now(); ; ) {
    const r = await server.ask<Report>({ cmd: 'report' });
    if (r.peers >= n) return r;
    if (Date.now() - t0 > 30_000) throw new Error(`${r.peers} peers registered of ${n} after 30 s`);
    await sleep(100);
  }
}

// ---- Initiators: hand-made IHellos, fresh tags ----
const defaultKey = PacketProtection.withDefaultKey();
const packet = Buffer.alloc(PROTECTION_FRONT_MARGIN + 1500 + PROTECTION_BACK_MARGIN);

/** An IHello for `peerId` (EPD `21 0F` + ID, Flash's and librtmfp's form) in a startup packet. */
function iHelloDatagram(peerId: Buffer, tag: Buffer): Buffer {
  const headerEnd = writePacketHeader(packet, PROTECTION_FRONT_MARGIN, { flags: 0x08, mode: PacketMode.STARTUP, timestamp: 0 });
  const w = new ChunkWriter(packet, headerEnd, packet.length - PROTECTION_BACK_MARGIN);
  w.chunk(ChunkType.IHELLO, encodeIHello({ epd: Buffer.concat([Buffer.from([0x21, 0x0f]), peerId]), tag }));
  return Buffer.from(wholeDatagram(defaultKey.seal(packet, PROTECTION_FRONT_MARGIN, w.offset, 0)));
}

/** Answers the redirect's tag, or undefined if the datagram is no redirect. */
function redirectTag(datagram: Buffer): { tag: Buffer; addresses: number } | undefined {
  const plain = defaultKey.open(Buffer.from(datagram));
  if (!plain) return undefined;
  const chunk = parsePacket(plain).chunks.find((c) => c.type === ChunkType.REDIRECT);
  if (!chunk) return undefined;
  const r = parseRedirect(Buffer.from(chunk.body));
  return { tag: r.tag, addresses: r.destinations.length };
}

class Initiators {
  private readonly sockets: Socket[] = [];
  /** A pool of datagrams (targets in turn, a distinct random tag each), sent round-robin. */
  private pool: Buffer[] = [];
  private tags = new Set<string>();
  private next = 0;
  sent = 0;
  received = 0;
  /** Datagrams received that were no redirect for one of our tags. */
  strays = 0;
  lost = 0;
  largestRedirect = 0;
  largestIHello = 0;
  redirectAddresses = 0;
  private wanted = 0;
  private done: (() => void) | undefined;

  static async open(n: number): Promise<Initiators> {
    const it = new Initiators();
    for (let i = 0; i < n; i++) {
      const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
      await new Promise<void>((resolve) => socket.bind(0, `127.0.0.${2 + i}`, resolve));
      // Every 64th redirect is decoded and checked; the rest are only counted (cheap for us).
      socket.on('message', (data) => it.onRedirect(data));
      it.sockets.push(socket);
    }
    return it;
  }

  fill(peers: Peer[], size: number): void {
    this.pool = [];
    this.tags.clear();
    for (let i = 0; i < size; i++) {
      const tag = randomBytes(16);
      this.tags.add(tag.toString('latin1'));
      const d = iHelloDatagram(peers[i % peers.length]!.peerId, tag);
      this.largestIHello = Math.max(this.largestIHello, d.length);
      this.pool.push(d);
    }
  }

  private onRedirect(data: Buffer): void {
    this.received++;
    if ((this.received & 63) === 0) {
      const r = redirectTag(data);
      if (!r || !this.tags.has(r.tag.toString('latin1'))) this.strays++;
      else this.redirectAddresses = r.addresses;
      this.largestRedirect = Math.max(this.largestRedirect, data.length);
    }
    this.sendOne();
    if (this.received >= this.wanted && this.done) {
      const d = this.done;
      this.done = undefined;
      d();
    }
  }

  private sendOne(): void {
    if (this.sent >= this.wanted) return;
    const i = this.next++;
    this.sent++;
    this.sockets[i % this.sockets.length]!.send(this.pool[i % this.pool.length]!, serverAddress.port, serverAddress.host);
  }

  /** Runs until `n` more redirects came back; answers the wall time, ms. */
  async run(n: number): Promise<number> {
    this.wanted = this.received + n;
    this.sent = this.received;
    const t0 = performance.now();
    const finished = new Promise<void>((resolve) => (this.done = resolve));
    for (let i = 0; i < Math.min(window, n); i++) this.sendOne();
    // A datagram lost on the way (a full socket buffer) would stall the loop: if nothing came
    // back for 200 ms, what is in flight is counted lost and the window refilled.
    let seen = this.received;
    const watchdog = setInterval(() => {
      if (this.received === seen && this.received < this.wanted) {
        this.lost += this.sent - this.received;
        this.sent = this.received;
        for (let i = 0; i < window; i++) this.sendOne();
      }
      seen = this.received;
    }, 200);
    await finished;
    clearInterval(watchdog);
    return performance.now() - t0;
  }

  close(): void {
    for (const s of this.sockets) s.close();
  }
}

// ---- 1. Introductions per second ----
const peers: Peer[] = [];
await connectPeers(targetCount, peers);
await registered(targetCount);
const initiators = await Initiators.open(sourceCount);
initiators.fill(peers, 65_536);
console.log(`RTMFP introductions over UDP, ${process.version}: server in its own process, ${fmt(targetCount)} registered targets, ${sourceCount} initiator addresses (127.0.0.2-${1 + sourceCount}), ${window} IHellos in flight`);
console.log(`  IHello ${initiators.largestIHello} bytes; rate limits raised out of the way (still consulted)`);
await initiators.run(20_000); // warm-up: JIT tiers, the GC's young generation
const rates: number[] = [];
for (let round = 1; round <= rounds; round++) {
  const r0 = await server.ask<Report>({ cmd: 'report' });
  const f0 = forwardedIHellos;
  const lost0 = initiators.lost;
  const wallMs = await initiators.run(perRound);
  await sleep(200); // the last forwarded IHellos
  const r1 = await server.ask<Report>({ cmd: 'report' });
  const intros = r1.introductions - r0.introductions;
  const cpuMs = r1.cpuMs - r0.cpuMs;
  const perCpuSecond = intros / (cpuMs / 1000);
  rates.push(perCpuSecond);
  const refused = r1.limitedSource - r0.limitedSource + (r1.limitedTarget - r0.limitedTarget) + (r1.unknown - r0.unknown);
  console.log(`round ${round}: ${fmt(intros)} introductions in ${fmt(wallMs, 0)} ms wall = ${fmt((intros / wallMs) * 1000)}/s; server CPU ${fmt(cpuMs, 0)} ms = ${fmt(perCpuSecond)} per server CPU second (${fmt((cpuMs / intros) * 1000, 1)} us each)`);
  console.log(`  server packets in/out per introduction ${fmt((r1.packetsReceived - r0.packetsReceived) / intros, 2)}/${fmt((r1.packetsSent - r0.packetsSent) / intros, 2)}; forwarded IHellos at the targets ${fmt(forwardedIHellos - f0)}; refused ${fmt(refused)}; lost ${fmt(initiators.lost - lost0)}`);
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`over ${rounds} rounds (median): ${fmt(median(rates))} introductions per server CPU second (target >= 20,000: ${median(rates) >= 20_000 ? 'met' : 'NOT met'}); redirect ${initiators.largestRedirect} bytes listing ${initiators.redirectAddresses} addresses (${fmt(initiators.largestRedirect / initiators.largestIHello, 2)} x the IHello); ${initiators.strays} of the decoded replies were not our redirects`);
initiators.close();

// ---- 2. Memory per registered peer ----
{
  const points: Array<{ n: number; heap: number; rss: number }> = [];
  for (const size of peerSizes) {
    if (peers.length < size) await connectPeers(size - peers.length, peers);
    await registered(size);
    await sleep(1000); // handshakes and connects settled
    const r = await server.ask<Report>({ cmd: 'report' });
    points.push({ n: r.peers, heap: r.heapUsed, rss: r.rss });
  }
  const slope = (key: 'heap' | 'rss'): number => {
    const mn = points.reduce((s, p) => s + p.n, 0) / points.length;
    const mv = points.reduce((s, p) => s + p[key], 0) / points.length;
    return points.reduce((s, p) => s + (p.n - mn) * (p[key] - mv), 0) / points.reduce((s, p) => s + (p.n - mn) ** 2, 0);
  };
  console.log(`Memory per registered peer (a connected Flash client: session, flows, Flash client, registry entry), least squares over N=${points.map((p) => p.n).join(',')}:`);
  console.log(`  heap ${fmt(slope('heap') / 1024, 2)} KB, RSS ${fmt(slope('rss') / 1024, 2)} KB`);
  for (const p of points) console.log(`  N=${String(p.n).padStart(5)}: heap ${fmt(p.heap / 1024 / 1024, 1)} MB, RSS ${fmt(p.rss / 1024 / 1024, 1)} MB`);
}
for (const p of peers) p.close();
server.stop();

// The registry entry alone (this process, no sockets): N sessions' worth of entries.
{
  const heap = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const sizes = [25_000, 50_000, 100_000];
  const registry = new PeerRegistry();
  const sessions = Array.from({ length: sizes.at(-1)! }, () => ({ farFingerprint: randomBytes(32) }) as unknown as Session);
  const reported = (i: number) => [{ host: '192.168.1.10', port: 1024 + (i % 60_000) }, { host: '10.0.0.10', port: 1024 + (i % 60_000) }];
  const points: Array<{ n: number; heap: number }> = [{ n: 0, heap: heap() }];
  let done = 0;
  for (const size of sizes) {
    for (; done < size; done++) registry.register(sessions[done]!, reported(done));
    points.push({ n: size, heap: heap() });
  }
  const mn = points.reduce((s, p) => s + p.n, 0) / points.length;
  const mh = points.reduce((s, p) => s + p.heap, 0) / points.length;
  const slope = points.reduce((s, p) => s + (p.n - mn) * (p.heap - mh), 0) / points.reduce((s, p) => s + (p.n - mn) ** 2, 0);
  console.log(`  of which the registry entry (key, entry, two reported addresses; in-process, N=${sizes.join(',')}): ${fmt(slope, 0)} bytes`);
  if (registry.size !== sizes.at(-1)) throw new Error('lost entries');
}
process.exit(0);
