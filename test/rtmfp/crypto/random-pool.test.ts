import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { RandomPool } from '../../../src/rtmfp/crypto/random-pool.js';

test('random pool: every size served, across refills, never the same bytes twice', () => {
  const pool = new RandomPool(64);
  const seen = new Set<string>();
  // 16-byte draws through several refills of a 64-byte pool, and draws that straddle a refill.
  for (let i = 0; i < 40; i++) {
    const b = pool.bytes(i % 3 === 0 ? 24 : 16);
    assert.equal(b.length, i % 3 === 0 ? 24 : 16);
    const hex = b.toString('hex');
    assert.ok(!seen.has(hex), 'a draw repeated');
    seen.add(hex);
  }
  // Larger than the pool: filled straight from the CSPRNG.
  assert.equal(pool.bytes(100).length, 100);
});

test('random pool: fill writes only the span asked for; uint32 is an unsigned 32-bit integer', () => {
  const pool = new RandomPool(64);
  const target = Buffer.alloc(40);
  pool.fill(target, 10, 20);
  assert.ok(target.subarray(0, 10).every((x) => x === 0));
  assert.ok(target.subarray(30).every((x) => x === 0));
  assert.ok(target.subarray(10, 30).some((x) => x !== 0));
  const ids = new Set<number>();
  for (let i = 0; i < 100; i++) {
    const n = pool.uint32();
    assert.ok(Number.isInteger(n) && n >= 0 && n <= 0xffffffff);
    ids.add(n);
  }
  assert.ok(ids.size > 95);
});

test('random pool: bytes handed out are wiped from the pool', () => {
  const pool = new RandomPool(64);
  const first = pool.bytes(32);
  const inside = (pool as unknown as { pool: Buffer }).pool;
  assert.ok(inside.subarray(0, 32).every((x) => x === 0));
  assert.ok(!inside.subarray(0, 32).equals(first));
});
