// Direct P2P NetStreams (NetStream.DIRECT_CONNECTIONS) between two Covey clients over real UDP on
// 127.0.0.1: the server introduces them and carries none of the media; refusals reach the player
// as statuses; every way a direct stream ends is seen by the other side.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startTestServer, until, type TestServer } from '../support/test-server.js';
import { collector, dataName, fixtureTags } from '../support/media.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { DirectPlayRefused } from '../../src/client/direct-player.js';
import type { DirectPlayRequest, DirectSubscriber } from '../../src/client/direct-publisher.js';
import { FlvTagType } from '../../src/codec/flv.js';
import { isVideoKeyframe, isVideoSequenceHeader } from '../../src/codec/video-tag.js';
import { isAudioSequenceHeader } from '../../src/codec/audio-tag.js';
import { connectFlashPeer } from '../support/rendezvous-peers.js';
import { decodeCommand, FlashMessageType, isCommandType } from '../../src/codec/flash-command.js';
import { encodeAmf0 } from '../../src/codec/amf0.js';
import { encodeTcMetadata, parseTcMetadata } from '../../src/codec/tc-metadata.js';
import { encodeTcMessage, parseTcMessage } from '../../src/codec/tc-message.js';

let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(() => server.close());

const connect = () => RtmfpClient.connect(server.rtmfpUrl('live'));
const KIND = { [FlvTagType.Audio]: 'audio', [FlvTagType.Video]: 'video', [FlvTagType.ScriptData]: 'data' } as const;

test('a direct stream flows from publisher to player peer to peer; the server carries none of it; a late player starts on headers and a keyframe', async () => {
  const a = await connect();
  const b = await connect();
  const requests: DirectPlayRequest[] = [];
  const publisher = a.publishDirect('cam', { onPeerConnect: (r) => (requests.push(r), true) });
  const got = collector();
  const play = await b.playDirect(a.peerId, 'cam', { onFrame: got.onFrame, timeoutMs: 5000 });
  assert.deepEqual(requests.map((r) => [r.peerId, r.name, r.address.port]), [[b.peerId, 'cam', b.endpoint.localAddress.port]]);
  assert.deepEqual(play.statuses.map((s) => s.code), ['NetStream.Play.Reset', 'NetStream.Play.Start']);
  assert.deepEqual(play.userControl, [0], 'StreamBegin');
  assert.equal(play.streamId, 2_000_001);
  assert.equal(publisher.subscribers.size, 1);

  // The fixture five times over (each loop 10 s later), so that there is media enough to count.
  const fixture = fixtureTags();
  const tags = [...fixture, ...[1, 2, 3, 4].flatMap((loop) => fixture.filter((t) => t.type !== FlvTagType.ScriptData).map((t) => ({ ...t, timestamp: t.timestamp + loop * 10_000 })))];
  const media = tags.filter((t) => t.type !== FlvTagType.ScriptData);
  const serverPacketsBefore = server.rtmfp.counters.packetsReceived + server.rtmfp.counters.packetsSent;
  const serverBytesBefore = server.rtmfp.counters.bytesSent;
  for (const t of tags) publisher.send(KIND[t.type as keyof typeof KIND], t.timestamp, t.data);
  await until(() => got.frames.filter((f) => f.kind !== 'data').length >= media.length, 10_000, 'every frame at the player');
  const serverPackets = server.rtmfp.counters.packetsReceived + server.rtmfp.counters.packetsSent - serverPacketsBefore;
  const mediaBytes = media.reduce((n, t) => n + t.data.length, 0);
  assert.ok(mediaBytes > 100_000, `${mediaBytes} bytes of media`);
  // The clients' own traffic with the server (keepalives, acknowledgements) goes on while the
  // media flows, the more of it the longer a loaded machine takes (6 packets seen once): what
  // must hold is that it is nothing beside the media, which would be hundreds of packets through
  // the server (at most 1,200 bytes each) if it carried any.
  const mediaPackets = Math.ceil(mediaBytes / 1200);
  const serverBytes = server.rtmfp.counters.bytesSent - serverBytesBefore;
  assert.ok(serverPackets * 20 <= mediaPackets, `the server's socket moved ${serverPackets} packets while ${mediaBytes} bytes of media (${mediaPackets}+ packets) went by`);
  assert.ok(serverBytes * 100 <= mediaBytes, `the server sent ${serverBytes} bytes while ${mediaBytes} bytes of media went by`);

  assert.equal(dataName(got.frames[0]!), '|RtmpSampleAccess');
  for (const kind of ['audio', 'video'] as const) {
    const sent = media.filter((t) => KIND[t.type as keyof typeof KIND] === kind);
    const received = got.frames.filter((f) => f.kind === kind);
    assert.equal(received.length, sent.length, kind);
    assert.ok(received.every((f, i) => f.ts === sent[i]!.timestamp && f.payload.equals(sent[i]!.data)), `${kind} frames in order, intact`);
  }
  assert.ok(got.frames.some((f) => f.kind === 'data' && dataName(f) === 'onMetaData'));

  // A late player: metadata and both sequence headers first, then video from a keyframe on.
  const c = await connect();
  const late = collector();
  await c.playDirect(a.peerId, 'cam', { onFrame: late.onFrame });
  const again = fixture.filter((t) => t.type !== FlvTagType.ScriptData).map((t) => ({ ...t, timestamp: t.timestamp + 100_000 }));
  const inter = again.findIndex((t) => t.type === FlvTagType.Video && !isVideoKeyframe(t.data) && !isVideoSequenceHeader(t.data));
  for (const t of again.slice(inter)) publisher.send(KIND[t.type as keyof typeof KIND], t.timestamp, t.data);
  await until(() => late.frames.filter((f) => f.kind === 'video').length > 3, 10_000, 'video at the late player');
  assert.deepEqual(late.frames.slice(0, 2).map(dataName), ['|RtmpSampleAccess', 'onMetaData']);
  assert.ok(isAudioSequenceHeader(late.frames.find((f) => f.kind === 'audio')!.payload), 'audio starts with its header');
  const video = late.frames.filter((f) => f.kind === 'video');
  assert.ok(isVideoSequenceHeader(video[0]!.payload), 'video starts with its header');
  assert.ok(isVideoKeyframe(video[1]!.payload), 'then a keyframe, not the inter frames before it');
  a.close();
  b.close();
  c.close();
});

test('refusals reach the player as statuses: onPeerConnect says no, no such stream, a peer publishing nothing, a peer that is not there', async () => {
  const a = await connect();
  const b = await connect();
  a.publishDirect('members', { onPeerConnect: () => 'members only' });
  a.publishDirect('closed', { onPeerConnect: () => false });
  const t0 = Date.now();
  await assert.rejects(b.playDirect(a.peerId, 'members'), (err: DirectPlayRefused) => {
    assert.ok(err instanceof DirectPlayRefused);
    assert.equal(err.info.code, 'NetStream.Connect.Rejected');
    assert.equal(err.info.level, 'error');
    assert.match(err.message, /^peer [0-9a-f]{8}…[0-9a-f]{4} refused play members: NetStream.Connect.Rejected: members only$/);
    return true;
  });
  assert.ok(Date.now() - t0 < 3000, 'at once, not at a timeout');
  await assert.rejects(b.playDirect(a.peerId, 'closed'), /NetStream.Connect.Rejected: the publisher of closed refused this peer/);
  await assert.rejects(b.playDirect(a.peerId, 'nosuch'), /NetStream.Play.StreamNotFound: nosuch is not published here \(direct streams: members, closed\)/);
  // b publishes nothing: a's play flow is refused.
  await assert.rejects(a.playDirect(b.peerId, 'cam'), /refused the stream flow \(it publishes no direct streams\)/);
  await assert.rejects(b.playDirect('12'.repeat(32), 'cam', { timeoutMs: 1500 }), /cannot reach peer 12121212…1212 .* within 1500 ms/);
  a.close();
  b.close();
});

test('the stream ends on both sides whoever ends it: unpublish, the publisher going away, the player closing', async () => {
  const a = await connect();
  const b = await connect();
  const publisher = a.publishDirect('cam');
  const gone: string[] = [];
  publisher.onUnsubscribe = (_s: DirectSubscriber, reason) => gone.push(reason);

  // The player closes: the publisher stops serving it.
  const first = await b.playDirect(a.peerId, 'cam');
  await until(() => publisher.subscribers.size === 1, 3000, 'subscriber');
  first.close();
  await until(() => gone.length === 1, 3000, 'the publisher to hear');
  assert.equal(gone[0], 'the player closed its stream');
  assert.equal(publisher.subscribers.size, 0);

  // Unpublish: the player hears UnpublishNotify and ends.
  const second = await b.playDirect(a.peerId, 'cam');
  assert.equal(second.streamId, 2_000_002, 'the next stream ID on the same P2P session');
  const ended = new Promise<string>((resolve) => (second.onEnd = resolve));
  publisher.close();
  assert.match(await ended, /NetStream.Play.UnpublishNotify|StreamEOF/);
  assert.ok(second.statuses.some((s) => s.code === 'NetStream.Play.UnpublishNotify'));
  await assert.rejects(b.playDirect(a.peerId, 'cam'), /StreamNotFound/);

  // The publisher's client goes away: the player ends with its P2P session.
  a.publishDirect('cam2');
  const third = await b.playDirect(a.peerId, 'cam2');
  const lost = new Promise<string>((resolve) => (third.onEnd = resolve));
  a.close();
  assert.match(await lost, /P2P session ended: closed by far end/);
  b.close();
});

test('a publisher that answers play as librtmfp does (onStatus with no null before the info object): the player starts and gets every frame', async () => {
  // The publisher is an engine endpoint speaking librtmfp's wire (P2PSession::handlePlay):
  // on the player's `play`, three flows with the player's metadata associated with its flow;
  // on the first, StreamBegin, then "onStatus", 0, {level, code, description} twice (no null:
  // librtmfp's FlashWriter::writeAMFState writes none), then |RtmpSampleAccess; media after.
  const publisher = await connectFlashPeer(server.rtmfp.localAddress.port);
  const media = fixtureTags().filter((t) => t.type !== FlvTagType.ScriptData);
  const plays: string[] = [];
  publisher.endpoint.onSession = (session) => {
    session.onFlow = (flow) => {
      const metadata = parseTcMetadata(flow.metadata);
      if (metadata === undefined) return;
      flow.onMessage = (message) => {
        const m = parseTcMessage(message);
        if (m === undefined || !isCommandType(m.type)) return;
        const command = decodeCommand(m.type, m.body);
        if (command.name !== 'play') return;
        plays.push(String(command.args[0]));
        const [data, audio, video] = [0, 1, 2].map(() => session.openFlow(encodeTcMetadata(metadata.streamId), { returnFlowId: flow.flowId }));
        const streamBegin = Buffer.alloc(6);
        streamBegin.writeUInt32BE(metadata.streamId, 2);
        data!.write(encodeTcMessage(FlashMessageType.UserControl, 0, streamBegin));
        for (const code of ['NetStream.Play.Reset', 'NetStream.Play.Start']) {
          data!.write(encodeTcMessage(FlashMessageType.CommandAmf0, 0, encodeAmf0('onStatus', 0, { level: 'status', code, description: `${code} cam` })));
        }
        data!.write(encodeTcMessage(FlashMessageType.DataAmf0, 0, encodeAmf0('|RtmpSampleAccess', true, true)));
        for (const t of media) (t.type === FlvTagType.Audio ? audio! : video!).write(encodeTcMessage(t.type, t.timestamp, t.data));
      };
    };
  };
  const b = await connect();
  try {
    const got = collector();
    const play = await b.playDirect(publisher.endpoint.peerId.toString('hex'), 'cam', { onFrame: got.onFrame, timeoutMs: 5000 });
    assert.deepEqual(plays, ['cam']);
    assert.deepEqual(play.statuses.map((s) => [s.level, s.code]), [['status', 'NetStream.Play.Reset'], ['status', 'NetStream.Play.Start']]);
    await until(() => got.frames.filter((f) => f.kind !== 'data').length >= media.length, 10_000, 'every frame at the player');
    for (const kind of ['audio', 'video'] as const) {
      const sent = media.filter((t) => KIND[t.type as keyof typeof KIND] === kind);
      const received = got.frames.filter((f) => f.kind === kind);
      assert.ok(received.length === sent.length && received.every((f, i) => f.ts === sent[i]!.timestamp && f.payload.equals(sent[i]!.data)), `${kind} frames in order, intact`);
    }
  } finally {
    b.close();
    publisher.close();
  }
});
