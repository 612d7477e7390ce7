// The Flash layer over RTMP, end to end through real sockets: connect and its answers, calls both
// ways (AMF0 and AMF3), unique names, query strings, waiting players and publisher changes,
// late joiners, Enhanced RTMP pass-through, pause and receiveVideo, data frames, aggregates,
// chunk sizes, acknowledgements and pings.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startTestServer, testApps, until, sleep, type TestServer } from '../support/test-server.js';
import { collector, dataName } from '../support/media.js';
import { RtmpClient, RtmpCallError, type RtmpClientStream } from '../../src/client/rtmp-client.js';
import { decodeAmf0 } from '../../src/codec/amf0.js';
import { MessageType, UserControlEvent } from '../../src/rtmp/message-types.js';
import type { FlashClient } from '../../src/flash/flash-client.js';

let server: TestServer;
const connected: FlashClient[] = [];

before(async () => {
  server = await startTestServer({
    flash: testApps(connected, {
      add: (_client, a, b) => Number(a) + Number(b),
      echo: async (_client, value) => value,
      fail: () => {
        throw new Error('no luck');
      },
    }),
    rtmp: { limits: { pingIntervalMs: 300, silenceTimeoutMs: 5000 } },
  });
});
after(() => server.close());

const codes = (s: RtmpClientStream) => s.statuses.map((x) => x.code);

test('connect: Success with the object encoding asked; InvalidApp for an unknown or impossible app name, Rejected by the app, with a description', async () => {
  for (const objectEncoding of [0, 3] as const) {
    const c = await RtmpClient.connect(server.url('live'), { objectEncoding });
    assert.equal(c.connectInfo!.code, 'NetConnection.Connect.Success');
    assert.equal(c.connectInfo!.objectEncoding, objectEncoding);
    assert.equal(c.connection.inChunkSize, 4096, 'the server raised its chunk size');
    c.close();
  }
  await assert.rejects(RtmpClient.connect(server.url('missing')), (e: RtmpCallError) => e.info?.code === 'NetConnection.Connect.InvalidApp' && /no application "missing"/.test(String(e.info?.description)));
  // A name no application folder can have is no application either.
  await assert.rejects(RtmpClient.connect(server.url('bad%20name')), (e: RtmpCallError) => e.info?.code === 'NetConnection.Connect.InvalidApp' && e.info?.description === 'invalid application name "bad name"');
  await assert.rejects(RtmpClient.connect(server.url('guarded'), { connectArgs: ['wrong'] }), (e: RtmpCallError) => e.info?.description === 'bad password');
  const ok = await RtmpClient.connect(server.url('guarded'), { connectArgs: ['secret'] });
  ok.close();
  await server.waitLog((l) => l.msg === 'RTMP connection closed' && /connect rejected: bad password/.test(String(l.reason)));
});

test('calls both ways, AMF0 and AMF3', async () => {
  for (const objectEncoding of [0, 3] as const) {
    connected.length = 0;
    const c = await RtmpClient.connect(server.url('live'), { objectEncoding });
    assert.equal(await c.call('add', 2, 40), 42);
    const value = { list: [1, 'two', { three: 3 }], when: new Date(1_700_000_000_000), nested: { ok: true } };
    assert.deepEqual(await c.call('echo', value), value);
    await assert.rejects(c.call('fail'), (e: RtmpCallError) => e.info?.code === 'NetConnection.Call.Failed' && e.info.description === 'no luck');
    await assert.rejects(c.call('nope'), (e: RtmpCallError) => /Method not found \(nope\)/.test(String(e.info?.description)));
    // Server to client.
    c.methods.whoami = (prefix) => `${String(prefix)}:${objectEncoding}`;
    const serverSide = connected[0]!;
    assert.equal(await serverSide.call('whoami', 'enc'), `enc:${objectEncoding}`);
    await assert.rejects(serverSide.call('missingMethod'), /Method not found/);
    c.close();
  }
});

test('one publisher per name (query strings stripped); players wait, get PublishNotify and UnpublishNotify', async () => {
  const viewer = await RtmpClient.connect(server.url('live'));
  const seen = collector();
  const play = await viewer.play('cam?viewer=1', { onFrame: seen.onFrame });
  assert.deepEqual(codes(play), ['NetStream.Play.Reset', 'NetStream.Play.Start']);

  const pub1 = await RtmpClient.connect(server.url('live'));
  const s1 = await pub1.publish('cam?token=abc');
  await until(() => codes(play).includes('NetStream.Play.PublishNotify'), 3000, 'PublishNotify');
  const pub2 = await RtmpClient.connect(server.url('live'));
  await assert.rejects(pub2.publish('cam'), (e: RtmpCallError) => e.info?.code === 'NetStream.Publish.BadName');

  s1.sendAudio(0, Buffer.of(0xaf, 0, 0x12, 0x10));
  s1.sendAudio(23, Buffer.of(0xaf, 1, 0xaa));
  await until(() => seen.frames.filter((f) => f.kind === 'audio').length === 2, 3000, 'audio');
  s1.close();
  await until(() => codes(play).includes('NetStream.Play.UnpublishNotify'), 3000, 'UnpublishNotify');
  await until(() => play.userControl.includes(UserControlEvent.StreamEof), 3000, 'StreamEOF');

  // The name is free again; the waiting player follows the new publisher.
  const s2 = await pub2.publish('cam');
  await until(() => codes(play).filter((c) => c === 'NetStream.Play.PublishNotify').length === 2, 3000, 'second PublishNotify');
  assert.deepEqual(play.userControl, [UserControlEvent.StreamBegin, UserControlEvent.StreamEof, UserControlEvent.StreamBegin]);
  s2.sendAudio(1000, Buffer.of(0xaf, 1, 0xbb));
  await until(() => seen.frames.some((f) => f.ts === 1000), 3000, 'audio from the second publisher');
  for (const c of [viewer, pub1, pub2]) c.close();
});

// Enhanced RTMP HEVC: sequence start, keyframe, inter frame (FourCC 'hvc1').
const hvc1 = Buffer.from('hvc1');
const exSeq = Buffer.concat([Buffer.of(0x90), hvc1, Buffer.from('01020304hvcC-record', 'latin1')]);
const exKey = (n: number) => Buffer.concat([Buffer.of(0x91), hvc1, Buffer.of(0, 0, 0), Buffer.alloc(64, n)]);
const exInter = (n: number) => Buffer.concat([Buffer.of(0xa3), hvc1, Buffer.alloc(32, n)]);
const aacSeq = Buffer.of(0xaf, 0, 0x12, 0x10);
const aacRaw = (n: number) => Buffer.of(0xaf, 1, n);

test('late joiners: data frame, headers, then the cached GOP from its keyframe, Enhanced RTMP (HEVC) bytes untouched', async () => {
  const pub = await RtmpClient.connect(server.url('live'));
  const s = await pub.publish('hevc');
  s.sendData(0, '@setDataFrame', 'onMetaData', { videocodecid: 'hvc1', width: 1920 });
  s.sendAudio(0, aacSeq);
  s.sendVideo(0, exSeq);
  s.sendVideo(0, exKey(1));
  s.sendAudio(10, aacRaw(1));
  s.sendVideo(40, exInter(2));

  const late = await RtmpClient.connect(server.url('live'));
  const seen = collector();
  await late.play('hevc', { onFrame: seen.onFrame });
  await until(() => seen.frames.filter((f) => f.kind !== 'data').length >= 5, 3000, 'headers and the cached GOP');
  s.sendVideo(80, exInter(3));
  s.sendAudio(90, aacRaw(2));
  s.sendVideo(120, exKey(4));
  s.sendAudio(130, aacRaw(3));
  s.sendVideo(160, exInter(5));
  await until(() => seen.frames.some((f) => f.ts === 160), 3000, 'last frame');
  // Headers at the cached GOP's start, the GOP from its keyframe, then live frames.
  const summary = seen.frames.map((f) => (f.kind === 'data' ? String(dataName(f)) : `${f.kind}@${f.ts}`));
  assert.deepEqual(summary, ['|RtmpSampleAccess', 'onMetaData', 'audio@0', 'video@0', 'video@0', 'audio@10', 'video@40', 'video@80', 'audio@90', 'video@120', 'audio@130', 'video@160']);
  const media = seen.frames.filter((f) => f.kind !== 'data');
  assert.ok(media[0]!.payload.equals(aacSeq));
  assert.ok(media[1]!.payload.equals(exSeq), 'HEVC sequence start kept and passed untouched');
  assert.ok(media[2]!.payload.equals(exKey(1)), 'the cached keyframe, untouched');
  assert.ok(media[7]!.payload.equals(exKey(4)));
  assert.ok(media[9]!.payload.equals(exInter(5)));
  assert.deepEqual(decodeAmf0(seen.frames[1]!.payload), ['onMetaData', { videocodecid: 'hvc1', width: 1920 }]);

  // @clearDataFrame: the next joiner gets no onMetaData.
  s.sendData(200, '@clearDataFrame');
  await sleep(50);
  const later = await RtmpClient.connect(server.url('live'));
  const seen2 = collector();
  await later.play('hevc', { onFrame: seen2.onFrame });
  await sleep(100);
  assert.ok(!seen2.frames.some((f) => f.kind === 'data' && dataName(f) === 'onMetaData'));
  assert.ok(seen2.frames.some((f) => f.kind === 'video' && f.payload.equals(exSeq)));
  for (const c of [pub, late, later]) c.close();
});

test('pause, receiveVideo and receiveAudio', async () => {
  const pub = await RtmpClient.connect(server.url('live'));
  const s = await pub.publish('ctl');
  s.sendAudio(0, aacSeq);
  s.sendVideo(0, exSeq);
  const viewer = await RtmpClient.connect(server.url('live'));
  const seen = collector();
  const play = await viewer.play('ctl', { onFrame: seen.onFrame });
  s.sendVideo(0, exKey(1));
  s.sendAudio(5, aacRaw(1));
  await until(() => seen.frames.some((f) => f.ts === 5), 3000, 'first frames');

  play.sendCommand('pause', true, 0);
  await until(() => codes(play).includes('NetStream.Pause.Notify'), 3000, 'Pause.Notify');
  const before = seen.frames.length;
  s.sendVideo(40, exKey(2));
  s.sendAudio(45, aacRaw(2));
  await sleep(100);
  assert.equal(seen.frames.length, before, 'nothing while paused');
  play.sendCommand('pause', false, 0);
  await until(() => codes(play).includes('NetStream.Unpause.Notify'), 3000, 'Unpause.Notify');
  s.sendVideo(80, exInter(3)); // not a start point
  s.sendVideo(120, exKey(4));
  await until(() => seen.frames.some((f) => f.ts === 120), 3000, 'keyframe after unpause');
  assert.ok(!seen.frames.some((f) => f.ts === 80), 'resumed on a keyframe');

  play.sendCommand('receiveVideo', false);
  await sleep(50);
  s.sendVideo(160, exKey(5));
  s.sendAudio(165, aacRaw(3));
  await until(() => seen.frames.some((f) => f.ts === 165), 3000, 'audio without video');
  assert.ok(!seen.frames.some((f) => f.ts === 160));
  play.sendCommand('receiveAudio', false);
  play.sendCommand('receiveVideo', true);
  await sleep(50);
  s.sendVideo(200, exInter(6));
  s.sendAudio(205, aacRaw(4));
  s.sendVideo(240, exKey(7));
  await until(() => seen.frames.some((f) => f.ts === 240), 3000, 'video back from a keyframe');
  assert.ok(!seen.frames.some((f) => f.ts === 200 || f.ts === 205));
  pub.close();
  viewer.close();
});

test('aggregate messages from a publisher reach players as separate messages; big chunks both ways', async () => {
  const pub = await RtmpClient.connect(server.url('live'), { chunkSize: 60_000 });
  const s = await pub.publish('agg');
  const viewer = await RtmpClient.connect(server.url('live'));
  const seen = collector();
  await viewer.play('agg', { onFrame: seen.onFrame });
  const tag = (type: number, ts: number, body: Buffer) => {
    const h = Buffer.alloc(11);
    h[0] = type;
    h.writeUIntBE(body.length, 1, 3);
    h.writeUIntBE(ts, 4, 3);
    const back = Buffer.alloc(4);
    back.writeUInt32BE(11 + body.length);
    return Buffer.concat([h, body, back]);
  };
  const big = Buffer.concat([Buffer.of(0x17, 1, 0, 0, 0), Buffer.alloc(100_000, 9)]);
  s.send(MessageType.Aggregate, 1000, Buffer.concat([tag(9, 0, big), tag(8, 10, Buffer.of(0xaf, 1, 1)), tag(9, 40, Buffer.of(0x27, 1, 0, 0, 0, 5))]));
  await until(() => seen.frames.filter((f) => f.kind !== 'data').length === 3, 3000, 'three messages');
  const media = seen.frames.filter((f) => f.kind !== 'data');
  assert.deepEqual(media.map((f) => `${f.kind}@${f.ts}:${f.payload.length}`), ['video@1000:100005', 'audio@1010:3', 'video@1040:6']);
  assert.ok(media[0]!.payload.equals(big));
  pub.close();
  viewer.close();
});

test('acknowledgements follow the window we set, and pings are answered', async () => {
  const pub = await RtmpClient.connect(server.url('live'));
  pub.connection.setWindowAckSize(10_000);
  const s = await pub.publish('acks');
  for (let i = 0; i < 10; i++) {
    s.sendVideo(i * 40, Buffer.concat([Buffer.of(0x17, 1, 0, 0, 0), Buffer.alloc(5000)]));
    await sleep(20); // separate reads: one acknowledgement per window crossed
  }
  await until(() => pub.connection.acknowledgements >= 4, 3000, 'acknowledgements');
  assert.ok(pub.connection.peerAcknowledged >= 40_000);
  // Quiet for longer than the ping interval: the server pings, we answer, the connection lives.
  const serverSide = [...server.listener.connections].at(-1)!;
  await until(() => serverSide.pingResponses >= 2, 3000, 'ping responses');
  assert.equal(serverSide.closed, undefined);
  pub.close();
});
