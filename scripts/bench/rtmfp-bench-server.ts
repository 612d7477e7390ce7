// The server half of the RTMFP benchmarks, run in its own process so its CPU time and memory
// are measured apart from the clients'. Talks to the parent over IPC:
//   -> { ready, port }            once listening on 127.0.0.1
//   <- { cmd: 'report' }          -> { handshakes, sessions, cpuMs, systemMs, heapUsed, rss, external, bytes }
//   <- { cmd: 'dh-only', n, group } -> { dhPerSecond }
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

/**
 * The DH work of one responder handshake and nothing else, straight on node:crypto (not
 * through our DhKeyPair, so that nothing we change in the engine moves this yardstick): a
 * pre-built DH object per group, and per exchange setPrivateKey(randomBytes(...)) with the
 * exponent size the engine draws, generateKeys() and computeSecret().
 */
function dhOnlyPerSecond(n: number, group: number): number {
  if (!isSupportedDhGroup(group)) throw new Error(`DH group ${group} unsupported`);
  const dh = createDiffieHellman(groupPrime(group), Buffer.from([2]));
  dh.setPrivateKey(randomBytes(privateKeyBytes(group)));
  const peerPublic = dh.generateKeys();
  for (let i = 0; i < 50; i++) {
    dh.setPrivateKey(randomBytes(privateKeyBytes(group)));
    dh.generateKeys();
    dh.computeSecret(peerPublic);
  }
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    dh.setPrivateKey(randomBytes(privateKeyBytes(group)));
    dh.generateKeys();
    dh.computeSecret(peerPublic);
  }
  const t = process.cpuUsage(t0);
  return n / ((t.user + t.system) / 1e6);
}

process.on('message', (msg: { cmd: string; n?: number; group?: number }) => {
  if (msg.cmd === 'report') {
    const cpu = process.cpuUsage(cpuStart);
    global.gc?.();
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
    process.send!({ dhPerSecond: dhOnlyPerSecond(msg.n ?? 1000, msg.group ?? 2) });
  } else if (msg.cmd === 'exit') {
    endpoint.close();
    process.exit(0);
  }
});
process.send!({ ready: true, port: port.localAddress().port });
