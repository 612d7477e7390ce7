import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { ChunkType, Fragment, UserDataFlag } from '../../src/rtmfp/chunk-types.js';
import { ChunkWriter } from '../../src/rtmfp/chunk-writer.js';
import { RecvFlow, RecvFlowParams, type RecvFlowOptions } from '../../src/rtmfp/recv-flow.js';
import { ChunkError, parseAck, parseFlowException } from '../../src/rtmfp/ack-codec.js';
import type { ReceivedAck } from '../../src/rtmfp/flow-context.js';

function setup(options: RecvFlowOptions = {}) {
  const delivered: Buffer[] = [];
  const acks: boolean[] = [];
  const flow = new RecvFlow(
    { now: () => 0, deliver: (_flowId, m) => delivered.push(m), wantAck: (immediate) => acks.push(immediate), wantException: () => {} },
    6,
    Buffer.from('meta'),
    undefined,
    options,
  );
  const frag = (seq: number, flags: number, data: string | Buffer = '', fsnOffset = seq): void =>
    flow.onFragment({ flags, sequenceNumber: seq, fsnOffset, data: typeof data === 'string' ? Buffer.from(data) : data });
  const readAck = (): ReceivedAck => {
    const w = new ChunkWriter(Buffer.alloc(1200), 0, 1200);
    assert.ok(flow.writeAck(w));
    assert.equal(flow.needsAck, false);
    const type = w.buf[0]!;
    assert.ok(type === ChunkType.ACK_BITMAP || type === ChunkType.ACK_RANGES);
    const parsed = parseAck(type, w.buf.subarray(3, w.offset));
    assert.equal(parsed.flowId, 6);
    return parsed.ack;
  };
  const text = (): string[] => delivered.map((m) => m.toString());
  return { flow, delivered, acks, frag, readAck, text };
}

const { WHOLE, BEGIN, MIDDLE, END } = Fragment;
const { ABANDON, FINAL } = UserDataFlag;

describe('RecvFlow: delivery', () => {
  it('delivers whole messages in order and copies them out of the packet', () => {
    const { frag, delivered, text, flow } = setup();
    const packet = Buffer.from('hello');
    flow.onFragment({ flags: WHOLE, sequenceNumber: 1, fsnOffset: 1, data: packet });
    packet.fill(0); // the session reuses its packet buffer
    frag(2, WHOLE, 'world');
    assert.deepEqual(text(), ['hello', 'world']);
    assert.equal(delivered.length, 2);
    assert.equal(flow.cumulativeAck, 2);
    assert.equal(flow.bufferedBytes, 0);
  });

  it('reassembles fragments arriving out of order, delivering each message once and in order', () => {
    const { frag, text, acks } = setup();
    frag(1, WHOLE, 'a');
    frag(4, END, 'ghi');
    assert.equal(acks[acks.length - 1], true, 'a gap: acknowledge at once');
    frag(3, MIDDLE, 'def');
    frag(5, WHOLE, 'z');
    assert.deepEqual(text(), ['a']);
    frag(2, BEGIN, 'abc');
    assert.deepEqual(text(), ['a', 'abcdefghi', 'z']);
  });

  it('acknowledges in-order data lazily and everything unusual at once', () => {
    const { frag, acks, readAck } = setup();
    frag(1, WHOLE, 'x');
    assert.equal(acks.pop(), true, 'the first fragment: no window advertised yet');
    readAck();
    frag(2, WHOLE, 'x');
    assert.equal(acks.pop(), false, 'in order with an open window: delayed');
    frag(2, WHOLE, 'x');
    assert.equal(acks.pop(), true, 'duplicate');
    frag(4, WHOLE, 'x');
    assert.equal(acks.pop(), true, 'gap');
    frag(3, WHOLE, 'x');
    assert.equal(acks.pop(), true, 'filling a gap');
    frag(5, WHOLE | ABANDON, '');
    assert.equal(acks.pop(), true, 'abandoned');
  });

  it('drops duplicates', () => {
    const { frag, text, flow } = setup();
    frag(1, BEGIN, 'ab');
    frag(1, BEGIN, 'ab');
    frag(3, WHOLE, 'c');
    frag(3, WHOLE, 'c');
    frag(2, END, 'cd');
    frag(2, END, 'cd');
    assert.deepEqual(text(), ['abcd', 'c']);
    assert.equal(flow.stats.duplicates, 3);
  });

  it('skips what the forward sequence number abandons, including a partial message', () => {
    const { frag, text, flow } = setup();
    frag(1, BEGIN, 'ab'); // its continuation (2) never comes
    frag(4, WHOLE, 'late', 3); // fsn = 1: nothing new
    assert.deepEqual(text(), []);
    frag(5, WHOLE, 'next', 2); // fsn = 3: 2 and 3 are abandoned
    assert.deepEqual(text(), ['late', 'next']);
    assert.equal(flow.stats.messagesAbandoned, 1);
    assert.equal(flow.cumulativeAck, 5);
    assert.equal(flow.bufferedBytes, 0);
  });

  it('treats ABN fragments as holes in messages', () => {
    const { frag, text } = setup();
    frag(1, BEGIN, 'ab');
    frag(2, MIDDLE | ABANDON);
    frag(3, END, 'ef'); // orphan end
    frag(4, WHOLE, 'ok');
    assert.deepEqual(text(), ['ok']);
  });

  it('handles a long forward jump without walking every sequence number', () => {
    const { frag, text, flow } = setup();
    frag(1, WHOLE, 'a');
    frag(1e12 + 5, WHOLE, 'b', 5); // fsn = 1e12
    frag(1e12 - 3, WHOLE, 'old', 0); // at or below the cumulative ack: done already
    assert.deepEqual(text(), ['a']);
    frag(1e12 + 1, WHOLE, 'c', 1);
    assert.deepEqual(text(), ['a', 'c']);
    assert.equal(flow.cumulativeAck, 1e12 + 1);
    for (let s = 1e12 + 2; s <= 1e12 + 4; s++) frag(s, WHOLE | ABANDON, '', 0);
    assert.deepEqual(text(), ['a', 'c', 'b']);
  });

  it('completes when everything up to the final fragment arrived', () => {
    let completed = 0;
    const { frag, text, flow } = setup({ onComplete: () => completed++ });
    frag(1, WHOLE, 'a');
    frag(3, WHOLE | FINAL | ABANDON); // data-less final marker
    assert.equal(flow.isComplete, false);
    frag(2, WHOLE, 'b');
    assert.equal(flow.isComplete, true);
    assert.equal(completed, 1);
    assert.deepEqual(text(), ['a', 'b']);
    frag(3, WHOLE | FINAL | ABANDON);
    assert.equal(completed, 1);
    assert.throws(() => frag(4, WHOLE, 'after the end'), ChunkError);
  });

  it('delivers data on a final fragment', () => {
    const { frag, text, flow } = setup();
    frag(1, BEGIN, 'a');
    frag(2, END | FINAL, 'b');
    assert.deepEqual(text(), ['ab']);
    assert.ok(flow.isComplete);
  });
});

describe('RecvFlow: acknowledgements', () => {
  it('reports the cumulative ack, received ranges and the window', () => {
    const { frag, readAck } = setup({ bufferCapacity: 64 * 1024 });
    frag(1, WHOLE, 'a');
    frag(3, WHOLE, 'c');
    frag(4, WHOLE, 'd');
    frag(9, BEGIN, Buffer.alloc(2000));
    const a = readAck();
    assert.equal(a.cumulativeAck, 1);
    assert.deepEqual(a.ranges, [
      [3, 4],
      [9, 9],
    ]);
    const buffered = 1 + 1 + 2000 + 3 * RecvFlowParams.FRAGMENT_BIAS;
    assert.equal(a.bufferBlocksAvailable, Math.ceil((64 * 1024 - buffered) / 1024));
  });

  it('writes a truncated ack when the packet is short, and nothing when even the header does not fit', () => {
    const { frag, flow } = setup();
    for (let s = 2; s < 4000; s += 2) frag(s, WHOLE, 'x');
    const w = new ChunkWriter(Buffer.alloc(60), 0, 60);
    assert.ok(flow.writeAck(w));
    const parsed = parseAck(w.buf[0]!, w.buf.subarray(3, w.offset));
    assert.equal(parsed.ack.cumulativeAck, 0);
    assert.ok(parsed.ack.ranges.length > 10);
    assert.deepEqual(parsed.ack.ranges[0], [2, 2]);
    const tiny = new ChunkWriter(Buffer.alloc(5), 0, 5);
    flow.needsAck = true;
    assert.equal(flow.writeAck(tiny), false);
    assert.equal(flow.needsAck, true);
  });

  it('answers a buffer probe with an immediate ack', () => {
    const { flow, acks } = setup();
    flow.onBufferProbe();
    assert.equal(flow.needsAck, true);
    assert.equal(acks.pop(), true);
  });
});

describe('RecvFlow: window and pause', () => {
  it('holds messages while paused, closes the window, and reopens it on resume', () => {
    const { frag, readAck, delivered, flow, acks } = setup({ bufferCapacity: 8 * 1024, paused: true });
    for (let s = 1; s <= 8; s++) frag(s, WHOLE, Buffer.alloc(1000, s));
    assert.equal(delivered.length, 0);
    const a = readAck();
    assert.equal(a.bufferBlocksAvailable, 0, 'full while the application holds messages');
    assert.equal(a.cumulativeAck, 8);
    // past capacity and slack: dropped, not acknowledged, not buffered
    for (let s = 9; s < 200; s++) frag(s, WHOLE, Buffer.alloc(1000, s));
    assert.ok(flow.bufferedBytes <= 8 * 1024 + RecvFlowParams.BUFFER_SLACK);
    assert.ok(flow.stats.dropped > 0);
    const kept = flow.cumulativeAck;
    assert.ok(kept < 199);
    flow.resume();
    assert.equal(acks.pop(), true, 'window update at once');
    assert.equal(delivered.length, kept);
    for (let i = 0; i < kept; i++) assert.equal(delivered[i]![0], (i + 1) & 0xff);
    assert.ok(readAck().bufferBlocksAvailable >= 8);
  });

  it('keeps a block open when out-of-order data fills the buffer, so the missing fragment can come', () => {
    const { frag, readAck, flow, text } = setup({ bufferCapacity: 4096 });
    for (let s = 2; s <= 6; s++) frag(s, WHOLE, Buffer.alloc(1000));
    assert.ok(flow.bufferedBytes > 4096);
    assert.equal(readAck().bufferBlocksAvailable, 1);
    frag(1, WHOLE, 'first');
    assert.equal(text()[0], 'first');
    assert.equal(flow.bufferedBytes, 0);
  });
});

describe('RecvFlow: hostile input', () => {
  it('throws ChunkError for a malformed sequence or fsnOffset and changes nothing', () => {
    const { frag, flow } = setup();
    frag(1, WHOLE, 'a');
    assert.throws(() => frag(5, WHOLE, 'x', 6), ChunkError);
    assert.throws(() => frag(0, WHOLE, 'x', 0), ChunkError);
    assert.throws(() => frag(-1, WHOLE, 'x', 0), ChunkError);
    assert.throws(() => frag(1.5, WHOLE, 'x', 0), ChunkError);
    assert.throws(() => frag(2 ** 53 + 10, WHOLE, 'x', 0), ChunkError);
    assert.equal(flow.cumulativeAck, 1);
  });

  it('refuses sequence numbers absurdly far ahead without allocating for the gap', () => {
    const { frag, flow } = setup({ bufferCapacity: 1024 * 1024 });
    assert.throws(() => frag(5_000_000, WHOLE, 'x'), ChunkError);
    assert.throws(() => frag(2 ** 52, WHOLE, 'x'), ChunkError);
    assert.equal(flow.bufferedBytes, 0);
    assert.equal(flow.cumulativeAck, 0);
    frag(200_000, WHOLE, 'ok'); // far, but within what a 1 MiB window of tiny chunks allows
    assert.equal(flow.bufferedBytes, 2 + RecvFlowParams.FRAGMENT_BIAS);
  });

  it('bounds the number of gaps it tracks', () => {
    const { frag, flow } = setup({ bufferCapacity: 16 * 1024 * 1024 });
    for (let i = 0; i < RecvFlowParams.MAX_RANGES + 100; i++) frag(2 + 2 * i, WHOLE | ABANDON);
    assert.equal(flow.stats.dropped, 100);
    const w = new ChunkWriter(Buffer.alloc(1200), 0, 1200);
    assert.ok(flow.writeAck(w));
  });

  it('drops a message over the size limit, throwing ChunkError, and carries on', () => {
    const { frag, text, flow } = setup({ maxMessageSize: 4000 });
    frag(1, BEGIN, Buffer.alloc(1500));
    frag(2, MIDDLE, Buffer.alloc(1500));
    assert.throws(() => frag(3, MIDDLE, Buffer.alloc(1500)), ChunkError);
    assert.equal(flow.bufferedBytes, 0, 'what it had is freed');
    frag(4, END, Buffer.alloc(1500)); // the rest of it is ignored
    frag(5, WHOLE, 'next');
    assert.deepEqual(text(), ['next']);
    assert.equal(flow.stats.oversizeMessages, 1);
  });

  it('drops a message of too many fragments', () => {
    const { frag, text } = setup();
    frag(1, BEGIN, '');
    let threw = 0;
    for (let s = 2; s <= RecvFlowParams.MAX_MESSAGE_FRAGMENTS + 5; s++) {
      try {
        frag(s, MIDDLE, '');
      } catch (e) {
        assert.ok(e instanceof ChunkError);
        threw++;
      }
    }
    assert.equal(threw, 1);
    frag(RecvFlowParams.MAX_MESSAGE_FRAGMENTS + 6, END, '');
    frag(RecvFlowParams.MAX_MESSAGE_FRAGMENTS + 7, WHOLE, 'fine');
    assert.deepEqual(text(), ['fine']);
  });

  it('keeps memory bounded under a flood of out-of-order fragments', () => {
    const { frag, flow } = setup({ bufferCapacity: 256 * 1024 });
    for (let s = 2; s < 60_000; s++) frag(s, WHOLE, Buffer.alloc(100));
    assert.ok(flow.bufferedBytes <= 256 * 1024 + RecvFlowParams.BUFFER_SLACK);
    assert.ok(flow.stats.dropped > 50_000);
  });
});

describe('RecvFlow: reject', () => {
  it('reports an exception once per arrival and drops data', () => {
    const { frag, flow, text } = setup();
    frag(1, WHOLE, 'a');
    frag(3, WHOLE, 'c');
    flow.reject(5);
    assert.ok(flow.isRejected);
    assert.equal(flow.bufferedBytes, 0);
    const w = new ChunkWriter(Buffer.alloc(100), 0, 100);
    assert.ok(flow.writeException(w));
    assert.equal(w.buf[0], ChunkType.FLOW_EXCEPTION);
    assert.deepEqual(parseFlowException(w.buf.subarray(3, w.offset)), { flowId: 6, code: 5 });
    assert.equal(flow.writeException(w), false, 'once');
    frag(2, WHOLE, 'b');
    assert.ok(flow.needsException, 'again for the next fragment');
    assert.deepEqual(text(), ['a']);
  });
});
