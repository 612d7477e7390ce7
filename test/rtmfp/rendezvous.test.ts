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
