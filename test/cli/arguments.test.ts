// What `covey publish` and `covey play` check before they connect (a wrong command line is exit 2
// and reaches no server), and what publish says of a file cut short.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlvParser } from '../../src/codec/flv.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const covey = ['--import', 'tsx', 'src/cli/main.ts'];
const fixture = readFileSync(join(root, 'test/fixtures/sample-h264-aac.flv'));
let dir: string;
/** A TCP listener and a UDP socket on one port pair that count whatever reaches them. */
let tcp: Server;
let udp: UdpSocket;
let tcpPort: number;
let udpPort: number;
let reached = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'covey-args-'));
  tcp = createServer((socket) => {
    reached++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  tcpPort = (tcp.address() as AddressInfo).port;
  udp = createSocket('udp4');
  udp.on('message', () => reached++);
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  udpPort = udp.address().port;
});
after(() => {
  tcp.close();
  udp.close();
  rmSync(dir, { recursive: true, force: true });
});

function runCovey(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...covey, ...args], { cwd: root });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

function file(name: string, bytes: Buffer | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

test('publish refuses a file that is not FLV, or has no media, before it connects', async () => {
  // An FLV header and one script tag, but no audio or video after it.
  const headerOnly = fixture.subarray(0, 13 + 11 + fixture.readUIntBE(13 + 1, 3) + 4);
  assert.equal(new FlvParser().push(headerOnly).length, 1);
  mkdirSync(join(dir, 'folder.flv'));
  const cases: Array<[string, RegExp]> = [
    [file('notes.txt', 'these are not the frames you are looking for\n'), /: not an FLV file: signature is 746865, expected 464c56 \("FLV"\) \(at byte 0\)$/],
    [file('tiny.flv', 'FLV'), /: not an FLV file: 3 bytes, shorter than an FLV header$/],
    [file('empty.flv', ''), /: empty file, not FLV$/],
    [file('header-only.flv', headerOnly), /: no complete audio or video tag in the whole file: nothing to publish$/],
    [join(dir, 'folder.flv'), /^covey publish: cannot read .*folder\.flv: EISDIR$/],
  ];
  for (const [path, expected] of cases) {
    for (const url of [`rtmp://127.0.0.1:${tcpPort}/live/x`, `rtmfp://127.0.0.1:${udpPort}/live/x`]) {
      const r = await runCovey(['publish', path, url]);
      assert.equal(r.code, 2, `${path}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^covey publish: ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}|^covey publish: cannot read`));
      assert.match(r.stderr.trim(), expected);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  }
  assert.equal(reached, 0, 'no connection was attempted');
});

test('a URL with a port out of range says so, for either protocol, before connecting', async () => {
  for (const [args, line] of [
    [['publish', join(root, 'test/fixtures/sample-h264-aac.flv'), 'rtmp://127.0.0.1:99999/live/x'], 'covey publish: port 99999 out of range in rtmp://127.0.0.1:99999/live/x: expected 1-65535'],
    [['play', 'rtmfp://[::1]:70000/live/x', '-o', join(dir, 'never.flv')], 'covey play: port 70000 out of range in rtmfp://[::1]:70000/live/x: expected 1-65535'],
    [['play', 'rtmp://127.0.0.1:0/live/x', '-o', '-'], 'covey play: port 0 out of range in rtmp://127.0.0.1:0/live/x: expected 1-65535'],
    [['play', 'rtmp://127.0.0.1:http/live/x', '-o', '-'], 'covey play: bad port "http" in rtmp://127.0.0.1:http/live/x: expected a number 1-65535'],
  ] as Array<[string[], string]>) {
    const r = await runCovey(args);
    assert.equal(r.stderr, `${line}\n`);
    assert.equal(r.code, 2, args.join(' '));
  }
  assert.throws(() => readFileSync(join(dir, 'never.flv')), /ENOENT/, 'a refused play leaves no file');
});

test('an unknown host is named in the same words over RTMFP and RTMP', async () => {
  const lines: string[] = [];
  for (const scheme of ['rtmfp', 'rtmp']) {
    const r = await runCovey(['play', `${scheme}://no-such-host.invalid:${scheme === 'rtmp' ? tcpPort : udpPort}/live/x`, '-o', '-']);
    assert.equal(r.code, 1, r.stderr);
    lines.push(r.stderr);
  }
  assert.match(lines[0]!, /^covey play: cannot resolve host no-such-host\.invalid: .+\n$/);
  assert.equal(lines[1], lines[0]);
});

test('a truncated FLV is published up to its last complete tag, with a warning saying how much', async () => {
  const server: TestServer = await startTestServer();
  try {
    const cut = fixture.subarray(0, 20_000);
    const complete = new FlvParser().push(cut);
    const mediaMs = Math.max(...complete.map((t) => t.timestamp));
    const r = await runCovey(['publish', '-q', file('cut.flv', cut), server.url('live/cut')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stderr,
      `covey publish: warning: ${join(dir, 'cut.flv')} is cut short, its last tag incomplete; published ${(mediaMs / 1000).toFixed(1)} s of media, ${complete.length} frames, up to there\n`,
    );
    await server.waitLog((l) => l.msg === 'publish stopped');
    const whole = await runCovey(['publish', '-q', join(root, 'test/fixtures/sample-h264-aac.flv'), server.url('live/whole')]);
    assert.equal(whole.code, 0);
    assert.equal(whole.stderr, '', 'a whole file publishes without a word');
  } finally {
    await server.close();
  }
});
