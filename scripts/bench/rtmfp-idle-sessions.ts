// Memory per idle session: opens N sessions (default 10,000) from a client process to a
// server process, lets them settle, and reads the server's memory after a full GC.
// Target (RTMFP engine issue): at most 20 KB per idle session.
// Usage: node --import tsx scripts/bench/rtmfp-idle-sessions.ts [sessions]
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { fmt, startBenchServer } from './bench-util.js';

interface Report { sessions: number; heapUsed: number; rss: number; external: number }
const n = Number(process.argv[2] ?? 10_000);
const server = await startBenchServer('./rtmfp-bench-server.ts');
const base = await server.ask<Report>({ cmd: 'report' });
const port = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
const client = new RtmfpEndpoint({ port, crypto: new FlashCrypto({ server: false, groups: [2] }), timings: { keepaliveMs: 3_600_000, pingAfterSilenceMs: 7_200_000 }, maxSessions: 1_000_000 });
const target = [{ host: '127.0.0.1', port: server.port }];
let opened = 0;
for (let i = 0; i < n; i += 100) {
  const batch = Array.from({ length: Math.min(100, n - i) }, () => client.connect({ ancillaryData: 'rtmfp://127.0.0.1/idle' }, target));
  opened += (await Promise.allSettled(batch)).filter((r) => r.status === 'fulfilled').length;
}
await new Promise((r) => setTimeout(r, 1000));
const r = await server.ask<Report>({ cmd: 'report' });
const perHeap = (r.heapUsed - base.heapUsed) / r.sessions;
const perRss = (r.rss - base.rss) / r.sessions;
const perExternal = (r.external - base.external) / r.sessions;
console.log(`RTMFP idle sessions: ${fmt(opened)} opened, ${fmt(r.sessions)} held by the server process`);
console.log(`  heap per session      ${fmt(perHeap / 1024, 2)} KB`);
console.log(`  external per session  ${fmt(perExternal / 1024, 2)} KB (Buffers, cipher contexts)`);
console.log(`  RSS per session       ${fmt(perRss / 1024, 2)} KB (target <= 20 KB: ${perRss / 1024 <= 20 ? 'met' : 'NOT met'})`);
client.close();
server.stop();
