import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { DeadlineEntry, DeadlineQueue } from '../../src/rtmfp/deadline-queue.js';
import { FakeClock } from '../support/fake-clock.js';

function recorder(clock: FakeClock) {
  const fired: Array<[string, number]> = [];
  const t0 = clock.now();
  const entry = (name: string, onFire?: (now: number) => void) =>
    new DeadlineEntry((now) => {
      fired.push([name, now - t0]);
      onFire?.(now);
    });
  return { fired, entry, t0 };
}

test('entries fire in deadline order, each at its time, on one platform timer', async () => {
  const clock = new FakeClock();
  const q = new DeadlineQueue(clock);
  const { fired, entry, t0 } = recorder(clock);
  const deadlines = [50, 10, 40, 30, 20, 70, 60, 10];
  deadlines.forEach((d, i) => q.schedule(entry(`e${i}`), t0 + d));
  assert.equal(clock.pendingTimers, 1, 'only the earliest deadline holds a platform timer');
  assert.equal(q.size, 8);
  await clock.advance(100);
  assert.deepEqual(fired.map(([, at]) => at), [10, 10, 20, 30, 40, 50, 60, 70]);
  assert.deepEqual(new Set(fired.filter(([, at]) => at === 10).map(([n]) => n)), new Set(['e1', 'e7']));
  assert.equal(q.size, 0);
  assert.equal(clock.pendingTimers, 0);
});

test('moving an entry earlier or later, and cancelling it', async () => {
  const clock = new FakeClock();
  const q = new DeadlineQueue(clock);
  const { fired, entry, t0 } = recorder(clock);
  const a = entry('a');
  const b = entry('b');
  const c = entry('c');
  q.schedule(a, t0 + 100);
  q.schedule(b, t0 + 200);
  q.schedule(c, t0 + 300);
  q.schedule(c, t0 + 50); // earlier
  q.schedule(a, t0 + 250); // later
  q.cancel(b);
  assert.equal(b.scheduled, false);
  assert.equal(b.at, Infinity);
  q.cancel(b); // twice: nothing happens
  await clock.advance(400);
  assert.deepEqual(fired, [['c', 50], ['a', 250]]);
});

test('a firing entry may schedule itself and others; one due now waits for the next turn', async () => {
  const clock = new FakeClock();
  const q = new DeadlineQueue(clock);
  const { fired, entry, t0 } = recorder(clock);
  let repeats = 0;
  const other = entry('other');
  const periodic: DeadlineEntry = entry('periodic', (now) => {
    if (++repeats < 3) q.schedule(periodic, now + 25);
    // Due at once: must not fire inside this round (a callback that always re-arms for `now`
    // would otherwise never let the loop end).
    if (repeats === 1) q.schedule(other, now);
  });
  q.schedule(periodic, t0 + 25);
  await clock.advance(200);
  assert.deepEqual(fired, [['periodic', 25], ['other', 25], ['periodic', 50], ['periodic', 75]]);
});

test('an entry cancelled or moved by an earlier callback of the same round does not fire', async () => {
  const clock = new FakeClock();
  const q = new DeadlineQueue(clock);
  const { fired, entry, t0 } = recorder(clock);
  const victim = entry('victim');
  const moved = entry('moved');
  const first = entry('first', (now) => {
    q.cancel(victim);
    q.schedule(moved, now + 100);
  });
  q.schedule(first, t0 + 10);
  q.schedule(victim, t0 + 10);
  q.schedule(moved, t0 + 10);
  await clock.advance(10);
  assert.deepEqual(fired, [['first', 10]]);
  await clock.advance(200);
  assert.deepEqual(fired, [['first', 10], ['moved', 110]]);
});

test('cancelling the earliest leaves a timer that fires early, finds nothing and re-arms', async () => {
  const clock = new FakeClock();
  const q = new DeadlineQueue(clock);
  const { fired, entry, t0 } = recorder(clock);
  const early = entry('early');
  q.schedule(early, t0 + 10);
  q.schedule(entry('late'), t0 + 500);
  q.cancel(early);
  await clock.advance(100);
  assert.deepEqual(fired, []);
  assert.equal(clock.pendingTimers, 1, 're-armed for the remaining entry');
  await clock.advance(400);
  assert.deepEqual(fired, [['late', 500]]);
});

test('a thousand entries at random deadlines, with moves and cancels, fire in order', async () => {
  const clock = new FakeClock();
  const q = new DeadlineQueue(clock);
  const { fired, entry, t0 } = recorder(clock);
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const entries = Array.from({ length: 1000 }, (_, i) => entry(String(i)));
  const expected = new Map<string, number>();
  for (const [i, e] of entries.entries()) {
    const at = Math.floor(random() * 10_000);
    q.schedule(e, t0 + at);
    expected.set(String(i), at);
  }
  for (let k = 0; k < 500; k++) {
    const i = Math.floor(random() * 1000);
    if (random() < 0.3) {
      q.cancel(entries[i]!);
      expected.delete(String(i));
    } else {
      const at = Math.floor(random() * 10_000);
      q.schedule(entries[i]!, t0 + at);
      expected.set(String(i), at);
    }
  }
  await clock.advance(10_000);
  assert.equal(fired.length, expected.size);
  for (const [name, at] of fired) assert.equal(at, expected.get(name), `entry ${name}`);
  for (let i = 1; i < fired.length; i++) assert.ok(fired[i]![1] >= fired[i - 1]![1], 'in deadline order');
});

test('cancelling the last entry cancels the platform timer (it would keep a process alive)', async () => {
  const clock = new FakeClock();
  const q = new DeadlineQueue(clock);
  const { fired, entry, t0 } = recorder(clock);
  const a = entry('a');
  const b = entry('b');
  q.schedule(a, t0 + 100);
  q.schedule(b, t0 + 120_000);
  q.cancel(a);
  assert.equal(clock.pendingTimers, 1);
  q.cancel(b);
  assert.equal(clock.pendingTimers, 0);
  q.schedule(a, t0 + 50);
  await clock.advance(60);
  assert.deepEqual(fired, [['a', 50]]);
  assert.equal(clock.pendingTimers, 0);
});

test('a callback that throws loses no other entry: the rest fire on the next round', async () => {
  const clock = new FakeClock();
  const q = new DeadlineQueue(clock);
  const { fired, entry, t0 } = recorder(clock);
  q.schedule(entry('thrower', () => {
    throw new Error('callback failed');
  }), t0 + 10);
  q.schedule(entry('after'), t0 + 10);
  q.schedule(entry('later'), t0 + 30);
  // The fake clock runs timers synchronously: the error reaches advance(), as an uncaught
  // exception from a real timer would reach the process.
  await assert.rejects(clock.advance(10), /callback failed/);
  assert.deepEqual(fired.map(([n]) => n), ['thrower']);
  await clock.advance(30);
  assert.deepEqual(fired, [['thrower', 10], ['after', 10], ['later', 30]]);
});
