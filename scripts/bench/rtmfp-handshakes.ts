// Handshakes per second with full Diffie-Hellman (group 2, as Flash Player keys), measured as
// server CPU time per completed handshake, next to the DH-only rate the same server process
// measures (one ephemeral key generation plus one shared secret, the DH a responder must do).
// Targets (RTMFP engine issue): >= 1,000 handshakes/s and >= 60% of the DH-only rate.
// Usage: node --import tsx scripts/bench/rtmfp-handshakes.ts [count] [concurrency]
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { fmt, startBenchServer } from './bench-util.js';

const count = Number(process.argv[2] ?? 3000);
const concurrency = Number(process.argv[3] ?? 64);
const server = await startBenchServer('./rtmfp-bench-server.ts');
const { dhPerSecond } = await server.ask<{ dhPerSecond: number }>({ cmd: 'dh-only', n: 2000 });
const before = await server.ask<{ cpuMs: number; systemMs: number; handshakes: number }>({ cmd: 'report' });

const port = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
const client = new RtmfpEndpoint({ port, crypto: new FlashCrypto({ server: false, groups: [2] }), timings: { keepaliveMs: 3_600_000, idleTimeoutMs: 7_200_000 } });
const target = [{ host: '127.0.0.1', port: server.port }];
let started = 0, done = 0, failed = 0;
const t0 = performance.now();
await new Promise<void>((resolve) => {
  const next = (): void => {
    if (started >= count) {
      if (done + failed === count) resolve();
      return;
    }
    started++;
    client.connect({ ancillaryData: `rtmfp://127.0.0.1:${server.port}/bench` }, target).then(
      () => { done++; next(); },
      () => { failed++; next(); },
    );
  };
  for (let i = 0; i < concurrency; i++) next();
});
const wallS = (performance.now() - t0) / 1000;
const after = await server.ask<{ cpuMs: number; systemMs: number; handshakes: number }>({ cmd: 'report' });
const serverCpuS = (after.cpuMs - before.cpuMs) / 1000;
const handshakes = after.handshakes - before.handshakes;
const perCpuSecond = handshakes / serverCpuS;
console.log(`RTMFP handshakes (DH group 2, ${count} connects, ${concurrency} at a time, client and server in separate processes)`);
console.log(`  completed              ${fmt(handshakes)} (${failed} failed) in ${fmt(wallS, 2)} s wall = ${fmt(handshakes / wallS)}/s`);
console.log(`  server CPU             ${fmt(serverCpuS * 1000)} ms (${fmt(after.systemMs - before.systemMs)} ms in the kernel) = ${fmt(perCpuSecond)} handshakes per server CPU second`);
console.log(`  DH-only (same process) ${fmt(dhPerSecond)}/s`);
console.log(`  ratio                  ${fmt((perCpuSecond / dhPerSecond) * 100, 1)}% of DH-only (target >= 60%), target >= 1,000/s: ${perCpuSecond >= 1000 ? 'met' : 'NOT met'}`);
client.close();
server.stop();
