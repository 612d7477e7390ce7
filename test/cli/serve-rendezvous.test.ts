// `covey serve` as a user runs it, for rendezvous: at --log-level debug each introduction is
// logged; --redirect-to sends connecting clients to another server; bad values stop start-up
// with one line.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { connectFlashPeer } from '../support/rendezvous-peers.js';
import { defaultConfig } from '../../src/server-config.js';
import { DEFAULT_KEEPALIVE } from '../../src/rtmfp-flash/peer-presence.js';
import { startTestServer, testApps, until } from '../support/test-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const covey = ['--import', 'tsx', 'src/cli/main.ts'];

/** Starts `covey serve` with JSON logs on stderr; answers its log lines and RTMFP port once ready. */
async function serve(...args: string[]): Promise<{ child: ChildProcess; lines: Array<Record<string, unknown>>; port: number }> {
  const child = spawn(process.execPath, [...covey, 'serve', '--host', '127.0.0.1', '--rtmfp-port', '0', '--no-rtmp', '--log-format', 'json', ...args], { cwd: root });
  const lines: Array<Record<string, unknown>> = [];
  let buffered = '';
  child.stderr!.on('data', (d: Buffer) => {
    buffered += d.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  const listening = await until(() => lines.find((l) => l.msg === 'RTMFP listening (UDP)'), 15_000, 'covey serve to listen');
  return { child, lines, port: Number(String(listening.address).split(':').pop()) };
}

test('covey serve --log-level debug logs each introduction', async () => {
  const { child, lines, port } = await serve('--log-level', 'debug');
  const b = await connectFlashPeer(port);
  const c = new RtmfpEndpoint({ port: await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 }), crypto: new FlashCrypto({ server: false }) });
  try {
    const session = await c.connect({ fingerprint: b.endpoint.peerId }, [{ host: '127.0.0.1', port }]);
    assert.equal(session.peerId, b.endpoint.peerId.toString('hex'));
    const line = await until(() => lines.find((l) => l.msg === 'introduction'), 5000, 'the introduction log line');
    assert.equal(line.peerId, b.endpoint.peerId.toString('hex'));
    assert.equal(line.from, `127.0.0.1:${c.localAddress.port}`);
  } finally {
    b.close();
    c.close();
    child.kill('SIGTERM');
  }
});

test('covey serve --redirect-to sends a connecting client to the server named', async () => {
  const target = await startTestServer({ flash: testApps([], {}) });
  const targetPort = target.rtmfp.localAddress.port;
  const { child, lines, port } = await serve('--redirect-to', `127.0.0.1:${targetPort}`);
  try {
    // The line after 'RTMFP listening': it may come in the next chunk of output.
    await until(() => lines.some((l) => l.msg === 'RTMFP connections are redirected to other servers in turn'), 5000, 'the redirect line');
    const client = await RtmfpClient.connect(`rtmfp://127.0.0.1:${port}/live`);
    assert.equal(client.connectInfo!.code, 'NetConnection.Connect.Success');
    assert.equal(client.session.address.port, targetPort);
    client.close();
  } finally {
    child.kill('SIGTERM');
    await target.close();
  }
});

test("the config's default keepalive periods are the glue's (server-config may not import it, so they are written twice)", () => {
  const { keepaliveServerMs, keepalivePeerMs } = defaultConfig().rendezvous;
  assert.deepEqual({ serverMs: keepaliveServerMs, peerMs: keepalivePeerMs }, DEFAULT_KEEPALIVE);
});

test('bad rendezvous values stop start-up with one clear line and exit code 2', () => {
  const bad = spawnSync(process.execPath, [...covey, 'serve', '--redirect-to', '127.0.0.1:1935,example.com:1935'], { cwd: root, encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim(), 'covey serve: bad config value rtmfp.redirectTo="127.0.0.1:1935,example.com:1935" (from --redirect-to): expected a list of numeric "ip:port" addresses ("[ipv6]:port" for IPv6)');
  const short = spawnSync(process.execPath, [...covey, 'serve', '--keepalive-peer-ms', '1000'], { cwd: root, encoding: 'utf8' });
  assert.equal(short.status, 2);
  assert.equal(short.stderr.trim(), 'covey serve: bad config value rendezvous.keepalivePeerMs="1000" (from --keepalive-peer-ms): expected at least 5000 ms');
});
