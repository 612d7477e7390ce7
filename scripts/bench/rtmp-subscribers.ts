// Child process of rtmp-fanout.ts: N RTMP players of one stream, counting what they receive.
// Runs apart from the server so its own CPU is not counted against the server.
import { RtmpClient } from '../../src/client/rtmp-client.js';

const [url, streamName, countText] = process.argv.slice(2);
const count = Number(countText);
const clients: RtmpClient[] = [];
const bytes: number[] = new Array(count).fill(0);

async function open(i: number): Promise<void> {
  const client = await RtmpClient.connect(url!);
  clients.push(client);
  await client.play(streamName!, { onFrame: (_kind, _ts, payload) => (bytes[i]! += payload.length) });
}

for (let i = 0; i < count; i += 25) {
  await Promise.all(Array.from({ length: Math.min(25, count - i) }, (_, k) => open(i + k)));
}
// Ready once every player has media.
while (bytes.some((b) => b === 0)) await new Promise((r) => setTimeout(r, 50));
process.send!({ ready: true });
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'bytes') process.send!({ bytes });
  if (m.cmd === 'exit') {
    for (const c of clients) c.close();
    process.exit(0);
  }
});
