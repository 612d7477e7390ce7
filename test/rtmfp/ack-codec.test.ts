import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { ChunkType, UserDataFlag, Fragment } from '../../src/rtmfp/chunk-types.js';
import { ChunkWriter } from '../../src/rtmfp/chunk-writer.js';
import { encodeVlu } from '../../src/codec/vlu.js';
import {
  ChunkError,
  ackChunkLength,
  encodeUserDataOptions,
  parseAck,
  parseAckBitmap,
  parseAckRanges,
  parseBufferProbe,
  parseFlowException,
  parseFlowIdChunk,
  parseNextUserData,
  parseUserDataHeader,
  userDataHeaderLength,
  writeAck,
  writeBufferProbe,
  writeFlowException,
  type AckRangeList,
} from '../../src/rtmfp/ack-codec.js';

function list(ranges: Array<[number, number]>): AckRangeList {
  return { starts: ranges.map((r) => r[0]), ends: ranges.map((r) => r[1]), count: ranges.length };
}

/** Writes into a fresh writer of `size` bytes and returns [type, body] of the single chunk. */
function written(size: number, f: (w: ChunkWriter) => boolean): { ok: boolean; type?: number; body?: Buffer } {
  const w = new ChunkWriter(Buffer.alloc(size), 0, size);
  const ok = f(w);
  if (!ok) {
    assert.equal(w.offset, 0, 'nothing written when it does not fit');
    return { ok };
  }
  const type = w.buf[0]!;
  const len = w.buf.readUInt16BE(1);
  assert.equal(w.offset, 3 + len, 'exactly one chunk');
  return { ok, type, body: w.buf.subarray(3, 3 + len) };
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('ack codec: acknowledgements', () => {
  it('parses the ranges form per RFC 7016 §2.3.14', () => {
    // flow 2, 4 blocks, cumulative 10, then: skip 1 (11), receive 2 (12-13); skip 3 (14-16), receive 1 (17)
    const { flowId, ack } = parseAckRanges(hex('02 04 0a 00 01 02 00'));
    assert.equal(flowId, 2);
    assert.deepEqual(ack, { bufferBlocksAvailable: 4, cumulativeAck: 10, ranges: [[12, 13], [17, 17]] });
  });

  it('parses the bitmap form per RFC 7016 §2.3.13', () => {
    // cumulative 10: bit 0 is 12. 0b00100011 -> 12, 13, 17; second byte bit 0 -> 20
    const { ack } = parseAckBitmap(hex('02 04 0a 23 01'));
    assert.deepEqual(ack.ranges, [[12, 13], [17, 17], [20, 20]]);
    assert.deepEqual(parseAckBitmap(hex('01 00 05')).ack.ranges, []);
    assert.deepEqual(parseAckBitmap(hex('01 00 05 ff ff')).ack.ranges, [[7, 22]]);
    assert.deepEqual(parseAckBitmap(hex('01 00 05 00 80')).ack.ranges, [[22, 22]]);
  });

  it('round-trips through writeAck, choosing the shorter form', () => {
    const dense: Array<[number, number]> = [];
    for (let s = 102; s < 160; s += 3) dense.push([s, s]);
    const sparse: Array<[number, number]> = [[5000, 5001], [90_000, 90_010]];
    for (const ranges of [[], [[12, 13]], dense, sparse] as Array<Array<[number, number]>>) {
      const l = list(ranges);
      const cum = ranges.length > 0 && ranges[0]![0] > 1000 ? 300 : ranges.length > 0 && ranges[0]![0] > 100 ? 100 : 10;
      const out = written(1200, (w) => writeAck(w, 7, 33, cum, l));
      assert.ok(out.ok);
      const parsed = parseAck(out.type!, out.body!);
      assert.equal(parsed.flowId, 7);
      assert.deepEqual(parsed.ack, { bufferBlocksAvailable: 33, cumulativeAck: cum, ranges });
      assert.equal(out.body!.length + 3, ackChunkLength(7, 33, cum, l));
    }
    // many single holes close together: the bitmap is shorter
    assert.equal(written(1200, (w) => writeAck(w, 7, 33, 100, list(dense))).type, ChunkType.ACK_BITMAP);
    // far apart: ranges are shorter
    assert.equal(written(1200, (w) => writeAck(w, 7, 33, 300, list(sparse))).type, ChunkType.ACK_RANGES);
  });

  it('truncates ranges to fit and refuses when not even the header fits', () => {
    const ranges: Array<[number, number]> = [];
    for (let i = 0; i < 100; i++) ranges.push([1000 + i * 1000, 1000 + i * 1000 + 5]);
    const out = written(40, (w) => writeAck(w, 1, 1, 10, list(ranges)));
    assert.ok(out.ok);
    assert.equal(out.type, ChunkType.ACK_RANGES);
    const parsed = parseAck(out.type!, out.body!);
    assert.ok(parsed.ack.ranges.length > 0 && parsed.ack.ranges.length < 100);
    assert.deepEqual(parsed.ack.ranges, ranges.slice(0, parsed.ack.ranges.length), 'a prefix of the ranges');
    assert.equal(written(5, (w) => writeAck(w, 1, 1, 100_000, list([]))).ok, false);
  });

  it('rejects truncated and oversized values with ChunkError', () => {
    assert.throws(() => parseAckRanges(hex('02 04')), ChunkError);
    assert.throws(() => parseAckRanges(hex('02 04 8a')), ChunkError, 'truncated VLU');
    assert.throws(() => parseAckRanges(hex('02 04 0a 00')), ChunkError, 'a range without its received count');
    assert.throws(() => parseAckRanges(hex('02 04 0a 00 81')), ChunkError);
    assert.throws(() => parseAckRanges(hex('02 04 ff ff ff ff ff ff ff ff 01')), ChunkError, 'VLU too long');
    // a cumulative ack past 2^53
    assert.throws(() => parseAckRanges(Buffer.concat([hex('02 04'), hex('ff ff ff ff ff ff ff 7f')])), ChunkError);
    // a range running past 2^53
    const big = encodeVlu(2 ** 52);
    assert.throws(() => parseAckRanges(Buffer.concat([hex('01 01'), big, big, big])), ChunkError);
    assert.throws(() => parseAckBitmap(hex('01')), ChunkError);
    assert.throws(() => parseAck(0x10, hex('01 01 01')), ChunkError);
  });

  it('bounds what a hostile bitmap or ranges chunk can cost', () => {
    // the largest possible bitmap chunk: all ones is one range; alternating bits are many but bounded
    const body = Buffer.concat([hex('01 01 00'), Buffer.alloc(65000, 0x55)]);
    const { ack } = parseAckBitmap(body);
    assert.equal(ack.ranges.length, 65000 * 4);
    const huge = Buffer.concat([hex('01 01 00'), encodeVlu(0), encodeVlu(2 ** 40)]);
    assert.deepEqual(parseAckRanges(huge).ack.ranges, [[2, 2 + 2 ** 40]], 'one range, never expanded');
  });
});

describe('ack codec: user data', () => {
  it('parses a User Data header with metadata and return flow association', () => {
    const options = encodeUserDataOptions(Buffer.from('TC\x04\x00'), 3);
    const body = Buffer.concat([Buffer.from([UserDataFlag.OPTIONS | Fragment.BEGIN]), hex('05 0c 02'), options, Buffer.from('data')]);
    const h = parseUserDataHeader(body);
    assert.equal(h.flags & UserDataFlag.FRAGMENT_MASK, Fragment.BEGIN);
    assert.equal(h.flowId, 5);
    assert.equal(h.sequenceNumber, 12);
    assert.equal(h.fsnOffset, 2);
    assert.ok(h.metadata!.equals(Buffer.from('TC\x04\x00')));
    assert.equal(h.returnFlowId, 3);
    assert.equal(h.unknownMandatoryOption, false);
    assert.equal(h.data.toString(), 'data');
    assert.equal(userDataHeaderLength(5, 12, 2), 4);
  });

  it('parses without options and Next User Data', () => {
    const h = parseUserDataHeader(Buffer.concat([Buffer.from([UserDataFlag.FINAL]), hex('01 81 00 00'), Buffer.from('xy')]));
    assert.equal(h.sequenceNumber, 128);
    assert.equal(h.fsnOffset, 0);
    assert.equal(h.metadata, undefined);
    assert.equal(h.data.toString(), 'xy');
    const n = parseNextUserData(Buffer.from([0x20, 0x41]));
    assert.equal(n.flags, 0x20);
    assert.equal(n.data.toString(), 'A');
    assert.throws(() => parseNextUserData(Buffer.alloc(0)), ChunkError);
  });

  it('flags unknown options below 0x2000 as mandatory and skips others', () => {
    const opt = (type: number, value: Buffer): Buffer => {
      const t = encodeVlu(type);
      return Buffer.concat([encodeVlu(t.length + value.length), t, value]);
    };
    const mk = (type: number): Buffer =>
      Buffer.concat([Buffer.from([UserDataFlag.OPTIONS]), hex('01 01 00'), opt(type, Buffer.from('v')), Buffer.from([0])]);
    assert.equal(parseUserDataHeader(mk(0x05)).unknownMandatoryOption, true);
    assert.equal(parseUserDataHeader(mk(0x2000)).unknownMandatoryOption, false);
  });

  it('rejects malformed User Data headers with ChunkError', () => {
    assert.throws(() => parseUserDataHeader(Buffer.alloc(0)), ChunkError);
    assert.throws(() => parseUserDataHeader(hex('00 01')), ChunkError);
    assert.throws(() => parseUserDataHeader(hex('00 01 05')), ChunkError);
    assert.throws(() => parseUserDataHeader(hex('00 01 05 86')), ChunkError, 'truncated fsnOffset');
    assert.throws(() => parseUserDataHeader(hex('00 01 05 06')), ChunkError, 'fsnOffset past sequence number');
    assert.throws(() => parseUserDataHeader(hex('80 01 05 00 03 00 61')), ChunkError, 'options without marker');
    assert.throws(() => parseUserDataHeader(hex('80 01 05 00 09 00 61 00')), ChunkError, 'option past the chunk');
    assert.throws(() => parseUserDataHeader(hex('80 01 05 00 02 0a 81 00')), ChunkError, 'bad return flow VLU');
    assert.throws(() => parseUserDataHeader(hex('00 ff ff ff ff ff ff ff ff 01 00')), ChunkError);
  });
});

describe('ack codec: buffer probe and flow exception', () => {
  it('round-trips', () => {
    const p = written(16, (w) => writeBufferProbe(w, 300));
    assert.equal(p.type, ChunkType.BUFFER_PROBE);
    assert.equal(parseBufferProbe(p.body!), 300);
    assert.equal(parseFlowIdChunk(p.body!), 300);
    const e = written(16, (w) => writeFlowException(w, 4, 129));
    assert.equal(e.type, ChunkType.FLOW_EXCEPTION);
    assert.deepEqual(parseFlowException(e.body!), { flowId: 4, code: 129 });
    assert.equal(written(4, (w) => writeFlowException(w, 4, 129)).ok, false);
    assert.equal(written(3, (w) => writeBufferProbe(w, 1)).ok, false);
  });

  it('rejects truncated bodies', () => {
    assert.throws(() => parseBufferProbe(Buffer.alloc(0)), ChunkError);
    assert.throws(() => parseFlowException(hex('04')), ChunkError);
    assert.throws(() => parseFlowException(hex('04 81')), ChunkError);
  });
});
