// Dead peers over real UDP (issue 15). The server is started from the command line's
// configuration with liveness shortened (--ping-after-ms 500 --ping-interval-ms 500
// --dead-after-pings 3: dead after 2 s of silence, against 8 s by default): a `covey publish`
// killed with SIGKILL frees its name and its players hear UnpublishNotify; a killed `covey play`
// is dropped and sent nothing more; a client that only answers pings is kept; a peer that
// vanishes before connecting is logged as dead, not as late. Each session's end is logged once,
// when it happens, with why. One test runs a server at the default timings (dead after 8 s of
// silence) to show what a user gets with no options: the seconds from the kill to UnpublishNotify
// are measured by scripts/bench/dead-publisher.ts.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../../src/cli/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import type { NetStream } from '../../src/client/net-connection.js';
import { captureLogs, until, type LogCapture } from '../support/test-server.js';
import { startCovey } from '../support/covey-cli.js';
import { DEFAULT_TIMINGS, deadAfterMs } from '../../src/rtmfp/session.js';
import { FIXTURE } from '../support/media.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const covey = ['--import', 'tsx', 'src/cli/main.ts'];
/** 2 s of silence and a session is dead. */
const LIVENESS = { pingAfterMs: '500', pingIntervalMs: '500', deadAfterPings: '3' };
const DEAD = /^dead: 3 keepalive pings unanswered, nothing heard for \d+ ms$/;

let server: RunningServer;
let capture: LogCapture;
const children: ChildProcess[] = [];

before(async () => {
  capture = captureLogs();
  server = await startServer(resolveConfig({ host: '127.0.0.1', rtmfpPort: '0', rtmpPort: '0', ...LIVENESS }, root), capture.log);
});
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await server.close();
});

const rtmfpUrl = (path: string) => `rtmfp://127.0.0.1:${server.rtmfp!.localAddress.port}/${path}`;
const rtmpUrl = (path: string) => `rtmp://127.0.0.1:${server.rtmp!.address.port}/${path}`;

function runCovey(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [...covey, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  return child;
}

async function killHard(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** The log lines that end RTMFP sessions whose peer is `peer` (host:port). */
const closedLines = (peer: string) => capture.logs.filter((l) => l.msg === 'RTMFP session closed' && l.peer === peer);

const unpublished = (s: NetStream) => s.statuses.some((i) => i.code === 'NetStream.Play.UnpublishNotify');

test('a covey publish killed with SIGKILL frees its name: its RTMFP and RTMP players get UnpublishNotify, a republish succeeds', async (t) => {
  const name = 'killed-publisher';
  const rtmfpPlayer = await RtmfpClient.connect(rtmfpUrl('live'));
  const rtmpPlayer = await RtmpClient.connect(rtmpUrl('live'));
  try {
    const players = [await rtmfpPlayer.play(name), await rtmpPlayer.play(name)];
    const publisher = runCovey(['publish', '--loop', '-q', FIXTURE, rtmfpUrl(`live/${name}`)]);
    const started = await capture.waitLog((l) => l.msg === 'publish started' && l.stream === name, 20_000);
    await until(() => players.every((p) => p.receivedBytes > 0), 10_000, 'media at both players');
    const killedAt = Date.now();
    await killHard(publisher);

    await until(() => players.every(unpublished), 10_000, 'UnpublishNotify at both players');
    t.diagnostic(`UnpublishNotify ${Date.now() - killedAt} ms after SIGKILL (dead after 2 s of silence)`);
    const peer = String(started.peer);
    const lines = closedLines(peer);
    assert.equal(lines.length, 1, `one line for the publisher's session end: ${JSON.stringify(lines)}`);
    assert.match(String(lines[0]!.reason), DEAD);
    assert.match(String(lines[0]!.peerId), /^[0-9a-f]{64}$/);
    const stopped = capture.logs.findIndex((l) => l.msg === 'publish stopped' && l.stream === name);
    assert.ok(stopped > capture.logs.indexOf(lines[0]!), 'the session end is logged when it happens, then the unpublish it causes');

    const republisher = await RtmfpClient.connect(rtmfpUrl('live'));
    try {
      await republisher.publish(name); // rejects on NetStream.Publish.BadName
    } finally {
      republisher.close();
    }
  } finally {
    rtmfpPlayer.close();
    rtmpPlayer.close();
  }
});

test('at the default timings, with no options: a covey publish killed with SIGKILL is found dead after 8 s of silence, its players (a covey play among them) get UnpublishNotify, and a quiet client connected all along is kept', async (t) => {
  const logs = captureLogs();
  const own = await startServer(resolveConfig({ host: '127.0.0.1', rtmfpPort: '0', rtmpPort: '0' }, root), logs.log);
  const url = (path: string) => `rtmfp://127.0.0.1:${own.rtmfp!.localAddress.port}/${path}`;
  const name = 'killed-at-defaults';
  const quiet = await RtmfpClient.connect(url('live'));
  const quietSince = Date.now();
  const rtmfpPlayer = await RtmfpClient.connect(url('live'));
  const rtmpPlayer = await RtmpClient.connect(`rtmp://127.0.0.1:${own.rtmp!.address.port}/live`);
  const publisher = startCovey(['publish', '--loop', '-q', FIXTURE, url(`live/${name}`)]);
  children.push(publisher.child);
  const player = startCovey(['play', url(`live/${name}`), '-o', '-', '-q']);
  children.push(player.child);
  try {
    const players = [await rtmfpPlayer.play(name), await rtmpPlayer.play(name)];
    const started = await logs.waitLog((l) => l.msg === 'publish started' && l.stream === name, 40_000);
    const app = own.flash.apps.get('live')!;
    await until(() => players.every((p) => p.receivedBytes > 0) && app.subscriptionCount(name) === 3, 40_000, 'media at both in-process players, and covey play subscribed');
    // A second of media after covey play subscribed, so it has some to record (a play that
    // ends before any media is a failure, exit 1).
    const publication = app.publication(name)!;
    const framesThen = publication.frames;
    await until(() => publication.frames > framesThen + 50, 40_000, 'a second more of media');
    const killedAt = Date.now();
    await killHard(publisher.child);

    await until(() => players.every(unpublished), 40_000, 'UnpublishNotify at the RTMFP and RTMP players');
    t.diagnostic(`UnpublishNotify ${Date.now() - killedAt} ms after SIGKILL (default timings: dead after ${deadAfterMs(DEFAULT_TIMINGS)} ms of silence)`);
    const played = await player.exited;
    assert.equal(played.code, 0, `covey play ends normally at UnpublishNotify: ${played.stderr}`);
    const lines = logs.logs.filter((l) => l.msg === 'RTMFP session closed' && l.peer === started.peer);
    assert.equal(lines.length, 1, `one line for the publisher's session end: ${JSON.stringify(lines)}`);
    const silence = /^dead: 5 keepalive pings unanswered, nothing heard for (\d+) ms$/.exec(String(lines[0]!.reason));
    assert.ok(silence, `the default 5 pings: ${String(lines[0]!.reason)}`);
    assert.ok(Number(silence[1]) >= 8000, `dead after the default 3 s + 5 x 1 s of silence, not sooner: ${silence[1]} ms`);

    // The quiet client sent nothing of its own all this time, longer than a silent one lasts:
    // its pings and its answers to the server's keep it.
    assert.ok(Date.now() - quietSince > deadAfterMs(DEFAULT_TIMINGS), 'quiet for longer than the 8 s bound');
    const session = [...own.rtmfp!.allSessions()].find((s) => s.peerId === quiet.peerId);
    assert.equal(session?.state, 'open', 'the quiet client\'s session is open at the server');
    assert.ok(!logs.logs.some((l) => l.msg === 'RTMFP session closed' && l.peerId === quiet.peerId), 'no end logged for it');
    await quiet.publish(name); // the freed name, through the session that sat quiet
  } finally {
    quiet.close();
    rtmfpPlayer.close();
    rtmpPlayer.close();
    await own.close();
  }
});

test('a covey play killed with SIGKILL is dropped: no longer a player, and the server sends its address nothing more', async () => {
  const name = 'killed-player';
  const publisher = runCovey(['publish', '--loop', '-q', FIXTURE, rtmfpUrl(`live/${name}`)]);
  await capture.waitLog((l) => l.msg === 'publish started' && l.stream === name, 20_000);
  const app = server.flash.apps.get('live')!;
  const player = runCovey(['play', rtmfpUrl(`live/${name}`), '-o', '-', '-q']);
  await until(() => app.subscriptionCount(name) === 1, 20_000, 'the player');
  const publication = app.publication(name)!;
  // The player's session: the one whose peer is not the publisher's.
  const publisherPeer = String(capture.logs.find((l) => l.msg === 'publish started' && l.stream === name)!.peer);
  const session = await until(() => {
    const others = [...server.rtmfp!.allSessions()].filter((s) => s.state === 'open' && `${s.address.host}:${s.address.port}` !== publisherPeer);
    return others.length === 1 && others[0];
  }, 5000, 'the player\'s session');
  const framesAtPlay = publication.frames;
  await until(() => publication.frames > framesAtPlay + 20, 5000, 'media flowing to the player');

  await killHard(player);
  // Its port is free again: listen there for whatever the server still sends it.
  const port = createSocket('udp4');
  let received = 0;
  let receivedAfterEnd = 0;
  let ended = false;
  port.on('message', () => (ended ? receivedAfterEnd++ : received++));
  await new Promise<void>((r) => port.bind(session.address.port, '127.0.0.1', r));
  try {
    await until(() => session.state === 'closed', 10_000, 'the player\'s session to end');
    // What the server sent before the end can still be on its way (a batch flushed at the end of
    // the tick, the socket queues): let it land before counting (CI once counted 1 datagram).
    await new Promise((r) => setTimeout(r, 250));
    ended = true;
    const lines = closedLines(`${session.address.host}:${session.address.port}`);
    assert.equal(lines.length, 1);
    assert.match(String(lines[0]!.reason), DEAD);
    assert.equal(app.subscriptionCount(name), 0, 'no longer counted as a player');
    assert.ok(received > 0, 'the server was still sending there until the session ended');
    // Another second of media through the server: none of it goes to the dead player.
    const framesAtEnd = publication.frames;
    await until(() => publication.frames > framesAtEnd + 50, 5000, 'a second more of media');
    assert.equal(receivedAfterEnd, 0, 'nothing sent after the end');
  } finally {
    port.close();
    await killHard(publisher);
  }
});

test('a quiet client that only answers pings is kept far past the 2 s bound, and its session still works', async () => {
  const client = await RtmfpClient.connect(rtmfpUrl('live'));
  try {
    const session = await until(() => [...server.rtmfp!.allSessions()].find((s) => s.peerId === client.peerId), 3000, 'its session');
    const counters = server.rtmfp!.counters;
    const pings = counters.livenessPings;
    // One ping every 500 ms of silence, each answered: 12 of them take 6 s, three times the bound.
    await until(() => counters.livenessPings >= pings + 12, 15_000, '12 pings');
    assert.equal(session.state, 'open');
    assert.equal(client.session.state, 'open', 'the client keeps its session with a quiet server too');
    assert.ok(!capture.logs.some((l) => l.msg === 'RTMFP session closed' && l.peerId === client.peerId), 'no end logged for it');
    await client.publish('quiet'); // the session still carries commands
  } finally {
    client.close();
  }
});

test('a peer that vanishes between the handshake and connect is logged dead at once, not "no connect command" later', async () => {
  const udp = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
  const endpoint = new RtmfpEndpoint({ port: udp, crypto: new FlashCrypto({ server: false }) });
  const session = await endpoint.connect({ ancillaryData: rtmfpUrl('live') }, [server.rtmfp!.localAddress]);
  const peer = `127.0.0.1:${udp.localAddress().port}`;
  await capture.waitLog((l) => l.msg === 'RTMFP session opened' && l.peer === peer, 3000);
  udp.close(); // gone without a close request
  const line = await capture.waitLog((l) => l.msg === 'RTMFP session closed' && l.peer === peer, 8000);
  assert.match(String(line.reason), DEAD);
  assert.equal(line.peerId, endpoint.peerId.toString('hex'), 'the line names the client\'s peer ID');
  assert.equal(session.state, 'open', 'the client never said a word');
  assert.equal(closedLines(peer).length, 1, 'and only that line');
});

test('the log says why each session ended, when it ended: closed by the client, server shutdown', async () => {
  const logs = captureLogs();
  const own = await startServer(resolveConfig({ host: '127.0.0.1', rtmfpPort: '0', rtmp: false }, root), logs.log);
  const url = `rtmfp://127.0.0.1:${own.rtmfp!.localAddress.port}/live`;
  const leaving = await RtmfpClient.connect(url);
  const staying = await RtmfpClient.connect(url);
  try {
    leaving.close();
    const left = await logs.waitLog((l) => l.msg === 'RTMFP session closed' && l.peerId === leaving.peerId, 3000);
    assert.equal(left.reason, 'closed by far end');
  } finally {
    await own.close();
  }
  const shut = await logs.waitLog((l) => l.msg === 'RTMFP session closed' && l.peerId === staying.peerId, 3000);
  assert.equal(shut.reason, 'server shutdown');
  staying.close();
});
