// NAT traversal, for real: two peers each behind a masquerading Linux NAT of its own, in network
// namespaces this test makes (test/support/netns-nat.ts), the server on the "internet" between
// them. The peers meet through `covey serve` (redirect and forwarded IHello, both sides sending at
// once so each NAT lets the other in) and the media goes between the NATs, not through the
// server. Then one NAT turns symmetric (a port of its own for each destination): the direct
// session cannot open, and the client says so, in one line, within its time limit. Two peers
// behind the same NAT meet at the LAN addresses they reported to the server.
// Skipped where namespaces cannot be made (not root, no ip/nft); CI runs as root, installs both and
// sets COVEY_REQUIRE_NETNS=1, which turns a skip into a failure.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '../support/test-server.js';
import { NAT_ADDRESSES, NatWorld, netnsUnavailable, type WanCounters } from '../support/netns-nat.js';
import { FlvParser } from '../../src/codec/flv.js';

const unavailable = netnsUnavailable();
const SERVER_PORT = 24000;
const url = (path: string) => `rtmfp://${NAT_ADDRESSES.server}:${SERVER_PORT}/${path}`;
const fixture = 'test/fixtures/sample-h264-aac.flv';
/** librtmfp README's groupspec, and the same with another group name (so another group ID). */
const GROUPSPEC_CONE = 'G:027f0201010103010c050e74657374011b00';
const GROUPSPEC_SYMMETRIC = 'G:027f0201010103010c050e74657375011b00';
/** A third group, for the media test (members of the others may still be leaving). */
const GROUPSPEC_MEDIA = 'G:027f0201010103010c050e74657376011b00';
const STARTUP_MS = 30_000;

let world: NatWorld;
let server: Run;
let dir: string;

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; stderr: string; stdout: string }>;
}

function start(ns: string, args: string[]): Run {
  const child = world.spawnNode(ns, args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr, stdout })));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

const covey = (ns: string, args: string[]) => start(ns, ['src/cli/main.ts', ...args]);

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** until(), with what the processes said so far in the failure (their stderr, their events). */
async function waitFor<T>(check: () => T | undefined | false, what: string, said: () => string, ms = STARTUP_MS): Promise<T> {
  try {
    return await until(check, ms, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}; so far: ${said()}`);
  }
}

async function printedPeerId(run: Run, command: string): Promise<string> {
  const line = await waitFor(() => run.stderr().split('\n').find((l) => l.startsWith(`covey ${command}: peer ID `)), `${command}'s peer ID line`, run.stderr);
  return /peer ID ([0-9a-f]{64})/.exec(line)![1]!;
}

function delta(after: WanCounters, before: WanCounters) {
  return {
    serverPackets: after.server.packets - before.server.packets,
    serverToNatBBytes: after.serverToNatB.bytes - before.serverToNatB.bytes,
    betweenNatsPackets: after.betweenNats.packets - before.betweenNats.packets,
    betweenNatsBytes: after.betweenNats.bytes - before.betweenNats.bytes,
  };
}

async function stop(run: Run): Promise<void> {
  run.child.kill('SIGTERM');
  await run.exited;
}

before(async () => {
  if (unavailable && required) throw new Error(`COVEY_REQUIRE_NETNS=1, but ${unavailable}`);
  if (unavailable) return;
  world = NatWorld.create({ serverPort: SERVER_PORT });
  dir = mkdtempSync(join(tmpdir(), 'covey-nat-'));
  // Bound to its one address: a server on 0.0.0.0 in a namespace with several would answer from
  // whichever address routes back, which the clients' NATs do not know.
  server = covey(world.ns.wan, ['serve', '--host', NAT_ADDRESSES.server, '--rtmfp-port', String(SERVER_PORT), '--no-rtmp', '--log-level', 'debug', '--log-format', 'json']);
  await waitFor(() => jsonLines(server.stderr()).some((l) => l.msg === 'covey ready'), 'the server in the wan namespace', server.stderr);
});

after(async () => {
  await world?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// CI (.ci/run, as root, with ip and nft installed) sets COVEY_REQUIRE_NETNS: there a missing
// piece fails the tests rather than skipping them.
const required = process.env.COVEY_REQUIRE_NETNS === '1';
const skip = unavailable && !required ? { skip: unavailable } : {};

test('behind two NATs, covey play --peer records covey publish --p2p directly: the media goes between the NATs, not through the server', skip, async () => {
  const publisher = covey(world.ns.hostA, ['publish', '--p2p', '--loop', '-q', fixture, url('live/nat')]);
  const publisherId = await printedPeerId(publisher, 'publish');
  const file = join(dir, 'direct.flv');
  const before = world.counters();
  const player = covey(world.ns.hostB, ['play', '--peer', publisherId, url('live/nat'), '-o', file, '--duration', '3', '-q']);
  const played = await player.exited;
  assert.equal(played.code, 0, played.stderr);
  const moved = delta(world.counters(), before);
  await stop(publisher);

  // The server saw each peer at its NAT's public address, and introduced B to A there.
  const introduction = jsonLines(server.stderr()).find((l) => l.msg === 'introduction' && l.peerId === publisherId);
  assert.ok(introduction, 'the server introduced the player to the publisher');
  assert.match(String(introduction.from), /^198\.51\.100\.2:\d+$/, 'the player, as the server saw it: natB');
  assert.match(String(introduction.peer), /^203\.0\.113\.2:\d+$/, 'the publisher, as the server saw it: natA');

  const tags = new FlvParser({ strictPreviousTagSize: true }).push(readFileSync(file));
  const mediaBytes = tags.reduce((n, t) => n + t.data.length, 0);
  const video = tags.filter((t) => t.type === 9);
  assert.ok(video.length >= 40, `${video.length} video tags in 3 s`);
  // Connect, setPeerInfo, the introduction and their acknowledgements: a few dozen packets, while
  // every byte of media crossed the wan namespace from one NAT to the other.
  assert.ok(moved.serverPackets < 40, `the server's port moved ${moved.serverPackets} packets`);
  assert.ok(moved.betweenNatsBytes > mediaBytes, `${moved.betweenNatsBytes} bytes went between the NATs for ${mediaBytes} bytes of media`);
});

test('two peers behind the same NAT meet at the LAN addresses they reported (setPeerInfo): the media never leaves their LAN', skip, async () => {
  const publisher = covey(world.ns.hostA, ['publish', '--p2p', '--loop', '-q', fixture, url('live/lan')]);
  const publisherId = await printedPeerId(publisher, 'publish');
  const file = join(dir, 'lan.flv');
  const before = world.counters();
  const player = covey(world.ns.hostA2, ['play', '--peer', publisherId, url('live/lan'), '-o', file, '--duration', '2', '-q']);
  const played = await player.exited;
  assert.equal(played.code, 0, played.stderr);
  const moved = delta(world.counters(), before);
  await stop(publisher);

  // The server saw both at natA's address; the redirect also gave the publisher's LAN address,
  // the one path between them (natA sends nothing back to its own LAN through its public side).
  const introduction = jsonLines(server.stderr()).find((l) => l.msg === 'introduction' && l.peerId === publisherId);
  assert.ok(introduction, 'the server introduced the player to the publisher');
  assert.match(String(introduction.from), /^203\.0\.113\.2:\d+$/);
  assert.match(String(introduction.peer), /^203\.0\.113\.2:\d+$/);
  const tags = new FlvParser({ strictPreviousTagSize: true }).push(readFileSync(file));
  const video = tags.filter((t) => t.type === 9);
  assert.ok(video.length >= 25, `${video.length} video tags in 2 s`);
  assert.ok(moved.serverPackets < 40, `the server's port moved ${moved.serverPackets} packets`);
  assert.ok(moved.betweenNatsBytes < 10_000, `${moved.betweenNatsBytes} bytes crossed the wan namespace between NATs`);
});

test('two NetGroup members behind different NATs are introduced and become neighbours over a direct session', skip, async () => {
  const before = world.counters();
  const a = start(world.ns.hostA, ['test/support/nat-group-member.ts', url('live'), GROUPSPEC_CONE, '10000']);
  const aId = String((await waitFor(() => jsonLines(a.stdout()).find((l) => l.joined), 'A joined', a.stderr)).joined);
  const b = start(world.ns.hostB, ['test/support/nat-group-member.ts', url('live'), GROUPSPEC_CONE, '10000']);
  const bId = String((await waitFor(() => jsonLines(b.stdout()).find((l) => l.joined), 'B joined', b.stderr)).joined);
  const aSeesB = await waitFor(() => jsonLines(a.stdout()).find((l) => l.neighbor === bId), "B as A's neighbour", () => a.stdout() + a.stderr());
  const bSeesA = await waitFor(() => jsonLines(b.stdout()).find((l) => l.neighbor === aId), "A as B's neighbour", () => b.stdout() + b.stderr());
  // Each reached the other at its NAT's public side: the session is direct, the NATs let it in.
  assert.match(String(aSeesB.address), /^198\.51\.100\.2:\d+$/);
  assert.match(String(bSeesA.address), /^203\.0\.113\.2:\d+$/);
  assert.ok(delta(world.counters(), before).betweenNatsPackets >= 4, 'the group handshake crossed from NAT to NAT');
  for (const run of [a, b]) assert.deepEqual(jsonLines(run.stdout()).filter((l) => l.unreachable || l.refused), []);
  await Promise.all([stop(a), stop(b)]);
});

test('group media across two NATs: covey play --group behind natB records what covey publish --group sends from behind natA, the fragments going between the NATs', skip, async () => {
  const streamUrl = url('live/natcam');
  // The publisher also publishes to the server (for members without a neighbour): what matters
  // is what reaches natB, and from where.
  const publisher = covey(world.ns.hostA, ['publish', '--group', GROUPSPEC_MEDIA, '--loop', '-q', fixture, streamUrl]);
  try {
    await waitFor(() => publisher.stderr().includes('into group'), "the publisher's group line", publisher.stderr);
    const file = join(dir, 'group.flv');
    const before = world.counters();
    const player = covey(world.ns.hostB, ['play', streamUrl, '--group', GROUPSPEC_MEDIA, '-o', file, '--duration', '3', '-q']);
    const played = await player.exited;
    const moved = delta(world.counters(), before);
    assert.equal(played.code, 0, played.stderr);
    const counts = /covey play: (\d+) fragments from peers \((\d+) pushed, (\d+) pulled\), (\d+) frames from the server\n/.exec(played.stderr);
    assert.ok(counts, played.stderr);
    assert.ok(Number(counts[1]) > 50, `${counts[1]} fragments from peers`);
    assert.equal(counts[4], '0', 'no frame from the server');

    const tags = new FlvParser({ strictPreviousTagSize: true }).push(readFileSync(file));
    const video = tags.filter((t) => t.type === 9);
    assert.ok(video.at(-1)!.timestamp >= 2900, `3 s recorded (${video.at(-1)?.timestamp} ms)`);
    const mediaBytes = tags.reduce((n, t) => n + t.data.length, 0);
    // Every byte of media crossed from natA to natB directly; the server sent natB only the
    // connect, the group join, the introductions and acknowledgements.
    assert.ok(moved.betweenNatsBytes > mediaBytes, `${moved.betweenNatsBytes} bytes went between the NATs for ${mediaBytes} bytes of media`);
    assert.ok(moved.serverToNatBBytes < mediaBytes / 20, `the server sent natB ${moved.serverToNatBBytes} bytes for ${mediaBytes} bytes of media`);
  } finally {
    await stop(publisher);
  }
});

test('behind a symmetric NAT the direct session cannot open: covey play --peer fails in one line naming the peer and the likely cause, within --wait', skip, async () => {
  world.setNat('b', 'symmetric');
  try {
    const publisher = covey(world.ns.hostA, ['publish', '--p2p', '--loop', '-q', fixture, url('live/sym')]);
    const publisherId = await printedPeerId(publisher, 'publish');
    const before = world.counters();
    const player = covey(world.ns.hostB, ['play', '--peer', publisherId, url('live/sym'), '-o', '-', '--wait', '4']);
    await printedPeerId(player, 'play');
    const connectedAt = Date.now();
    const played = await player.exited;
    const failedAfter = Date.now() - connectedAt;
    const moved = delta(world.counters(), before);
    await stop(publisher);

    assert.equal(played.code, 1, played.stderr);
    const lines = played.stderr.trim().split('\n').filter((l) => !l.startsWith('covey play: peer ID '));
    assert.equal(lines.length, 1, `one line: ${played.stderr}`);
    const short = `${publisherId.slice(0, 8)}…${publisherId.slice(-4)}`;
    assert.match(
      lines[0]!,
      new RegExp(
        `^covey play: cannot reach peer ${short}: the server at 192\\.0\\.2\\.1:${SERVER_PORT} introduced it at 203\\.0\\.113\\.2:\\d+, 10\\.1\\.0\\.2:\\d+, but nothing came back from there within 4000 ms: ` +
          'a NAT or firewall between us drops the direct packets \\(most likely a symmetric NAT on either side',
      ),
    );
    // Bounded by --wait (4 s from the play command's connect), with room for a loaded machine.
    assert.ok(failedAfter < 12_000, `failed ${failedAfter} ms after connecting`);
    // Both sides did punch (IHellos one way, RHellos the other), and the NATs dropped it all.
    assert.ok(moved.betweenNatsPackets >= 2, `${moved.betweenNatsPackets} packets went towards the other NAT`);
    assert.ok(moved.betweenNatsBytes < 10_000, `no media between the NATs (${moved.betweenNatsBytes} bytes)`);
  } finally {
    world.setNat('b', 'cone');
  }
});

test('NetGroup members across a symmetric NAT are introduced, and each reports the other unreachable with the cause', skip, async () => {
  world.setNat('b', 'symmetric');
  try {
    const a = start(world.ns.hostA, ['test/support/nat-group-member.ts', url('live'), GROUPSPEC_SYMMETRIC, '3000']);
    const aId = String((await waitFor(() => jsonLines(a.stdout()).find((l) => l.joined), 'A joined', a.stderr)).joined);
    const b = start(world.ns.hostB, ['test/support/nat-group-member.ts', url('live'), GROUPSPEC_SYMMETRIC, '3000']);
    const bId = String((await waitFor(() => jsonLines(b.stdout()).find((l) => l.joined), 'B joined', b.stderr)).joined);
    // The newcomer B is told about A, and A about B: both try, and neither gets through.
    const bLostA = await waitFor(() => jsonLines(b.stdout()).find((l) => l.unreachable === aId), 'B giving up on A', () => b.stdout() + b.stderr());
    const aLostB = await waitFor(() => jsonLines(a.stdout()).find((l) => l.unreachable === bId), 'A giving up on B', () => a.stdout() + a.stderr());
    for (const lost of [aLostB, bLostA]) {
      assert.match(String(lost.reason), /introduced it at .* but nothing came back from there within 3000 ms: a NAT or firewall between us drops the direct packets/);
    }
    assert.match(String(bLostA.reason), /introduced it at 203\.0\.113\.2:\d+/);
    assert.match(String(aLostB.reason), /introduced it at 198\.51\.100\.2:\d+/);
    for (const run of [a, b]) assert.deepEqual(jsonLines(run.stdout()).filter((l) => l.neighbor), [], 'no neighbour');
    await Promise.all([stop(a), stop(b)]);
  } finally {
    world.setNat('b', 'cone');
  }
});
