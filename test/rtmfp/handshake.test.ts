// Handshake and session lifecycle, driven deterministically: fake clock, in-memory network.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { connectClient as connect, rtmfpWorld as world } from '../support/rtmfp-world.js';
import { TIME_CRITICAL_PRIORITY, type Session } from '../../src/rtmfp/session.js';

test('handshake opens a session on both sides with matching IDs and peer IDs', async () => {
  const w = world();
  const session = await connect(w);
  assert.equal(w.accepted.length, 1);
  const far = w.accepted[0]!;
  assert.equal(session.remoteId, far.localId);
  assert.equal(far.remoteId, session.localId);
  assert.equal(far.peerId, w.client.peerId.toString('hex'), 'server sees the client peer ID = SHA-256 of its certificate');
  assert.equal(session.peerId, w.server.peerId.toString('hex'));
  assert.equal(w.server.counters.handshakesCompleted, 1);
});

test('handshake survives loss: the initiator retransmits, duplicates do no harm', async () => {
  const w = world();
  w.net.policy = { loss: 0.5, duplicate: 0.5 };
  const p = w.client.connect({ ancillaryData: 'rtmfp://10.0.0.1/live' }, [w.serverPort.localAddress()]);
  let session: Session | undefined;
  void p.then((s) => (session = s));
  for (let i = 0; i < 60 && !session; i++) await w.clock.advance(500);
  assert.ok(session, 'connected despite 50% loss');
  assert.equal(w.accepted.length, 1, 'exactly one session on the server however many IIKeyings arrived');
});

test('connect fails with a clear error when nobody answers', async () => {
  const w = world();
  const p = w.client.connect({ ancillaryData: 'rtmfp://10.0.0.9/live' }, [{ host: '10.0.0.9', port: 1935 }]);
  const failed = p.then(() => 'connected', (e: Error) => e.message);
  await w.clock.advance(31_000);
  assert.match(await failed, /no answer from 10\.0\.0\.9:1935/);
});

test('keepalive keeps an idle session open; silence ends it (see liveness.test.ts)', async () => {
  const w = world();
  const session = await connect(w);
  const far = w.accepted[0]!;
  await w.clock.advance(60_000);
  assert.equal(session.state, 'open', 'pings keep both ends alive');
  assert.equal(far.state, 'open');
  let reason = '';
  far.onClose = (r) => (reason = r);
  w.clientPort.close(); // the client vanishes without a word
  await w.clock.advance(10_000);
  assert.equal(far.state, 'closed');
  assert.match(reason, /^dead: 5 keepalive pings unanswered/);
  assert.equal(w.server.sessionCount, 0);
});

test('orderly close: request, acknowledgement, both ends closed', async () => {
  const w = world();
  const session = await connect(w);
  const far = w.accepted[0]!;
  let farReason = '';
  far.onClose = (r) => (farReason = r);
  session.close();
  await w.clock.advance(100);
  assert.equal(session.state, 'closed');
  assert.equal(farReason, 'closed by far end');
  await w.clock.advance(20_000);
  assert.equal(far.state, 'closed');
  assert.equal(w.server.sessionCount, 0);
  assert.equal(w.client.sessionCount, 0);
});

test('address mobility: the server validates the new address and follows it', async () => {
  const w = world();
  const session = await connect(w);
  const far = w.accepted[0]!;
  const moved: string[] = [];
  far.onAddressChange = (_from, to) => moved.push(`${to.host}:${to.port}`);
  w.net.rebind(w.clientPort, { host: '10.0.0.77', port: 40000 });
  await w.clock.advance(6_000); // the client's keepalive ping now comes from the new address
  assert.deepEqual(moved, ['10.0.0.77:40000']);
  session.close();
  await w.clock.advance(200);
  assert.equal(session.state, 'closed', 'the close ack reached the moved client');
});

test('time-critical flows mark packets TC; the receiver answers TCR and the sender grows at TCP pace', async () => {
  const w = world();
  const session = await connect(w);
  const far = w.accepted[0]!;
  far.onFlow = (f) => (f.onMessage = () => {});
  const bulk = session.openFlow(Buffer.from('data'));
  bulk.write(Buffer.alloc(500));
  await w.clock.advance(50);
  assert.equal(far.receivingTimeCritical, false, 'ordinary data is not time critical');
  const media = session.openFlow(Buffer.from('video'), { priority: TIME_CRITICAL_PRIORITY });
  media.write(Buffer.alloc(500));
  await w.clock.advance(50);
  assert.equal(far.receivingTimeCritical, true);
  await w.clock.advance(1000);
  assert.equal(far.receivingTimeCritical, false, 'the mark fades 800 ms after the last time-critical packet');
});

test('an initiator whose address changes between RHello and IIKeying gets a cookie change and connects', async () => {
  const w = world();
  const p = w.client.connect({ ancillaryData: 'rtmfp://10.0.0.1/live' }, [w.serverPort.localAddress()]);
  await w.clock.advance(1.5); // the IHello has reached the server; its RHello is on the way back
  w.net.rebind(w.clientPort, { host: '10.0.0.66', port: 50001 }, true);
  await w.clock.advance(50);
  const session = await p;
  assert.equal(session.state, 'open');
  assert.equal(w.accepted.length, 1);
  assert.deepEqual(w.accepted[0]!.address, { host: '10.0.0.66', port: 50001 });
  assert.equal(w.server.counters.cookieChanges, 1, 'the server answered the moved IIKeying with a cookie change');
  assert.equal(w.server.counters.badCookies, 0);
});
