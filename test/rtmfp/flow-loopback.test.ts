// A SendFlow and a RecvFlow wired through an in-memory lossy link with a fake clock: a small
// stand-in for two sessions (packet assembly, chunk parsing, ack policy, RTT from timestamps).
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { ChunkType } from '../../src/rtmfp/chunk-types.js';
import { ChunkWriter } from '../../src/rtmfp/chunk-writer.js';
import { Congestion } from '../../src/rtmfp/congestion.js';
import { RttEstimator } from '../../src/rtmfp/rtt-estimator.js';
import { SendFlow, type SendFlowOptions, type WriteReceipt } from '../../src/rtmfp/send-flow.js';
import { RecvFlow, type RecvFlowOptions } from '../../src/rtmfp/recv-flow.js';
import {
  ChunkError,
  parseAck,
  parseFlowException,
  parseFlowIdChunk,
  parseNextUserData,
  parseUserDataHeader,
} from '../../src/rtmfp/ack-codec.js';
import type { ReceivedFragment } from '../../src/rtmfp/flow-context.js';
import { seededRandom } from '../support/memory-network.js';

const prng = seededRandom;

interface LinkOptions {
  loss: number;
  duplicate: number;
  delayMs: number;
  jitterMs: number;
}

interface InFlight {
  at: number;
  order: number;
  to: Endpoint;
  bytes: Buffer;
}

const PACKET = 1180;
const HEADER = 16; // our fake packet header: timestamp and echo, two doubles

class World {
  now = 0;
  private queue: InFlight[] = [];
  private order = 0;
  readonly rand: () => number;
  packetsSent = 0;
  packetsDropped = 0;
  packetsDuplicated = 0;
  chunkErrors = 0;

  constructor(
    seed: number,
    public link: LinkOptions,
  ) {
    this.rand = prng(seed);
  }

  send(to: Endpoint, bytes: Buffer): void {
    this.packetsSent++;
    if (this.rand() < this.link.loss) {
      this.packetsDropped++;
      return;
    }
    const copies = this.rand() < this.link.duplicate ? 2 : 1;
    if (copies === 2) this.packetsDuplicated++;
    for (let i = 0; i < copies; i++) {
      const at = this.now + this.link.delayMs + this.rand() * this.link.jitterMs;
      this.queue.push({ at, order: this.order++, to, bytes: Buffer.from(bytes) });
    }
  }

  /** Runs until `done()` or the clock passes `limitMs`. */
  run(endpoints: Endpoint[], limitMs: number, done: () => boolean, appTimer: () => number = () => Infinity): void {
    let guard = 0;
    while (!done()) {
      if (++guard > 5_000_000) throw new Error('runaway simulation');
      for (const e of endpoints) e.transmit();
      if (done()) return;
      let next = Infinity;
      for (const p of this.queue) if (p.at < next) next = p.at;
      for (const e of endpoints) next = Math.min(next, e.nextTimer());
      next = Math.min(next, appTimer());
      if (next === Infinity) return;
      if (next > limitMs) {
        this.now = limitMs;
        return;
      }
      if (next > this.now) this.now = next;
      // deliver everything due, in arrival order
      const due = this.queue.filter((p) => p.at <= this.now).sort((a, b) => a.at - b.at || a.order - b.order);
      this.queue = this.queue.filter((p) => p.at > this.now);
      for (const p of due) p.to.receive(p.bytes);
      for (const e of endpoints) e.onTimer();
    }
  }
}

/** Half a session: one send flow and/or one receive flow with the same flow ID. */
class Endpoint {
  peer!: Endpoint;
  readonly rtt = new RttEstimator();
  readonly congestion = new Congestion(this.rtt);
  send: SendFlow | undefined;
  recv: RecvFlow | undefined;
  readonly delivered: Buffer[] = [];
  private ackNow = false;
  private ackDeadline = Infinity;
  private dataPackets = 0;
  private lastTs = -1;
  private lastTsAt = 0;
  private readonly buf = Buffer.alloc(PACKET);
  private readonly w = new ChunkWriter(this.buf, HEADER, PACKET);
  onMessage: ((m: Buffer) => void) | undefined;

  constructor(
    readonly world: World,
    readonly name: string,
  ) {}

  openSend(flowId: number, metadata: Buffer, options: SendFlowOptions = {}): SendFlow {
    this.send = new SendFlow(
      { now: () => this.world.now, congestion: this.congestion, wantTransmit: () => {} },
      flowId,
      metadata,
      undefined,
      options,
    );
    return this.send;
  }

  recvOptions: RecvFlowOptions = {};
  lastMetadata: Buffer | undefined;

  private ensureRecv(flowId: number, metadata: Buffer | undefined): RecvFlow | undefined {
    if (this.recv) return this.recv;
    if (!metadata) return undefined;
    this.lastMetadata = Buffer.from(metadata);
    this.recv = new RecvFlow(
      {
        now: () => this.world.now,
        deliver: (_flowId, m) => {
          this.delivered.push(m);
          this.onMessage?.(m);
        },
        wantAck: (immediate) => {
          if (immediate) this.ackNow = true;
        },
        // This harness asks its flow for an exception on every packet.
        wantException: () => {},
      },
      flowId,
      this.lastMetadata,
      undefined,
      this.recvOptions,
    );
    return this.recv;
  }

  nextTimer(): number {
    let t = this.ackDeadline;
    const st = this.send?.nextTimeout(this.world.now);
    if (st !== undefined) t = Math.min(t, st);
    return t;
  }

  onTimer(): void {
    const now = this.world.now;
    if (now >= this.ackDeadline) this.ackNow = true;
    const st = this.send?.nextTimeout(now);
    if (st !== undefined && st <= now) this.send!.onTimeout(now);
  }

  transmit(): void {
    const now = this.world.now;
    for (let n = 0; n < 10_000; n++) {
      const w = this.w;
      w.reset(HEADER, PACKET);
      if (this.ackNow && this.recv) {
        if (this.recv.needsException) this.recv.writeException(w);
        if (this.recv.needsAck) this.recv.writeAck(w);
        this.ackNow = false;
        this.ackDeadline = Infinity;
        this.dataPackets = 0;
      }
      if (this.send) this.send.fill(w, now);
      if (w.offset === HEADER) break;
      this.buf.writeDoubleBE(now, 0);
      this.buf.writeDoubleBE(this.lastTs >= 0 ? this.lastTs + (now - this.lastTsAt) : -1, 8);
      this.lastTs = -1;
      this.world.send(this.peer, this.buf.subarray(0, w.offset));
    }
  }

  receive(packet: Buffer): void {
    const now = this.world.now;
    this.lastTs = packet.readDoubleBE(0);
    this.lastTsAt = now;
    const echo = packet.readDoubleBE(8);
    if (echo >= 0) this.rtt.sample(now - echo, now);
    let off = HEADER;
    let data = false;
    let prev: ReceivedFragment | undefined;
    while (off + 3 <= packet.length) {
      const type = packet[off]!;
      const len = packet.readUInt16BE(off + 1);
      const body = packet.subarray(off + 3, off + 3 + len);
      off += 3 + len;
      try {
        switch (type) {
          case ChunkType.USER_DATA: {
            const h = parseUserDataHeader(body);
            data = true;
            const flow = this.ensureRecv(h.flowId, h.metadata);
            prev = { flags: h.flags, sequenceNumber: h.sequenceNumber, fsnOffset: h.fsnOffset, data: h.data };
            flow?.onFragment(prev);
            break;
          }
          case ChunkType.NEXT_USER_DATA: {
            if (!prev) throw new ChunkError('next user data first');
            const n = parseNextUserData(body);
            prev = { flags: n.flags, sequenceNumber: prev.sequenceNumber + 1, fsnOffset: prev.fsnOffset + 1, data: n.data };
            this.recv?.onFragment(prev);
            break;
          }
          case ChunkType.ACK_BITMAP:
          case ChunkType.ACK_RANGES: {
            const { ack } = parseAck(type, body);
            this.send?.onAck(ack, now);
            break;
          }
          case ChunkType.BUFFER_PROBE:
            parseFlowIdChunk(body);
            this.recv?.onBufferProbe();
            break;
          case ChunkType.FLOW_EXCEPTION:
            this.send?.onException(parseFlowException(body).code);
            break;
          default:
            throw new Error(`unexpected chunk ${type}`);
        }
      } catch (e) {
        if (!(e instanceof ChunkError)) throw e;
        this.world.chunkErrors++;
      }
    }
    if (data) {
      if (++this.dataPackets >= 2) this.ackNow = true;
      else if (this.ackDeadline === Infinity) this.ackDeadline = now + 200;
    }
  }
}

function pair(seed: number, link: LinkOptions): { world: World; a: Endpoint; b: Endpoint } {
  const world = new World(seed, link);
  const a = new Endpoint(world, 'a');
  const b = new Endpoint(world, 'b');
  a.peer = b;
  b.peer = a;
  return { world, a, b };
}

function makeMessages(seed: number, total: number): Buffer[] {
  const rand = prng(seed);
  const out: Buffer[] = [];
  let sum = 0;
  let n = 0;
  // the extremes and sizes around a fragment boundary first, then log-uniform from 1 B to 64 KiB
  const fixed = [1, 65536, 1, 1100, 1101, 2200, 4];
  while (sum < total) {
    const size = n < fixed.length ? fixed[n]! : Math.max(1, Math.min(65536, Math.floor(Math.exp(rand() * Math.log(65536)))));
    const m = Buffer.alloc(size);
    if (size >= 4) {
      m.writeUInt32BE(n >>> 0, 0); // numbered when it has room
      for (let i = 4; i < size; i++) m[i] = (n + i) & 0xff;
    } else m.fill(n & 0xff);
    out.push(m);
    sum += size;
    n++;
  }
  return out;
}

describe('flow loopback', () => {
  for (const seed of [1, 2, 3]) it(`carries 1 MiB of varied messages intact and in order over a lossy, reordering, duplicating link (seed ${seed})`, () => {
    const { world, a, b } = pair(seed, { loss: 0.1, duplicate: 0.05, delayMs: 10, jitterMs: 15 });
    const messages = makeMessages(seed + 6, 1024 * 1024);
    const send = a.openSend(5, Buffer.from('meta'));
    const receipts: WriteReceipt[] = [];
    let i = 0;
    // the application writes while the flow buffer has room (backpressure)
    const feed = (): void => {
      while (i < messages.length && send.bufferedBytes < 256 * 1024) receipts.push(send.write(messages[i++]!));
    };
    feed();
    send.onWritable = feed;
    world.run([a, b], 600_000, () => {
      feed();
      return b.delivered.length === messages.length && receipts.every((r) => r.status === 'delivered');
    });
    assert.equal(b.delivered.length, messages.length, `delivered ${b.delivered.length}/${messages.length} by ${world.now} ms`);
    for (let k = 0; k < messages.length; k++) assert.ok(b.delivered[k]!.equals(messages[k]!), `message ${k} differs`);
    assert.ok(receipts.every((r) => r.status === 'delivered'));
    assert.ok(world.packetsDropped > 50, 'the link really dropped packets');
    assert.ok(world.packetsDuplicated > 20, 'the link really duplicated packets');
    assert.ok(send.stats.fragmentsRetransmitted > 0);
    assert.ok(b.recv!.stats.duplicates > 0);
    assert.equal(world.chunkErrors, 0);
    assert.ok(b.lastMetadata!.equals(Buffer.from('meta')));
    // close: FIN acknowledged, both ends complete
    send.close();
    world.run([a, b], world.now + 120_000, () => send.state === 'complete' && b.recv!.isComplete);
    assert.equal(send.state, 'complete');
    assert.ok(b.recv!.isComplete);
    assert.equal(b.delivered.length, messages.length, 'the close marker is not a message');
    assert.equal(a.congestion.outstanding, 0, 'nothing left in flight for congestion control');
  });

  it('runs fast enough on a clean link', () => {
    const { world, a, b } = pair(2, { loss: 0, duplicate: 0, delayMs: 1, jitterMs: 0 });
    const send = a.openSend(1, Buffer.from('m'));
    const msg = Buffer.alloc(16 * 1024, 1);
    const total = 32 * 1024 * 1024;
    let written = 0;
    const feed = (): void => {
      while (written < total && send.bufferedBytes < 1024 * 1024) {
        send.write(msg);
        written += msg.length;
      }
    };
    feed();
    send.onWritable = feed;
    let got = 0;
    b.onMessage = (m) => (got += m.length);
    const t0 = performance.now();
    world.run([a, b], 600_000, () => got >= total);
    const ms = performance.now() - t0;
    assert.equal(got, total);
    // Not a benchmark; a guard against accidental quadratic behaviour.
    assert.ok(ms < 20_000, `32 MiB took ${ms.toFixed(0)} ms of CPU`);
  });

  it('abandons partially reliable messages on time under heavy loss and the receiver moves on', () => {
    const { world, a, b } = pair(3, { loss: 0.4, duplicate: 0.02, delayMs: 20, jitterMs: 10 });
    const send = a.openSend(9, Buffer.from('live'));
    const receipts: WriteReceipt[] = [];
    const resolvedAt = new Map<WriteReceipt, number>();
    // 200 "frames" of 3 KiB, one every 20 ms, each worth 300 ms
    let n = 0;
    const writeFrame = (): void => {
      const m = Buffer.alloc(3000, n & 0xff);
      m.writeUInt32BE(n, 0);
      const r = send.write(m, { deadlineMs: 300, onDone: (rr) => resolvedAt.set(rr, world.now) });
      receipts.push(r);
      n++;
    };
    let nextFrameAt = 0;
    world.run(
      [a, b],
      60_000,
      () => {
        while (n < 200 && world.now >= nextFrameAt) {
          writeFrame();
          nextFrameAt += 20;
        }
        return n >= 200 && receipts.every((r) => r.status !== 'pending');
      },
      () => (n < 200 ? nextFrameAt : Infinity),
    );
    assert.equal(n, 200);
    const abandoned = receipts.filter((r) => r.status === 'abandoned');
    const delivered = receipts.filter((r) => r.status === 'delivered');
    assert.ok(abandoned.length > 0, 'heavy loss abandons some');
    assert.ok(delivered.length > 0, 'and delivers others');
    for (const r of abandoned) {
      const at = resolvedAt.get(r)!;
      assert.ok(at >= r.deadline, 'not abandoned early');
      assert.ok(at <= r.deadline + 50, `abandoned ${at - r.deadline} ms late`);
    }
    // the receiver got only whole frames, in increasing order, and everything delivered got there
    let last = -1;
    for (const m of b.delivered) {
      assert.equal(m.length, 3000);
      const k = m.readUInt32BE(0);
      assert.ok(k > last, 'in order, no duplicates');
      assert.ok(m.subarray(4).every((x) => x === (k & 0xff)), 'frame intact');
      last = k;
    }
    const deliveredIds = new Set(b.delivered.map((m) => m.readUInt32BE(0)));
    for (let k = 0; k < receipts.length; k++) {
      if (receipts[k]!.status === 'delivered') assert.ok(deliveredIds.has(k), `frame ${k} acknowledged but not delivered`);
    }
    assert.ok(b.delivered.length < 200);
    assert.ok(b.recv!.stats.messagesAbandoned >= 0);
    // After the storm, a reliable message still gets through: the receiver is not stuck.
    world.link = { loss: 0, duplicate: 0, delayMs: 20, jitterMs: 0 };
    const final = send.write(Buffer.from('after'));
    world.run([a, b], world.now + 30_000, () => final.status === 'delivered');
    assert.equal(final.status, 'delivered');
    assert.equal(b.delivered[b.delivered.length - 1]!.toString(), 'after');
  });

  it('probes a closed window and resumes when the receiver drains', () => {
    const { world, a, b } = pair(4, { loss: 0, duplicate: 0, delayMs: 5, jitterMs: 0 });
    b.recvOptions = { bufferCapacity: 32 * 1024, paused: true };
    const send = a.openSend(3, Buffer.from('w'));
    const msgs: Buffer[] = [];
    for (let k = 0; k < 100; k++) msgs.push(Buffer.alloc(1000, k));
    for (const m of msgs) send.write(m);
    // the receiver holds messages; its window fills and closes
    world.run([a, b], 10_000, () => false);
    assert.equal(b.delivered.length, 0);
    assert.equal(b.recv!.bufferBlocksAvailable, 0);
    assert.equal(send.receiveWindow, 0);
    const probes = send.stats.probesSent;
    assert.ok(probes >= 2, `probes sent while closed: ${probes}`);
    // probes back off: in 10 s at most a handful
    assert.ok(probes <= 8, `too many probes: ${probes}`);
    const heldBefore = b.recv!.bufferedBytes;
    assert.ok(heldBefore <= 32 * 1024 + 64 * 1024, 'the receiver stays within capacity and slack');
    b.recv!.resume();
    world.run([a, b], world.now + 60_000, () => b.delivered.length === msgs.length);
    assert.equal(b.delivered.length, msgs.length);
    for (let k = 0; k < msgs.length; k++) assert.ok(b.delivered[k]!.equals(msgs[k]!));
  });

  it('stops the sender when the receiver rejects the flow', () => {
    const { world, a, b } = pair(5, { loss: 0.05, duplicate: 0, delayMs: 5, jitterMs: 2 });
    const send = a.openSend(8, Buffer.from('unwanted'));
    let rejectedWith: number | undefined;
    send.onRejected = (code) => (rejectedWith = code);
    const receipts: WriteReceipt[] = [];
    for (let k = 0; k < 50; k++) receipts.push(send.write(Buffer.alloc(2000, k)));
    b.onMessage = () => b.recv!.reject(42);
    world.run([a, b], 30_000, () => send.state === 'failed');
    assert.equal(send.state, 'failed');
    assert.equal(rejectedWith, 42);
    assert.ok(send.isFinished);
    assert.ok(receipts.every((r) => r.status !== 'pending'));
    assert.ok(receipts.some((r) => r.status === 'abandoned'));
    assert.equal(send.bufferedBytes, 0);
    assert.equal(send.hasDataToSend(world.now), false);
    assert.equal(a.congestion.outstanding, 0);
    const later = send.write(Buffer.from('x'));
    assert.equal(later.status, 'abandoned');
    const sent = world.packetsSent;
    world.run([a, b], world.now + 10_000, () => false);
    assert.ok(world.packetsSent - sent <= 2, 'the failed flow sends nothing more');
    assert.ok(b.delivered.length <= 2);
  });
});

