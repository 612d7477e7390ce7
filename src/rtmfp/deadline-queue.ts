// Many deadlines on one platform timer. Every session keeps a timer (retransmission, keepalive,
// delayed ack, idle timeout) that moves with each packet; with one platform timer per session,
// each move cost a timer object, a closure and a cancel handle, and a fan-out to hundreds of
// sessions churned thousands of them a second (and the young-generation GC promoted them).
// Here each session owns one entry, kept in a binary min-heap by deadline: moving it allocates
// nothing, and only the earliest deadline holds a platform timer.
import type { Clock, TimerHandle } from './platform.js';

/** One owner's place in a DeadlineQueue; made once per owner and reused for every deadline. */
export class DeadlineEntry {
  /** The deadline (clock ms), Infinity when not scheduled. */
  at = Infinity;
  /** Position in the heap, -1 when not in it. */
  index = -1;

  constructor(
    /** Called once the deadline has passed (the entry is out of the queue by then). */
    readonly fire: (now: number) => void,
  ) {}

  get scheduled(): boolean {
    return this.index >= 0;
  }
}

export class DeadlineQueue {
  private readonly heap: DeadlineEntry[] = [];
  private timer: TimerHandle | undefined;
  /** When the platform timer goes off; Infinity when none is set. */
  private timerAt = Infinity;
  private firing = false;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.heap.length;
  }

  /** Puts `entry` at `at`, whether or not it was scheduled before (earlier or later). */
  schedule(entry: DeadlineEntry, at: number): void {
    const heap = this.heap;
    if (entry.index < 0) {
      entry.at = at;
      entry.index = heap.length;
      heap.push(entry);
      this.siftUp(entry.index);
    } else {
      const earlier = at < entry.at;
      entry.at = at;
      if (earlier) this.siftUp(entry.index);
      else this.siftDown(entry.index);
    }
    this.armFor(heap[0]!.at);
  }

  /** Takes `entry` out of the queue (nothing happens if it is not in it). */
  cancel(entry: DeadlineEntry): void {
    entry.at = Infinity;
    if (entry.index >= 0) this.removeAt(entry.index);
    if (this.heap.length === 0 && !this.firing) {
      // Nothing left: a pending platform timer would keep the process alive for nothing.
      this.timer?.cancel();
      this.timer = undefined;
      this.timerAt = Infinity;
    }
    // Otherwise the platform timer may go off early: it then finds nothing due and re-arms.
  }

  /** Arms the platform timer for `at` unless it already goes off by then. */
  private armFor(at: number): void {
    if (this.firing || at >= this.timerAt) return;
    this.timer?.cancel();
    this.timerAt = at;
    this.timer = this.clock.setTimer(Math.max(0, at - this.clock.now()), this.onTimer);
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const heap = this.heap;
    const now = this.clock.now();
    // Take out everything due first, then fire: a callback that schedules at or before `now`
    // waits for the next timer rather than firing again in this loop.
    const due = this.due;
    while (heap.length > 0 && heap[0]!.at <= now) due.push(this.removeAt(0));
    this.firing = true;
    let i = 0;
    try {
      for (; i < due.length; i++) {
        const entry = due[i]!;
        // Scheduled again or cancelled by an earlier callback: not due any more.
        if (entry.index >= 0 || entry.at > now) continue;
        entry.at = Infinity;
        entry.fire(now);
      }
    } finally {
      // A callback threw: the entries after it go back in the queue, due, rather than being
      // lost (the error itself goes on up, as a platform timer's would).
      for (i++; i < due.length; i++) {
        const entry = due[i]!;
        if (entry.index < 0 && entry.at <= now) this.schedule(entry, entry.at);
      }
      due.length = 0;
      this.firing = false;
      if (heap.length > 0) this.armFor(heap[0]!.at);
    }
  };

  /** Entries taken out by onTimer, about to fire (kept to reuse the array). */
  private readonly due: DeadlineEntry[] = [];

  /** Removes the entry at heap position `i` (its deadline kept) and answers it. */
  private removeAt(i: number): DeadlineEntry {
    const heap = this.heap;
    const entry = heap[i]!;
    const last = heap.pop()!;
    entry.index = -1;
    if (last !== entry) {
      heap[i] = last;
      last.index = i;
      this.siftUp(i);
      this.siftDown(last.index);
    }
    return entry;
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const entry = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.at <= entry.at) break;
      heap[i] = p;
      p.index = i;
      i = parent;
    }
    heap[i] = entry;
    entry.index = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1]!.at < heap[child]!.at) child++;
      const c = heap[child]!;
      if (c.at >= entry.at) break;
      heap[i] = c;
      c.index = i;
      i = child;
    }
    heap[i] = entry;
    entry.index = i;
  }
}
