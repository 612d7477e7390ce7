// The server half of the RTMFP benchmarks, run in its own process so its CPU time and memory
// are measured apart from the clients'. Talks to the parent over IPC:
//   -> { ready, port }            once listening on 127.0.0.1
//   <- { cmd: 'report' }          -> { handshakes, sessions, cpuMs, heapUsed, rss, bytes }
//   <- { cmd: 'dh-only', n }      -> { dhPerSecond }  (ephemeral keygen + secret, group 2)
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { DhKeyPair, warmDhGroups } from '../../src/rtmfp/crypto/dh-groups.js';

const port = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
warmDhGroups([2]);
const endpoint = new RtmfpEndpoint({
  port,
  crypto: new FlashCrypto({ server: true, groups: [2] }),
  acceptSessions: true,
  timings: { keepaliveMs: 3_600_000, idleTimeoutMs: 7_200_000 },
  maxSessions: 1_000_000,
});
let bytes = 0;
endpoint.onSession = (session) => {
  session.onFlow = (flow) => {
    flow.onMessage = (m) => (bytes += m.length);
  };
};
const cpuStart = process.cpuUsage();

process.on('message', (msg: { cmd: string; n?: number }) => {
  if (msg.cmd === 'report') {
    global.gc?.();
    const cpu = process.cpuUsage(cpuStart);
    const mem = process.memoryUsage();
    process.send!({
      handshakes: endpoint.counters.handshakesCompleted,
      sessions: endpoint.sessionCount,
      cpuMs: (cpu.user + cpu.system) / 1000,
      systemMs: cpu.system / 1000,
      heapUsed: mem.heapUsed,
      rss: mem.rss,
      external: mem.external + mem.arrayBuffers,
      bytes,
    });
  } else if (msg.cmd === 'dh-only') {
    const peer = DhKeyPair.generate(2);
    const n = msg.n ?? 1000;
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) DhKeyPair.generate(2).computeSecret(peer.publicKey);
    const t = process.cpuUsage(t0);
    process.send!({ dhPerSecond: n / ((t.user + t.system) / 1e6) });
  } else if (msg.cmd === 'exit') {
    endpoint.close();
    process.exit(0);
  }
});
process.send!({ ready: true, port: port.localAddress().port });
