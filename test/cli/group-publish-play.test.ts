// `covey publish --group` and `covey play --group` as a user runs them: processes meet in a
// NetGroup through a live server and the media goes member to member; a player that no peer
// serves falls back to the server's stream and says so; a player whose publisher is killed ends
// at its idle limit, saying why; wrong combinations are refused.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCovey } from '../support/covey-cli.js';
import { startTestServer, until, type TestServer } from '../support/test-server.js';
import { FlvParser } from '../../src/codec/flv.js';
import { isVideoKeyframe, isVideoSequenceHeader } from '../../src/codec/video-tag.js';

const fixture = 'test/fixtures/sample-h264-aac.flv';
let server: TestServer;
let dir: string;

before(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'covey-group-cli-'));
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function videoOf(file: string) {
  return new FlvParser().push(readFileSync(file)).filter((t) => t.type === 9);
}

test('covey play --group records what covey publish --group sends, from peers: fragments counted, none from the server', async () => {
  const url = server.rtmfpUrl('live/party');
  const publisher = startCovey(['publish', '--group', 'party', '--loop', '-q', fixture, url]);
  try {
    await until(() => publisher.stderr().includes('covey publish: publishing party into group'), 20_000, "the publisher's group line");
    assert.match(publisher.stderr(), /players: covey play \S+ --group G:027f0201010103010c060e7061727479011b00/);
    const files = [join(dir, 'a.flv'), join(dir, 'b.flv')];
    const players = files.map((f) => startCovey(['play', url, '--group', 'party', '-o', f, '--duration', '3']));
    const results = await Promise.all(players.map((p) => p.exited));
    for (const [i, r] of results.entries()) {
      assert.equal(r.code, 0, r.stderr);
      const counts = /covey play: (\d+) fragments from peers \((\d+) pushed, (\d+) pulled\), (\d+) frames from the server\n/.exec(r.stderr);
      assert.ok(counts, r.stderr);
      assert.ok(Number(counts[1]) > 50, `player ${i}: ${counts[1]} fragments from peers`);
      assert.equal(counts[4], '0', 'nothing from the server');
      const video = videoOf(files[i]!);
      assert.ok(isVideoSequenceHeader(video[0]!.data) && isVideoKeyframe(video[1]!.data), 'the recording starts on the header and a keyframe');
      assert.ok(video.at(-1)!.timestamp >= 2900, `3 s recorded (${video.at(-1)!.timestamp} ms)`);
    }
  } finally {
    publisher.child.kill('SIGINT');
    await publisher.exited;
  }
});

test('covey play --group falls back to the server stream when no peer carries it in time, and says so', async () => {
  const url = server.rtmfpUrl('live/solo');
  // Published to the server only: the group has no one with the stream.
  const publisher = startCovey(['publish', '--loop', '-q', fixture, url]);
  try {
    await until(() => server.flash.apps.get('live')?.publication('solo'), 20_000, 'the publication');
    const file = join(dir, 'solo.flv');
    const player = startCovey(['play', url, '--group', 'nobody-here', '--p2p-wait', '1', '-o', file, '--duration', '2']);
    const r = await player.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /covey play: no frame from the group within 1 s \(0 P2P neighbours: UDP between peers blocked, or a symmetric NAT\?\); playing solo from the server/);
    const counts = /covey play: 0 fragments from peers \(0 pushed, 0 pulled\), (\d+) frames from the server \(fell back to the server\)/.exec(r.stderr);
    assert.ok(counts && Number(counts[1]) > 20, r.stderr);
    assert.ok(videoOf(file).length > 20);
  } finally {
    publisher.child.kill('SIGINT');
    await publisher.exited;
  }
});

test('covey play --group ends when its publisher is killed (no end message): after --wait seconds with nothing from the group, saying why, exit 0 with the recording', async () => {
  const url = server.rtmfpUrl('live/gone');
  const publisher = startCovey(['publish', '--group', 'gone', '--loop', '-q', fixture, url]);
  try {
    await until(() => publisher.stderr().includes('covey publish: publishing gone into group'), 20_000, "the publisher's group line");
    const file = join(dir, 'gone.flv');
    const player = startCovey(['play', url, '--group', 'gone', '-o', file, '--wait', '2', '-q']);
    // Media from the group is on disk: the file is made at the first frame.
    await until(() => existsSync(file) && statSync(file).size > 50_000, 40_000, 'media recorded from the group');
    publisher.child.kill('SIGKILL');
    const r = await player.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^covey play: no fragment from the group for 2 s: its publisher is gone without ending the stream$/m);
    assert.match(r.stderr, /covey play: \d+ fragments from peers \(\d+ pushed, \d+ pulled\), 0 frames from the server\n/);
    assert.doesNotMatch(r.stderr, /stalled/);
    const video = videoOf(file);
    assert.ok(isVideoSequenceHeader(video[0]!.data) && isVideoKeyframe(video[1]!.data) && video.length > 20, `${video.length} video tags recorded`);
  } finally {
    if (publisher.child.exitCode === null && publisher.child.signalCode === null) publisher.child.kill('SIGKILL');
    await publisher.exited;
  }
});

test('--group refuses rtmp:// URLs, --peer/--p2p beside it and bad groupspecs, with exit code 2', async () => {
  const cases = [
    [['play', 'rtmp://127.0.0.1/live/x', '--group', 'g', '-o', '-'], /--group needs an rtmfp:\/\/ URL/],
    [['play', server.rtmfpUrl('live/x'), '--group', 'g', '--peer', 'ab'.repeat(32), '-o', '-'], /--group and --peer cannot be used together/],
    [['play', server.rtmfpUrl('live/x'), '--group', 'G:7f02', '-o', '-'], /--group: .*groupspec/],
    [['publish', '--group', 'g', '--p2p', fixture, server.rtmfpUrl('live/x')], /--group and --p2p cannot be used together/],
  ] as const;
  for (const [args, message] of cases) {
    const r = await startCovey([...args]).exited;
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  }
});
