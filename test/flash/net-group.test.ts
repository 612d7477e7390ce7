// The NetGroup ring and its introductions, without a transport: ring order, who is told about
// whom at every size from 1 up, the bound on a join's messages, and the repair on a leave.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { NetGroup, ringKey, RING_NEIGHBOURS_PER_SIDE, RANDOM_PICKS, type Introduction, type RingMember } from '../../src/flash/net-group.js';

function member(): RingMember {
  const peerId = randomBytes(32);
  return { peerId, ringKey: ringKey(peerId) };
}

const id = (m: RingMember) => m.peerId.toString('hex');

test('the ring key is SHA-256(21 0F + peer ID), the order Flash and librtmfp use', () => {
  const peerId = randomBytes(32);
  assert.equal(ringKey(peerId), createHash('sha256').update(Buffer.concat([Buffer.from([0x21, 0x0f]), peerId])).digest('hex'));
  const group = new NetGroup('g');
  const all = Array.from({ length: 50 }, member);
  for (const m of all) group.join(m);
  assert.deepEqual(group.members.map(id), [...all].sort((a, b) => (a.ringKey < b.ringKey ? -1 : 1)).map(id));
});

test('at every size a join introduces the newcomer to its ring neighbours and random others, never to itself, at most 10 messages', () => {
  const group = new NetGroup('g');
  for (let n = 1; n <= 300; n++) {
    const newcomer = member();
    const intros = group.join(newcomer)!;
    const ring = group.members;
    const at = ring.indexOf(newcomer);
    const toNewcomer = intros.filter((i) => i.to === newcomer).map((i) => i.about);
    const aboutNewcomer = intros.filter((i) => i.about === newcomer).map((i) => i.to);
    assert.ok(intros.every((i) => i.to !== i.about), 'told about itself');
    assert.equal(new Set(toNewcomer).size, toNewcomer.length, 'told twice about one member');
    assert.ok(intros.length <= 2 * RING_NEIGHBOURS_PER_SIDE + RANDOM_PICKS + 2, `${intros.length} messages`);
    const others = n - 1;
    assert.equal(toNewcomer.length, Math.min(others, 2 * RING_NEIGHBOURS_PER_SIDE + RANDOM_PICKS), `size ${n}`);
    if (n === 1) continue;
    for (let d = 1; d <= Math.min(RING_NEIGHBOURS_PER_SIDE, Math.floor(others / 2)); d++) {
      assert.ok(toNewcomer.includes(ring[(at - d + n) % n]!), `size ${n}: predecessor ${d} not told`);
      assert.ok(toNewcomer.includes(ring[(at + d) % n]!), `size ${n}: successor ${d} not told`);
    }
    const before = ring[(at - 1 + n) % n]!;
    const after = ring[(at + 1) % n]!;
    assert.deepEqual(new Set(aboutNewcomer), new Set([before, after]));
  }
});

test('the random picks spread over the ring', () => {
  const group = new NetGroup('g');
  for (let i = 0; i < 1000; i++) group.join(member());
  const picked = new Set<RingMember>();
  for (let i = 0; i < 200; i++) {
    const newcomer = member();
    const intros = group.join(newcomer)!;
    const ring = group.members;
    const at = ring.indexOf(newcomer);
    const near = new Set([-3, -2, -1, 1, 2, 3].map((d) => ring[(at + d + ring.length) % ring.length]!));
    const far = intros.filter((x) => x.to === newcomer && !near.has(x.about));
    assert.equal(far.length, RANDOM_PICKS);
    for (const x of far) picked.add(x.about);
  }
  // 400 picks among 1,000+ members: nearly all distinct if uniform.
  assert.ok(picked.size > 300, `only ${picked.size} distinct picks`);
});

test('a leave introduces the leaver\'s two neighbours to each other', () => {
  const group = new NetGroup('g');
  const all = Array.from({ length: 10 }, member);
  for (const m of all) group.join(m);
  const ring = [...group.members];
  const repairs: Array<Introduction<RingMember>> = group.leave(ring[0]!);
  assert.deepEqual(repairs, [
    { to: ring[9], about: ring[1] },
    { to: ring[1], about: ring[9] },
  ]);
  assert.equal(group.size, 9);
  assert.deepEqual(group.leave(ring[0]!), [], 'a second leave does nothing');
  // Down to two: they already are each other's only neighbour; then one, then none.
  for (const m of ring.slice(1, 8)) group.leave(m);
  assert.equal(group.size, 2);
  assert.deepEqual(group.leave(ring[8]!), []);
  assert.deepEqual(group.leave(ring[9]!), []);
  assert.equal(group.size, 0);
});

test('a peer ID already in the group is not added twice', () => {
  const group = new NetGroup('g');
  const m = member();
  assert.deepEqual(group.join(m), []);
  assert.equal(group.join({ peerId: Buffer.from(m.peerId), ringKey: m.ringKey }), undefined);
  assert.equal(group.size, 1);
});
