// Token buckets in a bounded table: bursts, refill over time, and a full table that frees a place
// only when a bucket has refilled (forgetting it then changes nothing).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FakeClock } from '../support/fake-clock.js';
import { RateLimiter } from '../../src/rtmfp/rate-limiter.js';

test('a key spends its burst at once, then perSecond', async () => {
  const clock = new FakeClock();
  const limiter = new RateLimiter({ perSecond: 2, burst: 3, maxKeys: 10 }, clock);
  assert.deepEqual([1, 2, 3, 4].map(() => limiter.take('a')), ['ok', 'ok', 'ok', 'limited']);
  assert.equal(limiter.take('b'), 'ok', 'another key has its own bucket');
  await clock.advance(499);
  assert.equal(limiter.take('a'), 'limited', 'not yet a whole token');
  await clock.advance(1);
  assert.equal(limiter.take('a'), 'ok');
  assert.equal(limiter.take('a'), 'limited');
  await clock.advance(60_000);
  assert.deepEqual([1, 2, 3, 4].map(() => limiter.take('a')), ['ok', 'ok', 'ok', 'limited'], 'refilled to the burst, no more');
});

test('a full table refuses new keys until its least recently used bucket has refilled, then reuses its place', async () => {
  const clock = new FakeClock();
  const limiter = new RateLimiter({ perSecond: 1, burst: 2, maxKeys: 2 }, clock);
  assert.equal(limiter.take('a'), 'ok');
  assert.equal(limiter.take('b'), 'ok');
  assert.equal(limiter.take('c'), 'table full');
  assert.equal(limiter.size, 2);
  await clock.advance(999);
  assert.equal(limiter.take('c'), 'table full', 'a is one token short of full: kept');
  await clock.advance(1);
  assert.equal(limiter.take('c'), 'ok', 'a has refilled: its place goes to c');
  assert.equal(limiter.size, 2);
  // b was used after a: it is older than c, and has refilled too by now.
  assert.equal(limiter.take('b'), 'ok', 'b still tracked');
  assert.equal(limiter.take('a'), 'table full', 'a starts over only when a place frees');
});
