// What `covey play` leaves behind, run as a user runs it against a live server: a recording's
// onMetaData says the recording's duration and size, not the source's (a file patched at the
// end, stdout without them), checked with ffprobe; --wait waits for audio or video, not for
// metadata and codec headers; a play that fails before any media leaves no file (nor harms one
// that was there); a stall is reported; a wrong -o is refused at once, before connecting.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, until, type TestServer } from '../support/test-server.js';
import { startCovey, type CoveyExit } from '../support/covey-cli.js';
import { fixtureTags, publishInRealTime } from '../support/media.js';
import { FlvParser, FlvTagType } from '../../src/codec/flv.js';
import { decodeFlvScriptData } from '../../src/codec/flv-script-data.js';
import { amfObjectProperties } from '../../src/codec/amf-types.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';

const fixture = 'test/fixtures/sample-h264-aac.flv';
/** The fixture's own onMetaData says 2.08 s: what a recording of it must not claim. */
const SOURCE_DURATION = 2.08;
/** Generous: tsx start-up on a loaded 2-core machine, then the run itself. */
const RUN_MS = 60_000;
let server: TestServer;
let dir: string;

before(async () => {
  server = await startTestServer({ flash: { appExists: (name) => name !== 'nosuchapp' } });
  dir = mkdtempSync(join(tmpdir(), 'covey-play-output-'));
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `covey ARGS` to its end (killed, and failing the test, if it runs past RUN_MS). */
async function runCovey(args: string[], onStderr?: (all: string) => void): Promise<CoveyExit> {
  const run = startCovey(args, { keepStdout: true, onStderr });
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      run.child.kill('SIGKILL');
      reject(new Error(`covey ${args.join(' ')} still running after ${RUN_MS} ms; stderr: ${run.stderr()}`));
    }, RUN_MS);
  });
  try {
    return await Promise.race([run.exited, overrun]);
  } finally {
    clearTimeout(timer);
  }
}

/** The properties of every onMetaData tag in an FLV. */
function metadataTags(flv: Buffer): Array<Record<string, unknown>> {
  return new FlvParser({ strictPreviousTagSize: true })
    .push(flv)
    .filter((t) => t.type === FlvTagType.ScriptData)
    .map((t) => decodeFlvScriptData(t.data))
    .filter((s) => s.name === 'onMetaData')
    .map((s) => amfObjectProperties(s.values[0])!);
}

const lastMediaMs = (flv: Buffer) => Math.max(...new FlvParser().push(flv).filter((t) => t.type !== FlvTagType.ScriptData).map((t) => t.timestamp));

/** ffprobe's duration for the file (format=duration), in seconds. */
function ffprobeDuration(file: string): number {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ffprobe ${file}: ${r.stderr}`);
  return Number(r.stdout.trim());
}

function ffprobeStreams(file: string): string[] {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ffprobe ${file}: ${r.stderr}`);
  return r.stdout.trim().split('\n').sort();
}

const hasFfprobe = spawnSync('ffprobe', ['-version']).status === 0;

test('a recorded file\'s onMetaData carries the recording\'s duration and size (patched at the end), not the source\'s; stdout carries neither; ffprobe agrees', { skip: !hasFfprobe && 'ffprobe is not installed' }, async () => {
  const mark = server.logs.length;
  const publisher = startCovey(['publish', '--loop', '-q', fixture, server.rtmfpUrl('live/meta')]);
  try {
    await server.waitLog((l) => l.msg === 'publish started' && l.stream === 'meta' && server.logs.indexOf(l) >= mark, RUN_MS);
    const file = join(dir, 'meta.flv');
    const [toFile, toStdout] = await Promise.all([
      runCovey(['play', server.rtmfpUrl('live/meta'), '-o', file, '--duration', '4', '-q']),
      runCovey(['play', server.url('live/meta'), '-o', '-', '--duration', '3', '-q']),
    ]);
    assert.equal(toFile.code, 0, toFile.stderr);
    assert.equal(toStdout.code, 0, toStdout.stderr);

    const recorded = readFileSync(file);
    const fileMeta = metadataTags(recorded);
    assert.ok(fileMeta.length >= 1, 'the publisher\'s onMetaData is in the file');
    const lengthS = lastMediaMs(recorded) / 1000;
    assert.ok(lengthS >= 3.9, `4 s of media recorded: ${lengthS} s`);
    for (const meta of fileMeta) {
      assert.equal(meta.duration, lengthS, 'duration: the last media timestamp, in seconds');
      assert.equal(meta.filesize, recorded.length, 'filesize: the file\'s');
      assert.equal(meta.width, 320, 'the rest of the publisher\'s metadata is kept');
    }
    const probed = ffprobeDuration(file);
    assert.ok(Math.abs(probed - lengthS) < 0.2, `ffprobe reads the recording's ${lengthS} s, not the source's ${SOURCE_DURATION} s: ${probed}`);
    assert.deepEqual(ffprobeStreams(file), ['aac', 'h264']);

    const piped = join(dir, 'piped.flv');
    writeFileSync(piped, toStdout.stdout);
    const pipedMeta = metadataTags(toStdout.stdout);
    assert.ok(pipedMeta.length >= 1);
    for (const meta of pipedMeta) {
      assert.ok(!('duration' in meta) && !('filesize' in meta), `no duration or filesize on stdout, which cannot be patched: ${JSON.stringify(meta)}`);
      assert.equal(meta.height, 240);
    }
    const pipedS = lastMediaMs(toStdout.stdout) / 1000;
    assert.ok(Math.abs(ffprobeDuration(piped) - pipedS) < 0.2, `ffprobe reads ${pipedS} s from the piped recording`);
  } finally {
    publisher.child.kill('SIGINT');
    await publisher.exited;
  }
});

test('--wait waits for audio or video: a stream with only metadata and codec headers fails after --wait, and leaves no file', async () => {
  const client = await RtmfpClient.connect(server.rtmfpUrl('live'));
  try {
    const stream = await client.publish('headers-only');
    // The fixture's onMetaData, AVC and AAC sequence headers, then nothing: the server caches
    // them and sends them to the player at once.
    const headers = fixtureTags().slice(0, 3);
    assert.deepEqual(headers.map((t) => t.type), [FlvTagType.ScriptData, FlvTagType.Video, FlvTagType.Audio]);
    await publishInRealTime(stream, headers);
    const file = join(dir, 'headers-only.flv');
    const t0 = Date.now();
    const r = await runCovey(['play', server.rtmfpUrl('live/headers-only'), '-o', file, '--wait', '2', '-q']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr.trim(), /^covey play: no media within 2 s \(the stream is published, but no audio or video frame came\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(Date.now() - t0 >= 2000);
    assert.ok(!existsSync(file), 'no file: nothing but headers came');
  } finally {
    await client.close();
  }
});

test('a play that fails before any media leaves no file, and a file that was there is left as it was', async () => {
  const refused = join(dir, 'refused.flv');
  const r1 = await runCovey(['play', server.rtmfpUrl('nosuchapp/x'), '-o', refused, '-q']);
  assert.equal(r1.code, 1, r1.stderr);
  assert.match(r1.stderr, /server refused/);
  assert.ok(!existsSync(refused), 'a refused play creates no file');

  const kept = join(dir, 'kept.flv');
  writeFileSync(kept, 'an earlier recording');
  const r2 = await runCovey(['play', server.url('live/nobody'), '-o', kept, '--wait', '1', '-q']);
  assert.equal(r2.code, 1, r2.stderr);
  assert.match(r2.stderr, /no media within 1 s: is the stream published\?/);
  assert.equal(readFileSync(kept, 'utf8'), 'an earlier recording', 'not truncated by a play that recorded nothing');

  // The stream ends before any media: a failure, said in one line, and no file.
  const client = await RtmfpClient.connect(server.rtmfpUrl('live'));
  const ended = join(dir, 'ended.flv');
  try {
    const mark = server.logs.length;
    const play = runCovey(['play', server.rtmfpUrl('live/empty'), '-o', ended, '-q']);
    await server.waitLog((l) => l.msg === 'play started' && l.stream === 'empty' && server.logs.indexOf(l) >= mark, RUN_MS);
    const stream = await client.publish('empty');
    stream.close();
    const r3 = await play;
    assert.equal(r3.code, 1, r3.stderr);
    assert.match(r3.stderr.trim(), /^covey play: the stream ended before any media \(NetStream\.Play\.UnpublishNotify: the publisher stopped\): .*ended\.flv not written$/);
    assert.ok(!existsSync(ended));
  } finally {
    await client.close();
  }
});

test('a stall after media started is reported once --wait has passed without media, and its end too; the recording goes on', { skip: !hasFfprobe && 'ffprobe is not installed' }, async () => {
  const client = await RtmfpClient.connect(server.rtmfpUrl('live'));
  try {
    const stream = await client.publish('stall');
    const tags = fixtureTags();
    const firstSecond = tags.filter((t) => t.timestamp < 1000);
    const rest = tags.filter((t) => t.timestamp >= 1000);
    const file = join(dir, 'stall.flv');
    let stalledSeen!: () => void;
    const stalled = new Promise<void>((r) => (stalledSeen = r));
    const mark = server.logs.length;
    const play = runCovey(['play', server.rtmfpUrl('live/stall'), '-o', file, '--wait', '2', '-q'], (all) => {
      if (all.includes('no media for 2 s')) stalledSeen();
    });
    await server.waitLog((l) => l.msg === 'play started' && l.stream === 'stall' && server.logs.indexOf(l) >= mark, RUN_MS);
    await publishInRealTime(stream, firstSecond);
    await stalled; // the publisher sends nothing until the player has said so
    await publishInRealTime(stream, rest); // timestamps run on from the first second's
    // Media and the close travel on flows of their own: close once the server has every frame.
    const publication = server.flash.apps.get('live')!.publication('stall')!;
    await until(() => publication.frames >= tags.length, RUN_MS, `all ${tags.length} frames at the server (${publication.frames})`);
    stream.close();
    const r = await play;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^covey play: no media for 2 s: the stream has stalled; still recording$/m);
    assert.match(r.stderr, /^covey play: media again after \d+\.\d s without$/m);
    assert.deepEqual(ffprobeStreams(file), ['aac', 'h264']);
    const videoFrames = new FlvParser().push(readFileSync(file)).filter((t) => t.type === FlvTagType.Video).length;
    assert.equal(videoFrames, tags.filter((t) => t.type === FlvTagType.Video).length, 'every video frame, before and after the stall');
  } finally {
    await client.close();
  }
});

test('a wrong -o is refused at once, in one line (exit 2), before connecting', async () => {
  const aFile = join(dir, 'a-file');
  writeFileSync(aFile, '');
  let readOnly: string;
  if (process.getuid?.() === 0) {
    readOnly = '/sys'; // root may write anywhere a mode allows; sysfs creates nothing
  } else {
    readOnly = join(dir, 'read-only');
    spawnSync('mkdir', [readOnly]);
    chmodSync(readOnly, 0o555);
  }
  const cases: Array<[string, RegExp]> = [
    [join(dir, 'no-such-folder', 'x.flv'), /^covey play: -o \S+x\.flv: no such folder \S+no-such-folder$/],
    [join(aFile, 'x.flv'), /^covey play: -o \S+x\.flv: \S+a-file is not a folder$/],
    [dir, /^covey play: -o \S+: is a folder \(name a file in it\)$/],
    [join(readOnly, 'covey-play-test.flv'), /^covey play: -o \S+covey-play-test\.flv: cannot write there \(permission denied\)$/],
  ];
  const sessionsBefore = server.logs.filter((l) => l.msg === 'RTMFP session opened').length;
  for (const [output, expected] of cases) {
    const r = await runCovey(['play', server.rtmfpUrl('live/x'), '-o', output]);
    assert.equal(r.code, 2, `${output}: ${r.stderr}`);
    assert.match(r.stderr.trim(), expected);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.equal(server.logs.filter((l) => l.msg === 'RTMFP session opened').length, sessionsBefore, 'no connection was made');
  assert.ok(!existsSync(join(readOnly, 'covey-play-test.flv')));
  assert.ok(statSync(dir).isDirectory());
});
