import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  AmfDictionary,
  AmfEcmaArray,
  AmfError,
  AmfTypedObject,
  AmfVector,
  AmfXml,
  AmfXmlDocument,
  amfObjectProperties,
} from '../../src/codec/amf-types.js';
import { Amf0Reader, Amf0Writer, decodeAmf0, encodeAmf0 } from '../../src/codec/amf0.js';

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function ascii(text: string): string {
  return Buffer.from(text, 'utf8').toString('hex');
}

function assertEncodes(value: unknown, expectedHex: string): void {
  const expected = hex(expectedHex);
  assert.equal(encodeAmf0(value).toString('hex'), expected.toString('hex'));
  assert.deepEqual(decodeAmf0(expected), [value]);
}

describe('AMF0 byte-exact vectors (AMF 0 specification)', () => {
  it('encodes numbers, booleans, null and undefined', () => {
    assertEncodes(0, '00 00 00 00 00 00 00 00 00');
    assertEncodes(1.5, '00 3f f8 00 00 00 00 00 00');
    assertEncodes(-2, '00 c0 00 00 00 00 00 00 00');
    assertEncodes(true, '01 01');
    assertEncodes(false, '01 00');
    assertEncodes(null, '05');
    assertEncodes(undefined, '06');
  });

  it('encodes strings with 16-bit lengths, and long strings with 32-bit lengths', () => {
    assertEncodes('hi', `02 00 02 ${ascii('hi')}`);
    assertEncodes('', '02 00 00');
    assertEncodes('é', '02 00 02 c3 a9');
    const long = 'x'.repeat(70000);
    assertEncodes(long, `0c 00 01 11 70 ${ascii(long)}`);
    const exactlyShort = 'y'.repeat(0xffff);
    assert.equal(encodeAmf0(exactlyShort)[0], 0x02);
  });

  it('encodes anonymous objects, ending with an empty key and 0x09', () => {
    assertEncodes({ a: 1 }, `03 00 01 61 00 3f f0 00 00 00 00 00 00 00 00 09`);
    assertEncodes({}, '03 00 00 09');
  });

  it('encodes ECMA arrays with their count', () => {
    assertEncodes(new AmfEcmaArray({ a: true }), '08 00 00 00 01 00 01 61 01 01 00 00 09');
  });

  it('encodes strict arrays', () => {
    assertEncodes([true, null], '0a 00 00 00 02 01 01 05');
    assertEncodes([], '0a 00 00 00 00');
  });

  it('encodes dates as milliseconds plus a zero time zone', () => {
    assertEncodes(new Date(0), '0b 00 00 00 00 00 00 00 00 00 00');
    assertEncodes(new Date(1000), '0b 40 8f 40 00 00 00 00 00 00 00');
  });

  it('encodes typed objects and XML documents', () => {
    assertEncodes(new AmfTypedObject('P', { x: true }), `10 00 01 50 00 01 78 01 01 00 00 09`);
    assertEncodes(new AmfXmlDocument('<a/>'), `0f 00 00 00 04 ${ascii('<a/>')}`);
  });

  it('encodes repeated complex values as references', () => {
    const shared = {};
    // Reference table: the strict array is 0, the object 1.
    const bytes = hex('0a 00 00 00 02 03 00 00 09 07 00 01');
    assert.equal(encodeAmf0([shared, shared]).toString('hex'), bytes.toString('hex'));
    const [decoded] = decodeAmf0(bytes) as [unknown[]];
    assert.equal(decoded[0], decoded[1]);
  });

  it('encodes an RTMP connect command', () => {
    const bytes = encodeAmf0('connect', 1, { app: 'live' });
    assert.equal(
      bytes.toString('hex'),
      hex(
        `02 0007 ${ascii('connect')} 00 3ff0000000000000 03 0003 ${ascii('app')} 02 0004 ${ascii('live')} 0000 09`,
      ).toString('hex'),
    );
    assert.deepEqual(decodeAmf0(bytes), ['connect', 1, { app: 'live' }]);
  });
});

describe('AMF0 AVM+ switch to AMF3', () => {
  it('writes a value as AMF3 on request', () => {
    const bytes = new Amf0Writer().writeValue('a').writeAvmPlus(5).writeAvmPlus({ k: 'v' }).toBuffer();
    assert.equal(bytes.toString('hex'), hex(`02 0001 61 11 04 05 11 0a 0b 01 03 6b 06 03 76 01`).toString('hex'));
    assert.deepEqual(decodeAmf0(bytes), ['a', 5, { k: 'v' }]);
  });

  it('starts a fresh AMF3 context for each switched value', () => {
    // Each switched value writes "k" inline again rather than as string reference 0.
    const bytes = new Amf0Writer().writeAvmPlus('k').writeAvmPlus('k').toBuffer();
    assert.equal(bytes.toString('hex'), '1106036b1106036b');
    assert.deepEqual(decodeAmf0(bytes), ['k', 'k']);
  });

  it('switches automatically for values only AMF3 can carry', () => {
    assert.equal(encodeAmf0(new Uint8Array([1])).toString('hex'), '110c0301');
    assert.equal(encodeAmf0(new AmfXml('<a/>')).toString('hex'), `110b09${ascii('<a/>')}`);
    const values = [
      Buffer.from([1, 2]),
      new AmfXml('<x/>'),
      new AmfVector('int', [1, 2]),
      new AmfDictionary(new Map([['a', 1]])),
    ];
    assert.deepEqual(decodeAmf0(encodeAmf0(...values)), values);
  });

  it('reads AMF3 values nested inside AMF0 objects', () => {
    const bytes = hex(`03 0001 61 11 04 7f 0000 09`);
    assert.deepEqual(decodeAmf0(bytes), [{ a: 127 }]);
  });
});

describe('AMF0 round trips and reading', () => {
  it('round-trips a graph of every AMF0 type', () => {
    const value = {
      number: -1234.5,
      integer: 42,
      yes: true,
      text: 'ünïcödé ✓',
      long: 'z'.repeat(70000),
      nil: null,
      undef: undefined,
      date: new Date(1_700_000_000_123),
      list: [1, 'two', [3, { four: 4 }]],
      metadata: new AmfEcmaArray({ width: 320, height: 240, encoder: 'covey' }),
      typed: new AmfTypedObject('com.example.Point', { x: 1, y: 2 }),
      xml: new AmfXmlDocument('<doc/>'),
    };
    const encoded = encodeAmf0(value);
    const [decoded] = decodeAmf0(encoded);
    assert.deepEqual(decoded, value);
    assert.equal(encodeAmf0(decoded).toString('hex'), encoded.toString('hex'));
  });

  it('round-trips cycles through the reference table', () => {
    const node: Record<string, unknown> = { name: 'n' };
    node.self = node;
    const [decoded] = decodeAmf0(encodeAmf0(node)) as [Record<string, unknown>];
    assert.equal(decoded.self, decoded);
  });

  it('reads values one at a time and reports where it stopped', () => {
    const reader = new Amf0Reader(encodeAmf0('onStatus', 0, null));
    assert.equal(reader.readValue(), 'onStatus');
    assert.equal(reader.offset, 11);
    assert.deepEqual(reader.readAll(), [0, null]);
    assert.equal(reader.hasMore, false);
  });

  it('accepts a wrong ECMA array count, since the end marker is what ends it', () => {
    const bytes = hex('08 00 00 00 07 00 01 61 01 01 00 00 09');
    assert.deepEqual(decodeAmf0(bytes), [new AmfEcmaArray({ a: true })]);
  });

  it('reads a property named "" when a value, not the end marker, follows it', () => {
    const bytes = hex('03 0000 01 01 0000 09');
    assert.deepEqual(decodeAmf0(bytes), [{ '': true }]);
  });

  it('reads the unsupported marker as undefined', () => {
    assert.deepEqual(decodeAmf0(hex('0d 05')), [undefined, null]);
  });

  it('accepts any Uint8Array view as input', () => {
    const backing = new Uint8Array([0xff, 0x01, 0x01, 0xff]);
    assert.deepEqual(decodeAmf0(backing.subarray(1, 3)), [true]);
  });

  it('appends to a caller-supplied writer and resets references on request', () => {
    const shared = {};
    const writer = new Amf0Writer();
    writer.writeValue(shared);
    writer.resetReferences();
    writer.writeValue(shared);
    assert.equal(writer.toBuffer().toString('hex'), '0300000903000009');
  });
});

describe('amfObjectProperties', () => {
  it('gives the properties of objects, ECMA arrays and typed objects alike', () => {
    assert.deepEqual(amfObjectProperties({ a: 1 }), { a: 1 });
    assert.deepEqual(amfObjectProperties(new AmfEcmaArray({ b: 2 })), { b: 2 });
    assert.deepEqual(amfObjectProperties(new AmfTypedObject('T', { c: 3 })), { c: 3 });
    assert.equal(amfObjectProperties([1]), undefined);
    assert.equal(amfObjectProperties('x'), undefined);
    assert.equal(amfObjectProperties(null), undefined);
  });
});

describe('AMF0 encoding errors', () => {
  it('rejects values AMF0 cannot represent', () => {
    assert.throws(() => encodeAmf0(() => 1), AmfError);
    assert.throws(() => encodeAmf0(Symbol('s')), AmfError);
    assert.throws(() => encodeAmf0(1n), AmfError);
    assert.throws(() => encodeAmf0({ ['k'.repeat(70000)]: 1 }), /exceeds 65535/);
  });

  it('caps nesting depth when writing, AMF3 parts included', () => {
    let deep: unknown = 1;
    for (let index = 0; index < 300; index++) deep = { deep };
    assert.throws(() => encodeAmf0(deep), /nested deeper than 256/);
    let deepVector: unknown = 1;
    for (let index = 0; index < 300; index++) deepVector = new AmfVector('object', [deepVector]);
    assert.throws(() => encodeAmf0(deepVector), (error: unknown) => error instanceof AmfError);
    assert.doesNotThrow(() => new Amf0Writer({ maxDepth: 400 }).writeValue(deep));
  });
});
