// Covey's client as an RTMFP peer, over real UDP on 127.0.0.1: two clients of one server meet
// by peer ID (the server introduces, the session runs directly between them), both open at
// once, a peer nobody knows, and every way a P2P session ends.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startTestServer, until, type TestServer } from '../support/test-server.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import type { PeerConnection } from '../../src/client/peer-connection.js';
import { PeerRegistry } from '../../src/rtmfp/peer-registry.js';
import { formatAddress } from '../../src/rtmfp/address.js';
import { PeerUnreachableError } from '../../src/client/peer-sessions.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';

let server: TestServer;
/** The server's rendezvous registry: who can be introduced, with the addresses each reported. */
const registry = new PeerRegistry();

before(async () => {
  server = await startTestServer({ rtmfp: { peers: registry } });
});
after(() => server.close());

function connect(options: Parameters<typeof RtmfpClient.connect>[1] = {}): Promise<RtmfpClient> {
  return RtmfpClient.connect(server.rtmfpUrl('live'), options);
}

/** Messages arriving on the flows a peer opens to us. */
function receiveFlows(client: RtmfpClient): string[] {
  const got: string[] = [];
  client.peers.addFlowHandler((_peer, flow) => {
    if (flow.metadata.toString() !== 'echo-test') return false;
    flow.onMessage = (m) => got.push(m.toString());
    return true;
  });
  return got;
}

test('two clients meet by peer ID through the server; the session runs directly between them, both ways', async () => {
  const a = await connect();
  const b = await connect({ localAddresses: ['127.0.0.1:9', 'not an address'] });
  assert.match(a.peerId, /^[0-9a-f]{64}$/);
  assert.notEqual(a.peerId, b.peerId);
  // What each reported with setPeerInfo: 'auto' with a loopback server is our loopback address only.
  const aPort = a.endpoint.localAddress.port;
  const reported = (c: RtmfpClient) => registry.lookup(Buffer.from(c.peerId, 'hex'))?.reported.map(formatAddress);
  await until(() => reported(a)?.length && reported(b)?.length, 3000, 'setPeerInfo from both');
  assert.deepEqual(reported(a), [`127.0.0.1:${aPort}`]);
  assert.deepEqual(reported(b), ['127.0.0.1:9'], 'what is not an address is left out by the server');

  const atA: PeerConnection[] = [];
  a.onPeer = (p) => atA.push(p);
  const gotAtA = receiveFlows(a);
  const gotAtB = receiveFlows(b);
  const toA = await b.connectPeer(a.peerId, { timeoutMs: 5000 });
  assert.equal(toA.peerId, a.peerId);
  assert.equal(toA.initiator, true);
  assert.deepEqual(toA.address, { host: '127.0.0.1', port: aPort }, "A's own socket, not the server's");
  const fromB = await until(() => atA[0], 3000, "A's side of the session");
  assert.equal(fromB.peerId, b.peerId);
  assert.equal(fromB.initiator, false);

  toA.openFlow(Buffer.from('echo-test')).write(Buffer.from('from B'));
  fromB.openFlow(Buffer.from('echo-test')).write(Buffer.from('from A'));
  await until(() => gotAtA.length === 1 && gotAtB.length === 1, 3000, 'a message each way');
  assert.deepEqual([gotAtA, gotAtB], [['from B'], ['from A']]);

  // A second connect shares the session, and A connecting back finds the one B opened.
  assert.equal(await b.connectPeer(a.peerId), toA);
  assert.equal(await a.connectPeer(b.peerId.toUpperCase()), fromB);
  assert.equal(a.endpoint.sessionCount, 2, 'A has its server session and one P2P session');

  // A flow nobody handles is refused, not left hanging.
  const unhandled = toA.openFlow(Buffer.from('nobody'));
  const refused = new Promise<number>((resolve) => (unhandled.onRejected = resolve));
  unhandled.write(Buffer.from('anyone?'));
  await refused;

  // Closing one side ends the other's.
  toA.close();
  assert.equal(await fromB.closed, 'closed by far end');
  assert.equal(b.peers.get(a.peerId), undefined);
  a.close();
  b.close();
});

test('both peers open at once: one session comes out, the same on both sides', async () => {
  const a = await connect();
  const b = await connect();
  const offered: PeerConnection[] = [];
  a.onPeer = (p) => offered.push(p);
  b.onPeer = (p) => offered.push(p);
  const [ab, ba] = await Promise.all([a.connectPeer(b.peerId), b.connectPeer(a.peerId)]);
  assert.equal(ab.session.localId, ba.session.remoteId);
  assert.equal(ba.session.localId, ab.session.remoteId);
  assert.equal(a.endpoint.sessionCount, 2);
  assert.equal(b.endpoint.sessionCount, 2);
  assert.notEqual(ab.initiator, ba.initiator, 'one initiator');
  // Offered to an application only when its own connect did not already take it.
  assert.ok(offered.length <= 1);
  a.close();
  b.close();
});

test('a peer that is not connected anywhere: the connect fails within its timeout with a clear error', async () => {
  const a = await connect();
  const t0 = Date.now();
  await assert.rejects(a.connectPeer('ab'.repeat(32), { timeoutMs: 1500 }), (err: Error) => {
    assert.match(err.message, /^cannot reach peer abababab…abab through the server at 127\.0\.0\.1:\d+: no answer .* within 1500 ms \(is that peer connected to the same server\?\)$/);
    return true;
  });
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 1400 && elapsed < 6000, `failed after ${elapsed} ms`);
  await assert.rejects(a.connectPeer('not-a-peer-id'), /not a peer ID: "not-a-peer-id" \(expected 64 hexadecimal digits/);
  await assert.rejects(a.connectPeer(a.peerId), /our own peer ID/);
  a.close();
  await assert.rejects(a.connectPeer('cd'.repeat(32)), /connection closed/);
});

test('a peer the server introduces but whose packets never come: the error says the direct path failed, not the peer', async () => {
  // B is connected and registered, but its endpoint answers no peer (as if a NAT dropped all
  // they send it): A is redirected to B's address, and nothing comes back from there.
  const silent = new RtmfpEndpoint({
    port: await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 }),
    crypto: new FlashCrypto({ server: false }),
    acceptSessions: false,
  });
  const b = await connect({ endpoint: silent });
  const a = await connect();
  const t0 = Date.now();
  await assert.rejects(a.connectPeer(b.peerId, { timeoutMs: 1500 }), (err: Error) => {
    assert.ok(err instanceof PeerUnreachableError);
    assert.deepEqual(err.introducedAt.map(formatAddress), [formatAddress(silent.localAddress)]);
    const short = `${b.peerId.slice(0, 8)}…${b.peerId.slice(-4)}`;
    assert.equal(
      err.message,
      `cannot reach peer ${short}: the server at ${formatAddress(a.session.address)} introduced it at ${formatAddress(silent.localAddress)}, but nothing came back from there within 1500 ms: ` +
        'a NAT or firewall between us drops the direct packets (most likely a symmetric NAT on either side, one that gives each destination a port of its own: hole punching cannot pass it)',
    );
    return true;
  });
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 1400 && elapsed < 6000, `failed after ${elapsed} ms`);
  a.close();
  b.close();
  silent.close();
});

test('when a client closes or loses its server, its P2P sessions end on both sides', async () => {
  const a = await connect();
  const b = await connect();
  const c = await connect();
  const ab = await a.connectPeer(b.peerId);
  const ac = await a.connectPeer(c.peerId);
  const ba = await until(() => b.peers.get(a.peerId), 3000, "B's side");
  const ca = await until(() => c.peers.get(a.peerId), 3000, "C's side");
  a.close();
  assert.equal(await ab.closed, 'client closed');
  assert.equal(await ac.closed, 'client closed');
  assert.equal(await ba.closed, 'closed by far end');
  assert.equal(await ca.closed, 'closed by far end');

  // The server goes away under B: its P2P sessions go with its NetConnection.
  const bc = await b.connectPeer(c.peerId);
  const ended = new Promise<string>((resolve) => (b.onEnd = resolve));
  const serverSide = [...server.rtmfp.allSessions()].find((s) => s.farFingerprint.toString('hex') === b.peerId)!;
  serverSide.close('test: server drops B');
  await ended;
  assert.match(await bc.closed, /connection to the server closed/);
  await assert.rejects(b.connectPeer(c.peerId), /connection closed/);
  c.close();
});
