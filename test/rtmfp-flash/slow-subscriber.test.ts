// A subscriber whose link goes dead must cost nobody else anything, and must not be owed an
// ever-growing backlog: its audio and video are partially reliable, so what cannot arrive in
// time is abandoned, and when the link comes back it is playing the present again within a few
// seconds. Real UDP on 127.0.0.1, the dead link made by a relay that drops everything.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startTestServer, until, sleep, type TestServer } from '../support/test-server.js';
import { UdpShim } from '../support/udp-shim.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import type { FrameKind } from '../../src/client/net-connection.js';
import { DEFAULT_MEDIA_DEADLINES } from '../../src/rtmfp-flash/rtmfp-subscriber.js';

let server: TestServer;
before(async () => (server = await startTestServer()));
after(() => server.close());

const avcHeader = Buffer.of(0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f);
const keyframe = Buffer.concat([Buffer.of(0x17, 1, 0, 0, 0), Buffer.alloc(6000, 0x4b)]);
const interframe = Buffer.concat([Buffer.of(0x27, 1, 0, 0, 0), Buffer.alloc(2500, 0x49)]);
const aacHeader = Buffer.of(0xaf, 0, 0x12, 0x10);
const aacFrame = Buffer.concat([Buffer.of(0xaf, 1), Buffer.alloc(180, 0x41)]);

interface Arrival {
  kind: FrameKind;
  ts: number;
  at: number;
}

test('a subscriber whose link dies for 4 s: the others get every frame, its late media is abandoned, and it plays the present again once the link is back', async () => {
  const shim = new UdpShim({ host: '127.0.0.1', port: server.rtmfp.localAddress.port }, {});
  const shimPort = await shim.listen();
  const publisher = await RtmfpClient.connect(server.rtmfpUrl('live'));
  const healthy = await RtmfpClient.connect(server.rtmfpUrl('live'));
  const slow = await RtmfpClient.connect(`rtmfp://127.0.0.1:${shimPort}/live`);
  try {
    const got = { healthy: [] as Arrival[], slow: [] as Arrival[] };
    let t0 = 0;
    const record = (list: Arrival[]) => (kind: FrameKind, ts: number) => kind !== 'data' && list.push({ kind, ts, at: Date.now() - t0 });
    await healthy.play('flaky', { onFrame: record(got.healthy) });
    await slow.play('flaky', { onFrame: record(got.slow) });
    const stream = await publisher.publish('flaky');
    t0 = Date.now();
    stream.sendVideo(0, avcHeader);
    stream.sendAudio(0, aacHeader);
    let sentVideo = 0;
    let sentAudio = 0;
    // 9 s of 25 fps video (a keyframe a second) and 40 audio frames a second, in real time.
    for (let ts = 0; ts < 9000; ts += 5) {
      const wait = ts - (Date.now() - t0);
      if (wait > 0) await sleep(wait);
      if (ts === 2000) shim.policy = { loss: 1 };
      if (ts === 6000) shim.policy = {};
      if (ts % 40 === 0) {
        stream.sendVideo(ts, ts % 1000 === 0 ? keyframe : interframe);
        sentVideo++;
      }
      if (ts % 25 === 0) {
        stream.sendAudio(ts, aacFrame);
        sentAudio++;
      }
    }
    await sleep(1500);

    // The healthy subscriber: everything, on time. (Audio and video come from the publisher on
    // flows of their own, so the first audio frames may reach the server before the first
    // keyframe, 6 KB in several fragments, and a player starts on that keyframe: on a loaded
    // machine the audio at 25 ms once came first. Frames before 200 ms are not counted.)
    const from200 = (list: Arrival[], kind: FrameKind) => list.filter((a) => a.kind === kind && a.ts >= 200).length;
    assert.equal(from200(got.healthy, 'video'), sentVideo - 200 / 40, 'every video frame');
    assert.equal(from200(got.healthy, 'audio'), sentAudio - 200 / 25, 'every audio frame');
    const healthyLag = Math.max(...got.healthy.map((a) => a.at - a.ts));
    assert.ok(healthyLag < 1000, `the healthy subscriber was never held up (worst lag ${healthyLag} ms)`);

    // The slow one lost what was due while its link was dead, and never got anything later than
    // its deadline allows (plus a retransmission timeout to find the link again).
    assert.ok(shim.dropped > 5, `the relay dropped ${shim.dropped} datagrams`);
    const slowVideo = got.slow.filter((a) => a.kind === 'video');
    assert.ok(slowVideo.length < sentVideo - 25, `video was abandoned (${slowVideo.length} of ${sentVideo} arrived)`);
    const worst = Math.max(...got.slow.map((a) => a.at - a.ts));
    assert.ok(worst < DEFAULT_MEDIA_DEADLINES.video + 2500, `nothing arrived absurdly late (worst ${worst} ms)`);
    // Back to the present: media from the last second arrives with a normal lag.
    const lastSecond = got.slow.filter((a) => a.ts >= 8000);
    assert.ok(lastSecond.length > 40, `the slow subscriber plays the present again (${lastSecond.length} frames from the last second)`);
    assert.ok(Math.max(...lastSecond.map((a) => a.at - a.ts)) < 1000, 'with a normal lag');
    // And it was not reset: the same session throughout.
    assert.equal(slow.closedReason, undefined);
    await until(() => slow.bufferedBytes === 0, 3000, 'nothing left queued for the slow subscriber');
  } finally {
    for (const c of [publisher, healthy, slow]) c.close();
    shim.close();
  }
});
