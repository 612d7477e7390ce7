// Hostile and corrupt input: every failure must be an AmfError with a useful message, found
// quickly, without deep recursion or allocations sized by a length field.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  AmfDictionary,
  AmfEcmaArray,
  AmfError,
  AmfExternalizable,
  AmfTypedObject,
  AmfVector,
  AmfXml,
  AmfXmlDocument,
} from '../../src/codec/amf-types.js';
import { Amf0Reader, decodeAmf0, encodeAmf0 } from '../../src/codec/amf0.js';
import { decodeAmf3, encodeAmf3 } from '../../src/codec/amf3.js';

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function assertAmfError(decode: () => unknown, message: RegExp, offset?: number): void {
  assert.throws(decode, (error: unknown) => {
    assert.ok(error instanceof AmfError, `expected AmfError, got ${String(error)}`);
    assert.match(error.message, message);
    if (offset !== undefined) assert.equal(error.offset, offset);
    return true;
  });
}

/** Small deterministic PRNG (mulberry32) so a failing fuzz case can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Decoding must either succeed or throw AmfError; anything else (RangeError, TypeError...) fails. */
function decodeOrAmfError(decode: (bytes: Buffer) => unknown, bytes: Buffer): void {
  try {
    decode(bytes);
  } catch (error) {
    if (!(error instanceof AmfError)) {
      assert.fail(`non-AmfError ${String(error)} for input ${bytes.toString('hex')}`);
    }
  }
}

describe('AMF0 malformed input', () => {
  it('reports truncation with the offset and what was expected', () => {
    assertAmfError(() => decodeAmf0(hex('02 00 05 61 62')), /truncated AMF0 string: need 5 bytes, 2 left/, 3);
    assertAmfError(() => decodeAmf0(hex('00 3f f0')), /truncated AMF0 number/, 1);
    assertAmfError(() => decodeAmf0(hex('03 00 01 61')), /truncated AMF0 type marker/, 4);
    assertAmfError(() => decodeAmf0(hex('03 00 00')), /truncated AMF0 type marker/);
    assertAmfError(() => decodeAmf0(hex('0b 00 00 00 00 00 00 00 00 00')), /truncated AMF0 date time zone/);
    assertAmfError(() => decodeAmf0(hex('0c 00 00 00 09 61')), /truncated AMF0 long string/);
    assertAmfError(() => decodeAmf0(hex('11')), /truncated AMF3 type marker/);
  });

  it('rejects unknown, reserved and misplaced markers', () => {
    assertAmfError(() => decodeAmf0(hex('12')), /unknown AMF0 type marker 0x12/, 0);
    assertAmfError(() => decodeAmf0(hex('04')), /reserved AMF0 type marker 0x04/);
    assertAmfError(() => decodeAmf0(hex('0e')), /reserved AMF0 type marker 0x0e/);
    assertAmfError(() => decodeAmf0(hex('09')), /object-end marker outside an object/);
  });

  it('rejects references outside the table', () => {
    assertAmfError(() => decodeAmf0(hex('07 00 00')), /AMF0 reference 0 out of range \(table has 0\)/, 0);
    assertAmfError(() => decodeAmf0(hex('0a 00 00 00 01 07 00 01')), /reference 1 out of range \(table has 1\)/);
  });

  it('rejects counts larger than the input before looping over them', () => {
    assertAmfError(() => decodeAmf0(hex('0a ff ff ff ff 05')), /claims 4294967295 items but only 1 bytes remain/);
  });

  it('caps nesting depth without exhausting the stack', () => {
    assertAmfError(() => decodeAmf0(Buffer.concat(Array(100_000).fill(hex('0a 00 00 00 01')))), /nested deeper than 256/);
    assertAmfError(() => decodeAmf0(Buffer.concat(Array(100_000).fill(hex('03 00 01 61')))), /nested deeper than 256/);
    // 300 levels is fine when the caller allows it.
    const nested = Buffer.concat([...Array(300).fill(hex('0a 00 00 00 01')), hex('05')]);
    assert.doesNotThrow(() => new Amf0Reader(nested, { maxDepth: 301 }).readAll());
  });

  it('counts AMF3 levels behind an AVM+ switch against the same depth limit', () => {
    const amf0Levels = Buffer.concat(Array(200).fill(hex('0a 00 00 00 01')));
    const amf3Levels = Buffer.concat(Array(100).fill(hex('09 03 01')));
    assertAmfError(() => decodeAmf0(Buffer.concat([amf0Levels, hex('11'), amf3Levels, hex('01')])), /AMF3 value nested deeper/);
    const fits = Buffer.concat([amf0Levels, hex('11'), Buffer.concat(Array(50).fill(hex('09 03 01'))), hex('01')]);
    assert.doesNotThrow(() => decodeAmf0(fits));
  });
});

describe('AMF3 malformed input', () => {
  it('reports truncation with the offset and what was expected', () => {
    assertAmfError(() => decodeAmf3(hex('04 81')), /truncated AMF3 integer/, 2);
    assertAmfError(() => decodeAmf3(hex('05 00 00')), /truncated AMF3 double/, 1);
    assertAmfError(() => decodeAmf3(hex('06 07 61')), /truncated AMF3 string: need 3 bytes, 1 left/, 2);
    assertAmfError(() => decodeAmf3(hex('0a 0b 01 03 61')), /truncated AMF3 type marker/);
    assertAmfError(() => decodeAmf3(hex('0a 0b 01')), /truncated string header/);
  });

  it('rejects unknown markers', () => {
    assertAmfError(() => decodeAmf3(hex('12')), /unknown AMF3 type marker 0x12/, 0);
  });

  it('rejects string, object and trait references outside their tables', () => {
    assertAmfError(() => decodeAmf3(hex('06 02')), /AMF3 string reference 1 out of range \(table has 0\)/, 1);
    assertAmfError(() => decodeAmf3(hex('0a 00')), /AMF3 object reference 0 out of range/);
    assertAmfError(() => decodeAmf3(hex('09 02')), /AMF3 array reference 1 out of range/);
    assertAmfError(() => decodeAmf3(hex('08 00')), /AMF3 date reference 0 out of range/);
    // 0x05 = inline object, trait reference 1; the trait table is empty.
    assertAmfError(() => decodeAmf3(hex('0a 05')), /AMF3 trait reference 1 out of range \(table has 0\)/);
  });

  it('rejects counts and lengths larger than the input before allocating or looping', () => {
    // Largest U29 length or count: 0x0fffffff, encoded with the inline bit as ff ff ff ff.
    assertAmfError(() => decodeAmf3(hex('09 ff ff ff ff 01')), /array claims 268435455 items/);
    assertAmfError(() => decodeAmf3(hex('0c ff ff ff ff 00')), /truncated AMF3 ByteArray: need 268435455 bytes/);
    assertAmfError(() => decodeAmf3(hex('06 ff ff ff ff')), /truncated AMF3 string/);
    assertAmfError(() => decodeAmf3(hex('0d ff ff ff ff 00 00')), /truncated AMF3 vector of 268435455 int/);
    assertAmfError(() => decodeAmf3(hex('0f ff ff ff ff 00')), /truncated AMF3 vector of 268435455 double/);
    assertAmfError(() => decodeAmf3(hex('10 ff ff ff ff 00 01')), /object vector claims 268435455 items/);
    assertAmfError(() => decodeAmf3(hex('11 ff ff ff ff 00 01 01')), /dictionary claims 268435455 items/);
    // 0x1ffffff3 = inline traits with 0x1ffffff sealed members.
    assertAmfError(() => decodeAmf3(hex('0a ff ff ff f3 01')), /object traits claims/);
  });

  it('caps nesting depth without exhausting the stack', () => {
    assertAmfError(() => decodeAmf3(Buffer.concat(Array(100_000).fill(hex('09 03 01')))), /nested deeper than 256/);
    assertAmfError(() => decodeAmf3(Buffer.concat(Array(100_000).fill(hex('0a 0b 01 03 61')))), /nested deeper than 256/);
    assertAmfError(() => decodeAmf3(Buffer.concat(Array(100_000).fill(hex('11 03 00')))), /nested deeper than 256/);
  });
});

describe('AMF fuzzing', () => {
  const samples = [
    encodeAmf0(
      'connect',
      1,
      { app: 'live', tcUrl: 'rtmp://example/live', fpad: false, capabilities: 239, objectEncoding: 3 },
      new AmfEcmaArray({ duration: 2, width: 320, height: 240 }),
      [1, 'two', null, undefined, new Date(5)],
      new AmfTypedObject('T', { a: 'b' }),
      new AmfXmlDocument('<x/>'),
      'L'.repeat(70_000),
      new Uint8Array([1, 2, 3]),
    ),
  ];
  const amf3Sample = encodeAmf3({
    list: ['a', 'a', 'b', -5, 300, 2 ** 40, 0.25],
    typed: [new AmfTypedObject('P', { x: 1, y: 2 }, ['x', 'y']), new AmfTypedObject('P', { x: 3, y: 4 }, ['x', 'y'])],
    dynamic: new AmfTypedObject('D', { s: 1, d: 2 }, ['s'], true),
    ecma: new AmfEcmaArray({ 0: 'zero', k: 'v' }),
    xml: [new AmfXml('<a/>'), new AmfXmlDocument('<b/>')],
    bytes: new Uint8Array([9, 8, 7]),
    vectors: [new AmfVector('int', [1, -1]), new AmfVector('uint', [7]), new AmfVector('double', [0.5]), new AmfVector('object', [{}], true, 'Object')],
    dictionary: new AmfDictionary(new Map<unknown, unknown>([['k', 1], [2, 'two']])),
    collection: new AmfExternalizable('flex.messaging.io.ArrayCollection', [1, 2]),
    date: new Date(0),
  });

  it('throws only AmfError for every truncation of valid messages', () => {
    for (const sample of [samples[0]!.subarray(0, 400), amf3Sample]) {
      const decode = sample === amf3Sample ? decodeAmf3 : decodeAmf0;
      for (let length = 0; length < sample.length; length++) decodeOrAmfError(decode, sample.subarray(0, length));
    }
  });

  it('throws only AmfError for mutated valid messages', () => {
    const next = random(0xc0ffee);
    for (let round = 0; round < 4000; round++) {
      for (const [sample, decode] of [
        [samples[0]!, decodeAmf0],
        [amf3Sample, decodeAmf3],
      ] as const) {
        const mutated = Buffer.from(sample);
        const flips = 1 + Math.floor(next() * 4);
        for (let flip = 0; flip < flips; flip++) {
          mutated[Math.floor(next() * mutated.length)] = Math.floor(next() * 256);
        }
        decodeOrAmfError(decode, mutated);
      }
    }
  });

  it('throws only AmfError for random bytes', () => {
    const next = random(42);
    for (let round = 0; round < 20_000; round++) {
      const bytes = Buffer.allocUnsafe(1 + Math.floor(next() * 48));
      for (let index = 0; index < bytes.length; index++) bytes[index] = Math.floor(next() * 256);
      decodeOrAmfError(decodeAmf0, bytes);
      decodeOrAmfError(decodeAmf3, bytes);
    }
  });
});
