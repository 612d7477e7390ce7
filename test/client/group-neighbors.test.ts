// The best list (group-neighbors.ts): which members a NetGroup member keeps as neighbours, per
// the rule Flash and librtmfp follow (research file netgroup.md §5.4).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { bestList, groupAddress, targetNeighbors } from '../../src/client/group-neighbors.js';

const ids = (n: number) => Array.from({ length: n }, () => randomBytes(32).toString('hex'));
const ringOf = (peers: string[]) => [...peers].sort((a, b) => (groupAddress(a) < groupAddress(b) ? -1 : 1));

test('a peer sits on the ring at SHA-256(21 0F + peer ID)', () => {
  const id = 'ab'.repeat(32);
  assert.equal(groupAddress(id), createHash('sha256').update(Buffer.concat([Buffer.from([0x21, 0x0f]), Buffer.from(id, 'hex')])).digest('hex'));
});

test('the target is log2(N) + 13, rounded up', () => {
  assert.equal(targetNeighbors(1), 13);
  assert.equal(targetNeighbors(21), 18);
  assert.equal(targetNeighbors(64), 19);
  assert.equal(targetNeighbors(1000), 23);
});

test('up to 6 peers, all are kept', () => {
  const [self, ...others] = ids(7);
  assert.deepEqual([...bestList(self!, others.map((peerId) => ({ peerId })))].sort(), [...others].sort());
});

test('in a group of 200: the target count, the 3 ring neighbours on each side, the 6 fastest, peers across the ring', () => {
  const all = ids(200);
  const self = all[0]!;
  const peers = all.slice(1).map((peerId, i) => ({ peerId, rttMs: i < 20 ? 100 + i : undefined }));
  // Connected peers 0-19 have round trips of 100-119 ms, except six that answer in 1-6 ms.
  const fastest = [50, 60, 70, 80, 90, 99].map((i) => all[i]!);
  for (const [k, id] of fastest.entries()) peers.find((p) => p.peerId === id)!.rttMs = k + 1;
  const best = bestList(self, peers, { random: () => 0.5 });
  assert.equal(best.size, targetNeighbors(200));
  assert.ok(!best.has(self));
  const ring = ringOf(all);
  const me = ring.indexOf(self);
  for (const d of [-3, -2, -1, 1, 2, 3]) assert.ok(best.has(ring[(me + d + 200) % 200]!), `ring neighbour at ${d}`);
  for (const id of fastest) assert.ok(best.has(id), 'a fast peer');
  // Across the ring: one at half the ring away, one at a quarter.
  const distances = [...best].map((id) => (ring.indexOf(id) - me + 200) % 200);
  assert.ok(distances.some((d) => d >= 100 && d < 110), `one near N/2 (${distances.join(' ')})`);
  assert.ok(distances.some((d) => d >= 50 && d < 60), `one near N/4 (${distances.join(' ')})`);
});

test('every member of a group applies the same rule: the ring neighbours of each are in its list, and lists are bounded', () => {
  const all = ids(40);
  const ring = ringOf(all);
  for (const self of all) {
    const best = bestList(self, all.map((peerId) => ({ peerId })));
    assert.equal(best.size, targetNeighbors(40));
    const me = ring.indexOf(self);
    assert.ok(best.has(ring[(me + 1) % 40]!) && best.has(ring[(me + 39) % 40]!));
  }
});
