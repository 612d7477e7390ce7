// Every way `covey publish` and `covey play` end tells the server at once: the RTMFP close (or
// the end of the RTMP connection) reaches it before the process is gone, so the server does not
// keep a session until it times out, count a player that left, or send it media. Each test runs
// the command as a user would, against a live server, and looks for the server's log line of
// that session's end within 1 s of the process's exit.
import { test, before, after, afterEach } from 'node:test';
import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot as root, startCovey, type CoveyRun } from '../support/covey-cli.js';
import { startTestServer, until, type TestServer } from '../support/test-server.js';
import { UdpShim } from '../support/udp-shim.js';

const fixture = 'test/fixtures/sample-h264-aac.flv';
/** How soon after the process's exit the server must have ended its session. */
const CLOSE_SEEN_MS = 1000;
let server: TestServer;
let dir: string;

/** Every process a test starts, killed when it ends (a failed test must not leave a --loop publisher). */
const children = new Set<ChildProcess>();
/** A process starting under tsx on a loaded machine can take many seconds to connect. */
const START_MS = 40_000;

before(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'covey-exits-'));
});
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

type Run = CoveyRun;

/** Starts `covey ARGS...`, killed when the test ends. */
function covey(args: string[]): Run {
  const run = startCovey(args);
  children.add(run.child);
  return run;
}

/** The session number of the next RTMFP session to open after `seen` log lines. */
async function nextRtmfpSession(seen: number): Promise<number> {
  const line = await server.waitLog((l) => l.msg === 'RTMFP session opened' && server.logs.indexOf(l) >= seen, START_MS);
  return line.session as number;
}

/** Fails unless the server logged the end of `session` within CLOSE_SEEN_MS of `exitedAt`. */
async function assertClosedSoon(session: number, exitedAt: number): Promise<Record<string, unknown>> {
  const line = await server.waitLog((l) => l.msg === 'RTMFP session closed' && l.session === session, CLOSE_SEEN_MS + 500);
  const late = (line.time as number) - exitedAt;
  assert.ok(late <= CLOSE_SEEN_MS, `session ${session} closed ${late} ms after the process exited`);
  assert.equal(line.reason, 'closed by far end');
  return line;
}

const playersOf = (stream: string) => server.flash.apps.get('live')?.subscriptionCount(stream) ?? 0;

/**
 * Starts `covey play PLAY...`, then (once `ready` resolves for its session) `covey publish
 * PUBLISH...` to the end of its file: both exit 0 and the server ends both sessions within
 * CLOSE_SEEN_MS of their exits. Answers the player's stderr.
 */
async function publishToAPlayer(playArgs: string[], publishArgs: string[], ready: (playSession: number) => Promise<unknown>): Promise<string> {
  const mark = server.logs.length;
  const play = covey(['play', ...playArgs]);
  const playSession = await nextRtmfpSession(mark);
  await ready(playSession);
  const mark2 = server.logs.length;
  const pub = covey(['publish', fixture, ...publishArgs]);
  const pubSession = await nextRtmfpSession(mark2);
  const published = await pub.exited;
  assert.equal(published.code, 0, published.stderr);
  await assertClosedSoon(pubSession, published.exitedAt);
  const played = await play.exited;
  assert.equal(played.code, 0, played.stderr);
  await assertClosedSoon(playSession, played.exitedAt);
  return played.stderr;
}

test('covey publish over RTMFP closes its session when the file ends, and a player that saw UnpublishNotify closes its own', async () => {
  const url = server.rtmfpUrl('live/ends');
  await publishToAPlayer([url, '-o', '-', '-q'], [url, '-q'], (session) => server.waitLog((l) => l.msg === 'play started' && l.session === session, START_MS));
});

test('covey publish --group closes its session when the file ends, and a covey play --group that saw the group stream end closes its own', async () => {
  const url = server.rtmfpUrl('live/grp');
  // A group player plays nothing at the server: the publisher may start as soon as it is in.
  const stderr = await publishToAPlayer([url, '--group', 'exits', '-o', join(dir, 'grp.flv'), '-q'], [url, '--group', 'exits', '-q'], async () => {});
  assert.match(stderr, /fragments from peers/, 'played from the group');
});

test('covey play over RTMFP closes its session on SIGINT and SIGTERM, and the publisher counts no player after', async () => {
  const mark = server.logs.length;
  const pub = covey(['publish', fixture, server.rtmfpUrl('live/sig'), '--loop', '-q']);
  const pubSession = await nextRtmfpSession(mark);
  await server.waitLog((l) => l.msg === 'publish started' && l.stream === 'sig' && server.logs.indexOf(l) >= mark, START_MS);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const seen = server.logs.length;
    const play = covey(['play', server.rtmfpUrl('live/sig'), '-o', join(dir, `sig-${signal}.flv`), '-q']);
    const session = await nextRtmfpSession(seen);
    await server.waitLog((l) => l.msg === 'play started' && l.session === session, START_MS);
    await new Promise((r) => setTimeout(r, 300));
    play.child.kill(signal);
    const played = await play.exited;
    assert.equal(played.code, 0, `${signal}: ${played.stderr}`);
    await assertClosedSoon(session, played.exitedAt);
    assert.equal(playersOf('sig'), 0, `${signal}: the server still counts the player`);
  }
  // And the publisher, interrupted in turn, closes too.
  pub.child.kill('SIGINT');
  const published = await pub.exited;
  assert.equal(published.code, 0, published.stderr);
  await assertClosedSoon(pubSession, published.exitedAt);
  await server.waitLog((l) => l.msg === 'publish stopped' && l.stream === 'sig' && l.players === 0, 2000);
});

test('covey play over RTMFP closes its session when --duration is reached and when no media comes within --wait', async () => {
  const mark = server.logs.length;
  const pub = covey(['publish', fixture, server.rtmfpUrl('live/dur'), '--loop', '-q']);
  await server.waitLog((l) => l.msg === 'publish started' && l.stream === 'dur' && server.logs.indexOf(l) >= mark, START_MS);
  const seen = server.logs.length;
  const play = covey(['play', server.rtmfpUrl('live/dur'), '-o', join(dir, 'dur.flv'), '--duration', '1', '-q']);
  const session = await nextRtmfpSession(seen);
  const played = await play.exited;
  assert.equal(played.code, 0, played.stderr);
  await assertClosedSoon(session, played.exitedAt);
  pub.child.kill('SIGINT');
  await pub.exited;

  const seen2 = server.logs.length;
  const idle = covey(['play', server.rtmfpUrl('live/nobody'), '-o', join(dir, 'nobody.flv'), '--wait', '1', '-q']);
  const idleSession = await nextRtmfpSession(seen2);
  const failed = await idle.exited;
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /no media within 1 s/);
  await assertClosedSoon(idleSession, failed.exitedAt);
});

test('covey publish over RTMFP closes its session when its file turns out cut short', async () => {
  const whole = readFileSync(join(root, fixture));
  const cut = join(dir, 'cut.flv');
  writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.6)));
  const seen = server.logs.length;
  const pub = covey(['publish', cut, server.rtmfpUrl('live/cut'), '-q']);
  const session = await nextRtmfpSession(seen);
  const published = await pub.exited;
  assert.equal(published.code, 0, published.stderr);
  assert.match(published.stderr, /cut short/);
  await assertClosedSoon(session, published.exitedAt);
});

test('covey play over RTMP ends its TCP connection on SIGINT; the server logs it at once', async () => {
  const seen = server.logs.length;
  const play = covey(['play', server.url('live/rtmpsig'), '-o', '-', '-q']);
  await server.waitLog((l) => l.msg === 'play started' && l.stream === 'rtmpsig' && server.logs.indexOf(l) >= seen, START_MS);
  play.child.kill('SIGINT');
  const played = await play.exited;
  assert.equal(played.code, 0, played.stderr);
  const line = await server.waitLog((l) => l.msg === 'RTMP connection closed' && server.logs.indexOf(l) >= seen, CLOSE_SEEN_MS + 500);
  assert.ok((line.time as number) - played.exitedAt <= CLOSE_SEEN_MS);
});

test('covey play exits within about a second of SIGINT when the server has gone silent (no close acknowledgement)', async () => {
  const shim = new UdpShim({ host: '127.0.0.1', port: server.rtmfp.localAddress.port }, {});
  const port = await shim.listen();
  try {
    const seen = server.logs.length;
    const play = covey(['play', `rtmfp://127.0.0.1:${port}/live/silent`, '-o', '-', '-q']);
    await server.waitLog((l) => l.msg === 'play started' && l.stream === 'silent' && server.logs.indexOf(l) >= seen, START_MS);
    shim.policy = { loss: 1 };
    const signalled = Date.now();
    play.child.kill('SIGINT');
    const played = await play.exited;
    assert.equal(played.code, 0, played.stderr);
    const took = played.exitedAt - signalled;
    // The close waits 1 s for an acknowledgement that cannot come; node's exit adds a little.
    assert.ok(took < 5000, `exit took ${took} ms`);
    assert.ok(took >= 900, `exit took ${took} ms: it did not wait for the acknowledgement at all`);
  } finally {
    shim.close();
  }
});

/** SIGINTs a covey play still in its handshake: it must exit 0 at once, saying `file` was not written, and leave none. */
async function interruptBeforeHandshake(play: Run, file: string): Promise<void> {
  const signalled = Date.now();
  play.child.kill('SIGINT');
  const played = await play.exited;
  const took = played.exitedAt - signalled;
  assert.equal(played.code, 0, played.stderr);
  assert.ok(took < 5000, `exit took ${took} ms: it waited for the handshake to time out (10 s) instead`);
  assert.equal(played.stderr.trim(), `covey play: interrupted before the play started: ${file} not written`);
  assert.equal(existsSync(file), false);
}

test('covey play interrupted during the RTMFP handshake (nothing answers its IHello) exits at once and says nothing was written', async () => {
  // A UDP port that takes the IHellos and answers none: the handshake would give up after 10 s.
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
  let ihellos = 0;
  silent.on('message', () => ihellos++);
  try {
    const file = join(dir, 'no-handshake.flv');
    const play = covey(['play', `rtmfp://127.0.0.1:${silent.address().port}/live/x`, '-o', file, '-q']);
    await until(() => ihellos > 0, START_MS, 'the first IHello');
    await interruptBeforeHandshake(play, file);
  } finally {
    silent.close();
  }
});

test('covey play interrupted while an RTMP server has not finished the handshake (it accepted and says nothing) exits at once', async () => {
  const accepted: Socket[] = [];
  const mute = createServer((socket) => accepted.push(socket));
  await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', () => resolve()));
  try {
    const file = join(dir, 'rtmp-no-handshake.flv');
    const play = covey(['play', `rtmp://127.0.0.1:${(mute.address() as AddressInfo).port}/live/x`, '-o', file, '-q']);
    await until(() => accepted.length > 0, START_MS, 'the TCP connection');
    await interruptBeforeHandshake(play, file);
  } finally {
    for (const s of accepted) s.destroy();
    mute.close();
  }
});

test('covey play interrupted while the server has not answered its connect or play yet exits within about a second, closing its session, and says nothing was written', async () => {
  // 50 ms each way: the play's round trips after connect take a few hundred ms, so the link goes
  // silent (loss 1) while the client waits for its answer.
  const shim = new UdpShim({ host: '127.0.0.1', port: server.rtmfp.localAddress.port }, { delayMs: 50 });
  const port = await shim.listen();
  try {
    const seen = server.logs.length;
    const play = covey(['play', `rtmfp://127.0.0.1:${port}/live/unanswered`, '-o', join(dir, 'unanswered.flv'), '-q']);
    await server.waitLog((l) => l.msg === 'client connected' && server.logs.indexOf(l) >= seen, START_MS);
    shim.policy = { loss: 1 };
    const signalled = Date.now();
    play.child.kill('SIGINT');
    const played = await play.exited;
    const took = played.exitedAt - signalled;
    assert.equal(played.code, 0, played.stderr);
    assert.ok(took < 5000, `exit took ${took} ms: it waited for the server's answer (10 s) instead`);
    assert.ok(took >= 900, `exit took ${took} ms: it did not try to close its session`);
    assert.match(played.stderr.trim(), /^covey play: interrupted before (the play started|any media): \S+unanswered\.flv not written$/);
  } finally {
    shim.close();
  }
});
