// Child process of shared-object-fanout.ts: `count` users of one shared object, each a Covey
// client (RTMP, or RTMFP over a few shared UDP sockets) with Covey's SharedObject, so the
// benchmark's users are spread over several processes (and cores) instead of queueing behind
// one event loop.
//
//   argv: protocol url objectName count
//
// Receipt times are read from the monotonic clock every process on the machine shares
// (process.hrtime: CLOCK_MONOTONIC), so the parent can subtract its own send time from them.
// To the parent: {ready} once every user holds the object; then, for each update value (an
// integer), {seq, firstNs, lastNs} once every user here has it (when the first and the last of
// them got it),
// until {timing: false} (the throughput phase, where that message per update would cost this
// process as much as the users do); on {counts} the fewest updates any user here received since
// the previous {counts}; on {stop} it closes its connections and exits.
import { RtmpClient } from '../../src/client/rtmp-client.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import type { NetConnection } from '../../src/client/net-connection.js';
import { SharedObject } from '../../src/client/shared-object.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';

const [protocol, url, objectName, countText] = process.argv.slice(2) as ['rtmp' | 'rtmfp', string, string, string];
const count = Number(countText);
const now = () => process.hrtime.bigint();

/** RTMFP users share 8 UDP sockets: one process cannot hold hundreds of them cheaply, and the server cannot tell. */
const endpoints: RtmfpEndpoint[] = [];
async function endpointFor(i: number): Promise<RtmfpEndpoint> {
  const k = i % 8;
  endpoints[k] ??= new RtmfpEndpoint({ port: await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 }), crypto: new FlashCrypto({ server: false }), acceptSessions: false });
  return endpoints[k]!;
}

/** Per update value: how many users here have it, and when the last one got it. */
const arrivals = new Map<number, { users: number; firstNs: bigint; lastNs: bigint }>();
const received: number[] = new Array(count).fill(0);
const connections: NetConnection[] = [];

let timing = true;

function arrived(seq: number): void {
  if (!timing) return;
  const t = now();
  let a = arrivals.get(seq);
  if (a === undefined) arrivals.set(seq, (a = { users: 0, firstNs: t, lastNs: t }));
  a.users++;
  a.lastNs = t;
  if (a.users === count) {
    arrivals.delete(seq);
    process.send!({ seq, firstNs: String(a.firstNs), lastNs: String(a.lastNs) });
  }
}

for (let start = 0; start < count; start += 50) {
  await Promise.all(Array.from({ length: Math.min(50, count - start) }, async (_, j) => {
    const i = start + j;
    const connection = protocol === 'rtmp' ? await RtmpClient.connect(url) : await RtmfpClient.connect(url, { endpoint: await endpointFor(i), localAddresses: 'none' });
    connections.push(connection);
    const so = new SharedObject(objectName);
    so.onSync = (changes) => {
      for (const c of changes) {
        if (c.code !== 'change' || c.name !== 'v') continue;
        received[i]!++;
        arrived(c.value as number);
      }
    };
    await so.connect(connection, 60_000);
  }));
}
process.send!({ ready: true });

process.on('message', (m: { timing?: boolean; counts?: true; stop?: true }) => {
  if (m.timing !== undefined) {
    timing = m.timing;
    arrivals.clear();
  } else if (m.counts) {
    process.send!({ fewest: Math.min(...received) });
    received.fill(0);
  } else if (m.stop) {
    for (const c of connections) void c.close();
    for (const e of endpoints) e.close();
    // process.exit writes the CPU profile when one was asked for (--cpu-prof).
    setTimeout(() => process.exit(0), 200);
  }
});
