// One reliable flow's throughput on loopback: a client process writes messages as fast as the
// flow accepts them to a server process, which counts the bytes delivered in order.
// Target (RTMFP engine issue): >= 100 MB/s (raw node:dgram moves about 330 MB/s of
// 1200-byte packets between two processes here, and AES leaves about 180).
// Usage: node --import tsx scripts/bench/rtmfp-throughput.ts [megabytes] [message-bytes]
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { fmt, startBenchServer } from './bench-util.js';

const megabytes = Number(process.argv[2] ?? 200);
const messageBytes = Number(process.argv[3] ?? 16 * 1024);
const server = await startBenchServer('./rtmfp-bench-server.ts');
const port = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
const client = new RtmfpEndpoint({ port, crypto: new FlashCrypto({ server: false, groups: [2] }) });
const session = await client.connect({ ancillaryData: 'rtmfp://127.0.0.1/bench' }, [{ host: '127.0.0.1', port: server.port }]);
const flow = session.openFlow(Buffer.from('bench'));
const total = megabytes * 1024 * 1024;
const message = Buffer.alloc(messageBytes, 0x5a);
const highWater = 4 * 1024 * 1024;
let written = 0;
const t0 = performance.now();
const cpu0 = process.cpuUsage();
await new Promise<void>((resolve) => {
  const pump = (): void => {
    while (written < total && flow.bufferedBytes < highWater) {
      flow.write(message);
      written += message.length;
    }
    if (written >= total) resolve();
    else setImmediate(pump);
  };
  pump();
});
let delivered = 0;
for (;;) {
  delivered = (await server.ask<{ bytes: number }>({ cmd: 'report' })).bytes;
  if (delivered >= total || performance.now() - t0 > 120_000) break;
  await new Promise((r) => setTimeout(r, 20));
}
const s = (performance.now() - t0) / 1000;
if (process.env.BENCH_DEBUG) console.log('cwnd', session.congestion.cwnd, 'ssthresh', session.congestion.ssthresh, 'erto', session.congestion.erto(), JSON.stringify(session.congestion.stats), JSON.stringify(flow.stats));
const cpu = process.cpuUsage(cpu0);
const packets = session.congestion.stats.txPackets;
console.log(`RTMFP one reliable flow on loopback, ${fmt(megabytes)} MB in ${fmt(messageBytes)}-byte messages`);
console.log(`  delivered   ${fmt(delivered / 1e6, 1)} MB in ${fmt(s, 2)} s = ${fmt(delivered / 1e6 / s, 1)} MB/s (target >= 100: ${delivered / 1e6 / s >= 100 ? 'met' : 'NOT met'})`);
console.log(`  packets     ${fmt(packets)} sent = ${fmt(packets / s)} packets/s; sender CPU ${fmt((cpu.user + cpu.system) / 1000)} ms`);
console.log(`  lost        ${fmt(session.congestion.stats.bytesLost)} bytes retransmitted`);
client.close();
server.stop();
