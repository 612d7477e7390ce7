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
import {
  Amf3Reader,
  Amf3Writer,
  DEFAULT_AMF3_EXTERNALIZABLES,
  decodeAmf3,
  encodeAmf3,
  type Amf3ExternalizableCodec,
} from '../../src/codec/amf3.js';

/** Parses "04 81 00"-style hex, ignoring spaces and line breaks. */
function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function ascii(text: string): string {
  return Buffer.from(text, 'utf8').toString('hex');
}

function assertEncodes(value: unknown, expectedHex: string): void {
  const expected = hex(expectedHex);
  assert.equal(encodeAmf3(value).toString('hex'), expected.toString('hex'));
  assert.deepEqual(decodeAmf3(expected), [value]);
}

describe('AMF3 byte-exact vectors (AMF 3 specification)', () => {
  it('encodes the simple markers', () => {
    assertEncodes(undefined, '00');
    assertEncodes(null, '01');
    assertEncodes(false, '02');
    assertEncodes(true, '03');
  });

  it('encodes integers as U29 in 1 to 4 bytes, sign-extended from 29 bits', () => {
    assertEncodes(0, '04 00');
    assertEncodes(0x7f, '04 7f');
    assertEncodes(0x80, '04 81 00');
    assertEncodes(0x3fff, '04 ff 7f');
    assertEncodes(0x4000, '04 81 80 00');
    assertEncodes(0x1fffff, '04 ff ff 7f');
    assertEncodes(0x200000, '04 80 c0 80 00');
    assertEncodes(268435455, '04 bf ff ff ff');
    assertEncodes(-1, '04 ff ff ff ff');
    assertEncodes(-268435456, '04 c0 80 80 00');
  });

  it('encodes numbers outside the integer range, fractions and -0 as doubles', () => {
    assertEncodes(268435456, '05 41 b0 00 00 00 00 00 00');
    assertEncodes(-268435457, '05 c1 b0 00 00 01 00 00 00');
    assertEncodes(1.5, '05 3f f8 00 00 00 00 00 00');
    assertEncodes(-0, '05 80 00 00 00 00 00 00 00');
    assert.ok(Object.is(decodeAmf3(hex('05 80 00 00 00 00 00 00 00'))[0], -0));
    const [nan] = decodeAmf3(encodeAmf3(Number.NaN));
    assert.ok(Number.isNaN(nan));
  });

  it('encodes strings, referencing repeats but never the empty string', () => {
    assertEncodes('hello', `06 0b ${ascii('hello')}`);
    assertEncodes('', '06 01');
    // Array of 3 (header 07), no associative part (01), "a" inline, "a" as reference 0, "" inline.
    assertEncodes(['a', 'a', ''], '09 07 01 06 03 61 06 00 06 01');
    // The empty string takes no table slot: "b" after "" is still reference 1 after "a".
    assertEncodes(['a', '', 'b', 'b', 'a'], '09 0b 01 06 03 61 06 01 06 03 62 06 02 06 00');
    assertEncodes('é', '06 05 c3 a9');
  });

  it('encodes an object with sealed traits, then a trait reference', () => {
    const first = new AmfTypedObject('P', { x: 1, y: 2 }, ['x', 'y']);
    const second = new AmfTypedObject('P', { x: 3, y: 4 }, ['x', 'y']);
    // 0x23 = 2 sealed members << 4 | traits inline (0b011), not dynamic; then "P", "x", "y".
    // The second object's header 0x01 = trait reference 0 << 2 | 0b01.
    assertEncodes([first, second], `09 05 01 0a 23 03 ${ascii('P')} 03 78 03 79 04 01 04 02 0a 01 04 03 04 04`);
  });

  it('encodes typed objects with sealed and dynamic members', () => {
    const value = new AmfTypedObject('Q', { s: 1, d: 2 }, ['s'], true);
    // 0x1b = 1 sealed << 4 | dynamic (0b1000) | 0b011.
    assertEncodes(value, `0a 1b 03 51 03 73 04 01 03 64 04 02 01`);
  });

  it('encodes anonymous objects as dynamic, sharing one trait entry', () => {
    assertEncodes({ a: 1 }, '0a 0b 01 03 61 04 01 01');
    assertEncodes([{ a: 1 }, { a: 2 }], '09 05 01 0a 0b 01 03 61 04 01 01 0a 01 00 04 02 01');
  });

  it('encodes repeated objects as object references', () => {
    const shared = {};
    // Object table: the array is 0, the object 1, so the repeat is 0a 02 (1 << 1).
    const bytes = hex('09 05 01 0a 0b 01 01 0a 02');
    assert.equal(encodeAmf3([shared, shared]).toString('hex'), bytes.toString('hex'));
    const [decoded] = decodeAmf3(bytes) as [unknown[]];
    assert.deepEqual(decoded, [{}, {}]);
    assert.equal(decoded[0], decoded[1]);
  });

  it('encodes dates, XML, XMLDocument and ByteArray', () => {
    assertEncodes(new Date(0), '08 01 00 00 00 00 00 00 00 00');
    assertEncodes(new Date(1000), '08 01 40 8f 40 00 00 00 00 00');
    assertEncodes(new AmfXml('<a/>'), `0b 09 ${ascii('<a/>')}`);
    assertEncodes(new AmfXmlDocument('<a/>'), `07 09 ${ascii('<a/>')}`);
    assert.equal(encodeAmf3(new Uint8Array([1, 2, 3])).toString('hex'), '0c07010203');
    const [bytes] = decodeAmf3(hex('0c 07 01 02 03'));
    assert.ok(bytes instanceof Uint8Array);
    assert.deepEqual([...bytes], [1, 2, 3]);
  });

  it('encodes arrays with an associative part', () => {
    // Dense count 1 (03), then "name" = "y", end of associative part (01), then dense "x".
    assertEncodes(new AmfEcmaArray({ 0: 'x', name: 'y' }), `09 03 09 ${ascii('name')} 06 03 79 01 06 03 78`);
    // A sparse index stays associative: dense part is empty.
    assertEncodes(new AmfEcmaArray({ 5: true }), '09 01 03 35 03 01');
  });

  it('encodes vectors', () => {
    assertEncodes(new AmfVector('int', [1, -1]), '0d 05 00 00 00 00 01 ff ff ff ff');
    assertEncodes(new AmfVector('uint', [0xffffffff], true), '0e 03 01 ff ff ff ff');
    assertEncodes(new AmfVector('double', [0.5]), '0f 03 00 3f e0 00 00 00 00 00 00');
    assertEncodes(new AmfVector('object', ['a'], false, 'String'), `10 03 00 0d ${ascii('String')} 06 03 61`);
  });

  it('encodes dictionaries, including object keys', () => {
    assertEncodes(new AmfDictionary(new Map([['k', 1]])), `11 03 00 06 03 6b 04 01`);
    assertEncodes(new AmfDictionary(new Map(), true), '11 01 01');
    const key = { id: 1 };
    const [decoded] = decodeAmf3(encodeAmf3(new Map<unknown, unknown>([[key, 'v']]))) as [AmfDictionary];
    assert.ok(decoded instanceof AmfDictionary);
    const [[decodedKey, decodedValue]] = [...decoded.entries];
    assert.deepEqual(decodedKey, { id: 1 });
    assert.equal(decodedValue, 'v');
  });

  it('encodes an ArrayCollection as an externalizable object', () => {
    const className = 'flex.messaging.io.ArrayCollection';
    // 0x07 = externalizable traits inline; 0x43 = 33-byte class name; body = the source array.
    assertEncodes(new AmfExternalizable(className, [1]), `0a 07 43 ${ascii(className)} 09 03 01 04 01`);
  });
});

describe('AMF3 round trips', () => {
  it('round-trips a graph of every type', () => {
    const value = {
      undef: undefined,
      nil: null,
      yes: true,
      no: false,
      int: -12345,
      big: 2 ** 40,
      fraction: Math.PI,
      text: 'ünïcödé ✓',
      empty: '',
      date: new Date(1_700_000_000_123),
      list: [1, 'two', [3]],
      ecma: new AmfEcmaArray({ 0: 'zero', 1: 'one', label: 'x' }),
      typed: new AmfTypedObject('com.example.Point', { x: 1, y: 2 }, ['x', 'y']),
      typedDynamic: new AmfTypedObject('com.example.Bag', { id: 7, extra: 'e' }, ['id'], true),
      xml: new AmfXml('<r><c/></r>'),
      xmlDocument: new AmfXmlDocument('<doc/>'),
      bytes: Buffer.from([0, 255, 128]),
      ints: new AmfVector('int', [-2147483648, 0, 2147483647], true),
      uints: new AmfVector('uint', [0, 4294967295]),
      doubles: new AmfVector('double', [1.25, -Infinity]),
      objects: new AmfVector('object', [{ a: 1 }, null], false, 'Object'),
      dictionary: new AmfDictionary(new Map<unknown, unknown>([[1, 'one'], ['two', 2]]), true),
      collection: new AmfExternalizable('flex.messaging.io.ArrayCollection', ['a', 'b']),
      proxy: new AmfExternalizable('flex.messaging.io.ObjectProxy', { p: 1 }),
    };
    const encoded = encodeAmf3(value);
    const [decoded] = decodeAmf3(encoded);
    assert.deepEqual(decoded, value);
    assert.equal(encodeAmf3(decoded).toString('hex'), encoded.toString('hex'));
  });

  it('round-trips typed objects without explicit traits as all-sealed', () => {
    const value = new AmfTypedObject('T', { a: 1, b: 'x' });
    const [decoded] = decodeAmf3(encodeAmf3(value)) as [AmfTypedObject];
    assert.equal(decoded.className, 'T');
    assert.deepEqual(decoded.values, { a: 1, b: 'x' });
    assert.deepEqual(decoded.sealedMemberNames, ['a', 'b']);
    assert.equal(decoded.dynamic, false);
  });

  it('round-trips cycles through the object table', () => {
    const node: Record<string, unknown> = { name: 'root' };
    node.self = node;
    const list: unknown[] = [];
    list.push(list);
    const [decodedNode, decodedList] = decodeAmf3(encodeAmf3(node, list)) as [Record<string, unknown>, unknown[]];
    assert.equal(decodedNode.self, decodedNode);
    assert.equal(decodedNode.name, 'root');
    assert.equal(decodedList[0], decodedList);
  });

  it('shares reference tables across the values of one reader and writer', () => {
    const writer = new Amf3Writer();
    writer.writeValue('same').writeValue('same');
    assert.equal(writer.toBuffer().toString('hex'), `0609${ascii('same')}0600`);
    writer.resetReferences();
    writer.writeValue('same');
    assert.equal(writer.toBuffer().toString('hex'), `0609${ascii('same')}0600` + `0609${ascii('same')}`);
    const reader = new Amf3Reader(hex(`06 09 ${ascii('same')} 06 00`));
    assert.equal(reader.readValue(), 'same');
    assert.equal(reader.readValue(), 'same');
    assert.equal(reader.hasMore, false);
  });

  it('reads values one at a time from an offset', () => {
    const reader = new Amf3Reader(hex('ff 04 01 06 03 61'));
    reader.offset = 1;
    assert.equal(reader.readValue(), 1);
    assert.equal(reader.offset, 3);
    assert.deepEqual(reader.readAll(), ['a']);
  });

  it('keeps "__proto__" keys as data instead of changing the prototype', () => {
    const bytes = hex(`0a 0b 01 13 ${ascii('__proto__')} 0a 01 03 61 04 01 01 01`);
    const [decoded] = decodeAmf3(bytes) as [Record<string, unknown>];
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value, { a: 1 });
    assert.equal(({} as Record<string, unknown>).a, undefined);
  });

  it('returns ByteArray contents as a copy of the input', () => {
    const input = hex('0c 03 07');
    const [bytes] = decodeAmf3(input) as [Buffer];
    input[2] = 0;
    assert.equal(bytes[0], 7);
  });
});

describe('AMF3 externalizable classes', () => {
  const pointCodec: Amf3ExternalizableCodec = {
    read: (reader) => ({ x: reader.readInt32BE('x'), y: reader.readInt32BE('y') }),
    write: (writer, body) => {
      const point = body as { x: number; y: number };
      writer.output.writeInt32BE(point.x);
      writer.output.writeInt32BE(point.y);
    },
  };
  const externalizables = new Map([...DEFAULT_AMF3_EXTERNALIZABLES, ['com.example.Point', pointCodec]]);

  it('uses a caller-registered codec for reading and writing', () => {
    const value = [new AmfExternalizable('com.example.Point', { x: 1, y: -2 }), new AmfExternalizable('com.example.Point', { x: 3, y: 4 })];
    const bytes = new Amf3Writer({ externalizables }).writeValue(value).toBuffer();
    // The second point reuses the externalizable traits: header 0a 01.
    const name = ascii('com.example.Point');
    assert.equal(
      bytes.toString('hex'),
      `090501 0a07 23${name} 00000001 fffffffe 0a01 00000003 00000004`.replace(/\s+/g, ''),
    );
    assert.deepEqual(new Amf3Reader(bytes, { externalizables }).readValue(), value);
  });

  it('fails clearly on an externalizable class nobody registered', () => {
    const bytes = new Amf3Writer({ externalizables }).writeValue(new AmfExternalizable('com.example.Point', { x: 1, y: 2 })).toBuffer();
    assert.throws(() => decodeAmf3(bytes), (error: unknown) => {
      assert.ok(error instanceof AmfError);
      assert.match(error.message, /externalizable class "com\.example\.Point" has no registered reader/);
      assert.equal(error.offset, 1);
      return true;
    });
    assert.throws(() => encodeAmf3(new AmfExternalizable('com.example.Point', {})), AmfError);
  });

  it('rejects a reference into an externalizable object still being read', () => {
    // ArrayCollection whose body is a reference to object 0 (the collection itself).
    const name = 'flex.messaging.io.ArrayCollection';
    const bytes = hex(`0a 07 43 ${ascii(name)} 09 00`);
    assert.throws(() => decodeAmf3(bytes), /still being read/);
  });
});

describe('AMF3 encoding errors', () => {
  it('rejects values AMF3 cannot represent', () => {
    assert.throws(() => encodeAmf3(() => 1), AmfError);
    assert.throws(() => encodeAmf3(Symbol('s')), AmfError);
    assert.throws(() => encodeAmf3(10n), AmfError);
    assert.throws(() => encodeAmf3({ '': 1 }), /empty name/);
    assert.throws(() => encodeAmf3(new AmfVector('int', [2 ** 31])), /does not fit/);
    assert.throws(() => encodeAmf3(new AmfVector('uint', [-1])), /does not fit/);
    assert.throws(() => encodeAmf3(new AmfVector('double', ['x'])), /non-number/);
    assert.throws(() => encodeAmf3(new AmfTypedObject('S', { a: 1, extra: 2 }, ['a'])), /outside its sealed members/);
  });

  it('caps nesting depth when writing', () => {
    let deep: unknown[] = [];
    for (let index = 0; index < 300; index++) deep = [deep];
    assert.throws(() => encodeAmf3(deep), /nested deeper than 256/);
    assert.doesNotThrow(() => new Amf3Writer({ maxDepth: 1000 }).writeValue(deep));
  });
});
