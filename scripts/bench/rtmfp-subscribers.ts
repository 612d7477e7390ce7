// Child process of rtmfp-fanout.ts: N RTMFP players of one stream on one shared UDP endpoint,
// counting frames and how late each arrives. Runs apart from the server so its own CPU is not
// counted against the server.
//
// How frames are counted and lateness judged: player-frames.ts.
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { answerParent, PlayerFrames, type PlayerProgress } from './player-frames.js';

const [url, streamName, countText, perSocketText] = process.argv.slice(2);
const count = Number(countText);
/** Sessions sharing one UDP socket (MonaServer2 wants one socket per client). */
const perSocket = Number(perSocketText ?? 250);

const players = Array.from({ length: count }, () => new PlayerFrames());
const clients: RtmfpClient[] = [];
// Endpoints of perSocket sessions each (rtmfp-fanout passes 1: a socket per player, as real
// clients have). One socket's receive queue is the bottleneck well before the CPU when hundreds
// of sessions share it: it overflows whenever this process pauses.
const endpoints: RtmfpEndpoint[] = [];
for (let i = 0; i < Math.max(1, Math.ceil(count / perSocket)); i++) {
  endpoints.push(new RtmfpEndpoint({ port: await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 }), crypto: new FlashCrypto({ server: false }) }));
}

async function open(i: number): Promise<void> {
  const client = await RtmfpClient.connect(url!, { endpoint: endpoints[i % endpoints.length]! });
  clients.push(client);
  const p = players[i]!;
  await client.play(streamName!, { onFrame: p.onClientFrame });
}

for (let i = 0; i < count; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) => open(i + k)));
}
while (players.some((p) => p.lastTs < 0)) await new Promise((r) => setTimeout(r, 50));
process.send!({ ready: true });
/** Where the players stand, and the datagrams they have exchanged with the server so far. */
const progress = (): PlayerProgress => ({
  lastTs: players.map((p) => p.lastTs),
  cpu: process.cpuUsage(),
  packetsIn: endpoints.reduce((n, e) => n + e.counters.packetsReceived, 0),
  packetsOut: endpoints.reduce((n, e) => n + e.counters.packetsSent, 0),
});
answerParent(players, progress, () => {
  for (const c of clients) c.close();
  setTimeout(() => process.exit(0), 200);
});
