import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { ChunkType, Fragment, UserDataFlag } from '../../src/rtmfp/chunk-types.js';
import { ChunkWriter } from '../../src/rtmfp/chunk-writer.js';
import type { ReceivedAck, SessionCongestion } from '../../src/rtmfp/flow-context.js';
import { SendFlow, SendFlowParams, type SendFlowOptions } from '../../src/rtmfp/send-flow.js';
import { ChunkError, parseFlowIdChunk, parseNextUserData, parseUserDataHeader } from '../../src/rtmfp/ack-codec.js';

class FakeCongestion implements SessionCongestion {
  budget = Infinity;
  ertoMs = 1000;
  sent = 0;
  acked = 0;
  lost = 0;
  lostTimeout = 0;
  discarded = 0;
  anyLossSeen = 0;
  sendBudget(): number {
    return Math.max(0, this.budget - (this.sent - this.acked - this.lost - this.lostTimeout - this.discarded));
  }
  onSent(bytes: number): void {
    this.sent += bytes;
  }
  onAcked(bytes: number, anyLoss: boolean): void {
    this.acked += bytes;
    if (anyLoss) this.anyLossSeen++;
  }
  onLost(bytes: number, timeout: boolean): void {
    if (timeout) this.lostTimeout += bytes;
    else this.lost += bytes;
  }
  onDiscarded(bytes: number): void {
    this.discarded += bytes;
  }
  erto(): number {
    return this.ertoMs;
  }
  get inFlight(): number {
    return this.sent - this.acked - this.lost - this.lostTimeout - this.discarded;
  }
}

interface Chunk {
  type: number;
  flags: number;
  seq: number;
  fsnOffset: number;
  fsn: number;
  data: Buffer;
  metadata?: Buffer;
  returnFlowId?: number;
  flowId?: number;
}

/** Parses what fill() wrote, expanding Next User Data like a session would. */
function chunks(w: ChunkWriter, from = 0): Chunk[] {
  const out: Chunk[] = [];
  let off = from;
  let prev: Chunk | undefined;
  while (off < w.offset) {
    const type = w.buf[off]!;
    const len = w.buf.readUInt16BE(off + 1);
    const body = w.buf.subarray(off + 3, off + 3 + len);
    off += 3 + len;
    if (type === ChunkType.USER_DATA) {
      const h = parseUserDataHeader(body);
      prev = {
        type,
        flags: h.flags,
        seq: h.sequenceNumber,
        fsnOffset: h.fsnOffset,
        fsn: h.sequenceNumber - h.fsnOffset,
        data: Buffer.from(h.data),
        metadata: h.metadata,
        returnFlowId: h.returnFlowId,
        flowId: h.flowId,
      };
      out.push(prev);
    } else if (type === ChunkType.NEXT_USER_DATA) {
      assert.ok(prev, 'Next User Data follows User Data');
      const n = parseNextUserData(body);
      prev = { type, flags: n.flags, seq: prev.seq + 1, fsnOffset: prev.fsnOffset + 1, fsn: prev.fsn, data: Buffer.from(n.data) };
      out.push(prev);
    } else if (type === ChunkType.BUFFER_PROBE) {
      out.push({ type, flags: 0, seq: 0, fsnOffset: 0, fsn: 0, data: Buffer.alloc(0), flowId: parseFlowIdChunk(body) });
      prev = undefined;
    } else {
      assert.fail(`unexpected chunk type ${type}`);
    }
  }
  return out;
}

function setup(options: SendFlowOptions = {}, metadata = Buffer.from('meta'), returnFlowId?: number) {
  const clock = { now: 0 };
  const congestion = new FakeCongestion();
  let transmitRequests = 0;
  const flow = new SendFlow(
    { now: () => clock.now, congestion, wantTransmit: () => transmitRequests++ },
    3,
    metadata,
    returnFlowId,
    options,
  );
  const packet = (size = 1180): { w: ChunkWriter; c: Chunk[] } => {
    const w = new ChunkWriter(Buffer.alloc(size), 0, size);
    flow.fill(w, clock.now);
    return { w, c: chunks(w) };
  };
  return { clock, congestion, flow, packet, transmits: () => transmitRequests };
}

const ack = (cumulativeAck: number, ranges: Array<[number, number]> = [], blocks = 64): ReceivedAck => ({
  bufferBlocksAvailable: blocks,
  cumulativeAck,
  ranges,
});

describe('SendFlow: fragments on the wire', () => {
  it('fragments a message to fit packets, with options on the first chunk of each packet until acknowledged', () => {
    const { flow, packet, congestion } = setup({}, Buffer.from('meta'), 9);
    const msg = Buffer.alloc(5000);
    for (let i = 0; i < msg.length; i++) msg[i] = i & 0xff;
    const receipt = flow.write(msg);
    assert.equal(receipt.status, 'pending');
    assert.equal(flow.bufferedBytes, 5000);

    const p1 = packet();
    assert.equal(p1.c.length, 1, 'one full fragment per 1180-byte packet');
    assert.equal(p1.c[0]!.type, ChunkType.USER_DATA);
    assert.equal(p1.c[0]!.flags & UserDataFlag.FRAGMENT_MASK, Fragment.BEGIN);
    assert.ok(p1.c[0]!.flags & UserDataFlag.OPTIONS);
    assert.ok(p1.c[0]!.metadata!.equals(Buffer.from('meta')));
    assert.equal(p1.c[0]!.returnFlowId, 9);
    assert.equal(p1.c[0]!.seq, 1);
    assert.equal(p1.c[0]!.fsn, 0);
    assert.ok(p1.w.offset <= 1180);

    const p2 = packet();
    assert.equal(p2.c[0]!.seq, 2);
    assert.equal(p2.c[0]!.flags & UserDataFlag.FRAGMENT_MASK, Fragment.MIDDLE);
    assert.ok(p2.c[0]!.metadata, 'still carrying options: nothing acknowledged yet');

    flow.onAck(ack(1), 0);
    const rest: Chunk[] = [];
    for (let i = 0; i < 10; i++) rest.push(...packet().c);
    assert.ok(rest.every((c) => c.metadata === undefined && !(c.flags & UserDataFlag.OPTIONS)), 'no options after the first ack');
    const all = [...p1.c, ...p2.c, ...rest];
    assert.equal(all[all.length - 1]!.flags & UserDataFlag.FRAGMENT_MASK, Fragment.END);
    assert.ok(Buffer.concat(all.map((c) => c.data)).equals(msg), 'fragments reassemble the message');
    assert.deepEqual(
      all.map((c) => c.seq),
      all.map((_, i) => i + 1),
    );
    assert.equal(congestion.sent, congestion.inFlight + congestion.acked);
  });

  it('uses Next User Data for consecutive fragments in one packet and respects maxFragmentPayload', () => {
    const { flow, packet } = setup({ maxFragmentPayload: 100 });
    for (let i = 0; i < 5; i++) flow.write(Buffer.alloc(10, i));
    flow.write(Buffer.alloc(250, 9));
    const { c } = packet();
    assert.equal(c.length, 8);
    assert.equal(c[0]!.type, ChunkType.USER_DATA);
    assert.ok(c.slice(1).every((x) => x.type === ChunkType.NEXT_USER_DATA));
    assert.deepEqual(
      c.map((x) => x.data.length),
      [10, 10, 10, 10, 10, 100, 100, 50],
    );
    assert.deepEqual(
      c.map((x) => x.flags & UserDataFlag.FRAGMENT_MASK),
      [Fragment.WHOLE, Fragment.WHOLE, Fragment.WHOLE, Fragment.WHOLE, Fragment.WHOLE, Fragment.BEGIN, Fragment.MIDDLE, Fragment.END],
    );
  });

  it('does not cut slivers off a message when a packet is nearly full', () => {
    const { flow } = setup();
    flow.write(Buffer.alloc(3000));
    const w = new ChunkWriter(Buffer.alloc(1180), 0, 1180);
    w.offset = 1180 - 3 - 40; // room for ~30 bytes of data only
    assert.equal(flow.fill(w, 0), 0);
    const small = setup();
    small.flow.write(Buffer.alloc(10));
    const w2 = new ChunkWriter(Buffer.alloc(1180), 0, 1180);
    w2.offset = 1180 - 3 - 40;
    assert.ok(small.flow.fill(w2, 0) > 0, 'a whole small message still fits');
  });

  it('stops at the congestion budget and at the receive window', () => {
    const { flow, packet, congestion } = setup();
    congestion.budget = 2000;
    for (let i = 0; i < 20; i++) flow.write(Buffer.alloc(1000));
    packet();
    packet();
    assert.equal(packet().c.length, 0, 'budget exhausted');
    assert.ok(congestion.inFlight >= 2000 && congestion.inFlight < 2000 + 1200);
    congestion.budget = Infinity;
    flow.onAck(ack(2, [], 3), 0); // 3 KiB window
    let sent = 0;
    for (let i = 0; i < 10; i++) sent += packet().c.length;
    assert.ok(flow.outstandingBytes >= 3072 && flow.outstandingBytes < 3072 + 1200, `outstanding ${flow.outstandingBytes}`);
    assert.ok(sent >= 3 && sent <= 4);
  });
});

describe('SendFlow: acknowledgement and loss', () => {
  it('resolves receipts when every fragment is acknowledged', () => {
    const { flow, packet, congestion } = setup();
    const done: string[] = [];
    const r1 = flow.write(Buffer.alloc(2000), { onDone: (r) => done.push(`a:${r.status}`) });
    const r2 = flow.write(Buffer.alloc(10), { onDone: (r) => done.push(`b:${r.status}`) });
    packet();
    packet();
    packet();
    flow.onAck(ack(0, [[2, 3]]), 10);
    assert.equal(r1.status, 'pending', 'first fragment not acknowledged');
    assert.equal(r2.status, 'delivered');
    flow.onAck(ack(3), 20);
    assert.equal(r1.status, 'delivered');
    assert.deepEqual(done, ['b:delivered', 'a:delivered']);
    assert.equal(flow.bufferedBytes, 0);
    assert.equal(flow.outstandingBytes, 0);
    assert.equal(congestion.inFlight, 0);
    assert.equal(congestion.acked, congestion.sent);
  });

  it('declares a fragment lost after three acknowledgements of later ones and retransmits it first', () => {
    const { flow, packet, congestion } = setup();
    for (let i = 0; i < 6; i++) flow.write(Buffer.alloc(1000, i));
    // 1050-byte packets hold one 1000-byte message each
    const sent = [packet(1050), packet(1050), packet(1050), packet(1050), packet(1050)].map((p) => p.c[0]!);
    assert.deepEqual(
      sent.map((c) => c.seq),
      [1, 2, 3, 4, 5],
    );
    flow.onAck(ack(0, [[2, 2]]), 10);
    flow.onAck(ack(0, [[2, 3]]), 11);
    assert.equal(congestion.lost, 0, 'two NAKs are not yet a loss');
    flow.onAck(ack(0, [[2, 4]]), 12);
    assert.ok(congestion.lost > 1000, 'third NAK: lost');
    assert.ok(congestion.anyLossSeen > 0);
    const { c } = packet();
    assert.equal(c[0]!.seq, 1, 'the retransmission goes first');
    assert.equal(c[0]!.data[0], 0);
    assert.ok(c[0]!.data.equals(sent[0]!.data), 'same bytes again');
    assert.equal(flow.stats.fragmentsRetransmitted, 1);
    flow.onAck(ack(5), 20);
    assert.equal(flow.outstandingBytes > 0, true, 'fragment 6 is still out');
  });

  it('times out: everything in flight is lost and goes again', () => {
    const { flow, packet, congestion, clock } = setup();
    for (let i = 0; i < 3; i++) flow.write(Buffer.alloc(1000, i));
    packet(1050);
    packet(1050);
    packet(1050);
    const t = flow.nextTimeout(0);
    assert.equal(t, congestion.ertoMs);
    clock.now = t! - 1;
    flow.onTimeout(clock.now);
    assert.equal(congestion.lostTimeout, 0, 'not before the timeout');
    clock.now = t!;
    flow.onTimeout(clock.now);
    assert.ok(congestion.lostTimeout > 3000);
    assert.equal(flow.outstandingBytes, 0);
    assert.equal(flow.nextTimeout(clock.now), undefined);
    const again = packet(1050).c;
    assert.deepEqual(
      again.map((c) => c.seq),
      [1],
    );
    assert.equal(flow.nextTimeout(clock.now), clock.now + congestion.ertoMs);
  });

  it('refuses an acknowledgement of data never sent', () => {
    const { flow, packet } = setup();
    flow.write(Buffer.alloc(10));
    packet();
    assert.throws(() => flow.onAck(ack(2), 0), ChunkError);
    assert.throws(() => flow.onAck(ack(0, [[2, 9]]), 0), ChunkError);
    assert.equal(flow.outstandingBytes > 0, true, 'nothing changed');
    flow.onAck(ack(1), 0);
    assert.equal(flow.outstandingBytes, 0);
  });
});

describe('SendFlow: partial reliability', () => {
  it('abandons an unsent message at its deadline and never sends it', () => {
    const { flow, packet, congestion, clock } = setup();
    congestion.budget = 0;
    let doneAt = -1;
    const r = flow.write(Buffer.alloc(500), { deadlineMs: 100, onDone: () => (doneAt = clock.now) });
    assert.equal(flow.nextTimeout(0), 100);
    clock.now = 100;
    flow.onTimeout(100);
    assert.equal(r.status, 'abandoned');
    assert.equal(doneAt, 100);
    assert.equal(flow.bufferedBytes, 0);
    congestion.budget = Infinity;
    assert.equal(packet().c.length, 0, 'nothing of it goes out');
    const r2 = flow.write(Buffer.from('next'));
    const { c } = packet();
    assert.equal(c.length, 1);
    assert.equal(c[0]!.seq, 1, 'no sequence number was spent on it');
    assert.equal(r2.status, 'pending');
  });

  it('does not retransmit data of an abandoned message: the hole goes out as ABN and the FSN moves past it', () => {
    const { flow, packet, clock } = setup({ maxFragmentPayload: 400 });
    const r = flow.write(Buffer.alloc(1200, 1), { deadlineMs: 50 }); // three fragments
    const b = flow.write(Buffer.alloc(100, 2));
    const c1 = packet(2000).c;
    assert.deepEqual(
      c1.map((c) => c.seq),
      [1, 2, 3, 4],
    );
    // only seq 4 arrives; 1-3 are lost
    flow.onAck(ack(0, [[4, 4]]), 10);
    flow.onAck(ack(0, [[4, 4]]), 11);
    flow.onAck(ack(0, [[4, 4]]), 12);
    assert.equal(b.status, 'delivered');
    clock.now = 60;
    flow.onTimeout(60);
    assert.equal(r.status, 'abandoned');
    const c2 = packet().c;
    assert.deepEqual(
      c2.map((c) => c.seq),
      [1, 2, 3],
      'the holes go out again',
    );
    for (const c of c2) {
      assert.ok(c.flags & UserDataFlag.ABANDON, 'with ABN');
      assert.equal(c.data.length, 0, 'and without data');
      assert.ok(c.fsn <= c.seq && c.fsn >= 0);
    }
    // the forward sequence number now covers the abandoned message
    const n = flow.write(Buffer.from('z'));
    assert.equal(flow.forwardSequenceNumber, 4);
    const c3 = packet().c;
    assert.equal(c3[0]!.seq, 5);
    assert.equal(c3[0]!.fsn, 4, 'the receiver is told to move on');
    flow.onAck(ack(5), 70);
    assert.equal(n.status, 'delivered');
    assert.equal(r.status, 'abandoned', 'an abandoned message stays abandoned');
  });

  it('abandons an in-flight message at its deadline even when nothing is lost', () => {
    const { flow, packet, clock } = setup();
    const r = flow.write(Buffer.alloc(100), { deadlineMs: 30 });
    packet();
    clock.now = 30;
    assert.equal(flow.nextTimeout(0), 30);
    flow.onTimeout(30);
    assert.equal(r.status, 'abandoned');
    flow.onAck(ack(1), 31);
    assert.equal(r.status, 'abandoned');
  });
});

describe('SendFlow: receive window', () => {
  it('probes a closed window with backoff and resumes when it opens', () => {
    const { flow, packet, congestion, clock } = setup();
    congestion.ertoMs = 300;
    flow.write(Buffer.alloc(1000));
    packet();
    flow.onAck(ack(1, [], 0), 0);
    for (let i = 0; i < 5; i++) flow.write(Buffer.alloc(1000));
    assert.equal(packet().c.length, 0, 'window closed');
    assert.equal(flow.hasDataToSend(0), false);
    const times: number[] = [];
    for (let i = 0; i < 14; i++) {
      const t = flow.nextTimeout(clock.now)!;
      assert.ok(t !== undefined);
      clock.now = t;
      flow.onTimeout(t);
      assert.ok(flow.hasDataToSend(t));
      const { c } = packet();
      assert.equal(c.length, 1);
      assert.equal(c[0]!.type, ChunkType.BUFFER_PROBE);
      assert.equal(c[0]!.flowId, 3);
      times.push(t);
    }
    assert.equal(times[0], 1000, 'first probe after max(1 s, ERTO)');
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(Math.abs(gaps[0]! - 1414.2) < 1, `gap ${gaps[0]}`);
    assert.ok(gaps.every((g, i) => i === 0 || g >= gaps[i - 1]! - 1e-9), 'non-decreasing');
    assert.equal(gaps[gaps.length - 1], 60_000, 'capped at 60 s');
    assert.equal(flow.stats.probesSent, 14);
    flow.onAck(ack(1, [], 8), clock.now);
    assert.equal(flow.nextTimeout(clock.now), undefined, 'no more probing');
    const { c } = packet();
    assert.ok(c.length >= 1 && c[0]!.type === ChunkType.USER_DATA, 'data flows again');
  });
});

describe('SendFlow: exception and close', () => {
  it('stops on a Flow Exception Report and abandons everything', () => {
    const { flow, packet, congestion } = setup();
    let code = -1;
    flow.onRejected = (c) => (code = c);
    const rs = [flow.write(Buffer.alloc(3000)), flow.write(Buffer.alloc(3000))];
    packet();
    packet();
    assert.ok(congestion.inFlight > 0);
    flow.onException(17);
    assert.equal(code, 17);
    assert.equal(flow.state, 'failed');
    assert.equal(flow.exceptionCode, 17);
    assert.ok(flow.isFinished);
    assert.deepEqual(
      rs.map((r) => r.status),
      ['abandoned', 'abandoned'],
    );
    assert.equal(congestion.inFlight, 0, 'its bytes leave the flight without a loss signal');
    assert.equal(congestion.lost, 0);
    assert.equal(packet().c.length, 0);
    assert.equal(flow.nextTimeout(0), undefined);
    assert.equal(flow.write(Buffer.from('x')).status, 'abandoned');
    flow.onAck(ack(1), 0); // late acks are ignored
  });

  it('closes with a final fragment after the queued data and completes when it is acknowledged', () => {
    const { flow, packet } = setup();
    let completed = false;
    flow.onComplete = () => (completed = true);
    flow.write(Buffer.alloc(100, 1));
    flow.close();
    assert.equal(flow.state, 'closing');
    assert.equal(flow.write(Buffer.from('late')).status, 'abandoned');
    const { c } = packet();
    assert.equal(c.length, 2);
    const fin = c[1]!;
    assert.ok(fin.flags & UserDataFlag.FINAL);
    assert.ok(fin.flags & UserDataFlag.ABANDON, 'the final marker carries no message');
    assert.equal(fin.data.length, 0);
    flow.onAck(ack(1), 0);
    assert.equal(completed, false);
    flow.onAck(ack(2), 0);
    assert.equal(completed, true);
    assert.equal(flow.state, 'complete');
    assert.ok(flow.isFinished);
  });

  it('completes at once when closed before sending anything', () => {
    const { flow, packet } = setup();
    flow.close();
    assert.equal(flow.state, 'complete');
    assert.equal(packet().c.length, 0);
  });
});

describe('SendFlow: bounded state', () => {
  it('keeps its ring and queues bounded by what is unacknowledged', () => {
    const { flow, packet } = setup();
    let next = 0;
    let acked = 0;
    for (let round = 0; round < 2000; round++) {
      for (let i = 0; i < 5; i++) flow.write(Buffer.alloc(200, next++ & 0xff));
      const { c } = packet();
      if (c.length > 0) acked = c[c.length - 1]!.seq;
      flow.onAck(ack(acked), round);
    }
    assert.ok(flow.bufferedBytes < 64 * 1024);
    assert.equal(SendFlowParams.NAKS_FOR_LOSS, 3);
  });
});

describe('SendFlow: acknowledgement bookkeeping', () => {
  it('stays consistent under random, repeated, reordered acknowledgements', () => {
    let seed = 12345;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const { flow, packet, congestion, clock } = setup({ maxFragmentPayload: 200 });
    const receipts = [];
    for (let i = 0; i < 300; i++) receipts.push(flow.write(Buffer.alloc(1 + Math.floor(rand() * 900), i & 0xff)));
    const received = new Set<number>();
    let top = 0;
    for (let round = 0; round < 5000 && receipts.some((r) => r.status === 'pending'); round++) {
      clock.now = round;
      const { c } = packet(600);
      for (const x of c) {
        top = Math.max(top, x.seq);
        if (rand() < 0.7) received.add(x.seq);
      }
      // an ack built from what "arrived", sometimes stale (built from a subset)
      let cum = 0;
      while (received.has(cum + 1)) cum++;
      const ranges: Array<[number, number]> = [];
      for (let s = cum + 2; s <= top; s++) {
        if (!received.has(s) || rand() < 0.1) continue;
        const last = ranges[ranges.length - 1];
        if (last && last[1] === s - 1) last[1] = s;
        else ranges.push([s, s]);
      }
      flow.onAck(ack(cum, ranges), clock.now);
      const t = flow.nextTimeout(clock.now);
      if (t !== undefined && t <= clock.now + 1) flow.onTimeout(t);
    }
    assert.ok(receipts.every((r) => r.status === 'delivered'));
    assert.equal(flow.bufferedBytes, 0);
    assert.equal(flow.outstandingBytes, 0);
    assert.equal(congestion.inFlight, 0, 'every byte sent was acknowledged, lost or discarded');
  });
});
