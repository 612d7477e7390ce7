// media.publishTakeoverMs from the command line (off by default; config key and
// --publish-takeover-ms set it; bad values stop start-up with one line; --help names it), and
// `covey publish` when its name is taken over: it stops at once with one line (exit 1) and
// closes its session, even in the middle of a long gap in its file.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyConfigObject, ConfigError, resolveConfig } from '../../src/cli/config.js';
import { defaultConfig } from '../../src/server-config.js';
import { startServer } from '../../src/server.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import { encodeFlvHeader, encodeFlvTag } from '../../src/codec/flv.js';
import { captureLogs, until } from '../support/test-server.js';
import { startCovey, projectRoot as root } from '../support/covey-cli.js';
import { fixtureTags } from '../support/media.js';

const covey = ['--import', 'tsx', 'src/cli/main.ts'];

test('publish takeover: off by default, config file key, flag, one-line refusal of a bad value, in --help', () => {
  assert.equal(resolveConfig({}, root).media.publishTakeoverMs, 0);
  const config = defaultConfig();
  applyConfigObject(config, { media: { publishTakeoverMs: 5000 } }, 'covey.json');
  assert.equal(config.media.publishTakeoverMs, 5000);
  assert.equal(resolveConfig({ publishTakeoverMs: '3000' }, root).media.publishTakeoverMs, 3000);
  assert.throws(() => resolveConfig({ publishTakeoverMs: '5s' }, root), new ConfigError('bad config value media.publishTakeoverMs="5s" (from --publish-takeover-ms): expected whole milliseconds 0-3600000'));
  const r = spawnSync(process.execPath, [...covey, 'serve', '--publish-takeover-ms', '-1'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr.trim(), /^covey serve: bad config value media\.publishTakeoverMs="-1" \(from --publish-takeover-ms\)/);
  const help = spawnSync(process.execPath, [...covey, 'serve', '--help'], { cwd: root, encoding: 'utf8' });
  assert.ok(help.stdout.includes('--publish-takeover-ms') && help.stdout.includes('"publishTakeoverMs": 0'), help.stdout);
});

test('covey publish whose name is taken over after a silence stops at once, in one line, exit 1, and closes its session', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-takeover-'));
  const capture = captureLogs();
  const server = await startServer(resolveConfig({ host: '127.0.0.1', rtmfpPort: '0', rtmpPort: '0', publishTakeoverMs: '1500' }, root), capture.log);
  const taker = await RtmpClient.connect(`rtmp://127.0.0.1:${server.rtmp!.address.port}/live`);
  try {
    // Half a second of media, then 60 s of nothing before the rest: covey publish waits in
    // real time, as it would for a live source that froze.
    const tags = fixtureTags();
    const file = join(dir, 'gap.flv');
    writeFileSync(file, Buffer.concat([
      encodeFlvHeader({ hasAudio: true, hasVideo: true }),
      ...tags.map((t) => encodeFlvTag(t.timestamp < 500 ? t : { ...t, timestamp: t.timestamp + 60_000 })),
    ]));
    const publisher = startCovey(['publish', '-q', file, `rtmfp://127.0.0.1:${server.rtmfp!.localAddress.port}/live/gap`]);
    const started = await capture.waitLog((l) => l.msg === 'publish started' && l.stream === 'gap', 60_000);
    const publication = server.flash.apps.get('live')!.publication('gap')!;
    await until(() => publication.frames > 0 && Date.now() - publication.lastMediaAt > 1600, 20_000, 'media, then a silence past the takeover time');
    await taker.publish('gap');
    const taken = Date.now();
    const exit = await publisher.exited;
    assert.ok(Date.now() - taken < 20_000, 'it did not wait for the end of the gap');
    assert.equal(exit.code, 1, exit.stderr);
    const lines = exit.stderr.trim().split('\n');
    assert.equal(lines.length, 1, exit.stderr);
    assert.match(lines[0]!, /^covey publish: the server ended our publishing: NetStream\.Publish\.Idle: gap was taken over by another publisher: nothing published for \d+ ms\.$/);
    const closed = await capture.waitLog((l) => l.msg === 'RTMFP session closed' && l.peer === started.peer, 10_000);
    assert.equal(closed.reason, 'closed by far end');
  } finally {
    await taker.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
