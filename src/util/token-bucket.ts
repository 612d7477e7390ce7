// A token bucket: up to `burst` events at once, then `ratePerSecond` on average. Used where a
// client (or all of them) may do something costly only so often; the state is two numbers, so
// one per client costs nothing.
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.updatedAt = now();
  }

  /** Takes `count` tokens if there are that many; false means over the rate (nothing taken). */
  take(count = 1): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.updatedAt) * this.ratePerSecond) / 1000);
    this.updatedAt = t;
    if (this.tokens < count) return false;
    this.tokens -= count;
    return true;
  }
}
