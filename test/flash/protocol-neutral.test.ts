// The Flash model does not care which transport carries a stream: a second, in-memory transport
// (standing in for RTMFP, implementing the same FlashTransport and Subscriber interfaces) shares
// one FlashServer with the RTMP service; streams cross between them both ways.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startTestServer, until, type TestServer } from '../support/test-server.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import type { FlashTransport } from '../../src/flash/flash-transport.js';
import type { Subscriber } from '../../src/flash/subscriber.js';
import type { MediaFrame } from '../../src/flash/media-frame.js';
import type { StatusInfo } from '../../src/flash/status.js';
import type { FlashClient } from '../../src/flash/flash-client.js';
import { silentLogger } from '../../src/util/log.js';
import { decodeAmf0 } from '../../src/codec/amf0.js';

class MemorySubscriber implements Subscriber {
  readonly events: string[] = [];
  readonly frames: MediaFrame[] = [];
  sendStatus(info: StatusInfo) {
    this.events.push(info.code);
  }
  streamBegin() {
    this.events.push('begin');
  }
  streamEnd() {
    this.events.push('end');
  }
  sendFrame(frame: MediaFrame) {
    this.frames.push(frame);
  }
}

class MemoryTransport implements FlashTransport {
  readonly protocol = 'memory';
  readonly remoteAddress = 'memory:1';
  readonly log = silentLogger;
  readonly commands: Array<{ streamId: number; name: string; args: unknown[] }> = [];
  readonly subscribers = new Map<number, MemorySubscriber>();
  client!: FlashClient;
  closed: string | undefined;
  sendCommand(streamId: number, _encoding: 0 | 3, name: string, _tx: number, _obj: unknown, ...args: unknown[]) {
    this.commands.push({ streamId, name, args });
  }
  openSubscriber(streamId: number) {
    const s = new MemorySubscriber();
    this.subscribers.set(streamId, s);
    return s;
  }
  close(reason: string) {
    this.closed = reason;
    this.client.handleClose(reason);
  }
  /** Connects and creates a stream, as a client of this transport would. */
  start(server: TestServer): number {
    this.client = server.flash.createClient(this);
    this.client.handleCommand(0, { name: 'connect', transactionId: 1, commandObject: { app: 'live', tcUrl: 'memory://x/live' }, args: [] });
    assert.equal((this.commands.at(-1)!.args[0] as StatusInfo).code, 'NetConnection.Connect.Success');
    this.client.handleCommand(0, { name: 'createStream', transactionId: 2, commandObject: null, args: [] });
    return this.commands.at(-1)!.args[0] as number;
  }
}

let server: TestServer;
before(async () => (server = await startTestServer()));
after(() => server.close());

const avcSeq = Buffer.of(0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f);
const avcKey = Buffer.of(0x17, 1, 0, 0, 0, 0xaa);
const avcInter = Buffer.of(0x27, 1, 0, 0, 0, 0xbb);

test('published over the other transport, played over RTMP', async () => {
  const mem = new MemoryTransport();
  const id = mem.start(server);
  mem.client.handleCommand(id, { name: 'publish', transactionId: 0, commandObject: null, args: ['cross1', 'live'] });
  assert.equal((mem.commands.at(-1)!.args[0] as StatusInfo).code, 'NetStream.Publish.Start');
  mem.client.handleData(id, 0, ['@setDataFrame', 'onMetaData', { width: 320 }]);
  mem.client.handleVideo(id, 0, avcSeq);
  mem.client.handleVideo(id, 0, avcKey);

  const viewer = await RtmpClient.connect(server.url('live'));
  const got: Array<[string, number, Buffer]> = [];
  const play = await viewer.play('cross1', { onFrame: (k, ts, p) => got.push([k, ts, Buffer.from(p)]) });
  mem.client.handleVideo(id, 40, avcKey);
  mem.client.handleVideo(id, 80, avcInter);
  await until(() => got.some(([, ts]) => ts === 80), 3000, 'frames over RTMP');
  const media = got.filter(([k]) => k === 'video');
  // The keyframe at 0 came before the player: it has it from the GOP cache.
  assert.deepEqual(media.map(([, ts, p]) => [ts, p.toString('hex')]), [[0, avcSeq.toString('hex')], [0, avcKey.toString('hex')], [40, avcKey.toString('hex')], [80, avcInter.toString('hex')]]);
  assert.deepEqual(decodeAmf0(got.find(([k, , p]) => k === 'data' && decodeAmf0(p)[0] === 'onMetaData')![2]), ['onMetaData', { width: 320 }]);
  // The other transport's client leaving unpublishes for RTMP players too.
  mem.close('gone');
  await until(() => play.statuses.some((s) => s.code === 'NetStream.Play.UnpublishNotify'), 3000, 'UnpublishNotify over RTMP');
  viewer.close();
});

test('published over RTMP, played over the other transport', async () => {
  const pub = await RtmpClient.connect(server.url('live'));
  const s = await pub.publish('cross2');
  const mem = new MemoryTransport();
  const id = mem.start(server);
  mem.client.handleCommand(id, { name: 'play', transactionId: 0, commandObject: null, args: ['cross2'] });
  const sub = mem.subscribers.get(id)!;
  s.sendVideo(0, avcSeq);
  s.sendVideo(0, avcInter); // dropped: not a start point
  s.sendVideo(40, avcKey);
  await until(() => sub.frames.filter((f) => f.kind === 'video').length === 2, 3000, 'frames over memory');
  assert.deepEqual(sub.events, ['begin', 'NetStream.Play.Reset', 'NetStream.Play.Start']);
  const video = sub.frames.filter((f) => f.kind === 'video');
  assert.ok(video[0]!.sequenceHeader && video[0]!.payload.equals(avcSeq));
  assert.ok(video[1]!.keyframe && video[1]!.timestamp === 40);
  pub.close();
  await until(() => sub.events.includes('NetStream.Play.UnpublishNotify'), 3000, 'UnpublishNotify over memory');
  assert.equal(sub.events.at(-1), 'end');
  mem.close('done');
});

test('createStream is answered even with transaction 0 (librtmfp sends it so and waits); other calls with 0 are not', () => {
  const mem = new MemoryTransport();
  mem.start(server);
  const before = mem.commands.length;
  mem.client.handleCommand(0, { name: 'createStream', transactionId: 0, commandObject: null, args: [] });
  const answer = mem.commands[before];
  assert.equal(answer?.name, '_result');
  assert.equal(typeof answer?.args[0], 'number');
  mem.client.handleCommand(0, { name: 'releaseStream', transactionId: 0, commandObject: null, args: ['x'] });
  assert.equal(mem.commands.length, before + 1, 'no answer to a transaction-0 releaseStream');
  mem.close('done');
});
