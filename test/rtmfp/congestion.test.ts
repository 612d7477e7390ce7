import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { Congestion, CongestionParams } from '../../src/rtmfp/congestion.js';
import { RttEstimator, RttParams } from '../../src/rtmfp/rtt-estimator.js';

const MSS = CongestionParams.MSS;

/**
 * A sender that always has data: keeps the window full, each segment acknowledged one RTT after
 * it was sent, refilling after every ack. Returns the window at the end of each round trip.
 */
function saturate(c: Congestion, rtts: number, rttMs = 50, start = 0): number[] {
  const pipe: Array<{ at: number; bytes: number }> = [];
  let head = 0;
  let now = start;
  const refill = (): void => {
    for (let b = c.sendBudget(now); b > 0; b = c.sendBudget(now)) {
      const bytes = Math.min(MSS, b);
      c.onSent(bytes, now);
      pipe.push({ at: now + rttMs, bytes });
    }
  };
  const sizes: number[] = [];
  refill();
  for (let r = 1; r <= rtts; r++) {
    const end = start + r * rttMs;
    while (head < pipe.length && pipe[head]!.at <= end) {
      const seg = pipe[head++]!;
      now = seg.at;
      c.onAcked(seg.bytes, false, now);
      refill();
    }
    sizes.push(c.cwnd);
  }
  // settle what is still in flight so the caller starts clean
  while (head < pipe.length) c.onAcked(pipe[head++]!.bytes, true, now);
  return sizes;
}

describe('RttEstimator', () => {
  it('starts at 3 s and follows RFC 6298 smoothing with a delayed-ack allowance', () => {
    const r = new RttEstimator();
    assert.equal(r.erto, 3000);
    assert.equal(r.hasSample, false);
    r.sample(100);
    assert.equal(r.srtt, 100);
    assert.equal(r.rttvar, 50);
    assert.equal(r.erto, 100 + 4 * 50 + RttParams.DELACK_MS);
    r.sample(200);
    assert.equal(r.rttvar, (3 * 50 + 100) / 4);
    assert.equal(r.srtt, (7 * 100 + 200) / 8);
  });

  it('clamps to 250 ms .. 10 s and backs off by √2', () => {
    const r = new RttEstimator();
    for (let i = 0; i < 50; i++) r.sample(1);
    assert.equal(r.erto, 250);
    r.backoff();
    assert.ok(Math.abs(r.erto - 250 * Math.SQRT2) < 1e-9);
    for (let i = 0; i < 20; i++) r.backoff();
    assert.equal(r.erto, 10_000);
    r.sample(1);
    assert.equal(r.erto, 250, 'a fresh sample undoes the backoff');
    const slow = new RttEstimator();
    slow.sample(30_000);
    assert.equal(slow.erto, 10_000);
    slow.sample(-5);
    slow.sample(Number.NaN);
    assert.equal(slow.srtt, 30_000, 'bad samples are ignored');
  });
});

describe('Congestion', () => {
  it('starts with an initial window of 3 MSS', () => {
    const c = new Congestion();
    assert.equal(c.cwnd, 3 * MSS);
    assert.equal(c.sendBudget(0), 3 * MSS);
    c.onSent(1000, 0);
    assert.equal(c.sendBudget(0), 3 * MSS - 1000);
    assert.equal(c.outstanding, 1000);
    c.onSent(10_000, 0);
    assert.equal(c.sendBudget(0), 0);
    assert.equal(c.erto(), 3000);
  });

  it('slow-starts while the window is used, about doubling each round trip', () => {
    const c = new Congestion();
    const sizes = [c.cwnd, ...saturate(c, 5)];
    for (let i = 1; i < sizes.length; i++) {
      assert.ok(sizes[i]! >= sizes[i - 1]! * 1.7 && sizes[i]! <= sizes[i - 1]! * 2 + MSS, `${sizes.map((x) => x / MSS)}`);
    }
  });

  it('does not grow a window the session does not use', () => {
    const c = new Congestion();
    c.onSent(MSS, 0);
    c.onAcked(MSS, false, 10);
    assert.equal(c.cwnd, 3 * MSS);
  });

  it('halves once per flight on loss, and grows additively past the threshold', () => {
    const c = new Congestion();
    c.cwnd = 100 * MSS;
    c.onSent(100 * MSS, 0);
    c.onLost(MSS, false, 10);
    assert.equal(c.stats.lossEvents, 1);
    const half = c.cwnd;
    assert.ok(Math.abs(half - 50 * MSS) < 1, `cut to ${half}`);
    assert.equal(c.ssthresh, half);
    // more losses from the same flight do not cut again
    c.onLost(MSS, false, 11);
    c.onLost(MSS, false, 12);
    c.onAcked(10 * MSS, true, 13);
    assert.equal(c.cwnd, half);
    assert.equal(c.stats.lossEvents, 1);
    // drain the rest of the flight; then full windows grow slowly (congestion avoidance)
    c.onAcked(c.outstanding, false, 20);
    assert.equal(c.outstanding, 0);
    const before = c.cwnd;
    saturate(c, 4, 50, 30);
    const perRtt = (c.cwnd - before) / 4;
    assert.ok(perRtt > MSS * 0.8 && perRtt < MSS * 1.5, `grew ${perRtt / MSS} MSS per RTT`);
    // a later loss cuts again
    c.onLost(MSS, false, 50);
    assert.equal(c.stats.lossEvents, 2);
  });

  it('collapses on timeout and backs the timeout off once per event', () => {
    const rtt = new RttEstimator();
    rtt.sample(100);
    const c = new Congestion(rtt);
    const erto = rtt.erto;
    c.cwnd = 40 * MSS;
    c.onSent(20 * MSS, 0);
    c.onLost(10 * MSS, true, 1000);
    assert.equal(c.cwnd, CongestionParams.TIMEDOUT_WINDOW_SEGMENTS * MSS);
    assert.equal(c.stats.timeouts, 1);
    assert.ok(Math.abs(rtt.erto - erto * Math.SQRT2) < 1e-9);
    // another flow timing out for the same silence does not back off again
    c.onLost(10 * MSS, true, 1001);
    assert.ok(Math.abs(rtt.erto - erto * Math.SQRT2) < 1e-9);
    assert.equal(c.outstanding, 0);
  });

  it('restarts from the initial window after a timeout of idleness', () => {
    const rtt = new RttEstimator();
    rtt.sample(100);
    const c = new Congestion(rtt);
    c.cwnd = 50 * MSS;
    c.onSent(MSS, 0);
    c.onAcked(MSS, false, 10);
    assert.ok(c.sendBudget(100) > 49 * MSS, 'a short pause keeps the window');
    assert.equal(c.sendBudget(10 + rtt.erto), 3 * MSS);
  });

  it('decays a window left mostly unused', () => {
    const c = new Congestion();
    c.cwnd = 100 * MSS;
    for (let i = 0; i < 200; i++) {
      c.onSent(MSS, i);
      c.onAcked(MSS, false, i);
    }
    assert.ok(c.cwnd < 100 * MSS && c.cwnd >= 3 * MSS, `${c.cwnd}`);
  });

  it('grows at TCP pace after a time-critical reverse notification', () => {
    const fast = new Congestion();
    const tcp = new Congestion();
    for (const c of [fast, tcp]) {
      c.cwnd = 500 * MSS;
      c.ssthresh = 100 * MSS;
    }
    tcp.onTimeCriticalReverse(0);
    fast.onSent(0, 0);
    tcp.onSent(0, 0);
    saturate(fast, 1, 50);
    saturate(tcp, 1, 50);
    assert.ok(Math.abs(tcp.cwnd - 501 * MSS) < MSS / 5, `tcp pace: ${tcp.cwnd / MSS}`);
    assert.ok(fast.cwnd > tcp.cwnd + 5 * MSS, `faster otherwise: ${fast.cwnd / MSS}`);
    // the notification lapses
    const before = tcp.cwnd;
    saturate(tcp, 1, 50, 1000);
    assert.ok(tcp.cwnd > before + 5 * MSS);
  });

  it('counts bytes and packets, and lets bytes leave without a signal', () => {
    const c = new Congestion();
    c.onSent(500, 0);
    c.onDiscarded(500);
    assert.equal(c.outstanding, 0);
    assert.equal(c.cwnd, 3 * MSS);
    c.countTx(1200);
    c.countRx(80);
    assert.deepEqual(
      [c.stats.txBytes, c.stats.txPackets, c.stats.rxBytes, c.stats.rxPackets, c.stats.bytesSent],
      [1200, 1, 80, 1, 500],
    );
  });
});
