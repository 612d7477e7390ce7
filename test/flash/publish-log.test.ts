// A server's log writes a client's address one way, whichever protocol it came over, and says
// who started a publication: over a dual-stack socket an IPv4 client reads as IPv4 (not
// ::ffff:127.0.0.1), an IPv6 one in brackets, for RTMP as for RTMFP.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { streamProtocolFor } from '../../src/client/stream-client.js';
import '../../src/client/stream-protocols.js';
import { startTestServer } from '../support/test-server.js';

test('publish started names the protocol and the client, its address written the same for RTMP and RTMFP', async () => {
  const server = await startTestServer({ rtmp: { host: '::' }, rtmfp: { host: '::' } });
  try {
    const rtmfpPort = server.rtmfp.localAddress.port;
    const urls = {
      'rtmp-v4': server.url('live/a'),
      'rtmfp-v4': server.rtmfpUrl('live/b'),
      'rtmp-v6': `rtmp://[::1]:${server.port}/live/c`,
      'rtmfp-v6': `rtmfp://[::1]:${rtmfpPort}/live/d`,
    };
    for (const [what, url] of Object.entries(urls)) {
      const session = await streamProtocolFor(url).publish(url);
      const stream = url.slice(url.lastIndexOf('/') + 1);
      const line = await server.waitLog((l) => l.msg === 'publish started' && l.stream === stream);
      const [protocol, family] = what.split('-');
      assert.equal(line.protocol, protocol, what);
      assert.match(String(line.peer), family === 'v4' ? /^127\.0\.0\.1:\d+$/ : /^\[::1\]:\d+$/, what);
      // Every line of that client carries the same address under the same key.
      const peers = new Set(server.logs.filter((l) => l.client === line.publisher).map((l) => l.peer));
      assert.deepEqual([...peers], [line.peer], `${what}: ${JSON.stringify(server.logs.filter((l) => l.client === line.publisher))}`);
      await session.close();
    }
  } finally {
    await server.close();
  }
});
