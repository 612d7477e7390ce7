import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ChunkWriter } from '../../src/rtmfp/chunk-writer.js';
import { ChunkType } from '../../src/rtmfp/chunk-types.js';
import { encodeRHello, encodeRIKeying, parseRHello, parseRIKeying, writeRHello, writeRIKeying } from '../../src/rtmfp/handshake-chunks.js';

test('RHello written in place is the encoded chunk, cookie where the writer says', () => {
  const tag = Buffer.from('0123456789abcdef'), cookie = Buffer.alloc(64, 7), certificate = Buffer.from('certificate bytes');
  const w = new ChunkWriter(Buffer.alloc(300), 5, 300);
  const at = writeRHello(w, tag, cookie.length, certificate);
  cookie.copy(w.buf, at);
  const body = encodeRHello({ tag, cookie, certificate });
  assert.equal(w.buf[5], ChunkType.RHELLO);
  assert.equal(w.buf.readUInt16BE(6), body.length);
  assert.deepEqual(w.buf.subarray(8, w.offset), body);
  assert.deepEqual(parseRHello(w.buf.subarray(8, w.offset)), { tag, cookie, certificate });
  assert.equal(writeRHello(new ChunkWriter(Buffer.alloc(300), 0, 50), tag, 64, certificate), -1, 'too big: refused, nothing written');
});

test('RIKeying written in place is the encoded chunk', () => {
  const m = { responderSessionId: 0xfedcba98, skrc: Buffer.alloc(139, 3), signature: Buffer.from('X') };
  const w = new ChunkWriter(Buffer.alloc(300), 0, 300);
  assert.ok(writeRIKeying(w, m));
  const body = encodeRIKeying(m);
  assert.deepEqual(w.buf.subarray(3, w.offset), body);
  assert.deepEqual(parseRIKeying(w.buf.subarray(3, w.offset)), m);
  assert.ok(!writeRIKeying(new ChunkWriter(Buffer.alloc(300), 0, 100), m));
});
