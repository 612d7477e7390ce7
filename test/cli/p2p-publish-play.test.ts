// `covey publish --p2p` and `covey play --peer` as a user runs them: two processes meet through a
// live server by the peer ID the publisher prints, and the media goes between them directly.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCovey, type CoveyRun } from '../support/covey-cli.js';
import { startTestServer, until, type TestServer } from '../support/test-server.js';
import { FlvParser } from '../../src/codec/flv.js';
import { isVideoKeyframe, isVideoSequenceHeader } from '../../src/codec/video-tag.js';

const fixture = 'test/fixtures/sample-h264-aac.flv';
let server: TestServer;
let dir: string;

before(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'covey-p2p-cli-'));
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The peer ID a covey command printed: one line `covey CMD: peer ID <64 hex digits>...`. */
async function printedPeerId(run: CoveyRun, command: string): Promise<string> {
  const line = await until(() => run.stderr().split('\n').find((l) => l.startsWith(`covey ${command}: peer ID `)), 20_000, `${command}'s peer ID line`);
  return /^covey \w+: peer ID ([0-9a-f]{64})(?: \(|$)/.exec(line)![1]!;
}

const serverPackets = () => server.rtmfp.counters.packetsReceived + server.rtmfp.counters.packetsSent;

test('covey play --peer records what covey publish --p2p sends, peer to peer: the server carries no media', async () => {
  const url = server.rtmfpUrl('live/direct');
  const publisher = startCovey(['publish', '--p2p', '--loop', '-q', fixture, url]);
  const publisherId = await printedPeerId(publisher, 'publish');
  assert.match(publisher.stderr(), new RegExp(`players: covey play --peer ${publisherId} ${url.replace(/[/.]/g, '\\$&')}\\)`));
  const file = join(dir, 'direct.flv');
  const before = serverPackets();
  const player = startCovey(['play', '--peer', publisherId, url, '-o', file, '--duration', '3']);
  const playerId = await printedPeerId(player, 'play');
  assert.notEqual(playerId, publisherId);
  const played = await player.exited;
  assert.equal(played.code, 0, played.stderr);
  // Connect, setPeerInfo and the introduction, with their acknowledgements: a few dozen packets at
  // most, against the hundreds the 3 s of media took between the peers.
  const during = serverPackets() - before;
  const tags = new FlvParser({ strictPreviousTagSize: true }).push(readFileSync(file));
  const video = tags.filter((t) => t.type === 9);
  const mediaBytes = tags.reduce((n, t) => n + t.data.length, 0);
  const firstFrame = video.find((t) => !isVideoSequenceHeader(t.data))!;
  assert.ok(isVideoSequenceHeader(video[0]!.data), 'video starts on its header');
  assert.ok(isVideoKeyframe(firstFrame.data), 'then a keyframe (the publisher held the inter frames before it)');
  assert.ok(firstFrame.timestamp < 2200, `no gap before the first frame (${firstFrame.timestamp} ms)`);
  // 25 frames a second, less what came before the first keyframe (the fixture has one every 2 s).
  assert.ok(video.length >= 40, `${video.length} video tags in 3 s`);
  assert.ok(during < 40, `the server's socket moved ${during} packets while ${mediaBytes} bytes of media went to the player`);
  publisher.child.kill('SIGINT');
  const published = await publisher.exited;
  assert.equal(published.code, 0, published.stderr);
});

test('the publisher stopping ends covey play --peer; refusals and bad flags are one clear line', async () => {
  const url = server.rtmfpUrl('live/short');
  const publisher = startCovey(['publish', '--p2p', '--loop', '-q', fixture, url]);
  const publisherId = await printedPeerId(publisher, 'publish');
  const player = startCovey(['play', '--peer', publisherId, url, '-o', '-']);
  // The wrong stream name from the same publisher: refused by it, as a status.
  const wrong = await startCovey(['play', '--peer', publisherId, server.rtmfpUrl('live/other'), '-o', '-', '-q']).exited;
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^covey play: peer [0-9a-f]{8}…[0-9a-f]{4} refused play other: NetStream.Play.StreamNotFound: other is not published here \(direct streams: short\)\.$/m);
  // Once media flows, the publisher is interrupted: it unpublishes, and the player ends with it.
  // Progress shows time=0.0s from the metadata and codec headers on: wait for coded media (a
  // stream that ends before any is an error now, and CI's load once let the SIGINT come first).
  await until(() => [...player.stderr().matchAll(/time=(\d+\.\d)s/g)].some((m) => Number(m[1]) >= 0.5), 20_000, 'half a second of media at the player');
  publisher.child.kill('SIGINT');
  const [published, played] = await Promise.all([publisher.exited, player.exited]);
  assert.equal(published.code, 0, published.stderr);
  assert.equal(played.code, 0, played.stderr);

  const cases: Array<[string[], RegExp, number]> = [
    [['play', '--peer', 'ab'.repeat(32), server.rtmfpUrl('live/x'), '-o', '-', '--wait', '1'], /^covey play: cannot reach peer abababab…abab through the server at 127\.0\.0\.1:\d+: no answer .* within 1000 ms/, 1],
    [['play', '--peer', 'xyz', server.rtmfpUrl('live/x'), '-o', '-'], /^covey play: --peer: not a peer ID: "xyz" \(expected 64 hexadecimal digits/, 2],
    [['play', '--peer', 'ab'.repeat(32), server.url('live/x'), '-o', '-'], /^covey play: --peer needs an rtmfp:\/\/ URL/, 2],
    [['publish', '--p2p', fixture, server.url('live/x')], /^covey publish: --p2p needs an rtmfp:\/\/ URL/, 2],
  ];
  for (const [args, expected, code] of cases) {
    const r = await startCovey(args).exited;
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('covey play: peer ID '));
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0]!, expected);
  }
});
