// Items kept in key order, read as a ring (the last is followed by the first): insertion and
// removal by key, the item some places away from another, and a uniformly random item. One
// sorted array would do, but moving half of it on every insert costs about 40 us at 10,000
// items (V8 moves object slots one by one, with a write barrier each), which made a join into
// a 10,000-member group cost 58 us and a leave 49 us; in buckets of at most 512 items a move is
// short, and the same join costs 17 us, a leave 10 us (scripts/bench/netgroup-joins.ts).

/** A bucket splits in two when it grows past this. */
const MAX_BUCKET = 512;

/** Where an item is: bucket and index in it. Valid until the ring next changes. */
export interface RingPosition {
  bucket: number;
  index: number;
}

export class SortedRing<T extends { readonly ringKey: string }> {
  private readonly buckets: T[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Inserts an item after every item of a smaller or equal key; returns where it went. */
  insert(item: T): RingPosition {
    this.count++;
    if (this.buckets.length === 0) {
      this.buckets.push([item]);
      return { bucket: 0, index: 0 };
    }
    let bucket = this.bucketFor(item.ringKey);
    let list = this.buckets[bucket]!;
    let index = upperBound(list, item.ringKey);
    list.splice(index, 0, item);
    if (list.length > MAX_BUCKET) {
      const upper = list.splice(list.length >>> 1);
      this.buckets.splice(bucket + 1, 0, upper);
      if (index >= list.length) {
        index -= list.length;
        bucket++;
        list = upper;
      }
    }
    return { bucket, index };
  }

  /** Where an item is, or undefined when it is not in the ring. */
  position(item: T): RingPosition | undefined {
    if (this.count === 0) return undefined;
    const bucket = this.bucketFor(item.ringKey);
    const list = this.buckets[bucket]!;
    // Equal keys are possible in principle; look at each item of the key.
    for (let index = lowerBound(list, item.ringKey); index < list.length && list[index]!.ringKey === item.ringKey; index++) {
      if (list[index] === item) return { bucket, index };
    }
    return undefined;
  }

  /** Removes the item; false when it was not there. */
  remove(item: T): boolean {
    const at = this.position(item);
    if (at === undefined) return false;
    const list = this.buckets[at.bucket]!;
    list.splice(at.index, 1);
    if (list.length === 0) this.buckets.splice(at.bucket, 1);
    this.count--;
    return true;
  }

  /** The item `offset` places after (negative: before) the one at `at`, around the ring. */
  step(at: RingPosition, offset: number): T {
    const n = this.count;
    let d = ((offset % n) + n) % n;
    // Walk the shorter way round.
    if (d > n / 2) d -= n;
    let { bucket, index } = at;
    index += d;
    while (index >= this.buckets[bucket]!.length) {
      index -= this.buckets[bucket]!.length;
      bucket = (bucket + 1) % this.buckets.length;
    }
    while (index < 0) {
      bucket = (bucket - 1 + this.buckets.length) % this.buckets.length;
      index += this.buckets[bucket]!.length;
    }
    return this.buckets[bucket]![index]!;
  }

  /** A uniformly random item (`random()` in [0, 1)); the ring must not be empty. */
  random(random: () => number): T {
    let index = Math.floor(random() * this.count);
    for (const list of this.buckets) {
      if (index < list.length) return list[index]!;
      index -= list.length;
    }
    throw new Error('empty ring');
  }

  /** Every item in key order (a new array). */
  toArray(): T[] {
    return this.buckets.flat();
  }

  /** The bucket a key belongs in: the first whose last key is not below it, else the last. */
  private bucketFor(key: string): number {
    let lo = 0;
    let hi = this.buckets.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const list = this.buckets[mid]!;
      if (list[list.length - 1]!.ringKey < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The first index whose key is not below `key`. */
function lowerBound<T extends { readonly ringKey: string }>(list: readonly T[], key: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.ringKey < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index whose key is above `key`. */
function upperBound<T extends { readonly ringKey: string }>(list: readonly T[], key: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.ringKey <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
