// The chunk stream both ways: our encoder's output and hand-made compressed headers (types 1-3)
// decode to the messages sent, whatever the read boundaries; limits are enforced.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ChunkDecoder } from '../../src/rtmp/chunk-decoder.js';
import { encodeChunks } from '../../src/rtmp/chunk-encoder.js';
import { ChunkStreamError } from '../../src/rtmp/chunk-stream-error.js';
import { MessageType, type RtmpMessage } from '../../src/rtmp/message-types.js';
import { splitAggregate } from '../../src/rtmp/aggregate.js';
import { uint32Payload } from '../../src/rtmp/protocol-control.js';

function decodeAll(bytes: Buffer, piece: number, decoder = new ChunkDecoder()): RtmpMessage[] {
  const out: RtmpMessage[] = [];
  for (let i = 0; i < bytes.length; i += piece) decoder.push(bytes.subarray(i, i + piece), (m) => out.push({ ...m, payload: Buffer.from(m.payload) }));
  return out;
}

const payload = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

test('type 0 + type 3 continuation from our encoder, 1-, 2- and 3-byte chunk stream ids', () => {
  for (const csid of [3, 63, 64, 319, 320, 65599]) {
    const p = payload(1000, csid);
    const bytes = encodeChunks(csid, MessageType.Video, 7, 123456, p, 128);
    for (const piece of [1, 5, 128, 4096]) {
      const [m] = decodeAll(bytes, piece);
      assert.deepEqual({ ...m, payload: m!.payload.toString('hex') }, { type: 9, streamId: 7, timestamp: 123456, payload: p.toString('hex'), chunkStreamId: csid });
    }
  }
});

/** A type 1/2/3 message header by hand: fmt, csid < 64, and the fields that header type carries. */
function header(fmt: number, csid: number, fields: { ts?: number; length?: number; type?: number; streamId?: number } = {}): Buffer {
  const parts = [Buffer.of((fmt << 6) | csid)];
  if (fmt <= 2) parts.push(Buffer.from([(fields.ts! >> 16) & 0xff, (fields.ts! >> 8) & 0xff, fields.ts! & 0xff]));
  if (fmt <= 1) parts.push(Buffer.from([(fields.length! >> 16) & 0xff, (fields.length! >> 8) & 0xff, fields.length! & 0xff, fields.type!]));
  if (fmt === 0) {
    const s = Buffer.alloc(4);
    s.writeUInt32LE(fields.streamId!);
    parts.push(s);
  }
  return Buffer.concat(parts);
}

test('header types 1, 2 and 3 reuse what came before; timestamps are deltas', () => {
  const a = payload(200, 1); // two chunks at 128
  const b = payload(50, 2);
  const c = payload(50, 3);
  const d = payload(50, 4);
  const bytes = Buffer.concat([
    header(0, 4, { ts: 1000, length: 200, type: 8, streamId: 1 }), a.subarray(0, 128), header(3, 4), a.subarray(128),
    header(1, 4, { ts: 20, length: 50, type: 8 }), b, // new length, delta 20
    header(2, 4, { ts: 23 }), c, // same length and type, delta 23
    header(3, 4), d, // same again, same delta
  ]);
  for (const piece of [1, 3, 64, 1000]) {
    const got = decodeAll(bytes, piece);
    assert.deepEqual(got.map((m) => [m.type, m.streamId, m.timestamp, m.payload.length]), [
      [8, 1, 1000, 200], [8, 1, 1020, 50], [8, 1, 1043, 50], [8, 1, 1066, 50],
    ]);
    assert.deepEqual(got.map((m) => m.payload), [a, b, c, d]);
  }
});

test('a type 3 message right after a type 0 one takes the absolute timestamp as its delta (spec 5.3.1.2.4)', () => {
  const bytes = Buffer.concat([header(0, 5, { ts: 40, length: 2, type: 9, streamId: 1 }), Buffer.of(1, 2), header(3, 5), Buffer.of(3, 4)]);
  assert.deepEqual(decodeAll(bytes, 100).map((m) => m.timestamp), [40, 80]);
});

test('extended timestamps: in type 3 continuation chunks (as Flash sends) and without them (as some encoders do)', () => {
  const ts = 0x12345678;
  const p = payload(300);
  const ours = encodeChunks(6, MessageType.Audio, 1, ts, p, 128);
  const [m] = decodeAll(ours, 7);
  assert.equal(m!.timestamp, ts);
  assert.ok(m!.payload.equals(p));
  // Without the 4 bytes on continuation chunks.
  const ext = Buffer.alloc(4);
  ext.writeUInt32BE(ts);
  const bare = Buffer.concat([header(0, 6, { ts: 0xffffff, length: 300, type: 8, streamId: 1 }), ext, p.subarray(0, 128), header(3, 6), p.subarray(128, 256), header(3, 6), p.subarray(256)]);
  const [n] = decodeAll(bare, 1);
  assert.equal(n!.timestamp, ts);
  assert.ok(n!.payload.equals(p));
});

test('Set Chunk Size applies from the next chunk, even within the same read; Abort drops a partial message', () => {
  const big = payload(10_000);
  const bytes = Buffer.concat([
    encodeChunks(2, MessageType.SetChunkSize, 0, 0, uint32Payload(4096), 128),
    encodeChunks(8, MessageType.Video, 1, 0, big, 4096),
    // A message abandoned half way, then aborted, then a fresh one on the same chunk stream.
    header(0, 9, { ts: 0, length: 5000, type: 9, streamId: 1 }), payload(4096),
    encodeChunks(2, MessageType.Abort, 0, 0, uint32Payload(9), 4096),
    encodeChunks(9, MessageType.Video, 1, 5, Buffer.of(0x17, 1), 4096),
    // Zero-length message.
    encodeChunks(3, MessageType.DataAmf0, 1, 6, Buffer.alloc(0), 4096),
  ]);
  const decoder = new ChunkDecoder();
  const got = decodeAll(bytes, 1 << 20, decoder);
  assert.equal(decoder.chunkSize, 4096);
  assert.deepEqual(got.map((m) => [m.type, m.payload.length]), [[1, 4], [9, 10_000], [2, 4], [9, 2], [18, 0]]);
  assert.ok(got[1]!.payload.equals(big));
  assert.equal(decoder.bufferedBytes, 0, 'nothing held after the abort');
});

test('violations throw ChunkStreamError naming the problem', () => {
  const cases: Array<[Buffer, RegExp, ConstructorParameters<typeof ChunkDecoder>[0]?]> = [
    [header(1, 4, { ts: 0, length: 1, type: 8 }), /starts with a type 1 header/],
    [Buffer.concat([header(0, 4, { ts: 0, length: 200, type: 8, streamId: 1 }), payload(128), header(0, 4, { ts: 0, length: 1, type: 8, streamId: 1 })]), /before finishing the last/],
    [header(0, 4, { ts: 0, length: 100, type: MessageType.SetChunkSize, streamId: 0 }), /protocol control message type 1 of 100 bytes/],
    [encodeChunks(2, MessageType.SetChunkSize, 0, 0, uint32Payload(0), 128), /Set Chunk Size 0/],
    [Buffer.concat([3, 4, 5].map((c) => header(0, c, { ts: 0, length: 1, type: 8, streamId: 1 }).fill(0, 0, 0)).map((h) => Buffer.concat([h, Buffer.of(0)]))), /too many chunk streams/, { maxChunkStreams: 2 }],
    [Buffer.concat([header(0, 4, { ts: 0, length: 600, type: 9, streamId: 1 }), payload(128), header(0, 5, { ts: 0, length: 600, type: 9, streamId: 1 }), payload(128)]), /would hold 1200 bytes \(limit 1000\)/, { maxPartialBytes: 1000 }],
  ];
  for (const [bytes, message, limits] of cases) {
    assert.throws(() => decodeAll(bytes, 1 << 20, new ChunkDecoder(limits)), (e: Error) => e instanceof ChunkStreamError && message.test(e.message), String(message));
  }
});

test('aggregate messages split into their sub-messages with the aggregate timestamp as base', () => {
  const tag = (type: number, ts: number, body: Buffer) => {
    const h = Buffer.alloc(11);
    h[0] = type;
    h.writeUIntBE(body.length, 1, 3);
    h.writeUIntBE(ts & 0xffffff, 4, 3);
    h[7] = ts >>> 24;
    const back = Buffer.alloc(4);
    back.writeUInt32BE(11 + body.length);
    return Buffer.concat([h, body, back]);
  };
  const agg: RtmpMessage = {
    type: MessageType.Aggregate, streamId: 1, timestamp: 5000, chunkStreamId: 4,
    payload: Buffer.concat([tag(9, 100, Buffer.of(0x17, 1)), tag(8, 120, Buffer.of(0xaf, 1, 9)), tag(9, 140, Buffer.of(0x27, 1))]),
  };
  assert.deepEqual(splitAggregate(agg).map((m) => [m.type, m.timestamp, m.streamId, m.payload.toString('hex')]), [
    [9, 5000, 1, '1701'], [8, 5020, 1, 'af0109'], [9, 5040, 1, '2701'],
  ]);
  assert.throws(() => splitAggregate({ ...agg, payload: agg.payload.subarray(0, 30) }), /overruns/);
});
