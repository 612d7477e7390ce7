// Covey's RTMP against real FFmpeg (Debian's, installed by .ci/run): FFmpeg publishes and plays,
// our client plays what FFmpeg publishes, and FFmpeg plays what our client publishes, over RTMP
// and across protocols (FFmpeg speaks only RTMP; our client plays and publishes over RTMFP).
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, until, sleep, type TestServer } from '../support/test-server.js';
import { fixtureTags, publishInRealTime } from '../support/media.js';
import { RtmpClient, type FrameKind } from '../../src/client/rtmp-client.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { FlvParser } from '../../src/codec/flv.js';
import { decodeAmf0 } from '../../src/codec/amf0.js';
import { isVideoKeyframe, isVideoSequenceHeader } from '../../src/codec/video-tag.js';
import { isAudioSequenceHeader } from '../../src/codec/audio-tag.js';

const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
let server: TestServer;
let dir: string;
const children: ChildProcess[] = [];

before(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'covey-ffmpeg-'));
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'warning', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
  return { child, done };
}

/** FFmpeg encoding test pattern video (H.264) and a sine (AAC) in real time for `seconds`. */
function ffmpegPublish(url: string, seconds: number) {
  return run([
    '-re', '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=25:duration=${seconds}`,
    '-re', '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', url,
  ]);
}

function ffprobe(file: string): { duration: number; streams: Array<{ codec_type: string; codec_name: string }> } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_type,codec_name', '-of', 'json', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ffprobe refused ${file}: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { format: { duration: string }; streams: Array<{ codec_type: string; codec_name: string }> };
  return { duration: Number(out.format.duration), streams: out.streams };
}

test('FFmpeg publishes H.264 + AAC, FFmpeg plays it back into a file ffprobe accepts with the same duration', { skip: !hasFfmpeg && 'ffmpeg not installed' }, async () => {
  const out = join(dir, 'played.flv');
  const player = run(['-i', server.url('live/roundtrip'), '-c', 'copy', '-y', out]);
  // The player comes first and waits for the publisher.
  await server.waitLog((l) => l.msg === 'play started' && l.stream === 'roundtrip', 10_000);
  const publisher = ffmpegPublish(server.url('live/roundtrip'), 4);
  const pub = await publisher.done;
  assert.equal(pub.code, 0, `ffmpeg publisher failed: ${pub.stderr}`);
  // Unpublishing ends the player's input (NetStream.Play.UnpublishNotify), so it finishes the file.
  const play = await Promise.race([player.done, sleep(15_000).then(() => ({ code: -1, stderr: 'timeout' }))]);
  assert.equal(play.code, 0, `ffmpeg player failed: ${play.stderr}`);
  const probe = ffprobe(out);
  assert.deepEqual(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), ['audio:aac', 'video:h264']);
  assert.ok(Math.abs(probe.duration - 4) <= 0.5, `duration ${probe.duration} s, sent 4 s`);
});

test('our client joins an FFmpeg stream late: metadata, sequence headers, then a keyframe first', { skip: !hasFfmpeg && 'ffmpeg not installed' }, async () => {
  const publisher = ffmpegPublish(server.url('live/late'), 4);
  await until(() => server.flash.apps.get('live')?.publication('late'), 10_000, 'publication');
  await sleep(1500);
  const client = await RtmpClient.connect(server.url('live'));
  const frames: Array<{ kind: FrameKind; ts: number; payload: Buffer }> = [];
  await client.play('late', { onFrame: (kind, ts, payload) => frames.push({ kind, ts, payload: Buffer.from(payload) }) });
  await until(() => frames.filter((f) => f.kind === 'video').length >= 30, 10_000, '30 video frames');
  client.close();
  await publisher.done;

  const names = frames.filter((f) => f.kind === 'data').map((f) => decodeAmf0(f.payload)[0]);
  assert.equal(names[0], '|RtmpSampleAccess');
  assert.equal(names[1], 'onMetaData', 'the data frame comes before any media');
  const media = frames.filter((f) => f.kind !== 'data');
  const firstMediaIndex = frames.indexOf(media[0]!);
  assert.ok(frames.slice(0, firstMediaIndex).some((f) => f.kind === 'data' && decodeAmf0(f.payload)[0] === 'onMetaData'));
  assert.ok(isAudioSequenceHeader(media[0]!.payload), 'first media: AAC sequence header');
  assert.ok(isVideoSequenceHeader(media[1]!.payload), 'second media: AVC sequence header');
  const firstCoded = media.slice(2).find((f) => f.kind === 'video')!;
  assert.ok(isVideoKeyframe(firstCoded.payload), 'first coded video frame is a keyframe');
  // No audio slipped in between the headers and the keyframe.
  assert.equal(media[2]!.kind, 'video');
  // Joined 1.5 s in: timestamps are the publisher's, not restarted.
  assert.ok(firstCoded.ts >= 1000, `first keyframe at ${firstCoded.ts} ms`);
  const videoTs = media.filter((f) => f.kind === 'video').map((f) => f.ts);
  for (let i = 1; i < videoTs.length; i++) assert.ok(videoTs[i]! >= videoTs[i - 1]!, 'video timestamps do not go back');
});

test('FFmpeg publishes over RTMP, our client plays over RTMFP: every frame FFmpeg sent, headers first', { skip: !hasFfmpeg && 'ffmpeg not installed' }, async () => {
  const client = await RtmfpClient.connect(server.rtmfpUrl('live'));
  const frames: Array<{ kind: FrameKind; ts: number; payload: Buffer }> = [];
  const stream = await client.play('torttmfp', { onFrame: (kind, ts, payload) => frames.push({ kind, ts, payload: Buffer.from(payload) }) });
  const recorded = join(dir, 'reference.flv');
  // FFmpeg publishes 3 s; a second FFmpeg records the same stream over RTMP as the reference.
  const reference = run(['-i', server.url('live/torttmfp'), '-c', 'copy', '-y', recorded]);
  await until(() => server.logs.filter((l) => l.msg === 'play started' && l.stream === 'torttmfp').length >= 2, 10_000, 'both players');
  const publisher = ffmpegPublish(server.url('live/torttmfp'), 3);
  assert.equal((await publisher.done).code, 0);
  assert.equal((await Promise.race([reference.done, sleep(15_000).then(() => ({ code: -1, stderr: 'timeout' }))])).code, 0);
  await until(() => stream.statuses.some((s) => s.code === 'NetStream.Play.UnpublishNotify'), 5000, 'UnpublishNotify');
  await sleep(300);
  assert.equal(client.closedReason, undefined, 'the RTMFP session stayed up');
  client.close();

  const media = frames.filter((f) => f.kind !== 'data');
  assert.ok(media.slice(0, 2).some((f) => f.kind === 'video' && isVideoSequenceHeader(f.payload)), 'AVC sequence header first');
  assert.ok(media.slice(0, 2).some((f) => f.kind === 'audio' && isAudioSequenceHeader(f.payload)), 'AAC sequence header first');
  // What the RTMP recording holds, the RTMFP player got too: the same frames, with timestamps
  // that differ by one constant (FFmpeg's recording starts its clock at its first frame).
  const tags = new FlvParser().push(readFileSync(recorded));
  const offsets = new Set<number>();
  for (const [kind, type] of [['audio', 8], ['video', 9]] as const) {
    const viaRtmfp = media.filter((f) => f.kind === kind);
    const viaRtmp = tags.filter((t) => t.type === type);
    assert.ok(viaRtmfp.length > 50, `${kind}: ${viaRtmfp.length} frames`);
    assert.deepEqual(viaRtmfp.map((f) => f.payload.toString('hex')), viaRtmp.map((t) => t.data.toString('hex')), `${kind} over RTMFP = ${kind} over RTMP`);
    // Sequence headers aside: FFmpeg writes those at 0 whatever their time.
    viaRtmfp.forEach((f, i) => i > 0 && offsets.add(f.ts - viaRtmp[i]!.timestamp));
  }
  assert.equal(offsets.size, 1, `one timestamp offset, got ${[...offsets].join(', ')}`);
});

for (const protocol of ['rtmp', 'rtmfp'] as const) {
  test(`our client publishes an FLV over ${protocol.toUpperCase()}, FFmpeg plays it over RTMP into a file ffprobe accepts`, { skip: !hasFfmpeg && 'ffmpeg not installed' }, async () => {
    const name = `from${protocol}`;
    const out = join(dir, `${name}.flv`);
    const player = run(['-i', server.url(`live/${name}`), '-c', 'copy', '-y', out]);
    await server.waitLog((l) => l.msg === 'play started' && l.stream === name, 10_000);
    const client = protocol === 'rtmp' ? await RtmpClient.connect(server.url('live')) : await RtmfpClient.connect(server.rtmfpUrl('live'));
    const stream = await client.publish(name);
    const tags = fixtureTags();
    const last = await publishInRealTime(stream, tags);
    await until(() => client.bufferedBytes === 0, 3000, 'everything sent');
    stream.close();
    const play = await Promise.race([player.done, sleep(15_000).then(() => ({ code: -1, stderr: 'timeout' }))]);
    client.close();
    assert.equal(play.code, 0, `ffmpeg player failed: ${play.stderr}`);
    const probe = ffprobe(out);
    assert.deepEqual(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), ['audio:aac', 'video:h264']);
    assert.ok(Math.abs(probe.duration - last / 1000) <= 0.5, `duration ${probe.duration} s, sent ${last / 1000} s`);
    const played = new FlvParser().push(readFileSync(out));
    assert.equal(played.filter((t) => t.type === 9).length, tags.filter((t) => t.type === 9).length, 'every video frame');
  });
}
