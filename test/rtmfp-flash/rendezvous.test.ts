// Rendezvous at the running server, over real UDP on 127.0.0.1: connected clients are registered
// by peer ID with the addresses they report; an IHello naming one gets a redirect to the
// initiator and a forwarded IHello to the peer, and the two then hold a session of their own.
// Also: setPeerInfo garbage, unknown peers, unregistering, and the keepalive event after connect.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestServer, testApps, until, sleep, type TestServer } from '../support/test-server.js';
import { connectFlashPeer, RecordingPort, type FlashPeer } from '../support/rendezvous-peers.js';
import { PeerRegistry } from '../../src/rtmfp/peer-registry.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { AddressOrigin } from '../../src/rtmfp/address.js';
import { FlashMessageType } from '../../src/codec/flash-command.js';
import { encodeAmf0 } from '../../src/codec/amf0.js';
import { encodeTcMessage } from '../../src/codec/tc-message.js';
import type { Session } from '../../src/rtmfp/session.js';
import type { FlashClient } from '../../src/flash/flash-client.js';

let server: TestServer;
const peers = new PeerRegistry();
const connected: FlashClient[] = [];

before(async () => {
  server = await startTestServer({ flash: testApps(connected, {}), rtmfp: { peers, keepalive: { serverMs: 7_000, peerMs: 2_000 } } });
});
after(() => server.close());

const serverPort = () => server.rtmfp.localAddress.port;
const serverAddress = () => ({ host: '127.0.0.1', port: serverPort() });

/** An endpoint that is no client of the server: it only asks it for peers. */
async function initiator(handshake = { initialRetransmitMs: 1_000, connectTimeoutMs: 5_000 }) {
  const port = await RecordingPort.bind();
  const endpoint = new RtmfpEndpoint({ port, crypto: new FlashCrypto({ server: false }), handshake });
  return { port, endpoint };
}

test('an IHello naming a connected peer: a redirect to its observed and reported addresses, a forwarded IHello to it, then a direct session', async () => {
  const a = await connectFlashPeer(serverPort());
  const b = await connectFlashPeer(serverPort());
  const c = await initiator();
  try {
    const bPort = b.port.localAddress().port;
    // B reports its own address (a repeat of what the server sees: listed once) and another one.
    b.command('setPeerInfo', 0, `127.0.0.1:${bPort}`, `127.0.0.2:${bPort}`);
    await until(() => peers.lookup(b.endpoint.peerId)?.reported.length === 2, 3000, 'B\'s reported addresses');
    assert.ok(peers.lookup(a.endpoint.peerId), 'A is registered too');
    const forwarded: Buffer[] = [];
    const forward = b.endpoint.forwardedIHello.bind(b.endpoint);
    b.endpoint.forwardedIHello = (body, session) => {
      forwarded.push(Buffer.from(body));
      forward(body, session);
    };
    const before = server.rtmfp.counters.introductions;

    const direct: Session = await c.endpoint.connect({ fingerprint: b.endpoint.peerId }, [serverAddress()]);

    assert.equal(direct.peerId, b.endpoint.peerId.toString('hex'), 'C reached the peer it named');
    assert.deepEqual(direct.address, b.port.localAddress(), 'directly at B\'s socket, not through the server');
    await until(() => b.accepted.length === 1, 3000, 'B\'s side of the session');
    assert.equal(b.accepted[0]!.peerId, c.endpoint.peerId.toString('hex'));
    const [redirect] = c.port.redirects();
    assert.ok(redirect, 'C got a redirect');
    assert.deepEqual(redirect.from, serverAddress(), 'from the server');
    assert.deepEqual(redirect.destinations, [
      { host: '127.0.0.1', port: bPort, origin: AddressOrigin.OBSERVED },
      { host: '127.0.0.2', port: bPort, origin: AddressOrigin.LOCAL },
    ]);
    assert.ok(forwarded.length >= 1, 'B got a forwarded IHello in its session with the server');
    assert.ok(server.rtmfp.counters.introductions > before);
    // A is not involved: its socket heard nothing but the server's session packets.
    assert.ok(a.port.received.every((r) => r.from.port === serverPort()));
  } finally {
    for (const p of [a, b, c]) p.endpoint.close();
  }
});

test('retries are idempotent: every IHello for a peer gets the same redirect', async () => {
  // B answers no IHello, so C keeps retrying through the server.
  const b = await connectFlashPeer(serverPort(), { acceptSessions: false });
  const c = await initiator({ initialRetransmitMs: 200, connectTimeoutMs: 5_000 });
  try {
    const ihellos = 3;
    const p = c.endpoint.connect({ fingerprint: b.endpoint.peerId }, [serverAddress()]);
    p.catch(() => {});
    await until(() => c.port.redirects().length >= ihellos, 8000, `${ihellos} redirects`);
    const r = c.port.redirects();
    assert.ok(r.every((x) => x.tag.equals(r[0]!.tag) && JSON.stringify(x.destinations) === JSON.stringify(r[0]!.destinations)));
  } finally {
    b.endpoint.close();
    c.endpoint.close();
  }
});

test('an IHello for a peer ID nobody registered gets no answer and is counted; a peer that left is unknown again', async () => {
  const c = await initiator({ initialRetransmitMs: 200, connectTimeoutMs: 1_000 });
  const quick = c.endpoint;
  try {
    const unknownBefore = server.rtmfp.counters.introductionsUnknownPeer;
    await assert.rejects(quick.connect({ fingerprint: randomBytes(32) }, [serverAddress()]), /no answer/);
    assert.ok(server.rtmfp.counters.introductionsUnknownPeer >= unknownBefore + 2, 'each IHello counted');
    assert.equal(c.port.received.length, 0, 'not one datagram came back');

    const b = await connectFlashPeer(serverPort());
    assert.ok(peers.lookup(b.endpoint.peerId));
    b.session.close();
    await until(() => peers.lookup(b.endpoint.peerId) === undefined, 5000, 'B unregistered when its session ends');
    await assert.rejects(quick.connect({ fingerprint: b.endpoint.peerId }, [serverAddress()]), /no answer/);
    assert.equal(c.port.received.length, 0);
    b.endpoint.close();
  } finally {
    quick.close();
  }
});

test('setPeerInfo: garbage entries are ignored, the session goes on, no _error; a transaction ID > 0 gets a _result', async () => {
  const b = await connectFlashPeer(serverPort());
  try {
    const port = b.port.localAddress().port;
    b.command('setPeerInfo', 0,
      'Missing port\u0000\u00ff', 42, { host: '127.0.0.3' }, null, '127.0.0.3', '300.1.1.1:5', '[::1]:99999', 'fe80::1:1935', '0.0.0.0:5',
      'x'.repeat(5000), `  127.0.0.3:${port}\u0000`, `[::ffff:127.0.0.4]:${port}`, `127.0.0.3:${port}`, `[::1]:${port}`);
    await until(() => peers.lookup(b.endpoint.peerId)?.reported.length === 3, 3000, 'the three good addresses');
    assert.deepEqual(peers.lookup(b.endpoint.peerId)!.reported, [
      { host: '127.0.0.3', port },
      { host: '127.0.0.4', port },
      { host: '::1', port },
    ]);
    // More than the cap: the first ones are kept.
    b.command('setPeerInfo', 0, ...Array.from({ length: 40 }, (_, i) => `127.0.0.${i + 1}:${port}`));
    await until(() => peers.lookup(b.endpoint.peerId)?.reported.length === peers.maxReported, 3000, 'capped list');
    assert.equal(peers.lookup(b.endpoint.peerId)!.reported[0]!.host, '127.0.0.1');
    b.command('setPeerInfo', 7, `127.0.0.5:${port}`);
    await until(() => b.commands().some((c) => c.name === '_result' && c.transactionId === 7), 3000, '_result for transaction 7');
    assert.ok(!b.commands().some((c) => c.name === '_error'), 'no _error at any point');
    assert.equal(b.session.state, 'open');
    assert.deepEqual(peers.lookup(b.endpoint.peerId)!.reported, [{ host: '127.0.0.5', port }], 'the latest report replaces the earlier');
  } finally {
    b.endpoint.close();
  }
});

test('setPeerInfo as librtmfp writes it, with no null before the addresses: every address is kept, the first included, and redirects list them', async () => {
  // librtmfp (RTMFPSession::sendPeerInfo) writes "setPeerInfo", 0, then its addresses: no null.
  const b = await connectFlashPeer(serverPort(), { acceptSessions: false });
  const c = await initiator({ initialRetransmitMs: 200, connectTimeoutMs: 5_000 });
  try {
    const port = b.port.localAddress().port;
    b.nc.write(encodeTcMessage(FlashMessageType.CommandAmf0, 0, encodeAmf0('setPeerInfo', 0, `127.0.0.2:${port}`, `127.0.0.3:${port}`)));
    // One report sets the whole list at once: the first look at it is the answer.
    await until(() => (peers.lookup(b.endpoint.peerId)?.reported.length ?? 0) > 0, 3000, 'B\'s reported addresses');
    assert.deepEqual(peers.lookup(b.endpoint.peerId)!.reported, [{ host: '127.0.0.2', port }, { host: '127.0.0.3', port }]);
    const p = c.endpoint.connect({ fingerprint: b.endpoint.peerId }, [serverAddress()]);
    p.catch(() => {});
    const [redirect] = await until(() => c.port.redirects().length > 0 && c.port.redirects(), 5000, 'a redirect');
    assert.deepEqual(redirect!.destinations, [
      { host: '127.0.0.1', port, origin: AddressOrigin.OBSERVED },
      { host: '127.0.0.2', port, origin: AddressOrigin.LOCAL },
      { host: '127.0.0.3', port, origin: AddressOrigin.LOCAL },
    ]);
    assert.ok(!b.commands().some((m) => m.name === '_error'));
  } finally {
    b.endpoint.close();
    c.endpoint.close();
  }
});

test('after connect the server sends Set Keepalive Timers (0x29) with the configured periods, none under 5 s', async () => {
  const b: FlashPeer = await connectFlashPeer(serverPort());
  try {
    const event = await until(() => b.messages.find((m) => m.type === FlashMessageType.UserControl && m.body.readUInt16BE(0) === 0x29), 3000, 'the keepalive event');
    assert.equal(event.body.length, 10);
    assert.equal(event.body.readUInt32BE(2), 7_000, 'server period as configured');
    assert.equal(event.body.readUInt32BE(6), 5_000, 'peer period raised to the 5 s minimum');
  } finally {
    b.endpoint.close();
  }
});

test('a client whose connect is rejected is never registered', async () => {
  const r = await connectFlashPeer(serverPort(), { app: 'missing' });
  try {
    assert.equal(r.connectAnswer.name, '_error');
    await sleep(200);
    assert.equal(peers.lookup(r.endpoint.peerId), undefined);
  } finally {
    r.endpoint.close();
  }
});
