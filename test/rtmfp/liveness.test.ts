// Liveness (RFC 7016 §3.5.4.1), driven deterministically: a far end we hear nothing from is
// pinged after pingAfterSilenceMs, then every pingIntervalMs, and declared dead when
// deadAfterPings pings in a row go unanswered; any packet from it answers. By default: pinged at
// 3 s of silence, dead at 8 s.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { connectClient as connect, rtmfpWorld as world, type RtmfpWorld } from '../support/rtmfp-world.js';
import { DEFAULT_TIMINGS, deadAfterMs, type Session } from '../../src/rtmfp/session.js';

/** Timings of an endpoint that never speaks first: its only packets answer the other side. */
const SILENT = { keepaliveMs: 1e9, pingAfterSilenceMs: 1e9 };

/** The client says one last thing and the server hears it: answers when. */
async function lastWord(w: RtmfpWorld, session: Session, far: Session): Promise<number> {
  far.onFlow = (f) => (f.onMessage = () => {});
  session.openFlow(Buffer.from('x')).write(Buffer.from('last word'));
  await w.clock.advance(5);
  return w.clock.now();
}

test('the default timings declare a silent peer dead after 8 s, inside issue 15\'s 10 s', () => {
  assert.equal(deadAfterMs(DEFAULT_TIMINGS), 8_000);
});

test('a silent far end is pinged after 3 s of silence, then every second, and is dead after 5 unanswered pings', async () => {
  const w = world();
  const session = await connect(w);
  const far = w.accepted[0]!;
  let reason = '';
  far.onClose = (r) => (reason = r);
  const heard = await lastWord(w, session, far);
  const pings = () => w.server.counters.livenessPings;
  const before = pings();
  w.clientPort.close(); // the client vanishes without a word (kill -9)

  await w.clock.advance(heard + 2_900 - w.clock.now());
  assert.equal(pings() - before, 0, 'no ping while the silence is under 3 s');
  await w.clock.advance(200);
  assert.equal(pings() - before, 1, 'the first ping at 3 s');
  await w.clock.advance(heard + 7_900 - w.clock.now());
  assert.equal(pings() - before, 5, 'then one a second');
  assert.equal(far.state, 'open', 'not yet dead at 7.9 s');
  await w.clock.advance(200);
  assert.equal(far.state, 'closed');
  assert.match(reason, /^dead: 5 keepalive pings unanswered, nothing heard for 800\d ms$/);
  assert.equal(w.server.counters.sessionsDead, 1);
  assert.equal(w.server.sessionCount, 0, 'forgotten at once');
});

test('a client that only answers pings is kept: each ping of the server gets its reply (responder pings, initiator answers)', async () => {
  const w = world({ serverTimings: {}, clientTimings: SILENT });
  const session = await connect(w);
  const far = w.accepted[0]!;
  await w.clock.advance(100);
  const pingsBefore = w.server.counters.livenessPings;
  const answersBefore = w.clientPort.sent;
  await w.clock.advance(120_000); // 15 times the time it takes to be declared dead
  assert.equal(far.state, 'open');
  assert.equal(session.state, 'open');
  const pings = w.server.counters.livenessPings - pingsBefore;
  assert.ok(pings >= 39 && pings <= 41, `a ping every 3 s of silence (${pings} in 120 s)`);
  assert.equal(w.clientPort.sent - answersBefore, pings, 'the client sent nothing but one Ping Reply a ping');
  assert.equal(w.server.counters.sessionsDead, 0);
});

test('a quiet server keeps its client: each ping of the client gets its reply (initiator pings, responder answers)', async () => {
  const w = world({ serverTimings: SILENT, clientTimings: {} });
  const session = await connect(w);
  const far = w.accepted[0]!;
  await w.clock.advance(100);
  const pingsBefore = w.client.counters.livenessPings;
  const answersBefore = w.serverPort.sent;
  await w.clock.advance(120_000);
  assert.equal(session.state, 'open');
  assert.equal(far.state, 'open');
  const pings = w.client.counters.livenessPings - pingsBefore;
  assert.ok(pings >= 39 && pings <= 41, `a ping every 3 s of silence (${pings} in 120 s)`);
  assert.equal(w.serverPort.sent - answersBefore, pings, 'the server sent nothing but one Ping Reply a ping');
  assert.equal(w.client.counters.sessionsDead, 0);
});

test('any packet answers: a far end heard again after 4 unanswered pings has the full 8 s again', async () => {
  const w = world();
  const session = await connect(w);
  const far = w.accepted[0]!;
  const client = w.clientPort.localAddress().host;
  const heard = await lastWord(w, session, far);
  w.net.policy = { drop: (from) => from.host === client };
  await w.clock.advance(heard + 6_500 - w.clock.now());
  assert.equal(w.server.counters.livenessPings, 4, 'pinged at 3, 4, 5 and 6 s, none answered');
  w.net.policy = {};
  await w.clock.advance(heard + 7_100 - w.clock.now());
  const answeredAt = heard + 7_000; // the fifth ping's reply, a millisecond or two after
  w.net.policy = { drop: (from) => from.host === client };
  await w.clock.advance(answeredAt + 7_900 - w.clock.now());
  assert.equal(far.state, 'open', 'the count started over with the reply');
  assert.equal(w.server.counters.livenessPings, 5 + 5);
  await w.clock.advance(300);
  assert.equal(far.state, 'closed');
});

test('a close the far end never acknowledges is given up once it has been silent as long as a dead one, not after 90 s', async () => {
  const w = world();
  const session = await connect(w);
  const far = w.accepted[0]!;
  let reason = '';
  far.onClose = (r) => (reason = r);
  await lastWord(w, session, far);
  w.clientPort.close();
  far.close('the application said so');
  const closedAt = w.clock.now();
  await w.clock.advance(7_900);
  assert.equal(far.state, 'nearclose');
  await w.clock.advance(200);
  assert.equal(far.state, 'closed', `closed ${w.clock.now() - closedAt} ms after the close started`);
  assert.equal(reason, 'the application said so');
  assert.equal(w.server.sessionCount, 0);
});

test('a close the far end acknowledges ends at once, whatever the liveness timings', async () => {
  const w = world();
  const session = await connect(w);
  const far = w.accepted[0]!;
  far.close('done');
  await w.clock.advance(10);
  assert.equal(far.state, 'closed');
  assert.equal(session.state, 'farclose');
});
