// The engine operations rendezvous needs: a server forwarding an IHello to the peer it names,
// or redirecting the initiator to that peer; either way the two peers open a session directly.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FakeClock } from '../support/fake-clock.js';
import { MemoryNetwork } from '../support/memory-network.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { encodeForwardedIHello } from '../../src/rtmfp/handshake-chunks.js';
import type { Session } from '../../src/rtmfp/session.js';

async function setup(mode: 'forward' | 'redirect') {
  const clock = new FakeClock();
  const net = new MemoryNetwork(clock);
  const server = new RtmfpEndpoint({ port: net.bind(1935), clock, crypto: new FlashCrypto({ server: true }), acceptSessions: true });
  const bySessionPeer = new Map<string, Session>();
  server.onSession = (s) => bySessionPeer.set(s.peerId, s);
  server.onIHelloForPeer = (fingerprint, epd, tag, from) => {
    const target = bySessionPeer.get(fingerprint.toString('hex'));
    if (!target) return;
    if (mode === 'forward') target.sendForwardedIHello(encodeForwardedIHello(epd, from, tag));
    else server.sendRedirect(from, tag, [target.address]);
  };
  const peerB = new RtmfpEndpoint({ port: net.bind(40000), clock, crypto: new FlashCrypto({ server: false }), acceptSessions: true });
  const peerA = new RtmfpEndpoint({ port: net.bind(40001), clock, crypto: new FlashCrypto({ server: false }), acceptSessions: true });
  const serverAddress = { host: '10.0.0.1', port: 1935 };
  const connect = async (e: RtmfpEndpoint, epd: Parameters<RtmfpEndpoint['connect']>[0], to = [serverAddress]) => {
    const p = e.connect(epd, to);
    await clock.advance(100);
    return p;
  };
  await connect(peerB, { ancillaryData: 'rtmfp://10.0.0.1/app' });
  await connect(peerA, { ancillaryData: 'rtmfp://10.0.0.1/app' });
  const accepted: Session[] = [];
  peerB.onSession = (s) => accepted.push(s);
  // A asks the server for B by peer ID only.
  const p2p = await connect(peerA, { fingerprint: peerB.peerId });
  return { p2p, accepted, peerA, peerB };
}

for (const mode of ['forward', 'redirect'] as const) {
  test(`P2P through the server by ${mode === 'forward' ? 'forwarded IHello' : 'redirect'}`, async () => {
    const { p2p, accepted, peerA, peerB } = await setup(mode);
    assert.equal(p2p.peerId, peerB.peerId.toString('hex'), 'A reached the peer it named');
    assert.deepEqual(p2p.address, { host: '10.0.0.2', port: 40000 }, 'directly, not through the server');
    assert.equal(accepted.length, 1);
    assert.equal(accepted[0]!.peerId, peerA.peerId.toString('hex'));
    assert.equal(peerB.sessionCount, 2, 'B is a client of the server and a P2P responder at once');
  });
}

// Simultaneous open (RFC 7016 §3.5.1.3, RFC 7425 §4.3.6): both peers connect to each other at
// the same moment. Exactly one session must come out on each side, the same one, whose initiator
// is the peer with the byte-wise smaller certificate. Several pairs, so both orders are met.
for (const delayMs of [1, 40]) {
  test(`simultaneous open resolves to one session (link delay ${delayMs} ms)`, async () => {
    const winners = new Set<string>();
    for (let pair = 0; pair < 6; pair++) {
      const clock = new FakeClock();
      const net = new MemoryNetwork(clock);
      net.policy = { delayMs };
      const a = new RtmfpEndpoint({ port: net.bind(40000), clock, crypto: new FlashCrypto({ server: false }), acceptSessions: true });
      const b = new RtmfpEndpoint({ port: net.bind(40001), clock, crypto: new FlashCrypto({ server: false }), acceptSessions: true });
      const unasked: Session[] = [];
      a.onSession = (s) => unasked.push(s);
      b.onSession = (s) => unasked.push(s);
      const fromA = a.connect({ fingerprint: b.peerId }, [b.localAddress]);
      const fromB = b.connect({ fingerprint: a.peerId }, [a.localAddress]);
      await clock.advance(2_000);
      const [sa, sb] = await Promise.all([fromA, fromB]);
      assert.equal(sa.peerId, b.peerId.toString('hex'));
      assert.equal(sb.peerId, a.peerId.toString('hex'));
      assert.equal(sa.localId, sb.remoteId, 'both sides hold the same session');
      assert.equal(sb.localId, sa.remoteId);
      assert.equal(a.sessionCount, 1);
      assert.equal(b.sessionCount, 1);
      assert.deepEqual(unasked, [], 'no second session offered to either application');
      const aWins = Buffer.compare(a.crypto.certificate, b.crypto.certificate) < 0;
      assert.equal(sa.isInitiator, aWins, 'the smaller certificate keeps the initiator role');
      assert.equal(sb.isInitiator, !aWins);
      const winner = aWins ? a : b;
      const loser = aWins ? b : a;
      assert.ok(winner.counters.glaresWon >= 1);
      assert.equal(loser.counters.glaresLost, 1);
      winners.add(aWins ? 'a' : 'b');
      // The session works both ways.
      const got: string[] = [];
      sb.onFlow = (f) => (f.onMessage = (m) => got.push(m.toString()));
      sa.openFlow(Buffer.from('test')).write(Buffer.from('hello'));
      await clock.advance(500);
      assert.deepEqual(got, ['hello']);
      a.close();
      b.close();
    }
    assert.ok(winners.size >= 1);
  });
}

test('a redirect that lists only the unspecified address fails the connect at once', async () => {
  const clock = new FakeClock();
  const net = new MemoryNetwork(clock);
  const server = new RtmfpEndpoint({ port: net.bind(1935), clock, crypto: new FlashCrypto({ server: true }), acceptSessions: true });
  // MonaServer's answer for a peer it does not know (librtmfp's "peer gone").
  server.onIHelloForPeer = (_fp, _epd, tag, from) => server.sendRedirect(from, tag, [{ host: '0.0.0.0', port: 0, origin: 0 }]);
  const a = new RtmfpEndpoint({ port: net.bind(40000), clock, crypto: new FlashCrypto({ server: false }), acceptSessions: true });
  const attempt = a.connect({ fingerprint: Buffer.alloc(32, 7) }, [server.localAddress], { timeoutMs: 30_000 });
  const outcome = attempt.then(() => 'connected', (err: Error) => err.message);
  await clock.advance(100);
  assert.match(await outcome, /no such peer/);
});

test('a connect by peer ID to a peer nobody knows fails after its own timeout', async () => {
  const clock = new FakeClock();
  const net = new MemoryNetwork(clock);
  const server = new RtmfpEndpoint({ port: net.bind(1935), clock, crypto: new FlashCrypto({ server: true }), acceptSessions: true });
  const a = new RtmfpEndpoint({ port: net.bind(40000), clock, crypto: new FlashCrypto({ server: false }), acceptSessions: true });
  const t0 = clock.now();
  let failedAt = 0;
  const outcome = a.connect({ fingerprint: Buffer.alloc(32, 7) }, [server.localAddress], { timeoutMs: 3_000 }).then(
    () => 'connected',
    (err: Error) => ((failedAt = clock.now()), err.message),
  );
  await clock.advance(10_000);
  assert.match(await outcome, /no answer .* within 3000 ms/);
  assert.ok(failedAt - t0 >= 3_000 && failedAt - t0 < 4_000, `failed after ${failedAt - t0} ms`);
});
