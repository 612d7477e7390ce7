// A server that sends connecting clients to other servers (a redirector), with two and three real
// servers on 127.0.0.1: a Covey client asked for the first lands on the second; servers are taken
// in turn, a retried IHello gets the same one, and a hook decides per IHello.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestServer, testApps, until, type TestServer } from '../support/test-server.js';
import { rawSocket, startupDatagram } from '../support/rendezvous-peers.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { encodeEpd } from '../../src/rtmfp/crypto/flash-certificate.js';
import { encodeIHello } from '../../src/rtmfp/handshake-chunks.js';
import { ChunkType } from '../../src/rtmfp/chunk-types.js';
import { AddressOrigin, type Address } from '../../src/rtmfp/address.js';
import type { RtmfpServiceOptions } from '../../src/rtmfp-flash/rtmfp-service.js';
import type { FlashClient } from '../../src/flash/flash-client.js';

async function servers(n: number, first: (others: Address[]) => Partial<RtmfpServiceOptions>) {
  const connected: FlashClient[][] = [];
  const others: TestServer[] = [];
  for (let i = 1; i < n; i++) {
    connected[i] = [];
    others.push(await startTestServer({ flash: testApps(connected[i]!, {}) }));
  }
  const addresses = others.map((s) => ({ host: '127.0.0.1', port: s.rtmfp.localAddress.port }));
  connected[0] = [];
  const redirector = await startTestServer({ flash: testApps(connected[0], {}), rtmfp: first(addresses) });
  return { all: [redirector, ...others], addresses, connected, close: () => Promise.all([redirector, ...others].map((s) => s.close())) };
}

test('a Covey client connecting to a redirector lands on the server it names, and works there', async () => {
  const fleet = await servers(2, (others) => ({ redirectTo: others }));
  const [redirector, second] = fleet.all as [TestServer, TestServer];
  try {
    const client = await RtmfpClient.connect(redirector.rtmfpUrl('live'));
    try {
      assert.equal(client.connectInfo!.code, 'NetConnection.Connect.Success');
      assert.deepEqual(client.session.address, fleet.addresses[0], 'the session is with the second server');
      assert.equal(fleet.connected[1]!.length, 1, 'the second server has the client');
      assert.equal(fleet.connected[0]!.length, 0);
      assert.equal(redirector.rtmfp.sessionCount, 0, 'the redirector holds no session');
      assert.ok(redirector.rtmfp.counters.connectionsRedirected >= 1);
      const stream = await client.publish('here');
      assert.ok(second.flash.application('live')!.publication('here'), 'publishing on the second server');
      stream.close();
    } finally {
      client.close();
    }
  } finally {
    await fleet.close();
  }
});

test('servers are taken in turn; a retried IHello (same tag, same address) gets the same server', async () => {
  const fleet = await servers(3, (others) => ({ redirectTo: others }));
  const [redirector] = fleet.all as [TestServer];
  const s = await rawSocket();
  try {
    const to = { host: '127.0.0.1', port: redirector.rtmfp.localAddress.port };
    const ihello = (tag: Buffer) => startupDatagram(ChunkType.IHELLO, encodeIHello({ epd: encodeEpd({ ancillaryData: redirector.rtmfpUrl('live') }), tag }));
    const tags = [randomBytes(16), randomBytes(16), randomBytes(16)];
    for (const tag of tags) await s.send(ihello(tag), to);
    await s.send(ihello(tags[0]!), to);
    const redirects = await until(() => s.redirects().length === 4 && s.redirects(), 3000, '4 redirects');
    const sentTo = redirects.map((r) => {
      assert.equal(r.destinations.length, 1);
      assert.equal(r.destinations[0]!.origin, AddressOrigin.RELAY);
      return r.destinations[0]!.port;
    });
    const [a, b] = fleet.addresses.map((x) => x.port);
    assert.deepEqual(sentTo, [a, b, a, a], 'in turn, and the retry of the first to the same server');
    assert.equal(s.received.length, 4, 'and no RHello from the redirector');
  } finally {
    s.close();
    await fleet.close();
  }
});

test('a hook decides per IHello: here (null), elsewhere (a list), or the turn (undefined); a failing hook leaves it to the turn', async () => {
  let decision: 'here' | 'elsewhere' | 'turn' | 'throw' = 'here';
  const fleet = await servers(2, (others) => ({
    redirectTo: others,
    redirectDecide: ({ epd, from }) => {
      assert.match(String(epd.ancillaryData), /^rtmfp:\/\/127\.0\.0\.1:\d+\/live$/);
      assert.equal(from.host, '127.0.0.1');
      if (decision === 'throw') throw new Error('script error');
      return decision === 'here' ? null : decision === 'elsewhere' ? [...others] : undefined;
    },
  }));
  const [redirector] = fleet.all as [TestServer];
  try {
    const here = await RtmfpClient.connect(redirector.rtmfpUrl('live'));
    assert.equal(here.session.address.port, redirector.rtmfp.localAddress.port, 'kept by the redirector');
    here.close();
    for (const d of ['elsewhere', 'turn', 'throw'] as const) {
      decision = d;
      const away = await RtmfpClient.connect(redirector.rtmfpUrl('live'));
      assert.deepEqual(away.session.address, fleet.addresses[0], `sent to the second server (${d})`);
      away.close();
    }
    await redirector.waitLog((l) => l.msg === 'redirect hook failed');
  } finally {
    await fleet.close();
  }
});
