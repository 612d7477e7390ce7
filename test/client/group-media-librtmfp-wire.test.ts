// Group media against librtmfp's wire: a Covey player in a NetGroup with a publisher that writes
// its media flows byte for byte as librtmfp 787eb39 does (GroupMedia.cpp, PeerMedia.cpp,
// RTMFPWriter.cpp writeGroupMedia/writeGroupFragment/writeGroupEndMedia), over real UDP through a
// Covey server that only introduces them. The group handshake and report flow are Covey's own
// (the same wire as librtmfp's, met with librtmfp's TestClient in the interop record).
//
// What librtmfp does at the end of a publication, seen in a decrypted --dump of TestClient
// --netGroup --write against `covey play --group` (issue 19): its last media fragment is 4675;
// it then makes two fragments of commands (UnpublishNotify and closeStream, AMF3 invocations,
// 4676 and 4677) that stay in its media writer unflushed, sends the end `21 a4 46` (4678: one
// past the last fragment), and closes its session in the same millisecond. Covey's player used
// to wait forever at fragment 4676.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startTestServer, until, type TestServer } from '../support/test-server.js';
import { fixtureTags } from '../support/media.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { NetGroup } from '../../src/client/net-group.js';
import { playFromGroup, type GroupFrameKind, type GroupPlayer } from '../../src/client/group-media.js';
import type { PeerConnection } from '../../src/client/peer-connection.js';
import type { SendFlow } from '../../src/rtmfp/send-flow.js';
import type { IncomingFlow } from '../../src/rtmfp/session.js';
import { encodeVlu, ByteReader } from '../../src/codec/vlu.js';
import { encodeAmf0 } from '../../src/codec/amf0.js';
import { FlvTagType, type FlvTag } from '../../src/codec/flv.js';
import { isVideoKeyframe, isVideoSequenceHeader } from '../../src/codec/video-tag.js';

const GROUPSPEC = 'G:027f0201010103010c050e74657374011b00';
const KIND = { [FlvTagType.Audio]: 'audio', [FlvTagType.Video]: 'video', [FlvTagType.ScriptData]: 'data' } as const;
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** librtmfp's NETGROUP_MAX_PACKET_SIZE. */
const MAX_PIECE = 959;
const AMF3_INVOCATION = 0x11;

let server: TestServer;
before(async () => {
  server = await startTestServer({ flash: { groups: { joinsPerSecondPerClient: 100 } } });
});
after(() => server.close());

const clients: RtmfpClient[] = [];
async function member(): Promise<{ client: RtmfpClient; group: NetGroup }> {
  const client = await RtmfpClient.connect(server.rtmfpUrl('live'));
  clients.push(client);
  return { client, group: await NetGroup.join(client, GROUPSPEC) };
}

/**
 * librtmfp's group publisher toward one neighbour, written by hand: the announce on a flow
 * 47 52 11 associated with the neighbour's report flow, fragments maps every 100 ms, fragments on
 * a flow 47 52 12 associated with the neighbour's 47 52 11 flow, pushed when the neighbour's push
 * mask has their slice and sent when pulled.
 */
class LibrtmfpGroupPublisher {
  private readonly fragments = new Map<number, Buffer>();
  private counter = 0;
  private pushMask = 0;
  private control: SendFlow;
  private media: SendFlow | undefined;
  private theirs: IncomingFlow | undefined;
  private mapTimer: NodeJS.Timeout;
  /** Fragments made but never flushed: librtmfp's closePublisher writes them without a flush. */
  private readonly unflushed = new Set<number>();
  readonly pulls: number[] = [];

  constructor(
    private readonly peer: PeerConnection,
    playerReportFlowId: number,
    name: string,
    windowMs: number,
    fetchPeriodMs: number,
    updatePeriod: Buffer,
  ) {
    // RTMFPWriter::writeGroupMedia: name, stream key, 01 02, window, 04 04 92 A7 60, update period 100, fetch period.
    const window = encodeVlu(windowMs);
    const fetch = encodeVlu(fetchPeriodMs);
    const announce = Buffer.concat([
      hex('21'),
      encodeVlu(name.length + 1),
      hex('00'),
      Buffer.from(name),
      hex('21 01'),
      Buffer.alloc(32, 0x5a),
      hex('01 02'),
      Buffer.from([1 + window.length, 0x03]),
      window,
      hex('04 04 92 a7 60'),
      Buffer.from([1 + updatePeriod.length, 0x05]),
      updatePeriod,
      Buffer.from([1 + fetch.length, 0x07]),
      fetch,
    ]);
    this.control = peer.openFlow(hex('47 52 11'), { returnFlowId: playerReportFlowId });
    this.control.write(announce);
    this.mapTimer = setInterval(() => this.sendMap(), 100);
    this.mapTimer.unref();
  }

  /** The player's 47 52 11 flow to us: its announce, maps, push masks (23) and pulls (2B). */
  take(flow: IncomingFlow): void {
    this.theirs = flow;
    flow.onMessage = (m) => {
      if (m[0] === 0x23) this.pushMask = m[1]!;
      else if (m[0] === 0x2b) {
        const id = new ByteReader(m, 1).vlu();
        this.pulls.push(id);
        const f = this.fragments.get(id);
        if (f && !this.unflushed.has(id)) this.send(f);
      }
    };
  }

  /** GroupMedia::onMedia: one message cut into pieces of at most 959 bytes, each pushed if its slice is asked for. */
  publish(type: number, time: number, payload: Buffer, flush = true): void {
    let splitCounter = Math.floor(payload.length / MAX_PIECE) - (payload.length % MAX_PIECE === 0 ? 1 : 0);
    let offset = 0;
    let marker = 0x20;
    do {
      if (payload.length > MAX_PIECE) marker = splitCounter === 0 ? 0x00 : offset === 0 ? 0x30 : 0x10;
      const size = splitCounter > 0 ? MAX_PIECE : payload.length - offset;
      const id = ++this.counter;
      const head = [Buffer.from([marker]), encodeVlu(id)];
      if (splitCounter > 0) head.push(Buffer.from([splitCounter]));
      if (marker !== 0x10 && marker !== 0x00) {
        const tt = Buffer.alloc(5);
        tt[0] = type;
        tt.writeUInt32BE(time, 1);
        head.push(tt);
      }
      const wire = Buffer.concat([...head, payload.subarray(offset, offset + size)]);
      offset += size;
      this.fragments.set(id, wire);
      if (!flush) this.unflushed.add(id);
      else if (this.pushMask & (1 << id % 8)) this.send(wire);
    } while (splitCounter-- > 0);
  }

  /**
   * GroupMedia::closePublisher: UnpublishNotify and closeStream as AMF3 invocations, then the
   * end, numbered one past the last fragment. `flush` false is TestClient exiting: those two
   * fragments never leave, and no map shows them.
   */
  closePublisher(flush: boolean): number {
    const time = 1960;
    this.publish(AMF3_INVOCATION, time, encodeAmf0('onStatus', 0, null, { level: 'status', code: 'NetStream.Play.UnpublishNotify', description: 'cam is now unpublished' }), flush);
    this.publish(AMF3_INVOCATION, time, encodeAmf0('closeStream', 0, null), flush);
    const end = ++this.counter;
    if (!flush) clearInterval(this.mapTimer);
    this.control.write(Buffer.concat([hex('21'), encodeVlu(end)]));
    return end;
  }

  get endSent(): boolean {
    return this.control.bufferedBytes === 0;
  }

  /** The publisher's map (GroupMedia::updateFragmentMap, publisher branch): the last ID, then one bit for each older fragment held. */
  private sendMap(): void {
    const held = [...this.fragments.keys()].filter((id) => !this.unflushed.has(id));
    if (held.length === 0 || !this.peer.isOpen) return;
    const last = Math.max(...held);
    let older = last - 1;
    const bits: number[] = [];
    while (older > 8) {
      bits.push(0xff);
      older -= 8;
    }
    let lastByte = 1;
    while (--older > 0) lastByte = (lastByte << 1) + 1;
    if (last > 1) bits.push(lastByte);
    this.control.write(Buffer.concat([hex('22'), encodeVlu(last), Buffer.from(bits)]));
  }

  private send(wire: Buffer): void {
    if (this.theirs === undefined || !this.peer.isOpen) return;
    this.media ??= this.peer.openFlow(hex('47 52 12'), { returnFlowId: this.theirs.flowId });
    this.media.write(wire);
  }

  stop(): void {
    clearInterval(this.mapTimer);
  }
}

interface Setup {
  player: GroupPlayer;
  frames: Array<{ kind: GroupFrameKind; ts: number; payload: Buffer }>;
  publisher: LibrtmfpGroupPublisher;
  publisherPeer: PeerConnection;
  log: string[];
}

/** A tag to publish; `unflushed`: made but never sent, as TestClient's last two (no neighbour gets it). */
type PublishedTag = FlvTag & { unflushed?: boolean };

/** A Covey player and the librtmfp-wire publisher, neighbours, the fixture (or `tags`) published in real time. */
async function publishFixture(windowMs = 8000, fetchPeriodMs = 2500, updatePeriod = encodeVlu(100), tags: PublishedTag[] = fixtureTags()): Promise<Setup> {
  const p = await member();
  const l = await member();
  await until(() => l.group.neighborLink(p.client.peerId) && p.group.neighbors.includes(l.client.peerId), 30_000, 'the two members become neighbours');
  const frames: Setup['frames'] = [];
  const log: string[] = [];
  const player = playFromGroup(p.group, 'cam', { onFrame: (kind, ts, payload) => frames.push({ kind, ts, payload: Buffer.from(payload) }) });
  const link = l.group.neighborLink(p.client.peerId)!;
  const publisher = new LibrtmfpGroupPublisher(link.peer, link.in.flowId, 'cam', windowMs, fetchPeriodMs, updatePeriod);
  l.client.peers.addFlowHandler((peer, flow) => {
    if (peer !== link.peer || !flow.metadata.equals(hex('47 52 11'))) return false;
    publisher.take(flow);
    return true;
  });
  const t0 = Date.now();
  for (const t of tags) {
    const wait = t.timestamp - (Date.now() - t0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    publisher.publish(t.type, t.timestamp, t.data, !t.unflushed);
  }
  player.onEnd = (reason) => log.push(`ended: ${reason}, ${frames.length} frames, stats ${JSON.stringify(player.stats)}, pulls seen by the publisher ${JSON.stringify(publisher.pulls.slice(-5))}`);
  return { player, frames, publisher, publisherPeer: link.peer, log };
}

function assertEveryFrame(s: Setup): void {
  const tags = fixtureTags();
  assert.equal(s.frames.length, tags.length, `${s.frames.length} frames of ${tags.length}`);
  for (const [i, t] of tags.entries()) {
    const f = s.frames[i]!;
    if (f.kind !== KIND[t.type as keyof typeof KIND] || f.ts !== t.timestamp || !f.payload.equals(t.data)) assert.fail(`frame ${i} differs (${f.kind} ${f.ts} vs ${t.type} ${t.timestamp})`);
  }
}

test('librtmfp ends as TestClient does (its two command fragments unflushed, the end one past them, the session closed at once): the player delivers every frame and ends', async () => {
  try {
    const s = await publishFixture();
    await until(() => s.frames.length >= fixtureTags().length, 30_000, 'every fixture frame at the player before the publisher ends');
    const end = s.publisher.closePublisher(false);
    await until(() => s.publisher.endSent, 10_000, 'the end message acknowledged');
    s.publisher.stop();
    // TestClient closes its P2P session at once (a lone close chunk; we send ours once, without waiting).
    s.publisherPeer.session.abort('TestClient exits');
    await until(() => s.player.endedReason !== undefined, 20_000, `the player ends (end ${end}; it held the fragments before the two commands)`);
    assert.equal(s.player.endedReason, 'the publisher ended the stream', s.log.join('; '));
    assertEveryFrame(s);
    assert.equal(s.player.stats.fragmentsSkipped, 2, 'the two command fragments that never came');
  } finally {
    for (const c of clients.splice(0)) c.close();
  }
});

test('librtmfp ends and stays (the command fragments sent, the end one past them): the player skips the commands and ends at once', async () => {
  try {
    const s = await publishFixture();
    await until(() => s.frames.length >= fixtureTags().length, 30_000, 'every fixture frame at the player');
    const end = s.publisher.closePublisher(true);
    await until(() => s.player.endedReason !== undefined, 20_000, `the player ends (end ${end}, the publisher's session still open)`);
    assert.equal(s.player.endedReason, 'the publisher ended the stream', s.log.join('; '));
    assertEveryFrame(s);
    assert.equal(s.player.stats.fragmentsSkipped, 0);
    assert.ok(s.publisherPeer.isOpen, 'the session stayed open: the end alone ended the stream');
    s.publisher.stop();
  } finally {
    for (const c of clients.splice(0)) c.close();
  }
});

test('an end whose last fragments no neighbour ever sends, the neighbour still there: the player gives them up after the window and ends', async () => {
  try {
    // librtmfp's --windowDuration=4000 --fetchPeriod=1000: `03 03 9f 20` and `03 07 87 68` in the announce.
    const s = await publishFixture(4000, 1000);
    await until(() => s.frames.length >= fixtureTags().length, 30_000, 'every fixture frame at the player').catch((err: Error) => {
      throw new Error(`${err.message}: ${s.frames.length} frames of ${fixtureTags().length}, stats ${JSON.stringify(s.player.stats)}, pulls ${JSON.stringify(s.publisher.pulls)}`);
    });
    s.publisher.closePublisher(false);
    await until(() => s.player.endedReason !== undefined, 30_000, 'the player ends after the window');
    assert.equal(s.player.endedReason, 'the publisher ended the stream', s.log.join('; '));
    assertEveryFrame(s);
    assert.ok(s.publisherPeer.isOpen);
    s.publisher.stop();
  } finally {
    for (const c of clients.splice(0)) c.close();
  }
});

test('TestClient --updatePeriod=200 announces 4294967240 ms (its option is a char): the player bounds it to 2 s, plays every frame and ends', async () => {
  const overflows: string[] = [];
  const onWarning = (w: Error) => {
    if (w.name === 'TimeoutOverflowWarning') overflows.push(w.message);
  };
  process.on('warning', onWarning);
  try {
    const s = await publishFixture(8000, 2500, hex('8f ff ff ff 48'));
    await until(() => s.frames.length >= fixtureTags().length, 30_000, 'every fixture frame at the player');
    assert.equal(s.player.stream?.info.availabilityUpdateMs, 2000, 'the update period bounded');
    s.publisher.closePublisher(true);
    await until(() => s.player.endedReason !== undefined, 20_000, 'the player ends');
    assertEveryFrame(s);
    s.publisher.stop();
    // Node reports an overlong timer on the next tick.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(overflows, [], 'no timer armed with the announced period');
  } finally {
    process.off('warning', onWarning);
    for (const c of clients.splice(0)) c.close();
  }
});

test("the stream's first fragments (metadata, codec headers) never reach a player (a TestClient publisher, interop): it starts at the next keyframe, after the headers repeated there, not on one it cannot decode", async () => {
  try {
    const fixture = fixtureTags();
    const second = fixture.findIndex((t, i) => i > 3 && t.type === FlvTagType.Video && isVideoKeyframe(t.data));
    const headers = fixture.slice(1, 3);
    assert.ok(isVideoSequenceHeader(headers[0]!.data) && second > 0, 'the fixture: metadata, the AVC and AAC headers, a keyframe, and a second one');
    // The first three fragments are never sent (nor answered when pulled); as TestClient does, the
    // publisher repeats the codec headers before the second keyframe. A window of 2 s: the player
    // gives up on the first fragments after it.
    const tags: PublishedTag[] = [...fixture.slice(0, 3).map((t) => ({ ...t, unflushed: true })), ...fixture.slice(3, second), ...headers.map((t) => ({ ...t, timestamp: fixture[second]!.timestamp })), ...fixture.slice(second)];
    const s = await publishFixture(2000, 1000, encodeVlu(100), tags);
    await until(() => s.frames.length >= tags.length - second - 1, 30_000, 'the frames from the second keyframe on').catch((err: Error) => {
      throw new Error(`${err.message}: ${s.frames.length} frames, stats ${JSON.stringify(s.player.stats)}`);
    });
    const video = s.frames.filter((f) => f.kind === 'video');
    assert.ok(isVideoSequenceHeader(video[0]!.payload), `the first video frame is the AVC header, not a ${isVideoKeyframe(video[0]!.payload) ? 'keyframe' : 'frame'} at ${video[0]!.ts} ms`);
    assert.equal(video[1]!.ts, fixture[second]!.timestamp, 'then the second keyframe');
    assert.ok(isVideoKeyframe(video[1]!.payload));
    s.publisher.stop();
  } finally {
    for (const c of clients.splice(0)) c.close();
  }
});
