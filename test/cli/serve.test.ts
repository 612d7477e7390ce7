// `covey serve` as a user runs it: a real process, real sockets, its log lines and exit codes.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const covey = ['--import', 'tsx', 'src/cli/main.ts'];

test('covey serve starts, logs where it listens, and accepts an RTMFP session', async () => {
  const child = spawn(process.execPath, [...covey, 'serve', '--host', '127.0.0.1', '--rtmfp-port', '0', '--no-rtmp', '--log-format', 'json'], { cwd: root });
  try {
    const lines: Array<Record<string, unknown>> = [];
    let buffered = '';
    child.stderr.on('data', (d: Buffer) => {
      buffered += d.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      for (const p of parts) if (p.trim()) lines.push(JSON.parse(p));
    });
    const t0 = Date.now();
    while (!lines.some((l) => l.msg === 'covey ready')) {
      assert.ok(Date.now() - t0 < 10_000, `server did not get ready: ${JSON.stringify(lines)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const listening = lines.find((l) => l.msg === 'RTMFP listening (UDP)')!;
    const port = Number(String(listening.address).split(':').pop());
    assert.ok(port > 0);
    const udp = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
    const client = new RtmfpEndpoint({ port: udp, crypto: new FlashCrypto({ server: false }) });
    const session = await client.connect({ ancillaryData: `rtmfp://127.0.0.1:${port}/live` }, [{ host: '127.0.0.1', port }]);
    assert.equal(session.state, 'open');
    while (!lines.some((l) => l.msg === 'RTMFP session opened')) {
      assert.ok(Date.now() - t0 < 10_000, 'no session log line');
      await new Promise((r) => setTimeout(r, 20));
    }
    client.close();
  } finally {
    child.kill('SIGTERM');
  }
});

test('a bad flag value stops start-up with one clear line and exit code 2', () => {
  const r = spawnSync(process.execPath, [...covey, 'serve', '--rtmfp-port', 'abc'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), 'covey: bad config value rtmfp.port="abc" (from --rtmfp-port): expected a port number 0-65535');
  const merge = spawnSync(process.execPath, [...covey, 'serve', '--media-merge-ms', '5000'], { cwd: root, encoding: 'utf8' });
  assert.equal(merge.status, 2);
  assert.equal(merge.stderr.trim(), 'covey: bad config value media.mergeMs="5000" (from --media-merge-ms): expected whole milliseconds 0-1000');
});

test('an unknown config key is named', () => {
  const r = spawnSync(process.execPath, [...covey, 'serve', '--config', 'test/fixtures/bad-config.json'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown config key rtmfp\.prot/);
});

test('--help lists the serve options', () => {
  const r = spawnSync(process.execPath, [...covey, 'serve', '--help'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0);
  for (const flag of ['--config', '--www', '--rtmfp-port', '--rtmp-port', '--log-level', '--media-merge-ms']) assert.ok(r.stdout.includes(flag), flag);
});
