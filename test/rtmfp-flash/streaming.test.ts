// Flash communication over RTMFP, end to end through real UDP sockets on 127.0.0.1: connect and
// its answers, calls both ways, an FLV published to three players (two from the start, one late),
// unpublish, bad names, and hostile or misplaced input that must cost only its sender a status.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startTestServer, testApps, until, type TestServer } from '../support/test-server.js';
import { collector, dataName, fixtureTags, publishInRealTime } from '../support/media.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { NetCallError, type NetStream, type StatusInfo } from '../../src/client/net-connection.js';
import { encodeAmf0 } from '../../src/codec/amf0.js';
import { encodeTcMetadata } from '../../src/codec/tc-metadata.js';
import { encodeTcMessage } from '../../src/codec/tc-message.js';
import { isVideoKeyframe, isVideoSequenceHeader } from '../../src/codec/video-tag.js';
import { isAudioSequenceHeader } from '../../src/codec/audio-tag.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import type { FlashClient } from '../../src/flash/flash-client.js';

let server: TestServer;
const connected: FlashClient[] = [];

before(async () => {
  server = await startTestServer({
    flash: testApps(connected, { add: (_client, a, b) => Number(a) + Number(b) }),
  });
});
after(() => server.close());

const codes = (s: NetStream) => s.statuses.map((x) => x.code);

test('connect over RTMFP: Success with the object encoding asked; InvalidApp for an unknown app, Rejected by the app, with a description', async () => {
  for (const objectEncoding of [0, 3] as const) {
    const c = await RtmfpClient.connect(server.rtmfpUrl('live'), { objectEncoding });
    assert.equal(c.connectInfo!.code, 'NetConnection.Connect.Success');
    assert.equal(c.connectInfo!.objectEncoding, objectEncoding);
    assert.equal(await c.call('add', 2, 3), 5, 'a call answered in this encoding');
    c.close();
  }
  await assert.rejects(RtmfpClient.connect(server.rtmfpUrl('missing')), (e: NetCallError) => e.info?.code === 'NetConnection.Connect.InvalidApp' && /no application "missing"/.test(String(e.info?.description)));
  await assert.rejects(RtmfpClient.connect(server.rtmfpUrl('guarded'), { connectArgs: ['wrong'] }), (e: NetCallError) => e.info?.description === 'bad password');
  const ok = await RtmfpClient.connect(server.rtmfpUrl('guarded'), { connectArgs: ['secret'] });
  ok.close();
});

test('calls both ways: an unknown method gets _error; the server calls a method of the client and gets its result', async () => {
  const c = await RtmfpClient.connect(server.rtmfpUrl('live'));
  await assert.rejects(c.call('nosuch'), (e: NetCallError) => e.info?.code === 'NetConnection.Call.Failed' && /Method not found/.test(e.message));
  c.methods.double = (x) => Number(x) * 2;
  const flashClient = await until(() => connected.find((fc) => fc.protocol === 'rtmfp' && fc.state === 'connected' && fc.remoteAddress.endsWith(`:${c.endpoint.localAddress.port}`)), 3000, 'the server-side client');
  assert.equal(await flashClient.call('double', 21), 42);
  await assert.rejects(flashClient.call('missing'), /Method not found/);
  c.close();
});

test('an FLV published over RTMFP: two players from the start get every tag as sent, a late joiner starts on metadata, headers and the cached keyframe; unpublish is announced', async () => {
  const tags = fixtureTags();
  const early = [collector(), collector()];
  const late = collector();
  const players: NetStream[] = [];
  const clients: RtmfpClient[] = [];
  for (const c of early) {
    const client = await RtmfpClient.connect(server.rtmfpUrl('live'));
    clients.push(client);
    players.push(await client.play('fixture', { onFrame: c.onFrame }));
  }
  const pubClient = await RtmfpClient.connect(server.rtmfpUrl('live'));
  const pub = await pubClient.publish('fixture');
  let lateStream: Promise<NetStream> | undefined;
  await publishInRealTime(pub, tags, async (tag) => {
    if (lateStream === undefined && tag.timestamp >= 500) {
      const lateClient = await RtmfpClient.connect(server.rtmfpUrl('live'));
      clients.push(lateClient);
      lateStream = lateClient.play('fixture', { onFrame: late.onFrame });
    }
  });
  const media = tags.filter((t) => t.type === 8 || t.type === 9);
  await until(() => early.every((c) => c.frames.filter((f) => f.kind !== 'data').length >= media.length), 5000, 'every tag at both early players');
  players.push(await lateStream!);
  pub.close();
  for (const p of players) await p.waitStatus((code) => code === 'NetStream.Play.UnpublishNotify', 3000);

  for (const c of early) {
    // Audio and video travel on flows of their own (so loss on one never stalls the other):
    // each arrives complete and in order; how the two interleave is up to the network.
    for (const [kind, type] of [['audio', 8], ['video', 9]] as const) {
      assert.deepEqual(
        c.frames.filter((f) => f.kind === kind).map((f) => `${f.ts}:${f.payload.toString('hex')}`),
        media.filter((t) => t.type === type).map((t) => `${t.timestamp}:${t.data.toString('hex')}`),
        `every ${kind} tag, in order, with its timestamp and payload`,
      );
    }
    assert.equal(dataName(c.frames.find((f) => f.kind === 'data' && dataName(f) === 'onMetaData')!), 'onMetaData');
  }
  const lateMedia = late.frames.filter((f) => f.kind !== 'data' || dataName(f) === 'onMetaData');
  // Data and each media type have flows of their own, so they may interleave in any order, but
  // each flow starts with what its decoder needs.
  assert.ok(lateMedia.some((f) => f.kind === 'data' && dataName(f) === 'onMetaData'), 'the metadata');
  assert.ok(isAudioSequenceHeader(lateMedia.find((f) => f.kind === 'audio')!.payload), 'the AAC sequence header first');
  const lateVideo = lateMedia.filter((f) => f.kind === 'video');
  assert.ok(isVideoSequenceHeader(lateVideo[0]!.payload), 'the AVC sequence header first');
  const firstVideo = lateVideo[1]!;
  assert.ok(isVideoKeyframe(firstVideo.payload), 'video starts on a keyframe');
  // The fixture has keyframes at 0 and 1000 ms; the player came at 500 and starts on the GOP
  // cache's keyframe at 0, so it has every video frame, as the early players do.
  assert.equal(firstVideo.ts, 0, 'video starts on the cached keyframe');
  assert.deepEqual(
    late.frames.filter((f) => f.kind === 'video').map((f) => `${f.ts}:${f.payload.toString('hex')}`),
    media.filter((t) => t.type === 9).map((t) => `${t.timestamp}:${t.data.toString('hex')}`),
    'every video tag at the late joiner',
  );
  for (const p of players) assert.deepEqual(codes(p).slice(0, 2), ['NetStream.Play.Reset', 'NetStream.Play.Start']);
  assert.ok(players.every((p) => p.userControl.includes(1)), 'StreamEOF after the publisher left');
  for (const c of [...clients, pubClient]) c.close();
});

test('names: a second publisher gets BadName, an empty name BadName, and the first keeps publishing', async () => {
  const a = await RtmfpClient.connect(server.rtmfpUrl('live'));
  const b = await RtmfpClient.connect(server.rtmfpUrl('live'));
  const first = await a.publish('taken');
  await assert.rejects(b.publish('taken'), (e: NetCallError) => e.info?.code === 'NetStream.Publish.BadName');
  await assert.rejects(b.publish(''), (e: NetCallError) => e.info?.code === 'NetStream.Publish.BadName');
  const viewer = collector();
  const v = await RtmfpClient.connect(server.rtmfpUrl('live'));
  await v.play('taken', { onFrame: viewer.onFrame });
  first.sendData(0, 'onCuePoint', { name: 'still here' });
  await until(() => viewer.frames.some((f) => f.kind === 'data' && dataName(f) === 'onCuePoint'), 3000, 'data from the first publisher');
  for (const c of [a, b, v]) c.close();
});

test('bad input costs only its sender a status: malformed AMF, commands on the wrong flow or stream, media on a stream not published', async () => {
  const viewer = collector();
  const owner = await RtmfpClient.connect(server.rtmfpUrl('live'));
  const ownStream = await owner.publish('owned');
  const v = await RtmfpClient.connect(server.rtmfpUrl('live'));
  await v.play('owned', { onFrame: viewer.onFrame });

  const bad = await RtmfpClient.connect(server.rtmfpUrl('live'));
  const ncStatus: StatusInfo[] = [];
  bad.onStatus = (info) => ncStatus.push(info);
  // Malformed AMF on the NetConnection flow, through a flow of our own with the right metadata.
  const rawNc = bad.session.openFlow(encodeTcMetadata(0));
  rawNc.write(encodeTcMessage(0x14, 0, Buffer.from([0x02, 0x00, 0x20, 0x61])));
  await until(() => ncStatus.find((s) => s.code === 'NetConnection.Call.BadVersion'), 3000, 'BadVersion');
  // Unknown command; connect again on a NetStream flow; publish on a stream never created.
  await assert.rejects(bad.call('launchMissiles'), /Method not found/);
  const stream = await bad.createNetStream();
  bad.sendCommand(stream.id, 'connect', 7, { app: 'live' });
  bad.sendCommand(99, 'publish', 0, null, 'owned');
  await server.waitLog((l) => l.msg === 'connect on a NetStream refused', 3000);
  await server.waitLog((l) => l.msg === 'publish on a stream that was not created', 3000);
  // Media on our stream, which plays the other client's stream rather than publishing.
  stream.sendCommand('play', 'owned');
  await stream.waitStatus((code) => code === 'NetStream.Play.Start');
  stream.sendVideo(40, Buffer.from([0x17, 1, 0, 0, 0, 0xde, 0xad]));
  await stream.waitStatus((code) => code === 'NetStream.Publish.Denied');

  // The owner's stream is undisturbed, and the bad client's session still works.
  ownStream.sendVideo(0, Buffer.from([0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f]));
  ownStream.sendVideo(40, Buffer.from([0x17, 1, 0, 0, 0, 0xaa]));
  await until(() => viewer.frames.some((f) => f.kind === 'video' && f.ts === 40), 3000, 'the owner\'s keyframe');
  assert.ok(!viewer.frames.some((f) => f.payload.includes(Buffer.from([0xde, 0xad]))), 'nothing of the bad client reached the viewer');
  assert.equal(await bad.call('add', 1, 1), 2, 'the bad client is still connected');
  for (const c of [owner, v, bad]) c.close();
});

test('a NetStream flow before any NetConnection flow, or a flow without Flash metadata, is rejected', async () => {
  const endpoint = new RtmfpEndpoint({ port: await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 }), crypto: new FlashCrypto({ server: false }) });
  try {
    const session = await endpoint.connect({ ancillaryData: server.rtmfpUrl('live') }, [{ host: '127.0.0.1', port: server.rtmfp.localAddress.port }]);
    const rejected: string[] = [];
    const early = session.openFlow(encodeTcMetadata(3));
    early.onRejected = () => rejected.push('stream first');
    early.write(encodeTcMessage(0x14, 0, encodeAmf0('play', 0, null, 'x')));
    const foreign = session.openFlow(Buffer.from('not flash'));
    foreign.onRejected = () => rejected.push('foreign');
    foreign.write(Buffer.from('hello'));
    await until(() => rejected.length === 2, 3000, 'both flows rejected');
    assert.deepEqual(rejected.sort(), ['foreign', 'stream first']);
    assert.equal(session.state, 'open', 'the session itself stays up');
  } finally {
    endpoint.close();
  }
});
