// `covey publish` and `covey play` as a user runs them, against a live server (RTMFP and RTMP).
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCovey, type CoveyExit } from '../support/covey-cli.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { FlvParser } from '../../src/codec/flv.js';
import { isVideoKeyframe, isVideoSequenceHeader } from '../../src/codec/video-tag.js';

const fixture = 'test/fixtures/sample-h264-aac.flv';
let server: TestServer;
let dir: string;

before(async () => {
  server = await startTestServer({ flash: { appExists: (name) => name !== 'nosuchapp' } });
  dir = mkdtempSync(join(tmpdir(), 'covey-cli-'));
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function runCovey(args: string[]): Promise<CoveyExit> {
  return startCovey(args, { keepStdout: true }).exited;
}

test('covey play records what covey publish sends, over RTMFP to a file and over RTMP to stdout', async () => {
  const file = join(dir, 'rec.flv');
  const toFile = runCovey(['play', server.rtmfpUrl('live/cli'), '-o', file]);
  const toStdout = runCovey(['play', server.url('live/cli'), '-o', '-', '-q']);
  await server.waitLog((l) => l.msg === 'play started' && server.logs.filter((x) => x.msg === 'play started').length >= 2, 15_000);
  const pub = await runCovey(['publish', fixture, server.rtmfpUrl('live/cli')]);
  assert.equal(pub.code, 0, pub.stderr);
  assert.match(pub.stderr, /time=2\.\ds bytes=[\d.]+KiB bitrate=\d+kb\/s/);
  const [rec, piped] = await Promise.all([toFile, toStdout]);
  assert.equal(rec.code, 0, rec.stderr);
  assert.equal(piped.code, 0, piped.stderr);
  assert.match(rec.stderr, /time=\d\.\ds/);
  for (const bytes of [readFileSync(file), piped.stdout]) {
    const tags = new FlvParser({ strictPreviousTagSize: true }).push(bytes);
    const video = tags.filter((t) => t.type === 9);
    const audio = tags.filter((t) => t.type === 8);
    assert.ok(isVideoSequenceHeader(video[0]!.data) && isVideoKeyframe(video[1]!.data));
    // Every video frame, and the last audio frame: nothing lost when the publisher closes.
    assert.equal(video.length, 52, 'all 52 video tags of the fixture');
    assert.equal(Math.max(...audio.map((t) => t.timestamp)), 2077, 'the last audio frame');
    assert.equal(Math.min(...tags.map((t) => t.timestamp)), 0, 'the recording starts at zero');
    assert.ok(Math.abs(Math.max(...tags.map((t) => t.timestamp)) - 2000) < 300);
  }
  if (spawnSync('ffprobe', ['-version']).status === 0) {
    const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', file], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), ['aac', 'h264']);
  }
});

test('one clear error line: bad URL, refused connection, missing stream, unknown app, missing file', async () => {
  // Exit 2: the command line is wrong, nothing was tried; exit 1: it was tried and failed.
  const cases: Array<[string[], RegExp, number]> = [
    [['play', 'http://example.com/live/x', '-o', '-'], /^covey play: unsupported URL scheme http:\/\/ \(supported: rtmp, rtmfp\)$/, 2],
    [['play', server.rtmfpUrl('nosuchapp/x'), '-o', '-'], /^covey play: server refused: no application "nosuchapp"/, 1],
    [['play', 'rtmp://127.0.0.1:1/live/x', '-o', '-'], /^covey play: cannot connect to 127\.0\.0\.1:1: connection refused$/, 1],
    [['play', server.url('live/nobody'), '-o', '-', '--wait', '1'], /^covey play: no media within 1 s: is the stream published\?/, 1],
    [['play', server.url('live'), '-o', '-'], /^covey play: no stream name in/, 2],
    [['publish', fixture, 'rtmp://127.0.0.1:1/live/x'], /^covey publish: cannot connect/, 1],
    [['publish', 'no-such.flv', server.url('live/x')], /^covey publish: no such file: no-such\.flv$/, 2],
  ];
  for (const [args, expected, code] of cases) {
    const r = await runCovey(args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.trim(), expected);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
  }
});
