// `covey serve` as a user runs it: a real process, real sockets, its log lines and exit codes.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  assert.equal(r.stderr.trim(), 'covey serve: bad config value rtmfp.port="abc" (from --rtmfp-port): expected a port number 0-65535');
  const merge = spawnSync(process.execPath, [...covey, 'serve', '--media-merge-ms', '5000'], { cwd: root, encoding: 'utf8' });
  assert.equal(merge.status, 2);
  assert.equal(merge.stderr.trim(), 'covey serve: bad config value media.mergeMs="5000" (from --media-merge-ms): expected whole milliseconds 0-1000');
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

/** Runs `covey serve` with JSON logs from `cwd` until it is ready (or exits); returns its log lines, then stops it. */
async function serveLogs(args: string[], cwd = root): Promise<{ lines: Array<Record<string, unknown>>; ready: boolean; stderr: string }> {
  // Absolute paths, so the server can be started from any folder (tsx is found from here).
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', '--host', '127.0.0.1', '--rtmfp-port', '0', '--rtmp-port', '0', '--log-format', 'json', ...args], { cwd });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const parsed = () => stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const t0 = Date.now();
  let code: number | null | undefined;
  void exited.then((c) => (code = c));
  while (code === undefined && !parsed().some((l) => l.msg === 'covey ready')) {
    assert.ok(Date.now() - t0 < 10_000, `server did not get ready: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const ready = code === undefined;
  if (ready) {
    child.kill('SIGTERM');
    await exited;
  }
  return { lines: parsed(), ready, stderr };
}

test('with both protocols disabled, start-up is refused in one line (it used to listen on nothing)', () => {
  const r = spawnSync(process.execPath, [...covey, 'serve', '--no-rtmfp', '--no-rtmp'], { cwd: root, encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'covey serve: nothing to listen on: RTMFP and RTMP are both disabled (--no-rtmfp, --no-rtmp or "enabled": false in the config file)\n');
  assert.ok(!r.stdout.includes('ready'));
});

test('every argument error is one line and exit 2, as a bad value is', () => {
  const cases: Array<[string[], string]> = [
    [['serve', '--bogus'], "covey serve: unknown option '--bogus' (covey serve --help lists its options)"],
    [['serve', '--rtmfp-port'], "covey serve: option '--rtmfp-port <port>' argument missing (covey serve --help lists its options)"],
    [['serve', 'extra'], "covey serve: too many arguments for 'serve'. Expected 0 arguments but got 1. (covey serve --help lists its options)"],
    [['srve'], "covey: unknown command 'srve' (did you mean serve? covey --help lists the commands)"],
    [['play', 'rtmp://127.0.0.1/live/x'], "covey play: required option '-o, --output <file>' not specified (covey play --help lists its options)"],
    [['publish', 'a.flv'], "covey publish: missing required argument 'url' (covey publish --help lists its options)"],
    [['play', 'rtmp://127.0.0.1/live/x', '-o', '-', '--wait', 'soon'], 'covey play: --wait must be a positive number of seconds, got soon'],
  ];
  for (const [args, line] of cases) {
    const r = spawnSync(process.execPath, [...covey, ...args], { cwd: root, encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.stderr, `${line}\n`, args.join(' '));
    assert.equal(r.status, 2, args.join(' '));
  }
  const bare = spawnSync(process.execPath, covey, { cwd: root, encoding: 'utf8' });
  assert.equal(bare.status, 2, 'covey alone: the help, as a usage error');
  assert.match(bare.stderr, /^Usage: covey /);
  for (const ok of [['--help'], ['--version'], ['help'], ['play', '--help']]) {
    assert.equal(spawnSync(process.execPath, [...covey, ...ok], { cwd: root }).status, 0, ok.join(' '));
  }
});

test('help: a required option shows as required, defaults print as typed (no quotes)', () => {
  const help = (command: string) => spawnSync(process.execPath, [...covey, command, '--help'], { cwd: root, encoding: 'utf8' }).stdout;
  const play = help('play');
  assert.match(play, /^Usage: covey play -o <file> \[options\] <url>$/m);
  assert.match(play, /-o, --output <file> +FLV file to write, or - for stdout \(required\)/);
  assert.match(play, /\(default: 10\)/);
  for (const command of ['serve', 'publish', 'play']) assert.ok(!/default: "/.test(help(command)), `${command} --help quotes a default`);
});

test('the start-up log names the app root and its apps; an empty one is warned about', async () => {
  const shipped = await serveLogs([]);
  const apps = shipped.lines.find((l) => l.apps !== undefined);
  assert.ok(apps, shipped.stderr);
  assert.equal(apps.www, join(root, 'www'));
  assert.deepEqual(apps.apps, ['chat', 'live', 'room']);
  assert.equal(apps.msg, 'serving apps chat, live, room');

  const dir = mkdtempSync(join(tmpdir(), 'covey-www-'));
  try {
    const empty = await serveLogs(['--www', dir]);
    const warning = empty.lines.find((l) => l.level === 40);
    assert.ok(warning, empty.stderr);
    assert.equal(warning.www, dir);
    assert.match(String(warning.msg), /^no apps: the www folder has no app folders/);
    assert.ok(empty.ready, 'an empty www/ is a warning, not a refusal');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('started from another folder, covey serve uses that folder\'s www/ when it has one, else its own', async () => {
  const elsewhere = mkdtempSync(join(tmpdir(), 'covey-cwd-'));
  try {
    const own = await serveLogs([], elsewhere);
    assert.ok(own.ready, `it starts (it used to refuse: no ./www there): ${own.stderr}`);
    const apps = own.lines.find((l) => l.apps !== undefined)!;
    assert.equal(apps.www, join(root, 'www'));
    assert.deepEqual(apps.apps, ['chat', 'live', 'room']);

    mkdirSync(join(elsewhere, 'www', 'mine'), { recursive: true });
    const local = await serveLogs([], elsewhere);
    const localApps = local.lines.find((l) => l.apps !== undefined)!;
    assert.equal(localApps.www, join(elsewhere, 'www'));
    assert.deepEqual(localApps.apps, ['mine']);

    const help = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', '--help'], { cwd: elsewhere, encoding: 'utf8' });
    assert.match(help.stdout.replace(/\s+/g, ' '), new RegExp(`started here: ${join(elsewhere, 'www').replace(/[/\\\\.]/g, '\\$&')}\\)`));
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }
});

test('a port already in use stops start-up with one line and exit 1 (a failure, not a usage error)', async () => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  try {
    const port = (busy.address() as AddressInfo).port;
    const r = spawnSync(process.execPath, [...covey, 'serve', '--host', '127.0.0.1', '--no-rtmfp', '--rtmp-port', String(port), '--log-level', 'silent'], { cwd: root, encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `covey serve: cannot listen for RTMP (TCP) on 127.0.0.1:${port}: the port is already in use (another server running? pick another with a flag or the config file)\n`);
  } finally {
    busy.close();
  }
});
