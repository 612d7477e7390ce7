// The server half of the RTMFP benchmarks, run in its own process so its CPU time and memory
// are measured apart from the clients'. Talks to the parent over IPC:
//   -> { ready, port }            once listening on 127.0.0.1
//   <- { cmd: 'report' }          -> { handshakes, packetsReceived, packetsSent, sessions, cpuMs, systemMs, heapUsed, rss, external, bytes }
//   <- { cmd: 'dh-only', n, group } -> { dhPerSecond }
//   <- { cmd: 'round-start', group, n } -> Counts & { tightPerSecond }: a tight DH-only run of n, then
//                                  the counts, then DH-only slices run between the traffic
//   <- { cmd: 'round-end', group, n } -> Counts & { dhOps, dhCpuMs, setApartMs, tightPerSecond }: the
//                                  slices' timed exchanges and their CPU, all the slices' CPU (to set
//                                  apart), and a tight DH-only run of n right after the round
// cpuMs is read before the full GC that the memory figures need: that forced collection is the
// benchmark's doing, not the server's (the server's own GC work is in the window as it happens).
import { createDiffieHellman, randomBytes } from 'node:crypto';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { groupPrime, isSupportedDhGroup, privateKeyBytes, warmDhGroups } from '../../src/rtmfp/crypto/dh-groups.js';

const port = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
warmDhGroups([2]);
const endpoint = new RtmfpEndpoint({
  port,
  crypto: new FlashCrypto({ server: true, groups: [2] }),
  acceptSessions: true,
  timings: { keepaliveMs: 3_600_000, pingAfterSilenceMs: 7_200_000 },
  maxSessions: 1_000_000,
});
let bytes = 0;
endpoint.onSession = (session) => {
  session.onFlow = (flow) => {
    flow.onMessage = (m) => (bytes += m.length);
  };
};
const cpuStart = process.cpuUsage();

/**
 * The DH work of one responder handshake and nothing else, straight on node:crypto (not
 * through our DhKeyPair, so that nothing we change in the engine moves this yardstick): a
 * pre-built DH object per group, and per exchange setPrivateKey(randomBytes(...)) with the
 * exponent size the engine draws, generateKeys() and computeSecret().
 */
class DhOnly {
  private readonly dh;
  private readonly peerPublic: Buffer;
  private readonly privateBytes: number;

  constructor(group: number) {
    if (!isSupportedDhGroup(group)) throw new Error(`DH group ${group} unsupported`);
    this.privateBytes = privateKeyBytes(group);
    this.dh = createDiffieHellman(groupPrime(group), Buffer.from([2]));
    this.dh.setPrivateKey(randomBytes(this.privateBytes));
    this.peerPublic = this.dh.generateKeys();
    this.run(50);
  }

  run(n: number): void {
    for (let i = 0; i < n; i++) {
      this.dh.setPrivateKey(randomBytes(this.privateBytes));
      this.dh.generateKeys();
      this.dh.computeSecret(this.peerPublic);
    }
  }

  /** Exchanges per CPU second over `n` exchanges. */
  perSecond(n: number): number {
    const t0 = process.cpuUsage();
    this.run(n);
    const t = process.cpuUsage(t0);
    return n / ((t.user + t.system) / 1e6);
  }
}

/**
 * DH-only slices interleaved with a round's traffic: on a shared machine the CPU's speed
 * changes within seconds, so the yardstick is sampled all through the round, in the same
 * conditions as the handshakes, and its CPU time is set apart from theirs.
 */
const SLICE_EVERY_MS = Number(process.env.BENCH_DH_SLICE_MS ?? 50);
const SLICE_WARM_OPS = 2;
const SLICE_OPS = 8;
let sampler: { timer: NodeJS.Timeout; ops: number; cpuUs: number; setApartUs: number } | undefined;

function counts(): Record<string, number> {
  const cpu = process.cpuUsage(cpuStart);
  return {
    handshakes: endpoint.counters.handshakesCompleted,
    packetsReceived: endpoint.counters.packetsReceived,
    packetsSent: endpoint.counters.packetsSent,
    sessions: endpoint.sessionCount,
    cpuMs: (cpu.user + cpu.system) / 1000,
    systemMs: cpu.system / 1000,
  };
}

process.on('message', (msg: { cmd: string; n?: number; group?: number }) => {
  if (msg.cmd === 'report') {
    const c = counts(); // before the full GC below, which is ours, not the server's
    global.gc?.();
    const mem = process.memoryUsage();
    process.send!({ ...c, heapUsed: mem.heapUsed, rss: mem.rss, external: mem.external + mem.arrayBuffers, bytes });
  } else if (msg.cmd === 'dh-only') {
    process.send!({ dhPerSecond: new DhOnly(msg.group ?? 2).perSecond(msg.n ?? 1000) });
  } else if (msg.cmd === 'round-start') {
    const dh = new DhOnly(msg.group ?? 2);
    const tightPerSecond = dh.perSecond(msg.n ?? 500); // before the round's window opens
    const s = { ops: 0, cpuUs: 0, setApartUs: 0, timer: setInterval(() => {
      // The first exchanges after handshake traffic run on cold caches, slower than DH-only
      // in a loop (measured: 5-15% slower): they are run and set apart, but not timed.
      const t0 = process.cpuUsage();
      dh.run(SLICE_WARM_OPS);
      const t1 = process.cpuUsage();
      dh.run(SLICE_OPS);
      const timed = process.cpuUsage(t1);
      const all = process.cpuUsage(t0);
      s.ops += SLICE_OPS;
      s.cpuUs += timed.user + timed.system;
      s.setApartUs += all.user + all.system;
    }, SLICE_EVERY_MS) };
    sampler = s;
    process.send!({ ...counts(), tightPerSecond });
  } else if (msg.cmd === 'round-end') {
    const c = counts();
    clearInterval(sampler!.timer);
    // And the same work in one tight run right after, for comparison (outside the window).
    const tightPerSecond = new DhOnly(msg.group ?? 2).perSecond(msg.n ?? 500);
    process.send!({ ...c, dhOps: sampler!.ops, dhCpuMs: sampler!.cpuUs / 1000, setApartMs: sampler!.setApartUs / 1000, tightPerSecond });
    sampler = undefined;
  } else if (msg.cmd === 'exit') {
    endpoint.close();
    process.exit(0);
  }
});
process.send!({ ready: true, port: port.localAddress().port });
