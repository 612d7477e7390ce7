// The bucketed sorted ring against a plain sorted array, through thousands of inserts and
// removals (so buckets split and empty): order, positions, steps both ways around, and random
// picks that reach every item.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SortedRing } from '../../src/flash/sorted-ring.js';

interface Item {
  ringKey: string;
}

test('the ring keeps key order through splits and removals, and steps around it like an array', () => {
  const ring = new SortedRing<Item>();
  const reference: Item[] = [];
  const sortReference = () => reference.sort((a, b) => (a.ringKey < b.ringKey ? -1 : a.ringKey > b.ringKey ? 1 : 0));
  for (let round = 0; round < 6000; round++) {
    // Grow to about 3,000 (six buckets and more), then shrink.
    if (reference.length === 0 || (round < 4000 ? Math.random() < 0.8 : Math.random() < 0.2)) {
      const item = { ringKey: randomBytes(8).toString('hex') };
      const at = ring.insert(item);
      reference.push(item);
      sortReference();
      assert.equal(ring.step(at, 0), item);
    } else {
      const item = reference.splice(Math.floor(Math.random() * reference.length), 1)[0]!;
      assert.ok(ring.remove(item));
      assert.ok(!ring.remove(item), 'removed twice');
      assert.equal(ring.position(item), undefined);
    }
    assert.equal(ring.size, reference.length);
    if (round % 500 === 0 || round === 5999) {
      assert.deepEqual(ring.toArray(), reference);
      const n = reference.length;
      for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 50))) {
        const at = ring.position(reference[i]!)!;
        for (const d of [-7, -3, -1, 1, 2, 3, Math.floor(n / 2), n + 1]) assert.equal(ring.step(at, d), reference[(((i + d) % n) + n) % n], `step ${d} from ${i} of ${n}`);
      }
    }
  }
  const seen = new Set<Item>();
  for (let i = 0; i < reference.length * 20; i++) seen.add(ring.random(Math.random));
  assert.equal(seen.size, reference.length, 'random picks reach every item');
});
