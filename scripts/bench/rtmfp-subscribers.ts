// Child process of rtmfp-fanout.ts: N RTMFP players of one stream on one shared UDP endpoint,
// counting frames and how late each arrives. Runs apart from the server so its own CPU is not
// counted against the server.
//
// Lateness: the publisher sends in real time, so for a frame with timestamp ts, arrival - ts is
// a constant (the start offset) plus the delay. The smallest arrival - ts a player has seen is its
// baseline; a frame more than LATE_MS past it is late for a player with a normal live buffer.
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { isVideoSequenceHeader } from '../../src/codec/video-tag.js';
import { isAudioSequenceHeader } from '../../src/codec/audio-tag.js';

const LATE_MS = 500;
const [url, streamName, countText, perSocketText] = process.argv.slice(2);
const count = Number(countText);
/** Sessions sharing one UDP socket (MonaServer2 wants one socket per client). */
const perSocket = Number(perSocketText ?? 250);

interface Player {
  /** Timestamps of the audio and video frames received since the last mark, and of the late ones. */
  received: number[];
  late: number[];
  bytes: number;
  baseline: number;
  lastTs: number;
}
const players: Player[] = Array.from({ length: count }, () => ({ received: [], late: [], bytes: 0, baseline: Infinity, lastTs: -1 }));
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
  await client.play(streamName!, {
    onFrame: (kind, ts, payload) => {
      if (kind === 'data') return;
      p.received.push(ts);
      p.bytes += payload.length;
      if (ts > p.lastTs) p.lastTs = ts;
      // Codec configuration (sequence headers) is sent when a player joins, outside the media's
      // real-time schedule: MonaServer2 sends it at once and its first media frame about a second
      // later, so a baseline taken from it made every frame after it look a second late.
      if (kind === 'video' ? isVideoSequenceHeader(payload) : isAudioSequenceHeader(payload)) return;
      const lag = Date.now() - ts;
      if (lag < p.baseline) p.baseline = lag;
      if (lag - p.baseline > LATE_MS) p.late.push(ts);
    },
  });
}

for (let i = 0; i < count; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) => open(i + k)));
}
while (players.some((p) => p.received.length === 0)) await new Promise((r) => setTimeout(r, 50));
process.send!({ ready: true });
/** Where the players stand, and the datagrams they have exchanged with the server so far. */
const progress = () => ({
  lastTs: players.map((p) => p.lastTs),
  cpu: process.cpuUsage(),
  packetsIn: endpoints.reduce((n, e) => n + e.counters.packetsReceived, 0),
  packetsOut: endpoints.reduce((n, e) => n + e.counters.packetsSent, 0),
});
const inRange = (list: number[], from: number, to: number) => list.reduce((n, ts) => n + (ts > from && ts <= to ? 1 : 0), 0);
// The parent counts frames by media timestamp, not by wall clock, so a player whose batch of
// frames came a moment after another's is not taken for one that lost them.
process.on('message', (m: { cmd: string; from?: number; to?: number }) => {
  if (m.cmd === 'mark') {
    for (const p of players) {
      p.received = [];
      p.late = [];
      p.bytes = 0;
    }
    process.send!(progress());
  }
  if (m.cmd === 'last') process.send!(progress());
  if (m.cmd === 'count') process.send!({ frames: players.map((p) => inRange(p.received, m.from!, m.to!)), late: players.map((p) => inRange(p.late, m.from!, m.to!)), bytes: players.map((p) => p.bytes) });
  if (m.cmd === 'exit') {
    for (const c of clients) c.close();
    setTimeout(() => process.exit(0), 200);
  }
});
