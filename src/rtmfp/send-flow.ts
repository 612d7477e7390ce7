// The sending side of an RTMFP flow (RFC 7016 §3.6.2): messages are queued whole and cut into
// fragments only when a packet has room for them, so a fragment is sized to the packet and the
// payload is copied once, into the packet. Sent fragments wait (by sequence number, in a ring)
// until acknowledged; in-flight ones are also linked in transmission order so negative
// acknowledgement counting touches only the holes. Partially reliable messages carry a deadline
// after which nothing more of them is sent and the forward sequence number moves past them.
//
// Nothing here reads a clock or sets a timer: the session calls fill() to assemble packets,
// onAck()/onException() for chunks from the far end, and onTimeout() once nextTimeout() is due.
import { vluLength } from '../codec/vlu.js';
import { CHUNK_HEADER_LENGTH, ChunkType, Fragment, UserDataFlag } from './chunk-types.js';
import type { ChunkWriter } from './chunk-writer.js';
import type { ReceivedAck, SendFlowContext } from './flow-context.js';
import { ChunkError, encodeUserDataOptions, writeBufferProbe } from './ack-codec.js';

export const SendFlowParams = {
  /** A fragment is lost once this many acknowledgements showed later fragments arriving. */
  NAKS_FOR_LOSS: 3,
  /** Receive window assumed until the far end's first acknowledgement. */
  INITIAL_RECV_WINDOW: 65536,
  /** Buffer probes while the receive window is zero: first after max(this, ERTO), then ×√2 up to the max. */
  PERSIST_INITIAL_MS: 1000,
  PERSIST_BACKOFF: Math.SQRT2,
  PERSIST_MAX_MS: 60_000,
  /** Cap on the payload of one fragment; must fit an empty packet with the longest header and options. */
  MAX_FRAGMENT_PAYLOAD: 1100,
  /** A message is not cut into a piece smaller than this unless the piece ends it: wait for the next packet. */
  MIN_FRAGMENT_PAYLOAD: 64,
  DEFAULT_BUFFER_CAPACITY: 1024 * 1024,
} as const;

// Local copies of the constants the per-fragment paths use.
const CT_USER_DATA = ChunkType.USER_DATA;
const CT_NEXT_USER_DATA = ChunkType.NEXT_USER_DATA;
const F_OPTIONS = UserDataFlag.OPTIONS;
const F_ABANDON = UserDataFlag.ABANDON;
const F_FINAL = UserDataFlag.FINAL;
const FRA_WHOLE = Fragment.WHOLE;
const FRA_BEGIN = Fragment.BEGIN;
const FRA_END = Fragment.END;
const FRA_MIDDLE = Fragment.MIDDLE;
const NAKS_FOR_LOSS = SendFlowParams.NAKS_FOR_LOSS;
const MIN_FRAGMENT_PAYLOAD = SendFlowParams.MIN_FRAGMENT_PAYLOAD;
const CHUNK_HEADER = CHUNK_HEADER_LENGTH;
const vluLen = vluLength;

export type ReceiptStatus = 'pending' | 'delivered' | 'abandoned';

export interface WriteOptions {
  /** Partially reliable: abandon the message if not fully acknowledged this many ms after write(). */
  deadlineMs?: number;
  /** Called once when the message is delivered (acknowledged) or abandoned. */
  onDone?: (receipt: WriteReceipt) => void;
}

/** The fate of one write(). Also the flow's record of the message while it is being sent. */
export class WriteReceipt {
  /** @internal */ _status: ReceiptStatus = 'pending';
  /** @internal bytes cut into fragments so far. */ _cut = 0;
  /** @internal every byte has been cut into a fragment. */ _fullyCut = false;
  /** @internal fragments sent and not yet acknowledged. */ _unacked = 0;
  /** @internal the flow's close marker rather than user data. */ _fin = false;
  /** @internal at least one fragment has been sent. */ _started = false;
  onDone: ((receipt: WriteReceipt) => void) | undefined;

  constructor(
    /** @internal */ readonly _data: Buffer,
    /** Absolute time (ms) at which the message is abandoned; Infinity when reliable. */
    readonly deadline: number,
    onDone: ((receipt: WriteReceipt) => void) | undefined,
  ) {
    this.onDone = onDone;
  }

  get status(): ReceiptStatus {
    return this._status;
  }

  get size(): number {
    return this._data.length;
  }

  /** Whether any fragment of the message has gone out. */
  get started(): boolean {
    return this._started;
  }
}

const IN_FLIGHT = 1;
const LOST_QUEUED = 2;
const EVER_LOST = 4;
const SENT_ABANDONED = 8;

/**
 * One sent fragment (made when first transmitted). Its bytes are named by offset in the
 * message rather than held as a view. Fragments live until acknowledged: long enough for the
 * young-generation GC to copy and then promote them under load, where they became most of the
 * old generation's garbage. So acknowledged fragments go back to a shared pool (fragPool) and
 * are reused, unless they were ever queued for retransmission (the queue may still name them).
 */
class Frag {
  /**
   * Bits 0-3: the four yes/no facts below; bits 8-15: the fragment control flags; from bit
   * 16: the negative acknowledgements since the last transmission. One field, not six: a
   * field costs 8 bytes whatever it holds, and at 500 subscribers some 30,000 fragments (60
   * a subscriber) are in flight at a keyframe, or pooled after.
   */
  private bits = 0;
  /** Payload bytes (low 16 bits) and, above them, the chunk bytes of the last transmission. */
  private sizes = 0;

  get inFlight(): boolean {
    return (this.bits & IN_FLIGHT) !== 0;
  }
  set inFlight(v: boolean) {
    this.bits = v ? this.bits | IN_FLIGHT : this.bits & ~IN_FLIGHT;
  }
  /** Waiting in the retransmission queue. */
  get lostQueued(): boolean {
    return (this.bits & LOST_QUEUED) !== 0;
  }
  set lostQueued(v: boolean) {
    this.bits = v ? this.bits | LOST_QUEUED : this.bits & ~LOST_QUEUED;
  }
  /** Was put in the retransmission queue at some point: never pooled. */
  get everLost(): boolean {
    return (this.bits & EVER_LOST) !== 0;
  }
  set everLost(v: boolean) {
    this.bits = v ? this.bits | EVER_LOST : this.bits & ~EVER_LOST;
  }
  /** The last transmission carried ABN and no data. */
  get sentAbandoned(): boolean {
    return (this.bits & SENT_ABANDONED) !== 0;
  }
  set sentAbandoned(v: boolean) {
    this.bits = v ? this.bits | SENT_ABANDONED : this.bits & ~SENT_ABANDONED;
  }
  /** Fragment control bits (and FIN/ABN for the close marker). */
  get flags(): number {
    return (this.bits >> 8) & 0xff;
  }
  /** Payload bytes. */
  get size(): number {
    return this.sizes & 0xffff;
  }
  /** Chunk bytes of the last transmission, header included (a chunk is under 64 KiB). */
  get txSize(): number {
    return this.sizes >>> 16;
  }
  /** Records a transmission of `chunkBytes`: no negative acknowledgements for it yet. */
  sent(chunkBytes: number): void {
    this.sizes = (this.sizes & 0xffff) + chunkBytes * 0x10000;
    this.bits &= 0xffff;
  }
  /** One more negative acknowledgement; answers how many since the last transmission. */
  nak(): number {
    this.bits += 0x10000;
    return this.bits >>> 16;
  }
  /** Transmission order (flow-wide, one per transmission). */
  tsn = 0;
  /** Links in the in-flight list, in transmission order. */
  prev: Frag | null = null;
  next: Frag | null = null;

  constructor(
    public seq: number,
    flags: number,
    /** Where the fragment's bytes start in the message. */
    public start: number,
    size: number,
    public msg: WriteReceipt,
  ) {
    this.bits = flags << 8;
    this.sizes = size;
  }

  /** A pooled fragment made new. */
  reuse(seq: number, flags: number, start: number, size: number, msg: WriteReceipt): void {
    this.seq = seq;
    this.bits = flags << 8;
    this.start = start;
    this.sizes = size;
    this.msg = msg;
    this.tsn = 0;
    this.prev = this.next = null;
  }
}

/**
 * Acknowledged fragments for reuse, shared by all flows. The pool keeps its high-water mark, up
 * to the bound (65,536 x 88 bytes, 5.8 MB): at 500 bench subscribers a keyframe puts 22,000 to
 * 45,000 fragments in flight, and with a bound of 8,192 the rest were made anew at each
 * keyframe, promoted, and dropped (8 MB/s promoted; 3.2 MB/s with this bound, and 10-12 MB less
 * RSS at 300 subscribers).
 */
const fragPool: Frag[] = [];
const FRAG_POOL_MAX = 65536;

function takeFrag(seq: number, flags: number, start: number, size: number, msg: WriteReceipt): Frag {
  const f = fragPool.pop();
  if (f === undefined) return new Frag(seq, flags, start, size, msg);
  f.reuse(seq, flags, start, size, msg);
  return f;
}

/** Returns an acknowledged fragment, no longer named by the flow, to the pool. */
function releaseFrag(f: Frag): void {
  if (f.everLost || fragPool.length >= FRAG_POOL_MAX) return;
  f.msg = NO_MESSAGE;
  fragPool.push(f);
}

export type SendFlowState = 'open' | 'closing' | 'complete' | 'failed';

export interface SendFlowOptions {
  priority?: number;
  /** Largest payload per fragment (default SendFlowParams.MAX_FRAGMENT_PAYLOAD). */
  maxFragmentPayload?: number;
  /** bufferedBytes at or above this makes `writable` false (default 1 MiB). Advisory: write() never refuses. */
  bufferCapacity?: number;
  /** The far end rejected the flow (Flow Exception Report): the flow has failed. */
  onRejected?: (code: number) => void;
  /** Everything up to and including the close marker was acknowledged. */
  onComplete?: () => void;
  /** bufferedBytes fell below bufferCapacity after having reached it. */
  onWritable?: () => void;
}

const EMPTY = Buffer.alloc(0);
/** What a pooled fragment names instead of its last message, so the pool keeps no message alive. */
const NO_MESSAGE = new WriteReceipt(EMPTY, Infinity, undefined);

export class SendFlow {
  priority: number;
  readonly maxFragmentPayload: number;
  bufferCapacity: number;
  onRejected: ((code: number) => void) | undefined;
  onComplete: (() => void) | undefined;
  onWritable: (() => void) | undefined;

  private stateValue: SendFlowState = 'open';
  /** The code of the Flow Exception Report that failed this flow. */
  exceptionCode: number | undefined;

  readonly stats = {
    fragmentsSent: 0,
    fragmentsRetransmitted: 0,
    bytesSent: 0,
    fragmentsLost: 0,
    timeouts: 0,
    probesSent: 0,
    messagesDelivered: 0,
    messagesAbandoned: 0,
  };

  /** Options sent on the first chunk of each packet until the far end acknowledges anything. */
  private startupOptions: Buffer | undefined;
  private readonly optionsLength: number;

  // Sent fragments by sequence number: for lowSeq <= seq < nextSeq, slot seq & mask holds
  // fragment seq or, once that is acknowledged, a sequence number above seq to resume searching
  // at (see nextUnacked; one array for both halves the ring's memory, about 1.2 KB a subscriber
  // at a keyframe). It doubles as needed from four slots: a server has a few command flows per
  // client, mostly idle, and media flows grow theirs (to 64-128 slots at a keyframe) within
  // their first seconds.
  private ring: Array<Frag | number> = new Array<Frag | number>(4).fill(0);
  private mask = 3;
  /** Lowest sequence number not yet acknowledged (or nextSeq). */
  private lowSeq = 1;
  private nextSeq = 1;
  /** Forward sequence number: everything at or below it is acknowledged or abandoned. */
  private fsn = 0;
  /** Sequence number of the close marker, once sent. */
  private finSeq = 0;

  // In flight, in transmission order.
  private outHead: Frag | null = null;
  private outTail: Frag | null = null;
  private outstanding = 0;
  private tsnCounter = 0;
  private maxAckedTsn = 0;

  // Retransmission queue.
  private lostQ: Frag[] = [];
  private lostHead = 0;

  // Messages not yet fully cut into fragments.
  // Slots sendHead..sendTail-1 are queued; the array keeps its capacity when it empties (a
  // media flow empties it several times a second, and regrowing it each time was garbage).
  private sendQ: Array<WriteReceipt | undefined> = [];
  private sendTail = 0;
  private sendHead = 0;
  private unsentBytes = 0;
  private unackedBytes = 0;
  private wasFull = false;

  // Partially reliable messages, a min-heap on deadline.
  private heap: WriteReceipt[] = [];

  private rxWindow: number = SendFlowParams.INITIAL_RECV_WINDOW;
  private rtoAt = Infinity;
  private persistAt = Infinity;
  private persistInterval = 0;
  private probeDue = false;

  constructor(
    private readonly ctx: SendFlowContext,
    readonly flowId: number,
    readonly metadata: Buffer,
    readonly returnFlowId: number | undefined,
    options: SendFlowOptions = {},
  ) {
    this.priority = options.priority ?? 0;
    this.maxFragmentPayload = options.maxFragmentPayload ?? SendFlowParams.MAX_FRAGMENT_PAYLOAD;
    this.bufferCapacity = options.bufferCapacity ?? SendFlowParams.DEFAULT_BUFFER_CAPACITY;
    this.onRejected = options.onRejected;
    this.onComplete = options.onComplete;
    this.onWritable = options.onWritable;
    this.startupOptions = encodeUserDataOptions(metadata, returnFlowId);
    this.optionsLength = this.startupOptions.length;
  }

  get state(): SendFlowState {
    return this.stateValue;
  }

  /** Complete (all acknowledged after close) or failed (exception): the session may forget it. */
  get isFinished(): boolean {
    return this.stateValue === 'complete' || this.stateValue === 'failed';
  }

  /** Payload bytes queued or in flight and not yet acknowledged. */
  get bufferedBytes(): number {
    return this.unsentBytes + this.unackedBytes;
  }

  get writable(): boolean {
    return this.stateValue === 'open' && this.bufferedBytes < this.bufferCapacity;
  }

  /** Chunk bytes in flight on this flow. */
  get outstandingBytes(): number {
    return this.outstanding;
  }

  /** What the far end last said it can buffer, bytes. */
  get receiveWindow(): number {
    return this.rxWindow;
  }

  get forwardSequenceNumber(): number {
    return this.fsn;
  }

  /** Queues a message. The buffer is kept, not copied: do not modify it afterwards. */
  write(message: Buffer, options?: WriteOptions): WriteReceipt {
    const deadlineMs = options?.deadlineMs;
    // Whole milliseconds: a small integer is stored in the receipt itself, where a fraction
    // (the clock's) takes a separate heap number per receipt. The clock is read only when needed:
    // a shared-object change is written to every user's flow, and reading it for each was 1% of
    // the server's CPU with 1,000 RTMFP users (fan-out benchmark).
    const deadline = deadlineMs === undefined ? Infinity : Math.ceil(this.ctx.now() + Math.max(0, deadlineMs));
    const r = new WriteReceipt(message, deadline, options?.onDone);
    if (this.stateValue !== 'open') {
      this.resolve(r, 'abandoned');
      return r;
    }
    this.sendQ[this.sendTail++] = r;
    this.unsentBytes += message.length;
    if (deadline !== Infinity) this.heapPush(r);
    if (this.bufferedBytes >= this.bufferCapacity) this.wasFull = true;
    if (this.rxWindow === 0 && this.persistAt === Infinity) this.armPersist(this.ctx.now());
    this.ctx.wantTransmit();
    return r;
  }

  /** Ends the flow after the queued messages: a final (FIN) fragment follows them. */
  close(): void {
    if (this.stateValue !== 'open') return;
    if (this.nextSeq === 1 && this.sendHead === this.sendTail) {
      // Nothing ever went out: the far end never heard of this flow.
      this.stateValue = 'complete';
      this.onComplete?.();
      return;
    }
    this.stateValue = 'closing';
    const marker = new WriteReceipt(EMPTY, Infinity, undefined);
    marker._fin = true;
    this.sendQ[this.sendTail++] = marker;
    this.ctx.wantTransmit();
  }

  /**
   * Writes fragments into the packet being assembled: retransmissions first, then new data,
   * while congestion and the receive window allow and they fit; and a Buffer Probe when due.
   * Returns the bytes written.
   */
  fill(w: ChunkWriter, now: number): number {
    if (this.stateValue === 'complete' || this.stateValue === 'failed') return 0;
    const startOffset = w.offset;
    if (this.heap.length > 0) this.expireDeadlines(now);
    if (this.probeDue && writeBufferProbe(w, this.flowId)) {
      this.probeDue = false;
      this.stats.probesSent++;
    }
    // Nothing to retransmit and nothing queued: the session asks every flow for every packet,
    // and most flows have nothing most of the time.
    if (this.lostHead === this.lostQ.length && this.sendHead === this.sendTail) return w.offset - startOffset;
    let budget = this.ctx.congestion.sendBudget(now);
    if (budget <= 0 || this.outstanding >= this.rxWindow) return w.offset - startOffset;

    const fsn = this.updateFsn();
    const wasIdle = this.outHead === null;
    let sent = 0;
    let prevSeq = -1;
    let first = true;

    // Retransmissions.
    while (this.lostHead < this.lostQ.length) {
      const f = this.lostQ[this.lostHead]!;
      if (!f.lostQueued) {
        this.lostHead++;
        continue;
      }
      if (budget <= 0 || this.outstanding >= this.rxWindow) break;
      const size = this.writeFrag(w, f, fsn, first, prevSeq);
      if (size === 0) break;
      this.lostHead++;
      f.lostQueued = false;
      this.stats.fragmentsRetransmitted++;
      budget -= size;
      sent += size;
      first = false;
      prevSeq = f.seq;
    }
    if (this.lostHead === this.lostQ.length && this.lostHead > 0) {
      this.lostQ.length = 0;
      this.lostHead = 0;
    }

    // New data, cut to fit.
    if (this.lostHead === this.lostQ.length) {
      while (this.sendHead < this.sendTail && budget > 0 && this.outstanding < this.rxWindow) {
        const msg = this.sendQ[this.sendHead]!;
        if (msg._status === 'abandoned' && !msg._fin) {
          // Expired before being fully sent: the rest is never sent (unsentBytes already dropped).
          this.shiftSendQueue();
          continue;
        }
        const seq = this.nextSeq;
        const useNext = !first && prevSeq === seq - 1;
        const header = useNext ? 1 : userDataHeaderLengthFor(this.flowId, seq, seq - Math.min(fsn, seq));
        // While options are pending, leave room for them in every cut so a retransmission that
        // leads a packet (and so carries them) fits as well as this transmission did.
        const reserve = this.startupOptions !== undefined ? this.optionsLength : 0;
        let room = w.roomForBody - header - reserve;
        if (room > this.maxFragmentPayload) room = this.maxFragmentPayload;
        const remaining = msg._data.length - msg._cut;
        let size = remaining;
        if (size > room) {
          if (room < MIN_FRAGMENT_PAYLOAD) break;
          size = room;
        }
        if (size < 0) break;
        const begins = msg._cut === 0;
        const ends = size === remaining;
        let flags: number = begins ? (ends ? FRA_WHOLE : FRA_BEGIN) : ends ? FRA_END : FRA_MIDDLE;
        if (msg._fin) flags |= F_FINAL | F_ABANDON;
        const f = takeFrag(seq, flags, msg._cut, size, msg);
        if (this.nextSeq - this.lowSeq >= this.ring.length) this.growRing();
        this.ring[seq & this.mask] = f;
        this.nextSeq = seq + 1;
        msg._cut += size;
        msg._unacked++;
        this.unsentBytes -= size;
        this.unackedBytes += size;
        if (ends) {
          msg._fullyCut = true;
          this.shiftSendQueue();
          if (msg._fin) this.finSeq = seq;
        }
        // The room was checked above (options included when this chunk leads), so this fits.
        const written = this.writeFrag(w, f, fsn, first, prevSeq);
        budget -= written;
        sent += written;
        first = false;
        prevSeq = seq;
      }
    }

    if (sent > 0) {
      this.stats.bytesSent += sent;
      this.ctx.congestion.onSent(sent, now);
      if (wasIdle) this.rtoAt = now + this.ctx.congestion.erto();
    }
    return w.offset - startOffset;
  }

  /** Writes one fragment's chunk and puts it in flight; answers the chunk size, 0 if it did not fit. */
  private writeFrag(w: ChunkWriter, f: Frag, fsn: number, first: boolean, prevSeq: number): number {
    const abandoned = f.msg._status === 'abandoned' || f.msg._fin;
    const dataLen = abandoned ? 0 : f.size;
    const useNext = !first && prevSeq === f.seq - 1;
    const withOptions = first && this.startupOptions !== undefined;
    // A fragment at or below the forward sequence number (an abandoned one going out again)
    // announces its own sequence number as the FSN: a lower bound is always truthful.
    const fsnOffset = f.seq - (fsn < f.seq ? fsn : f.seq);
    let body: number;
    if (useNext) body = 1 + dataLen;
    else body = userDataHeaderLengthFor(this.flowId, f.seq, fsnOffset) + (withOptions ? this.optionsLength : 0) + dataLen;
    if (body > w.roomForBody) return 0;
    let flags = f.flags;
    if (abandoned) flags |= F_ABANDON;
    if (useNext) {
      w.begin(CT_NEXT_USER_DATA);
      w.u8(flags);
    } else {
      w.begin(CT_USER_DATA);
      w.u8(withOptions ? flags | F_OPTIONS : flags);
      w.vlu(this.flowId);
      w.vlu(f.seq);
      w.vlu(fsnOffset);
      if (withOptions) w.bytes(this.startupOptions!);
    }
    if (dataLen > 0) w.bytesOf(f.msg._data, f.start, f.start + dataLen);
    w.end();
    const size = CHUNK_HEADER + body;
    f.sentAbandoned = abandoned;
    f.tsn = ++this.tsnCounter;
    f.sent(size);
    f.inFlight = true;
    f.msg._started = true;
    // append to the in-flight list
    f.prev = this.outTail;
    f.next = null;
    if (this.outTail) this.outTail.next = f;
    else this.outHead = f;
    this.outTail = f;
    this.outstanding += size;
    this.stats.fragmentsSent++;
    return size;
  }

  /** An acknowledgement for this flow. Throws ChunkError (changing nothing) if it acknowledges what was never sent. */
  onAck(ack: ReceivedAck, now: number): void {
    if (this.stateValue === 'complete' || this.stateValue === 'failed') return;
    const top = this.nextSeq - 1;
    const ranges = ack.ranges;
    if (ack.cumulativeAck > top) throw new ChunkError(`ack of flow ${this.flowId} for ${ack.cumulativeAck}, beyond ${top} sent`);
    if (ranges.length > 0 && ranges[ranges.length - 1]![1] > top) {
      throw new ChunkError(`ack range of flow ${this.flowId} beyond ${top} sent`);
    }
    this.startupOptions = undefined;
    const windowWasClosed = this.rxWindow === 0;
    const blocks = ack.bufferBlocksAvailable;
    this.rxWindow = blocks > 0x1fffff ? 0x1fffff * 1024 : blocks * 1024;

    // Visit only fragments not yet acknowledged: ranges repeat in every ack while a hole lasts.
    let ackedBytes = 0;
    const cumulative = ack.cumulativeAck;
    for (let seq = this.nextUnacked(this.lowSeq); seq <= cumulative; seq = this.nextUnacked(seq + 1)) {
      ackedBytes += this.ackSeq(seq);
    }
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!;
      const last = r[1];
      for (let seq = this.nextUnacked(r[0] > this.lowSeq ? r[0] : this.lowSeq); seq <= last; seq = this.nextUnacked(seq + 1)) {
        ackedBytes += this.ackSeq(seq);
      }
    }
    this.lowSeq = this.nextUnacked(this.lowSeq);

    // Negative acknowledgement: every fragment in flight sent before the latest acknowledged one.
    let lostBytes = 0;
    let discardedBytes = 0;
    let naks = false;
    for (let f = this.outHead; f !== null && f.tsn < this.maxAckedTsn; ) {
      const next = f.next;
      naks = true;
      if (f.nak() >= NAKS_FOR_LOSS) {
        this.unlink(f);
        f.inFlight = false;
        this.outstanding -= f.txSize;
        if (f.sentAbandoned) discardedBytes += f.txSize;
        else lostBytes += f.txSize;
        this.stats.fragmentsLost++;
        f.lostQueued = f.everLost = true;
        this.lostQ.push(f);
      }
      f = next;
    }
    const congestion = this.ctx.congestion;
    if (lostBytes > 0) congestion.onLost(lostBytes, false, now);
    if (discardedBytes > 0) congestion.onDiscarded(discardedBytes);
    congestion.onAcked(ackedBytes, naks, now);

    if (this.outHead === null) this.rtoAt = Infinity;
    else if (ackedBytes > 0) this.rtoAt = now + congestion.erto();

    if (this.rxWindow === 0) {
      if (!windowWasClosed || this.persistAt === Infinity) this.armPersist(now);
    } else {
      this.persistAt = Infinity;
      this.persistInterval = 0;
      this.probeDue = false;
    }

    if (this.stateValue === 'closing' && this.finSeq > 0 && this.lowSeq > this.finSeq) {
      this.finish();
      return;
    }
    if (this.wasFull && this.bufferedBytes < this.bufferCapacity) {
      this.wasFull = false;
      this.onWritable?.();
    }
    if (this.hasDataToSend(now)) this.ctx.wantTransmit();
  }

  /**
   * The lowest sequence number at or above `from` (itself at or above lowSeq) not yet
   * acknowledged, or nextSeq. Acknowledged slots point past themselves; chains are compressed
   * as they are followed, so repeated walks over acknowledged runs cost almost nothing.
   */
  private nextUnacked(from: number): number {
    const ring = this.ring;
    const mask = this.mask;
    const end = this.nextSeq;
    let t = from;
    while (t < end) {
      const entry = ring[t & mask]!;
      if (typeof entry !== 'number') break;
      t = entry;
    }
    for (let u = from; u < t; ) {
      const slot = u & mask;
      const next = ring[slot] as number;
      ring[slot] = t;
      u = next;
    }
    return t < end ? t : end;
  }

  private ackSeq(seq: number): number {
    const slot = seq & this.mask;
    const f = this.ring[slot]!;
    if (typeof f === 'number' || f.seq !== seq) return 0;
    this.ring[slot] = seq + 1;
    f.lostQueued = false;
    let bytes = 0;
    if (f.inFlight) {
      f.inFlight = false;
      this.unlink(f);
      this.outstanding -= f.txSize;
      bytes = f.txSize;
      if (f.tsn > this.maxAckedTsn) this.maxAckedTsn = f.tsn;
    }
    this.unackedBytes -= f.size;
    const msg = f.msg;
    releaseFrag(f);
    if (--msg._unacked === 0 && msg._fullyCut && msg._status === 'pending' && !msg._fin) {
      this.stats.messagesDelivered++;
      this.resolve(msg, 'delivered');
    }
    return bytes;
  }

  /**
   * Does whatever is due at `now`: a retransmission timeout (everything in flight is lost),
   * a buffer probe while the receive window is closed, abandoning expired messages.
   */
  onTimeout(now: number): void {
    if (this.stateValue === 'complete' || this.stateValue === 'failed') return;
    if (this.heap.length > 0) this.expireDeadlines(now);
    if (this.outHead !== null && now >= this.rtoAt) this.timeoutAll(now);
    if (now >= this.persistAt) {
      if (this.hasQueuedData()) {
        this.probeDue = true;
        const erto = this.ctx.congestion.erto();
        this.persistInterval = Math.max(
          Math.min(this.persistInterval * SendFlowParams.PERSIST_BACKOFF, SendFlowParams.PERSIST_MAX_MS),
          erto,
        );
        this.persistAt = now + this.persistInterval;
        this.ctx.wantTransmit();
      } else {
        this.persistAt = Infinity; // re-armed by write()
      }
    }
  }

  /** Every fragment in flight counts as lost (the retransmission timer expired). */
  timeoutAll(now: number): void {
    let lostBytes = 0;
    let discardedBytes = 0;
    for (let f = this.outHead; f !== null; ) {
      const next = f.next;
      f.prev = f.next = null;
      f.inFlight = false;
      if (f.sentAbandoned) discardedBytes += f.txSize;
      else lostBytes += f.txSize;
      this.stats.fragmentsLost++;
      if (!f.lostQueued) {
        f.lostQueued = f.everLost = true;
        this.lostQ.push(f);
      }
      f = next;
    }
    this.outHead = this.outTail = null;
    this.outstanding = 0;
    this.rtoAt = Infinity;
    this.stats.timeouts++;
    if (lostBytes > 0) this.ctx.congestion.onLost(lostBytes, true, now);
    if (discardedBytes > 0) this.ctx.congestion.onDiscarded(discardedBytes);
    this.ctx.wantTransmit();
  }

  /** The far end rejected the flow: stop, abandon everything, tell the owner. */
  onException(code: number): void {
    if (this.stateValue === 'complete' || this.stateValue === 'failed') return;
    this.stateValue = 'failed';
    this.exceptionCode = code;
    const pending: WriteReceipt[] = [];
    for (let seq = this.lowSeq; seq < this.nextSeq; seq++) {
      const f = this.ring[seq & this.mask]!;
      if (typeof f !== 'number' && f.msg._status === 'pending' && !f.msg._fin) pending.push(f.msg);
    }
    for (let i = this.sendHead; i < this.sendTail; i++) {
      const m = this.sendQ[i]!;
      if (m._status === 'pending' && !m._fin) pending.push(m);
    }
    if (this.outstanding > 0) this.ctx.congestion.onDiscarded(this.outstanding);
    this.clear();
    this.stats.messagesAbandoned += pending.length;
    for (const m of pending) if (m._status === 'pending') this.resolve(m, 'abandoned');
    this.onRejected?.(code);
  }

  /** When this flow next needs onTimeout(), or undefined. */
  nextTimeout(now: number): number | undefined {
    if (this.stateValue === 'complete' || this.stateValue === 'failed') return undefined;
    let at = this.outHead !== null ? this.rtoAt : Infinity;
    if (this.persistAt < at) at = this.persistAt;
    const heap = this.heap;
    while (heap.length > 0 && heap[0]!._status !== 'pending') this.heapPop();
    if (heap.length > 0 && heap[0]!.deadline < at) at = heap[0]!.deadline;
    void now;
    return at === Infinity ? undefined : at;
  }

  /** Whether fill() would write something now, congestion aside. */
  hasDataToSend(now: number): boolean {
    if (this.stateValue === 'complete' || this.stateValue === 'failed') return false;
    if (this.probeDue) return true;
    void now;
    return this.outstanding < this.rxWindow && this.hasQueuedData();
  }

  // ---- internals ----

  private hasQueuedData(): boolean {
    for (let i = this.lostHead; i < this.lostQ.length; i++) if (this.lostQ[i]!.lostQueued) return true;
    for (let i = this.sendHead; i < this.sendTail; i++) {
      const m = this.sendQ[i]!;
      if (m._status !== 'abandoned' || m._fin) return true;
    }
    return false;
  }

  private armPersist(now: number): void {
    this.persistInterval = Math.max(SendFlowParams.PERSIST_INITIAL_MS, this.ctx.congestion.erto());
    this.persistAt = now + this.persistInterval;
  }

  /** Advances the forward sequence number past acknowledged and abandoned fragments. */
  private updateFsn(): number {
    let fsn = this.fsn < this.lowSeq - 1 ? this.lowSeq - 1 : this.fsn;
    while (fsn + 1 < this.nextSeq) {
      const f = this.ring[(fsn + 1) & this.mask]!;
      if (typeof f === 'number' || f.msg._status === 'abandoned' || f.msg._fin) fsn++;
      else break;
    }
    this.fsn = fsn;
    return fsn;
  }

  private expireDeadlines(now: number): void {
    const heap = this.heap;
    while (heap.length > 0) {
      const top = heap[0]!;
      if (top._status !== 'pending') {
        this.heapPop();
        continue;
      }
      if (top.deadline > now) break;
      this.heapPop();
      if (!top._fullyCut) this.unsentBytes -= top._data.length - top._cut;
      this.stats.messagesAbandoned++;
      this.resolve(top, 'abandoned');
    }
  }

  private resolve(r: WriteReceipt, status: ReceiptStatus): void {
    r._status = status;
    const cb = r.onDone;
    if (cb) {
      r.onDone = undefined;
      cb(r);
    }
  }

  private shiftSendQueue(): void {
    this.sendQ[this.sendHead++] = undefined;
    if (this.sendHead === this.sendTail) {
      this.sendHead = this.sendTail = 0;
    } else if (this.sendHead >= 1024 && this.sendHead * 2 >= this.sendTail) {
      this.sendQ = this.sendQ.slice(this.sendHead, this.sendTail);
      this.sendTail -= this.sendHead;
      this.sendHead = 0;
    }
  }

  private unlink(f: Frag): void {
    if (f.prev) f.prev.next = f.next;
    else this.outHead = f.next;
    if (f.next) f.next.prev = f.prev;
    else this.outTail = f.prev;
    f.prev = f.next = null;
  }

  private growRing(): void {
    const size = this.ring.length * 2;
    const ring = new Array<Frag | number>(size).fill(0);
    const mask = size - 1;
    // Entries move as they are: a fragment, or an acknowledged slot's sequence number to resume at.
    for (let seq = this.lowSeq; seq < this.nextSeq; seq++) ring[seq & mask] = this.ring[seq & this.mask]!;
    this.ring = ring;
    this.mask = mask;
  }

  private finish(): void {
    this.stateValue = 'complete';
    this.clear();
    this.onComplete?.();
  }

  private clear(): void {
    this.ring = [0];
    this.mask = 0;
    this.lowSeq = this.nextSeq;
    this.outHead = this.outTail = null;
    this.outstanding = 0;
    this.lostQ = [];
    this.lostHead = 0;
    this.sendQ = [];
    this.sendHead = this.sendTail = 0;
    this.unsentBytes = 0;
    this.unackedBytes = 0;
    this.heap = [];
    this.rtoAt = Infinity;
    this.persistAt = Infinity;
    this.probeDue = false;
  }

  private heapPush(r: WriteReceipt): void {
    const heap = this.heap;
    let i = heap.length;
    heap.push(r);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.deadline <= r.deadline) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = r;
  }

  private heapPop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && heap[r]!.deadline < heap[l]!.deadline ? r : l;
      if (heap[c]!.deadline >= last.deadline) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
  }
}

function userDataHeaderLengthFor(flowId: number, seq: number, fsnOffset: number): number {
  return 1 + vluLen(flowId) + vluLen(seq) + vluLen(fsnOffset);
}
