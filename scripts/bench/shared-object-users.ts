// Child process of shared-object-fanout.ts (--kinds full): `count` users of one shared object,
// each a Covey client (RTMP, or RTMFP over a few shared UDP sockets) with Covey's SharedObject.
// They cost several times what the lean users do (shared-object-lean-users.ts): the comparison.
//
//   argv: protocol url objectName count
//
// Talks to the parent as shared-object-arrivals.ts says.
import { RtmpClient } from '../../src/client/rtmp-client.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import type { NetConnection } from '../../src/client/net-connection.js';
import { SharedObject } from '../../src/client/shared-object.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { UserArrivals } from './shared-object-arrivals.js';

const [protocol, url, objectName, countText] = process.argv.slice(2) as ['rtmp' | 'rtmfp', string, string, string];
const count = Number(countText);

/** RTMFP users share 8 UDP sockets: one process cannot hold hundreds of them cheaply, and the server cannot tell. */
const endpoints: RtmfpEndpoint[] = [];
async function endpointFor(i: number): Promise<RtmfpEndpoint> {
  const k = i % 8;
  endpoints[k] ??= new RtmfpEndpoint({ port: await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 }), crypto: new FlashCrypto({ server: false }), acceptSessions: false });
  return endpoints[k]!;
}

const connections: NetConnection[] = [];
const arrivals = new UserArrivals(count, () => {
  for (const c of connections) void c.close();
  for (const e of endpoints) e.close();
});

for (let start = 0; start < count; start += 50) {
  await Promise.all(Array.from({ length: Math.min(50, count - start) }, async (_, j) => {
    const i = start + j;
    const connection = protocol === 'rtmp' ? await RtmpClient.connect(url) : await RtmfpClient.connect(url, { endpoint: await endpointFor(i), localAddresses: 'none' });
    connections.push(connection);
    const so = new SharedObject(objectName);
    so.onSync = (changes) => {
      for (const c of changes) {
        if (c.code === 'change' && c.name === 'v') arrivals.arrived(i, c.value as number);
      }
    };
    await so.connect(connection, 60_000);
  }));
}
arrivals.ready();
