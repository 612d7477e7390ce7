// Token buckets by key (a source address, a peer ID) in a table of bounded size: each key may
// spend `burst` at once and `perSecond` after that. A flood of new keys cannot grow the table
// past `maxKeys`; a bucket is only ever forgotten once it has filled up again, when forgetting
// it changes nothing (a new one starts full), so no key gets more by making others crowd it out.
import type { Clock } from './platform.js';

export interface RateLimit {
  /** Tokens added per second. */
  perSecond: number;
  /** Most tokens a bucket holds: what a key may spend at once. */
  burst: number;
  /** Most keys tracked at once; past it, new keys are refused until a bucket has refilled. */
  maxKeys: number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date, ms. */
  at: number;
}

export type TakeResult = 'ok' | 'limited' | 'table full';

export class RateLimiter {
  /** In order of last use (touched buckets move to the end), so the first is the likeliest full. */
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly limit: RateLimit,
    private readonly clock: Clock,
  ) {}

  get size(): number {
    return this.buckets.size;
  }

  /** Spends one token of `key`'s bucket, if it has one. */
  take(key: string): TakeResult {
    const now = this.clock.now();
    const bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.limit.maxKeys && !this.forgetOldestIfFull(now)) return 'table full';
      if (this.limit.burst < 1) return 'limited';
      this.buckets.set(key, { tokens: this.limit.burst - 1, at: now });
      return 'ok';
    }
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((now - bucket.at) * this.limit.perSecond) / 1000);
    bucket.at = now;
    if (bucket.tokens < 1) return 'limited';
    bucket.tokens -= 1;
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    return 'ok';
  }

  /**
   * Frees a place if the least recently used bucket has refilled (any bucket untouched for
   * burst / perSecond seconds has). Looking at one bucket keeps a flood of new keys at O(1) each.
   */
  private forgetOldestIfFull(now: number): boolean {
    const first = this.buckets.entries().next().value as [string, Bucket] | undefined;
    if (first === undefined) return true;
    const [key, bucket] = first;
    if (bucket.tokens + ((now - bucket.at) * this.limit.perSecond) / 1000 < this.limit.burst) return false;
    this.buckets.delete(key);
    return true;
  }
}
