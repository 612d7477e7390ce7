// The fan-out benchmark's lean player (scripts/bench/lean-player.ts) against a real server over
// UDP on 127.0.0.1: once it has taken a session over from Covey's client, it must count the same
// frames, with the same sizes, as a full client playing alongside, and acknowledge well enough
// that the server can send it far more than one congestion window. Its figures are only worth
// anything if this holds.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startTestServer, testApps, until, type TestServer } from '../support/test-server.js';
import { collector, fixtureTags } from '../support/media.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { isVideoSequenceHeader } from '../../src/codec/video-tag.js';
import { isAudioSequenceHeader } from '../../src/codec/audio-tag.js';
import { AckScheduler } from '../../scripts/bench/lean-player.js';
import { LeanSessionPlayer } from '../../scripts/bench/lean-session-player.js';
import { PlayerFrames } from '../../scripts/bench/player-frames.js';

let server: TestServer;
before(async () => {
  server = await startTestServer({ flash: testApps([], {}) });
});
after(() => server.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a lean player counts every frame a full client gets, and acknowledges them all', async () => {
  const tags = fixtureTags();
  const videoHeader = tags.find((t) => t.type === 9 && isVideoSequenceHeader(t.data))!;
  const audioHeader = tags.find((t) => t.type === 8 && isAudioSequenceHeader(t.data))!;
  const url = server.rtmfpUrl('live');

  const full = collector();
  const fullClient = await RtmfpClient.connect(url);
  await fullClient.play('lean', { onFrame: full.onFrame });
  const before = new PlayerFrames();
  const player = await LeanSessionPlayer.open(url, 'lean', before);

  const pubClient = await RtmfpClient.connect(url);
  const pub = await pubClient.publish('lean');
  pub.sendVideo(0, videoHeader.data);
  pub.sendAudio(0, audioHeader.data);
  // A keyframe-flagged AVC frame of `size` bytes, and an AAC frame: only their headers matter here.
  const video = (size: number, n: number) => Buffer.concat([Buffer.from([0x17, 0x01, 0, 0, 0]), Buffer.alloc(size - 5, n)]);
  const audio = (n: number) => Buffer.concat([Buffer.from([0xaf, 0x01]), Buffer.alloc(198, n)]);
  let ts = 0;
  const send = async (frames: number) => {
    for (let i = 0; i < frames; i++) {
      ts += 40;
      // Sizes from one to eight packets' worth, so messages are whole, and fragmented in two to eight.
      pub.sendVideo(ts, video(300 + ((i * 977) % 9000), i));
      pub.sendAudio(ts, audio(i));
      await sleep(10);
    }
  };
  await send(20);
  await until(() => before.lastTs === ts && full.frames.some((f) => f.ts === ts), 5000, 'the first frames at both players');
  // Nothing is in flight when the lean player takes over, so no message is split between the two.
  await sleep(300);
  const from = ts;
  const after = new PlayerFrames();
  const lean = await player.takeOver(after);
  const acks = new AckScheduler([lean], () => performance.now());
  try {
    await send(150);
    const last = ts;
    await until(() => after.lastTs === last && full.frames.some((f) => f.ts === last && f.kind === 'video'), 10_000, 'the last frame at the lean player');
    await sleep(200);

    const expected = full.frames.filter((f) => f.kind !== 'data' && f.ts > from && f.ts <= last);
    assert.equal(expected.length, 300, 'the full client got every frame');
    assert.deepEqual(after.count(from, last), { frames: expected.length, late: 0 });
    assert.equal(after.bytes, expected.reduce((n, f) => n + f.payload.length, 0), 'the same payload sizes');
    assert.equal(lean.malformed, 0);
    // 150 video frames of 4.8 KB on average: far more than the server sends unacknowledged.
    assert.ok(after.bytes > 700_000);
    assert.ok(lean.packetsOut > 10, `acknowledgements sent (${lean.packetsOut})`);
  } finally {
    acks.stop();
    player.close();
    fullClient.close();
    pubClient.close();
  }
});
