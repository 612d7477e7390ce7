import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { asBuffer, ByteInterner, ownedCopy } from '../../src/codec/buffer-view.js';

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

test('ByteInterner shares one copy of equal bytes, never the caller memory, within its bounds', () => {
  const interner = new ByteInterner(2, 8);
  const packet = Buffer.from([0, 0x54, 0x43, 0x04, 0xee, 0x01, 0]);
  const a = interner.intern(packet.subarray(1, 6));
  const b = interner.intern(new Uint8Array([0x54, 0x43, 0x04, 0xee, 0x01]));
  assert.equal(a, b, 'equal bytes give the same buffer');
  assert.deepEqual([...a], [0x54, 0x43, 0x04, 0xee, 0x01]);
  packet[1] = 0;
  assert.equal(a[0], 0x54, 'the copy shares no memory with the input');
  assert.equal(a.buffer.byteLength, a.length, 'and holds no slab');

  const other = interner.intern(new Uint8Array([1, 2]));
  assert.notEqual(other, a);
  assert.equal(interner.size, 2);
  // Full: a third value gets a copy of its own each time, with the right bytes.
  const c1 = interner.intern(new Uint8Array([3]));
  const c2 = interner.intern(new Uint8Array([3]));
  assert.notEqual(c1, c2);
  assert.deepEqual([...c2], [3]);
  assert.equal(interner.size, 2);
  // Longer than maxBytes: never kept.
  const long = new Uint8Array(9).fill(7);
  assert.notEqual(interner.intern(long), interner.intern(long));
  assert.equal(interner.intern(new Uint8Array([1, 2])), other, 'entries already kept are still shared');
});
