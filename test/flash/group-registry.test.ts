// The group registry's decisions with a clock of its own: join rates refill with time, each
// refusal is counted and logged at debug with its reason, leaving frees the client's slot, and
// a closed client leaves every group (with the application told).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { FlashServer } from '../../src/flash/flash-server.js';
import type { FlashClient } from '../../src/flash/flash-client.js';
import type { FlashTransport } from '../../src/flash/flash-transport.js';
import { GroupRegistry, JoinRefused, type GroupLimits, type GroupMembership } from '../../src/flash/group-registry.js';

function world(limits: Partial<GroupLimits>) {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug', base: undefined }, new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(JSON.parse(chunk.toString())), done()) }));
  let now = 1_000_000;
  const left: string[] = [];
  const flash = new FlashServer({ log, hooks: () => ({ onLeaveGroup: (_c, g) => void left.push(`${g.id.slice(0, 4)}:${g.size}`) }) });
  const registry = new GroupRegistry({ limits, now: () => now });
  const transport: FlashTransport = { protocol: 'test', remoteAddress: '-', log, sendCommand: () => {}, openSubscriber: () => { throw new Error('none'); }, close: () => {} };
  const client = (): FlashClient => {
    const c = flash.createClient(transport);
    c.state = 'connected';
    c.app = flash.application('live');
    return c;
  };
  const told: string[] = [];
  const sink = { introduce: (peerId: Buffer) => void told.push(peerId.toString('hex')) };
  return { registry, client, sink, told, lines, left, advance: (ms: number) => (now += ms) };
}

test('the per-client join rate refills with time, and each refusal is counted and logged with its reason', () => {
  const w = world({ joinsPerSecondPerClient: 2, maxGroupsPerClient: 100 });
  const c = w.client();
  const join = () => w.registry.join(c, randomBytes(32).toString('hex'), randomBytes(32), w.sink);
  assert.ok(!(join() instanceof JoinRefused));
  assert.ok(!(join() instanceof JoinRefused));
  const refused = join();
  assert.ok(refused instanceof JoinRefused && refused.reason === 'client-rate');
  w.advance(499);
  assert.ok(join() instanceof JoinRefused, 'half a token is not a token');
  w.advance(1);
  assert.ok(!(join() instanceof JoinRefused), 'one token after 500 ms at 2 a second');
  assert.equal(w.registry.counters.joins, 3);
  assert.equal(w.registry.refusedBy['client-rate'], 2);
  const logged = w.lines.filter((l) => l.msg === 'group join refused');
  assert.equal(logged.length, 2);
  assert.equal(logged[0]!.level, 20);
  assert.equal(logged[0]!.reason, 'client-rate');
  assert.match(String(logged[0]!.description), /more than 2 joins a second/);
});

test('a join before connect is refused; a leave frees the slot; a closed client leaves all its groups', () => {
  const w = world({ maxGroupsPerClient: 2 });
  const early = w.client();
  early.state = 'connecting';
  const r = w.registry.join(early, randomBytes(32).toString('hex'), randomBytes(32), w.sink);
  assert.ok(r instanceof JoinRefused && r.reason === 'not-connected');

  const c = w.client();
  const other = w.client();
  const g1 = randomBytes(32).toString('hex');
  const g2 = randomBytes(32).toString('hex');
  const peer = randomBytes(32);
  const m1 = w.registry.join(c, g1, peer, w.sink) as GroupMembership;
  w.registry.join(c, g2, peer, w.sink);
  assert.equal((w.registry.join(c, randomBytes(32).toString('hex'), peer, w.sink) as JoinRefused).reason, 'groups-per-client');
  w.registry.leave(m1, 'test');
  assert.ok(!m1.active);
  const m3 = w.registry.join(c, g1, peer, w.sink);
  assert.ok(!(m3 instanceof JoinRefused), 'room again after a leave');
  assert.equal((w.registry.join(other, g1, peer, w.sink) as JoinRefused).reason, 'already-member', 'one peer ID once in a group');
  w.registry.join(other, g1, randomBytes(32), w.sink);
  assert.equal(w.registry.group('live', g1)!.size, 2);
  w.left.length = 0;
  c.handleClose('gone');
  // FlashClient.handleClose leaves through the server's registry; this registry is the test's own.
  w.registry.leaveAll(c, 'gone');
  assert.deepEqual([...w.registry.membershipsOf(c)], []);
  assert.equal(w.registry.group('live', g1)!.size, 1);
  assert.equal(w.registry.group('live', g2), undefined, 'an empty group is dropped');
  assert.equal(w.registry.groupCount, 1);
  assert.deepEqual(w.left.sort(), [`${g1.slice(0, 4)}:1`, `${g2.slice(0, 4)}:0`].sort());
});
