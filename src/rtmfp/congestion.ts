// Session congestion control (RFC 7016 §3.5.2 and Appendix A): a congestion window in bytes
// that slow-starts, grows additively once past the threshold, is cut on loss (once per window
// of data: a recovery period covers every loss of the same flight), collapses on a
// retransmission timeout and decays when the session does not use it. Also the owner of the
// session's RTT estimate and a few byte counters. Pure state: the session passes `now` (ms).
import type { SessionCongestion } from './flow-context.js';
import { RttEstimator } from './rtt-estimator.js';

export const CongestionParams = {
  /** Sender maximum segment size: the largest user data chunk a session packet carries. */
  MSS: 1150,
  INITIAL_WINDOW_SEGMENTS: 3,
  TIMEDOUT_WINDOW_SEGMENTS: 2,
  /** The window decays when the session leaves more than this many segments of it unused. */
  DECAY_MARGIN_SEGMENTS: 6,
  /** Each acknowledgement that finds the window unused takes MSS / this off it. */
  DECAY_DIVISOR: 128,
  /** A window grows at most this large (64 MiB); beyond it nothing is gained on any real path. */
  MAX_WINDOW: 64 * 1024 * 1024,
  /** How long a time-critical-reverse notification holds growth to TCP's pace. */
  TIME_CRITICAL_TIMEOUT_MS: 800,
} as const;

export interface CongestionOptions {
  mss?: number;
}

export class Congestion implements SessionCongestion {
  readonly mss: number;
  readonly initialWindow: number;
  readonly timedOutWindow: number;
  readonly rtt: RttEstimator;

  /** Congestion window, bytes (fractional while growing additively). */
  cwnd: number;
  /** Slow-start threshold, bytes. */
  ssthresh = Infinity;
  /** Bytes sent and neither acknowledged, lost nor discarded. */
  outstanding = 0;

  /** Counters for the session's statistics. */
  readonly stats = {
    /** User data bytes (whole chunks) handed to the network, retransmissions included. */
    bytesSent: 0,
    bytesAcked: 0,
    bytesLost: 0,
    lossEvents: 0,
    timeouts: 0,
    /** Whole packets, counted by the session with countTx/countRx. */
    txBytes: 0,
    rxBytes: 0,
    txPackets: 0,
    rxPackets: 0,
  };

  /** Bytes that must drain (acked or lost) before another loss may cut the window again. */
  private recoveryRemaining = 0;
  private lastActivity = -Infinity;
  /** When the flight last filled the window. */
  private lastFullAt = -Infinity;
  private lastBackoffAt = -Infinity;
  private tcrUntil = -Infinity;

  constructor(rtt: RttEstimator = new RttEstimator(), options: CongestionOptions = {}) {
    this.rtt = rtt;
    this.mss = options.mss ?? CongestionParams.MSS;
    this.initialWindow = CongestionParams.INITIAL_WINDOW_SEGMENTS * this.mss;
    this.timedOutWindow = CongestionParams.TIMEDOUT_WINDOW_SEGMENTS * this.mss;
    this.cwnd = this.initialWindow;
  }

  sendBudget(now: number): number {
    if (this.outstanding === 0 && now - this.lastActivity >= this.rtt.erto && this.cwnd > this.initialWindow) {
      // Idle for a timeout: what we knew about the path is stale, restart from the initial window.
      this.cwnd = this.initialWindow;
      this.lastActivity = now;
    }
    const budget = Math.floor(this.cwnd) - this.outstanding;
    return budget > 0 ? budget : 0;
  }

  onSent(bytes: number, now: number): void {
    this.outstanding += bytes;
    if (this.outstanding * 64 >= this.cwnd * 63) this.lastFullAt = now;
    this.stats.bytesSent += bytes;
    this.lastActivity = now;
  }

  onAcked(bytes: number, anyLoss: boolean, now: number): void {
    const preAck = this.outstanding;
    this.outstanding = preAck > bytes ? preAck - bytes : 0;
    this.stats.bytesAcked += bytes;
    this.lastActivity = now;

    if (this.recoveryRemaining > 0) {
      this.recoveryRemaining -= bytes;
      return; // no growth while recovering from a cut
    }
    if (anyLoss || bytes === 0) return;

    const cwnd = this.cwnd;
    // Grow only a window that limits the sender: full before this ack, or filled within about
    // a round trip (acks often arrive in bursts, and only the first of a burst sees it full).
    const recent = this.rtt.hasSample ? Math.max(2 * this.rtt.srtt, 10) : this.rtt.erto;
    if (preAck * 64 >= cwnd * 63 || now - this.lastFullAt <= recent) {
      let increase: number;
      if (cwnd < this.ssthresh) {
        // Slow start, about doubling each round trip (appropriate byte counting, L = 2 MSS).
        const limit = 2 * this.mss;
        increase = bytes < limit ? bytes : limit;
      } else {
        // Congestion avoidance: per window of acked data add one MSS, or 1/64 of the window
        // when it is large, unless a time-critical reverse notification asks for TCP's pace.
        const perWindow = now < this.tcrUntil ? this.mss : Math.max(this.mss, cwnd / 64);
        increase = (bytes * perWindow) / cwnd;
      }
      this.cwnd = Math.min(cwnd + increase, CongestionParams.MAX_WINDOW);
    } else {
      const margin = CongestionParams.DECAY_MARGIN_SEGMENTS * this.mss;
      if (cwnd > preAck + margin && cwnd > this.initialWindow) {
        // A window the session leaves unused decays, slowly: a bursty sender keeps most of it
        // between bursts, an application-limited one drifts down toward what it uses.
        this.cwnd = Math.max(this.initialWindow, cwnd - this.mss / CongestionParams.DECAY_DIVISOR);
      }
    }
  }

  onLost(bytes: number, timeout: boolean, now: number): void {
    const preLoss = this.outstanding;
    this.outstanding = preLoss > bytes ? preLoss - bytes : 0;
    this.stats.bytesLost += bytes;
    this.lastActivity = now;

    if (timeout) {
      this.stats.timeouts++;
      this.ssthresh = Math.max(this.initialWindow, Math.min(this.cwnd, preLoss) / 2);
      this.cwnd = this.timedOutWindow;
      this.recoveryRemaining = 0;
      // Several flows may time out for the same silence; back the timeout off once for it.
      if (now - this.lastBackoffAt >= this.rtt.erto / 2) {
        this.rtt.backoff();
        this.lastBackoffAt = now;
      }
      return;
    }

    if (this.recoveryRemaining > 0) {
      this.recoveryRemaining -= bytes;
      return; // the same flight already cut the window
    }
    this.stats.lossEvents++;
    const preCut = Math.min(this.cwnd, preLoss);
    this.ssthresh = Math.max(this.initialWindow, preCut / 2);
    this.cwnd = this.ssthresh;
    this.recoveryRemaining = this.outstanding;
  }

  onDiscarded(bytes: number): void {
    this.outstanding = this.outstanding > bytes ? this.outstanding - bytes : 0;
  }

  erto(): number {
    return this.rtt.erto;
  }

  /** The far end set Time Critical Reverse: hold growth to TCP's pace for a while (§3.5.2.2). */
  onTimeCriticalReverse(now: number): void {
    this.tcrUntil = now + CongestionParams.TIME_CRITICAL_TIMEOUT_MS;
  }

  countTx(packetBytes: number): void {
    this.stats.txBytes += packetBytes;
    this.stats.txPackets++;
  }

  countRx(packetBytes: number): void {
    this.stats.rxBytes += packetBytes;
    this.stats.rxPackets++;
  }
}
