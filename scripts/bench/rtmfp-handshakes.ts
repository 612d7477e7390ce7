// Handshakes per second with full Diffie-Hellman (group 2, as Flash Player keys), measured as
// server CPU time per completed handshake, next to the DH-only rate the same server process
// measures with the same group (one ephemeral key generation plus one shared secret, the DH a
// responder must do; see dhOnlyPerSecond in rtmfp-bench-server.ts).
// Targets (RTMFP engine issue): >= 1,000 handshakes/s and >= 60% of the DH-only rate.
//
// Method: client and server in separate processes; the server's CPU (user + kernel, all its
// threads) is read over IPC around each round. A warm-up round first (JIT, caches; not
// counted), then `rounds` measured rounds, each between two DH-only measurements whose mean is
// its yardstick (the machine may be shared: the spread shows how noisy a run was).
// Both ends offer DH group 2 only, so group 2 is what every handshake negotiates.
// Usage: node --import tsx scripts/bench/rtmfp-handshakes.ts [count] [concurrency] [rounds] [warmup]
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { fmt, startBenchServer } from './bench-util.js';

const GROUP = 2;
const count = Number(process.argv[2] ?? 3000);
const concurrency = Number(process.argv[3] ?? 64);
const rounds = Number(process.argv[4] ?? 3);
const warmup = Number(process.argv[5] ?? 1000);

interface Report { cpuMs: number; systemMs: number; handshakes: number }
const server = await startBenchServer('./rtmfp-bench-server.ts');
const port = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
const client = new RtmfpEndpoint({
  port,
  crypto: new FlashCrypto({ server: false, groups: [GROUP] }),
  timings: { keepaliveMs: 3_600_000, idleTimeoutMs: 7_200_000 },
  maxSessions: 1_000_000,
});
const target = [{ host: '127.0.0.1', port: server.port }];
const dhOnly = async (): Promise<number> => (await server.ask<{ dhPerSecond: number }>({ cmd: 'dh-only', n: 2000, group: GROUP })).dhPerSecond;

/** Runs `n` connects, `concurrency` at a time; answers how many failed. */
function handshakes(n: number): Promise<number> {
  let started = 0, settled = 0, failed = 0;
  return new Promise((resolve) => {
    const next = (): void => {
      if (started >= n) {
        if (settled === n) resolve(failed);
        return;
      }
      started++;
      client.connect({ ancillaryData: `rtmfp://127.0.0.1:${server.port}/bench` }, target).then(
        () => { settled++; next(); },
        () => { settled++; failed++; next(); },
      );
    };
    for (let i = 0; i < Math.min(concurrency, n); i++) next();
  });
}

console.log(`RTMFP handshakes (DH group ${GROUP}, ${count} connects per round, ${concurrency} at a time, ${warmup} warm-up, client and server in separate processes)`);
if (warmup > 0) await handshakes(warmup);
const ratios: number[] = [];
for (let round = 1; round <= rounds; round++) {
  const dhBefore = await dhOnly();
  const before = await server.ask<Report>({ cmd: 'report' });
  const t0 = performance.now();
  const failed = await handshakes(count);
  const wallS = (performance.now() - t0) / 1000;
  const after = await server.ask<Report>({ cmd: 'report' });
  const dhAfter = await dhOnly();
  const serverCpuS = (after.cpuMs - before.cpuMs) / 1000;
  const done = after.handshakes - before.handshakes;
  const perCpuSecond = done / serverCpuS;
  const dhPerSecond = (dhBefore + dhAfter) / 2;
  const ratio = perCpuSecond / dhPerSecond;
  ratios.push(ratio);
  console.log(`round ${round}`);
  console.log(`  completed              ${fmt(done)} (${failed} failed) in ${fmt(wallS, 2)} s wall = ${fmt(done / wallS)}/s`);
  console.log(`  server CPU             ${fmt(serverCpuS * 1000)} ms (${fmt(after.systemMs - before.systemMs)} ms in the kernel) = ${fmt(perCpuSecond)} handshakes per server CPU second (${fmt(1e6 / perCpuSecond)} us each)`);
  console.log(`  DH-only (same process) ${fmt(dhPerSecond)}/s (${fmt(dhBefore)} before, ${fmt(dhAfter)} after; ${fmt(1e6 / dhPerSecond)} us each)`);
  console.log(`  ratio                  ${fmt(ratio * 100, 1)}% of DH-only (target >= 60%), target >= 1,000/s: ${perCpuSecond >= 1000 ? 'met' : 'NOT met'}`);
}
const sorted = [...ratios].sort((a, b) => a - b);
console.log(`ratio over ${rounds} rounds: median ${fmt(sorted[Math.floor(sorted.length / 2)]! * 100, 1)}%, range ${fmt(sorted[0]! * 100, 1)}-${fmt(sorted[sorted.length - 1]! * 100, 1)}%`);
client.close();
server.stop();
