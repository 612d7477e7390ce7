// Rendezvous must be neither an amplifier nor an oracle, over real UDP on 127.0.0.x: redirects
// stay within 3 times the IHello, introductions are rate-limited per source address and per
// target in bounded tables, a flood of lookups leaves no state, and forged forwarded IHellos and
// redirects sent to the server are dropped.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestServer, testApps, until, sleep, type TestServer } from '../support/test-server.js';
import { connectFlashPeer, rawSocket, startupDatagram, type FlashPeer } from '../support/rendezvous-peers.js';
import { PeerRegistry } from '../../src/rtmfp/peer-registry.js';
import { encodeEpd } from '../../src/rtmfp/crypto/flash-certificate.js';
import { encodeForwardedIHello, encodeIHello, encodeRedirect } from '../../src/rtmfp/handshake-chunks.js';
import { ChunkType } from '../../src/rtmfp/chunk-types.js';
import { AddressOrigin } from '../../src/rtmfp/address.js';
import { introducerOf, type RtmfpServiceOptions } from '../../src/rtmfp-flash/rtmfp-service.js';

async function withServer(rtmfp: Partial<RtmfpServiceOptions>, body: (server: TestServer, peers: PeerRegistry) => Promise<void>): Promise<void> {
  const peers = rtmfp.peers ?? new PeerRegistry();
  const server = await startTestServer({ flash: testApps([], {}), rtmfp: { ...rtmfp, peers } });
  try {
    await body(server, peers);
  } finally {
    await server.close();
  }
}

const serverAddress = (server: TestServer) => ({ host: '127.0.0.1', port: server.rtmfp.localAddress.port });
const ihelloFor = (peer: FlashPeer, tag = randomBytes(16)) => startupDatagram(ChunkType.IHELLO, encodeIHello({ epd: encodeEpd({ fingerprint: peer.endpoint.peerId }), tag }));

/** Counts the forwarded IHellos a peer receives from the server. */
function countForwards(peer: FlashPeer): { count: number } {
  const seen = { count: 0 };
  const forward = peer.endpoint.forwardedIHello.bind(peer.endpoint);
  peer.endpoint.forwardedIHello = (body, session) => {
    seen.count++;
    forward(body, session);
  };
  return seen;
}

test('a redirect is never larger than 3 times the IHello that caused it: addresses are left off, the observed one last', async () => {
  await withServer({ peers: new PeerRegistry(32) }, async (server) => {
    const target = await connectFlashPeer(server.rtmfp.localAddress.port, { acceptSessions: false });
    const initiator = await rawSocket();
    try {
      const port = target.port.localAddress().port;
      // 23 addresses in all: fewer than the 24 an initiator follows (the engine's limit).
      const reported = Array.from({ length: 22 }, (_, i) => `127.0.0.${i + 2}:${port}`);
      target.command('setPeerInfo', 0, ...reported);
      await until(() => introducerOf(server.rtmfp)!.peers.lookup(target.endpoint.peerId)?.reported.length === 22, 3000, 'the 22 addresses');

      // The smallest IHello there is: a 1-byte tag.
      const small = ihelloFor(target, Buffer.from([7]));
      await initiator.send(small, serverAddress(server));
      const [r] = await until(() => initiator.redirects().length === 1 && initiator.redirects(), 3000, 'the redirect');
      assert.ok(r!.datagramLength <= 3 * small.length, `${r!.datagramLength} bytes for an IHello of ${small.length}`);
      assert.ok(r!.destinations.length < 23, 'some addresses left off');
      assert.ok(r!.destinations.length >= 10, 'as many as fit');
      assert.deepEqual(r!.destinations[0], { host: '127.0.0.1', port, origin: AddressOrigin.OBSERVED }, 'the observed address first');
      assert.ok(r!.destinations.slice(1).every((d, i) => d.origin === AddressOrigin.LOCAL && d.host === `127.0.0.${i + 2}`), 'then the reported ones in order');
      assert.equal(server.rtmfp.counters.redirectAddressesDropped, 23 - r!.destinations.length);

      // A large IHello (a 64-byte tag, the most accepted) gets them all.
      const large = ihelloFor(target, randomBytes(64));
      await initiator.send(large, serverAddress(server));
      const all = await until(() => initiator.redirects()[1], 3000, 'the second redirect');
      assert.equal(all.destinations.length, 23);
      assert.ok(all.datagramLength <= 3 * large.length);
    } finally {
      target.close();
      initiator.close();
    }
  });
});

test('introductions are rate-limited per source address and per target; each limited IHello is counted and gets nothing', async () => {
  const rendezvous = { perSource: { perSecond: 0.1, burst: 3 }, perTarget: { perSecond: 0.1, burst: 5 } };
  await withServer({ rendezvous }, async (server) => {
    const target = await connectFlashPeer(server.rtmfp.localAddress.port, { acceptSessions: false });
    const other = await connectFlashPeer(server.rtmfp.localAddress.port, { acceptSessions: false });
    const forwards = countForwards(target);
    const s1 = await rawSocket('127.0.0.1');
    const s2 = await rawSocket('127.0.0.2');
    const s3 = await rawSocket('127.0.0.3');
    const s4 = await rawSocket('127.0.0.4');
    try {
      for (let i = 0; i < 10; i++) await s1.send(ihelloFor(target), serverAddress(server));
      await until(() => server.rtmfp.counters.introductionsRateLimitedSource === 7, 3000, '7 IHellos refused for their source');
      // The counters move when the server sends; the redirects arrive at s1 a moment later
      // (under load, after the assertion: it read 0 of 3 once).
      await until(() => s1.redirects().length >= 3, 3000, 'the redirects of the burst');
      await sleep(100);
      assert.equal(s1.redirects().length, 3, 'the burst of one source address');
      // Other addresses have buckets of their own, but the target has only 2 introductions left.
      for (let i = 0; i < 3; i++) await s2.send(ihelloFor(target), serverAddress(server));
      for (let i = 0; i < 3; i++) await s4.send(ihelloFor(target), serverAddress(server));
      await until(() => server.rtmfp.counters.introductionsRateLimitedTarget === 4, 3000, '4 IHellos refused for their target');
      await until(() => s2.redirects().length + s4.redirects().length >= 2, 3000, 'the redirects of the target\'s last 2 introductions');
      await sleep(100);
      assert.equal(s2.redirects().length, 2);
      assert.equal(s4.redirects().length, 0);
      await until(() => forwards.count === 5, 3000, 'the target\'s 5 forwarded IHellos');
      // Another target is not affected.
      await s3.send(ihelloFor(other), serverAddress(server));
      await until(() => s3.redirects().length === 1, 3000, 'a redirect for the other target');
      await sleep(200);
      assert.equal(forwards.count, 5, 'nothing more reached the limited target');
      assert.equal(server.rtmfp.counters.introductions, 6);
    } finally {
      for (const p of [target, other, s1, s2, s3, s4]) p.close();
    }
  });
});

test('floods leave bounded state: source addresses past the table size are refused, lookups of unknown IDs keep nothing', async () => {
  const rendezvous = { perSource: { perSecond: 0.1, burst: 3, maxKeys: 4 } };
  await withServer({ rendezvous }, async (server, peers) => {
    const target = await connectFlashPeer(server.rtmfp.localAddress.port, { acceptSessions: false });
    const sources = await Promise.all(Array.from({ length: 8 }, (_, i) => rawSocket(`127.0.0.${i + 2}`)));
    const flooder = await rawSocket();
    const introducer = introducerOf(server.rtmfp)!;
    try {
      for (const s of sources) await s.send(ihelloFor(target), serverAddress(server));
      await until(() => server.rtmfp.counters.introductions + server.rtmfp.counters.introductionsRateLimitedSource === 8, 3000, 'all 8 IHellos handled');
      await until(() => sources.reduce((n, s) => n + s.redirects().length, 0) >= 4, 3000, 'the redirects of the 4 answered');
      await sleep(100);
      assert.deepEqual(sources.map((s) => s.redirects().length), [1, 1, 1, 1, 0, 0, 0, 0], 'the first 4 addresses answered, later ones refused while those buckets are in use');
      assert.equal(introducer.perSource.size, 4);

      const unknownBefore = server.rtmfp.counters.introductionsUnknownPeer;
      const flood = 3000;
      for (let i = 0; i < flood; i++) {
        await flooder.send(startupDatagram(ChunkType.IHELLO, encodeIHello({ epd: encodeEpd({ fingerprint: randomBytes(32) }), tag: randomBytes(16) })), serverAddress(server));
      }
      await until(() => server.rtmfp.counters.introductionsUnknownPeer === unknownBefore + flood, 10_000, 'every lookup counted');
      assert.equal(flooder.received.length, 0, 'no answer to any');
      assert.equal(introducer.perSource.size, 4, 'no bucket for lookups that find nobody');
      assert.equal(introducer.perTarget.size, 1);
      assert.equal(peers.size, 1);
    } finally {
      for (const p of [target, flooder, ...sources]) p.close();
    }
  });
});

test('a forwarded IHello sent to the server inside a client\'s session is dropped, whatever it names', async () => {
  await withServer({}, async (server) => {
    const client = await connectFlashPeer(server.rtmfp.localAddress.port);
    const other = await connectFlashPeer(server.rtmfp.localAddress.port);
    const victim = await rawSocket('127.0.0.9');
    try {
      const url = `rtmfp://127.0.0.1:${server.rtmfp.localAddress.port}/live`;
      // Were any answered, the server (or the named peer) would send an RHello to the victim.
      for (const epd of [encodeEpd({ ancillaryData: url }), encodeEpd({ fingerprint: server.rtmfp.peerId }), encodeEpd({ fingerprint: other.endpoint.peerId })]) {
        client.session.sendForwardedIHello(encodeForwardedIHello(epd, victim.address, randomBytes(16)));
      }
      await until(() => server.rtmfp.counters.forgedForwardedIHellos === 3, 3000, '3 forged forwarded IHellos counted');
      await sleep(300);
      assert.equal(victim.received.length, 0);
      assert.equal(client.session.state, 'open', 'the client is not cut off for it');
    } finally {
      for (const p of [client, other, victim]) p.close();
    }
  });
});

test('a redirect sent to the server is dropped and counted: it sends no IHello anywhere', async () => {
  await withServer({}, async (server) => {
    const sender = await rawSocket();
    const victim = await rawSocket('127.0.0.9');
    try {
      await sender.send(startupDatagram(ChunkType.REDIRECT, encodeRedirect(randomBytes(16), [{ ...victim.address, origin: AddressOrigin.OBSERVED }])), serverAddress(server));
      await until(() => server.rtmfp.counters.unsolicitedRedirects === 1, 3000, 'the redirect counted');
      await sleep(300);
      assert.equal(victim.received.length, 0);
      assert.equal(sender.received.length, 0);
    } finally {
      sender.close();
      victim.close();
    }
  });
});
