import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { asBuffer, ownedCopy } from '../../src/codec/buffer-view.js';

test('ownedCopy copies a slab slice into memory of its own', () => {
  // Buffer.from() of a few bytes is a slice of node's shared 8 KB slab.
  const slice = Buffer.from([1, 2, 3, 4, 5]);
  assert.ok(slice.buffer.byteLength > slice.length, 'the input is a slab slice');
  const copy = ownedCopy(slice);
  assert.deepEqual([...copy], [1, 2, 3, 4, 5]);
  assert.equal(copy.buffer.byteLength, copy.length, 'the copy holds no slab');
  slice[0] = 9;
  assert.equal(copy[0], 1, 'the copy shares no memory with the input');
});

test('ownedCopy takes any Uint8Array view, and an empty one', () => {
  const backing = new Uint8Array([0, 7, 8, 9, 0]);
  assert.deepEqual([...ownedCopy(backing.subarray(1, 4))], [7, 8, 9]);
  assert.equal(ownedCopy(new Uint8Array(0)).length, 0);
});

test('asBuffer views the same memory without copying', () => {
  const bytes = new Uint8Array([1, 2, 3, 4]);
  const view = asBuffer(bytes.subarray(1));
  assert.equal(view.readUInt16BE(0), 0x0203);
  bytes[1] = 0xff;
  assert.equal(view[0], 0xff);
});
