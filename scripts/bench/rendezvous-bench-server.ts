// The server half of `rtmfp-introductions.ts`: Covey's RTMFP service with the Flash model (peer
// registry, introducer), in its own process so that its CPU and memory are measured apart from
// the peers'. The introducer's rate limits are raised out of the way (the bench asks for each
// peer hundreds of times a second from a few addresses), but it still consults them. IPC:
//   -> { ready, port }       once listening on 127.0.0.1
//   <- { cmd: 'report' }     -> { cpuMs, introductions, unknown, limitedSource, limitedTarget,
//                                 packetsReceived, packetsSent, sessions, peers, heapUsed, rss, external }
//   <- { cmd: 'exit' }
// cpuMs is read before the full GC the memory figures need (that collection is the bench's).
import { FlashServer } from '../../src/flash/flash-server.js';
import { introducerOf, startRtmfpService } from '../../src/rtmfp-flash/rtmfp-service.js';
import { PeerRegistry } from '../../src/rtmfp/peer-registry.js';
import { silentLogger } from '../../src/util/log.js';

const unlimited = { perSecond: 1e9, burst: 1e9, maxKeys: 1_000_000 };
const flash = new FlashServer({ log: silentLogger });
const peers = new PeerRegistry();
const endpoint = await startRtmfpService({
  host: '127.0.0.1',
  port: 0,
  flash,
  log: silentLogger,
  peers,
  rendezvous: { perSource: unlimited, perTarget: unlimited },
});
const cpuStart = process.cpuUsage();
process.on('message', (msg: { cmd: string }) => {
  if (msg.cmd === 'report') {
    const cpu = process.cpuUsage(cpuStart);
    const c = endpoint.counters;
    const report = {
      cpuMs: (cpu.user + cpu.system) / 1000,
      introductions: c.introductions,
      unknown: c.introductionsUnknownPeer,
      limitedSource: c.introductionsRateLimitedSource,
      limitedTarget: c.introductionsRateLimitedTarget,
      packetsReceived: c.packetsReceived,
      packetsSent: c.packetsSent,
      sessions: endpoint.sessionCount,
      peers: peers.size,
      sourceBuckets: introducerOf(endpoint)!.perSource.size,
    };
    global.gc?.();
    global.gc?.();
    const mem = process.memoryUsage();
    process.send!({ ...report, heapUsed: mem.heapUsed, rss: mem.rss, external: mem.external + mem.arrayBuffers });
  } else if (msg.cmd === 'exit') {
    endpoint.close();
    process.exit(0);
  }
});
process.send!({ ready: true, port: endpoint.localAddress.port });
