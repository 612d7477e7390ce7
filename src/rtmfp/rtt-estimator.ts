// Round-trip time estimation and the effective retransmission timeout (RFC 7016 §3.5.2.2,
// after RFC 6298). The session measures samples (from timestamp echoes) and feeds them here;
// everything is in milliseconds and nothing here reads a clock.

export const RttParams = {
  INITIAL_ERTO_MS: 3000,
  MINIMUM_ERTO_MS: 250,
  MAXIMUM_ERTO_MS: 10_000,
  /** Added to the measured timeout: the far end may hold its ack this long. */
  DELACK_MS: 200,
  /** √2: each consecutive timeout stretches the timeout by this much. */
  BACKOFF_FACTOR: Math.SQRT2,
} as const;

export class RttEstimator {
  /** Smoothed RTT, or -1 before the first sample. */
  srtt = -1;
  rttvar = 0;
  /** The measured timeout (srtt + 4·rttvar + delayed-ack allowance), before any backoff. */
  mrto: number = RttParams.MINIMUM_ERTO_MS;
  private ertoMs: number = RttParams.INITIAL_ERTO_MS;
  /** When the last sample was taken, or -Infinity. */
  lastSampleAt = -Infinity;

  constructor(
    private readonly minErto: number = RttParams.MINIMUM_ERTO_MS,
    private readonly maxErto: number = RttParams.MAXIMUM_ERTO_MS,
    initialErto: number = RttParams.INITIAL_ERTO_MS,
  ) {
    this.ertoMs = initialErto;
  }

  /** The effective retransmission timeout, ms. */
  get erto(): number {
    return this.ertoMs;
  }

  get hasSample(): boolean {
    return this.srtt >= 0;
  }

  /** Feeds one RTT measurement in ms; negative or non-finite samples are ignored. */
  sample(rttMs: number, now = 0): void {
    if (!(rttMs >= 0) || !Number.isFinite(rttMs)) return;
    if (this.srtt < 0) {
      this.srtt = rttMs;
      this.rttvar = rttMs / 2;
    } else {
      const delta = Math.abs(this.srtt - rttMs);
      this.rttvar = (3 * this.rttvar + delta) / 4;
      this.srtt = (7 * this.srtt + rttMs) / 8;
    }
    this.mrto = this.srtt + 4 * this.rttvar + RttParams.DELACK_MS;
    this.ertoMs = clamp(this.mrto, this.minErto, this.maxErto);
    this.lastSampleAt = now;
  }

  /** A retransmission timeout fired: stretch the timeout by √2, up to the maximum. */
  backoff(): void {
    this.ertoMs = Math.max(Math.min(this.ertoMs * RttParams.BACKOFF_FACTOR, this.maxErto), Math.min(this.mrto, this.maxErto));
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
