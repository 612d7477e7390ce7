// The receiving side of an RTMFP flow (RFC 7016 §3.6.3): duplicate detection, a bounded
// reordering buffer, reassembly of fragmented messages, in-order delivery, the forward sequence
// number (abandoned data is skipped), the final fragment, and acknowledgements.
//
// Received sequence numbers are kept as the cumulative ack plus a short sorted list of ranges
// above it; out-of-order fragments wait in a Map keyed by sequence number. Everything buffered
// is charged its size plus a fixed bias, and nothing is allocated per missing sequence number,
// so memory stays bounded whatever the far end sends.
import { UserDataFlag, Fragment } from './chunk-types.js';
import type { ChunkWriter } from './chunk-writer.js';
import type { ReceivedFragment, RecvFlowContext } from './flow-context.js';
import { ChunkError, writeAck, writeFlowException, type AckRangeList } from './ack-codec.js';

export const RecvFlowParams = {
  DEFAULT_BUFFER_CAPACITY: 1024 * 1024,
  /** Messages longer than this are dropped as they are reassembled. */
  MAX_MESSAGE_SIZE: 16 * 1024 * 1024,
  /** Fragments one message may have (bounds tiny-fragment floods). */
  MAX_MESSAGE_FRAGMENTS: 65536,
  /** What each buffered fragment or message costs beyond its bytes. */
  FRAGMENT_BIAS: 64,
  /** Out-of-order fragments are still accepted this far past the capacity (covers window rounding). */
  BUFFER_SLACK: 64 * 1024,
  /** Distinct ranges of received sequence numbers above the cumulative ack we keep. */
  MAX_RANGES: 4096,
} as const;

// Local copies of the constants the per-fragment paths use.
const F_ABANDON = UserDataFlag.ABANDON;
const F_FINAL = UserDataFlag.FINAL;
const F_FRAGMENT_MASK = UserDataFlag.FRAGMENT_MASK;
const FRA_WHOLE = Fragment.WHOLE;
const FRA_BEGIN = Fragment.BEGIN;
const FRA_END = Fragment.END;
const FRA_MIDDLE = Fragment.MIDDLE;
const BIAS = RecvFlowParams.FRAGMENT_BIAS;

export interface RecvFlowOptions {
  /** Receive buffer, bytes: the window advertised is what remains of it (default 1 MiB). */
  bufferCapacity?: number;
  maxMessageSize?: number;
  /** Start paused: complete messages are held (and count against the buffer) until resume(). */
  paused?: boolean;
  /** The final fragment arrived and every message before it was delivered. */
  onComplete?: () => void;
}

export type RecvFlowState = 'open' | 'complete' | 'rejected';

interface Held {
  flags: number;
  data: Buffer;
}

export class RecvFlow {
  /** The session should send an acknowledgement for this flow (writeAck clears it). */
  needsAck = false;
  readonly bufferCapacity: number;
  readonly maxMessageSize: number;
  onComplete: (() => void) | undefined;

  readonly stats = {
    fragments: 0,
    duplicates: 0,
    /** Dropped for want of buffer (the sender will retransmit). */
    dropped: 0,
    messagesDelivered: 0,
    /** Incomplete messages skipped because the sender abandoned part of them. */
    messagesAbandoned: 0,
    oversizeMessages: 0,
  };

  private stateValue: RecvFlowState = 'open';
  private exceptionCode = 0;
  private exceptionPending = false;
  private pausedValue: boolean;

  /** Every sequence number at or below this was received or abandoned. */
  private cumAck = 0;
  /** Received ranges above cumAck + 1, ascending and disjoint (never adjacent). */
  private starts: number[] = [];
  private ends: number[] = [];
  /** Sequence numbers through this have been processed for delivery (equals cumAck between calls). */
  private processed = 0;
  private finSeq = 0;
  private readonly maxAhead: number;

  /** Out-of-order fragments (copies), by sequence number; made on the first (most flows never reorder). */
  private buffer: Map<number, Held> | undefined;
  private bufferBytes = 0;
  /** The message being reassembled, in order. */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private assembling = false;
  /** Complete messages held while paused. */
  private held: Buffer[] = [];
  private heldHead = 0;
  private heldBytes = 0;
  private prevBlocks = 0;
  private error: ChunkError | undefined;

  constructor(
    private readonly ctx: RecvFlowContext,
    readonly flowId: number,
    readonly metadata: Buffer,
    readonly returnFlowId: number | undefined,
    options: RecvFlowOptions = {},
  ) {
    this.bufferCapacity = options.bufferCapacity ?? RecvFlowParams.DEFAULT_BUFFER_CAPACITY;
    this.maxMessageSize = options.maxMessageSize ?? RecvFlowParams.MAX_MESSAGE_SIZE;
    this.pausedValue = options.paused ?? false;
    this.onComplete = options.onComplete;
    // A sender keeps at most a window of chunks in flight, each at least 4 bytes long.
    this.maxAhead = Math.floor(this.bufferCapacity / 4) + 16384;
  }

  get state(): RecvFlowState {
    return this.stateValue;
  }

  /** The final fragment arrived and everything before it was delivered. */
  get isComplete(): boolean {
    return this.stateValue === 'complete';
  }

  get isRejected(): boolean {
    return this.stateValue === 'rejected';
  }

  get paused(): boolean {
    return this.pausedValue;
  }

  get cumulativeAck(): number {
    return this.cumAck;
  }

  /** Bytes held (out-of-order fragments, a partial message, held messages), with the per-item bias. */
  get bufferedBytes(): number {
    return this.bufferBytes + this.partsBytes + this.heldBytes;
  }

  /** The window to advertise, in 1024-byte blocks. */
  get bufferBlocksAvailable(): number {
    const free = this.bufferCapacity - this.bufferedBytes;
    if (free > 0) return Math.ceil(free / 1024);
    // Full. Zero stops the sender, which is right while the application holds messages; but
    // if the buffer is full of out-of-order data or a long partial message, only more data
    // (the missing fragments) can drain it, so keep a block open.
    return this.pausedValue || this.stateValue !== 'open' ? 0 : 1;
  }

  /**
   * One fragment for this flow. Throws ChunkError for what no correct sender sends (fsnOffset
   * past the sequence number, a sequence number absurdly far ahead or past the final one, a
   * message over the size or fragment limit); the flow stays consistent and usable.
   */
  onFragment(f: ReceivedFragment): void {
    const seq = f.sequenceNumber;
    const flags = f.flags;
    if (!Number.isSafeInteger(seq) || seq < 1) throw new ChunkError(`flow ${this.flowId}: bad sequence number ${seq}`);
    if (!(f.fsnOffset >= 0) || f.fsnOffset > seq) throw new ChunkError(`flow ${this.flowId}: fsnOffset ${f.fsnOffset} past ${seq}`);
    const fsn = seq - f.fsnOffset;
    const base = fsn > this.cumAck ? fsn : this.cumAck;
    if (seq - base > this.maxAhead) {
      throw new ChunkError(`flow ${this.flowId}: sequence number ${seq} too far past ${base}`);
    }
    if (this.finSeq > 0 && (seq > this.finSeq || fsn > this.finSeq)) {
      throw new ChunkError(`flow ${this.flowId}: sequence number ${seq} past the final ${this.finSeq}`);
    }
    this.stats.fragments++;
    this.needsAck = true;
    const abandoned = (flags & F_ABANDON) !== 0;
    const fresh = !this.contains(seq);
    const gapBefore = this.starts.length > 0;
    let immediate = !fresh || abandoned || gapBefore || this.prevBlocks < 2 || this.stateValue !== 'open';

    if (!fresh) {
      this.stats.duplicates++;
    } else if ((flags & F_FINAL) !== 0 && this.finSeq === 0) {
      this.finSeq = seq;
      immediate = true;
    }

    // Forward sequence number: everything at or below it is done, whatever we have of it.
    if (fsn > this.cumAck) {
      this.advanceTo(fsn);
      immediate = true;
    }

    if (fresh && seq > this.cumAck && !this.accept(seq, flags, f.data)) {
      // No room: forget it, the sender retransmits once we have drained.
      this.stats.dropped++;
      if (this.finSeq === seq) this.finSeq = 0;
      immediate = true;
    }
    if (this.stateValue === 'rejected') {
      this.exceptionPending = true;
      this.ctx.wantException();
    }
    if (this.starts.length > 0) immediate = true;
    this.drain();
    this.checkComplete();
    this.ctx.wantAck(immediate);
    const err = this.error;
    if (err) {
      this.error = undefined;
      throw err;
    }
  }

  /** The sender asked for an acknowledgement (Buffer Probe). */
  onBufferProbe(): void {
    this.needsAck = true;
    this.ctx.wantAck(true);
  }

  /**
   * Writes this flow's acknowledgement (the shorter of bitmap and ranges, truncated to fit if
   * it must be). Answers false, writing nothing, if not even its header fits.
   */
  writeAck(w: ChunkWriter): boolean {
    const blocks = this.bufferBlocksAvailable;
    const list: AckRangeList = { starts: this.starts, ends: this.ends, count: this.starts.length };
    if (!writeAck(w, this.flowId, blocks, this.cumAck, list)) return false;
    this.needsAck = false;
    this.prevBlocks = blocks;
    return true;
  }

  /** Refuses the flow: buffered data is dropped and each fragment from now on is answered with an exception. */
  reject(code = 0): void {
    if (this.stateValue === 'rejected') return;
    this.stateValue = 'rejected';
    this.exceptionCode = code;
    this.exceptionPending = true;
    this.ctx.wantException();
    this.needsAck = true;
    this.dropAll();
    this.ctx.wantAck(true);
  }

  /** Writes a Flow Exception Report if one is owed (after reject()); answers whether it wrote one. */
  writeException(w: ChunkWriter): boolean {
    if (!this.exceptionPending) return false;
    if (!writeFlowException(w, this.flowId, this.exceptionCode)) return false;
    this.exceptionPending = false;
    return true;
  }

  get needsException(): boolean {
    return this.exceptionPending;
  }

  /** An acknowledgement or an exception is owed to the sender. */
  get owesReply(): boolean {
    return this.needsAck || this.exceptionPending;
  }

  /** Holds complete messages instead of delivering them (they count against the window). */
  pause(): void {
    this.pausedValue = true;
  }

  /** Delivers held messages and reopens the window. */
  resume(): void {
    if (!this.pausedValue) return;
    this.pausedValue = false;
    while (this.heldHead < this.held.length && !this.pausedValue && this.stateValue !== 'rejected') {
      const m = this.held[this.heldHead]!;
      this.held[this.heldHead++] = EMPTY;
      this.heldBytes -= m.length + BIAS;
      this.stats.messagesDelivered++;
      this.ctx.deliver(this.flowId, m);
    }
    if (this.heldHead === this.held.length) {
      this.held = [];
      this.heldHead = 0;
    }
    this.checkComplete();
    // Tell the sender the window opened (it may be probing a closed one).
    if (this.prevBlocks < 2 || this.bufferBlocksAvailable >= this.prevBlocks * 2) {
      this.needsAck = true;
      this.ctx.wantAck(true);
    }
  }

  // ---- internals ----

  private contains(seq: number): boolean {
    if (seq <= this.cumAck) return true;
    const lo = this.rangesStartingAtOrBelow(seq);
    return lo > 0 && this.ends[lo - 1]! >= seq;
  }

  /** How many received ranges start at or below seq (binary search over the sorted starts). */
  private rangesStartingAtOrBelow(seq: number): number {
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Marks everything through `seq` received, merging the ranges it reaches. */
  private advanceTo(seq: number): void {
    if (seq > this.cumAck) this.cumAck = seq;
    const starts = this.starts;
    const ends = this.ends;
    let drop = 0;
    while (drop < starts.length && starts[drop]! <= this.cumAck + 1) {
      if (ends[drop]! > this.cumAck) this.cumAck = ends[drop]!;
      drop++;
    }
    if (drop > 0) {
      starts.splice(0, drop);
      ends.splice(0, drop);
    }
  }

  /** Records a fresh sequence number above the cumulative ack and keeps its data; false if there is no room. */
  private accept(seq: number, flags: number, data: Buffer): boolean {
    const keepsData = (flags & F_ABANDON) === 0 && this.stateValue === 'open';
    const next = seq === this.cumAck + 1;
    const cost = keepsData ? data.length + BIAS : 0;
    if (keepsData && (!next || this.pausedValue) && this.bufferedBytes + cost > this.bufferCapacity + RecvFlowParams.BUFFER_SLACK) {
      return false;
    }
    if (!next) {
      if (!this.insertRange(seq)) return false;
      if (keepsData) this.store(seq, flags, data, cost);
      return true;
    }
    const inOrder = this.processed === seq - 1;
    this.advanceTo(seq);
    if (!keepsData) return true;
    if (inOrder) {
      // Straight to reassembly, no stop in the reordering buffer.
      this.processed = seq;
      this.process(flags, data, true);
    } else {
      this.store(seq, flags, data, cost);
    }
    return true;
  }

  /** Adds seq (above cumAck + 1, not yet received) to the ranges; false if that would make too many. */
  private insertRange(seq: number): boolean {
    const starts = this.starts;
    const ends = this.ends;
    const lo = this.rangesStartingAtOrBelow(seq);
    const joinPrev = lo > 0 && ends[lo - 1]! === seq - 1;
    const joinNext = lo < starts.length && starts[lo]! === seq + 1;
    if (joinPrev && joinNext) {
      ends[lo - 1] = ends[lo]!;
      starts.splice(lo, 1);
      ends.splice(lo, 1);
    } else if (joinPrev) {
      ends[lo - 1] = seq;
    } else if (joinNext) {
      starts[lo] = seq;
    } else {
      if (starts.length >= RecvFlowParams.MAX_RANGES) return false;
      starts.splice(lo, 0, seq);
      ends.splice(lo, 0, seq);
    }
    return true;
  }

  private store(seq: number, flags: number, data: Buffer, cost: number): void {
    (this.buffer ??= new Map()).set(seq, { flags, data: Buffer.from(data) });
    this.bufferBytes += cost;
  }

  /** Processes buffered fragments in order up to the cumulative ack. */
  private drain(): void {
    const target = this.cumAck;
    if (this.processed >= target) return;
    const buffer = this.buffer;
    if (buffer === undefined || buffer.size === 0) {
      // Nothing buffered: all between was abandoned.
      this.gap();
      this.processed = target;
      return;
    }
    if (target - this.processed > buffer.size * 2 + 64) {
      // A long jump (forward sequence number): visit only what is buffered, in order.
      const keys: number[] = [];
      for (const k of buffer.keys()) if (k <= target) keys.push(k);
      keys.sort((a, b) => a - b);
      for (const k of keys) {
        if (this.stateValue === 'rejected') return;
        const h = buffer.get(k)!;
        buffer.delete(k);
        this.bufferBytes -= h.data.length + BIAS;
        if (k !== this.processed + 1) this.gap();
        this.processed = k;
        this.process(h.flags, h.data, false);
      }
      if (this.processed < target) this.gap();
      this.processed = target;
      return;
    }
    while (this.processed < target) {
      if (this.stateValue === 'rejected') return;
      const seq = ++this.processed;
      const h = buffer.get(seq);
      if (h === undefined) {
        this.gap();
        continue;
      }
      buffer.delete(seq);
      this.bufferBytes -= h.data.length + BIAS;
      this.process(h.flags, h.data, false);
    }
  }

  /** A sequence number with no data (abandoned): any message in progress cannot complete. */
  private gap(): void {
    if (this.assembling) {
      this.stats.messagesAbandoned++;
      this.resetAssembly();
    }
  }

  private resetAssembly(): void {
    this.assembling = false;
    this.parts = [];
    this.partsBytes = 0;
  }

  /** The next fragment in sequence. `view` means data points into the packet and must be copied to keep. */
  private process(flags: number, data: Buffer, view: boolean): void {
    if (this.stateValue === 'rejected') return;
    if ((flags & F_ABANDON) !== 0) {
      this.gap();
      return;
    }
    switch (flags & F_FRAGMENT_MASK) {
      case FRA_WHOLE:
        this.gap();
        // A data-less final fragment only marks the end of the flow.
        if (data.length === 0 && (flags & F_FINAL) !== 0) return;
        this.emit(view ? Buffer.from(data) : data);
        return;
      case FRA_BEGIN:
        this.gap();
        this.assembling = true;
        this.append(data);
        return;
      case FRA_MIDDLE:
        if (this.assembling) this.append(data);
        return; // orphan (its beginning was abandoned or the message was too long): drop
      case FRA_END:
        if (!this.assembling) return;
        if (!this.append(data)) return;
        {
          const parts = this.parts;
          const message = Buffer.concat(parts, this.partsBytes - parts.length * BIAS);
          this.resetAssembly();
          this.emit(message);
        }
        return;
    }
  }

  private append(data: Buffer): boolean {
    const n = this.parts.length + 1;
    const bytes = this.partsBytes - this.parts.length * BIAS + data.length;
    if (bytes > this.maxMessageSize || n > RecvFlowParams.MAX_MESSAGE_FRAGMENTS) {
      this.stats.oversizeMessages++;
      this.resetAssembly(); // the rest of it arrives as orphans and is dropped
      this.error = new ChunkError(
        `flow ${this.flowId}: message over ${this.maxMessageSize} bytes or ${RecvFlowParams.MAX_MESSAGE_FRAGMENTS} fragments dropped`,
      );
      return false;
    }
    // Kept as a view even when it points into the packet: the message is copied out whole when
    // its last fragment comes (Buffer.concat), so copying each part first copied it twice. The
    // packets stay alive until then, at most the message's size plus headers.
    this.parts.push(data);
    this.partsBytes += data.length + BIAS;
    return true;
  }

  private emit(message: Buffer): void {
    if (this.pausedValue) {
      this.held.push(message);
      this.heldBytes += message.length + BIAS;
      return;
    }
    this.stats.messagesDelivered++;
    this.ctx.deliver(this.flowId, message);
  }

  private checkComplete(): void {
    if (
      this.stateValue === 'open' &&
      this.finSeq > 0 &&
      this.cumAck >= this.finSeq &&
      this.processed >= this.finSeq &&
      this.heldHead === this.held.length
    ) {
      this.stateValue = 'complete';
      this.resetAssembly();
      this.needsAck = true;
      this.ctx.wantAck(true);
      this.onComplete?.();
    }
  }

  private dropAll(): void {
    this.buffer = undefined;
    this.bufferBytes = 0;
    this.resetAssembly();
    this.held = [];
    this.heldHead = 0;
    this.heldBytes = 0;
  }
}

const EMPTY = Buffer.alloc(0);
