// Coalesces writes so a peer gets several messages per syscall instead of one each. What a
// connection writes is held here and handed to its socket in one write (several buffers: one
// writev) either once the current callback is done (commands, shared objects, and media when
// merging is off) or when a shared timer fires (media with a merge window: the same trade SRS
// makes with its merged writes, a few tens of milliseconds of latency for far fewer syscalls,
// which dominate fan-out cost). Order is kept: every write of a connection passes through its
// batch, and a batch is one queue.
//
// The bytes are held here rather than in the socket with cork()/uncork(): a corked write goes
// through the stream's buffering (an entry per write, then uncork's pass over them) before its
// syscall. One shared-object change to 1,000 RTMP users queues 1,000 writes before the first
// leaves: from the change's arrival to the last one queued took 0.9-1.0 ms corked, 0.5-0.6 ms
// held here (scripts/bench/shared-object-fanout.ts, instrumented). The 1,000 writes themselves
// (about 10 ms) are the kernel's: 9-10 us per small loopback TCP write on the 2-core test VM.
import type { Socket } from 'node:net';

/** Where a batch waits: nowhere (empty), for the end of the callback, or for the merge timer. */
const IDLE = 0;
const SOON = 1;
const LATER = 2;

let soon: WriteBatch[] = [];
let soonScheduled = false;
let later: WriteBatch[] = [];
let laterTimer: NodeJS.Timeout | undefined;

function flushSoon(): void {
  const due = soon;
  soon = [];
  soonScheduled = false;
  for (const batch of due) if (batch.due === SOON) batch.flush();
}

function flushLater(): void {
  laterTimer = undefined;
  const due = later;
  later = [];
  // A batch moved to `soon` by a later write has gone already (or goes there).
  for (const batch of due) if (batch.due === LATER) batch.flush();
}

/** One socket's writes not yet handed to it. */
export class WriteBatch {
  /** IDLE, SOON or LATER. */
  due = IDLE;
  private first: Buffer | undefined;
  private more: Buffer[] | undefined;
  private held = 0;

  constructor(private readonly socket: Socket) {}

  /** Bytes held here, not yet given to the socket. */
  get heldBytes(): number {
    return this.held;
  }

  /** Writes `data`; it leaves within `mergeMs` (0: once the current callback is done). */
  write(data: Buffer, mergeMs = 0): void {
    if (this.first === undefined) this.first = data;
    else (this.more ??= []).push(data);
    this.held += data.length;
    if (mergeMs <= 0) {
      if (this.due === SOON) return;
      this.due = SOON;
      soon.push(this);
      if (!soonScheduled) {
        soonScheduled = true;
        queueMicrotask(flushSoon);
      }
    } else if (this.due === IDLE) {
      this.due = LATER;
      later.push(this);
      laterTimer ??= setTimeout(flushLater, mergeMs);
    }
  }

  /** Hands what is held to the socket now, in one write. */
  flush(): void {
    this.due = IDLE;
    const first = this.first;
    if (first === undefined) return;
    const more = this.more;
    this.first = undefined;
    this.more = undefined;
    this.held = 0;
    if (more === undefined) {
      this.socket.write(first);
      return;
    }
    // Corked only for the length of this loop: the buffers leave in one writev.
    this.socket.cork();
    this.socket.write(first);
    for (const data of more) this.socket.write(data);
    this.socket.uncork();
  }

  /** Forgets what is held (the socket is being destroyed). */
  drop(): void {
    this.due = IDLE;
    this.first = undefined;
    this.more = undefined;
    this.held = 0;
  }
}
