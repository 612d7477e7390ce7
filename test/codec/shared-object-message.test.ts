// The shared-object message (types 19 and 16): byte vectors built from the documented layouts
// (research file lua-and-shared-objects.md §B1.2-B1.4: Red5/crtmpserver field widths, the
// worked "chat" example, the status reply recorded in HaishinKit issue #21), round trips in
// both containers, tolerant flags, and refusals of truncated or absurd input.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  decodeSharedObjectMessage,
  encodeSharedObjectMessage,
  SharedObjectEventType as E,
  type SharedObjectMessage,
} from '../../src/codec/shared-object-message.js';
import { MalformedMessageError } from '../../src/codec/flash-command.js';
import { AmfEcmaArray, AmfTypedObject, AmfVector } from '../../src/codec/amf-types.js';

const hex = (text: string) => Buffer.from(text.replace(/\s+|\|/g, ''), 'hex');
const CHAT_HEADER = '00 04 63 68 61 74 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00';

describe('shared object message byte vectors', () => {
  it('Use of the transient object "chat" (worked example §B1.4)', () => {
    const bytes = hex(`${CHAT_HEADER} | 01 00 00 00 00`);
    const message: SharedObjectMessage = { name: 'chat', version: 0, persistent: false, events: [{ type: E.Use }] };
    assert.deepEqual(encodeSharedObjectMessage(0, message), { type: 19, payload: bytes });
    assert.deepEqual(decodeSharedObjectMessage(19, bytes), { ...message, flags: 0 });
  });

  it('Request Change x = 1 (length 12), Success with the key only, Change with key and value', () => {
    const change = '00 00 00 0C | 00 01 78 | 00 3F F0 00 00 00 00 00 00';
    const request = hex(`${CHAT_HEADER} | 03 ${change}`);
    assert.deepEqual(decodeSharedObjectMessage(19, request).events, [{ type: E.RequestChange, key: 'x', value: 1 }]);
    assert.deepEqual(encodeSharedObjectMessage(0, { name: 'chat', version: 0, persistent: false, events: [{ type: E.RequestChange, key: 'x', value: 1 }] }).payload, request);
    const success = hex(`${CHAT_HEADER} | 05 00 00 00 03 00 01 78`);
    assert.deepEqual(encodeSharedObjectMessage(0, { name: 'chat', version: 0, persistent: false, events: [{ type: E.Success, key: 'x' }] }).payload, success);
    const other = hex(`${CHAT_HEADER} | 04 ${change}`);
    assert.deepEqual(decodeSharedObjectMessage(19, other).events, [{ type: E.Change, key: 'x', value: 1 }]);
  });

  it('the NoObjectFound status reply of HaishinKit #21: empty name, 54 bytes, code then level', () => {
    const code = Buffer.from('SharedObject.NoObjectFound').toString('hex');
    const level = Buffer.from('error').toString('hex');
    const bytes = hex(`00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 07 00 00 00 23 | 00 1a ${code} | 00 05 ${level}`);
    assert.equal(bytes.length, 54);
    const message = decodeSharedObjectMessage(19, bytes);
    assert.deepEqual(message.events, [{ type: E.Status, code: 'SharedObject.NoObjectFound', level: 'error' }]);
    assert.deepEqual(encodeSharedObjectMessage(0, { name: '', version: 0, persistent: false, events: [{ type: E.Status, code: 'SharedObject.NoObjectFound', level: 'error' }] }).payload, bytes);
  });

  it('type 16: a leading 0x00, values behind 0x11 in AMF3; the version and persistent flag in the header', () => {
    const payload = encodeSharedObjectMessage(3, { name: 'so', version: 7, persistent: true, events: [{ type: E.Change, key: 'n', value: 5 }] });
    assert.equal(payload.type, 16);
    // 00 | 00 02 "so" | version 7 | flags 2 | reserved | Change, 6 bytes: 00 01 "n" 11 04 05 (AMF3 integer 5)
    assert.deepEqual(payload.payload, hex('00 | 00 02 73 6f | 00 00 00 07 | 00 00 00 02 | 00 00 00 00 | 04 00 00 00 06 | 00 01 6e 11 04 05'));
    assert.deepEqual(decodeSharedObjectMessage(16, payload.payload), { name: 'so', version: 7, persistent: true, flags: 2, events: [{ type: E.Change, key: 'n', value: 5 }] });
  });
});

describe('shared object message decoding is tolerant where peers differ', () => {
  it('persistent = flags & 2: the 16, 48 and 32 seen on an unnamed server read as transient, 2|16 as persistent', () => {
    for (const [flags, persistent] of [[0, false], [2, true], [16, false], [48, false], [32, false], [18, true]] as const) {
      const bytes = hex(`00 01 61 | 00 00 00 01 | ${flags.toString(16).padStart(8, '0')} | 00 00 00 00`);
      const m = decodeSharedObjectMessage(19, bytes);
      assert.equal(m.persistent, persistent, `flags ${flags}`);
      assert.equal(m.flags, flags);
      assert.deepEqual(m.events, []);
    }
  });

  it('type 16 accepts the format byte 3 (as Red5) and refuses anything else', () => {
    const body = hex(`00 01 61 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 01 00 00 00 00`);
    assert.equal(decodeSharedObjectMessage(16, Buffer.concat([Buffer.of(3), body])).name, 'a');
    assert.throws(() => decodeSharedObjectMessage(16, Buffer.concat([Buffer.of(1), body])), MalformedMessageError);
  });

  it('a Request Change carrying several pairs yields one event per pair (Red5 and crtmpserver loop)', () => {
    const bytes = hex(`${CHAT_HEADER} | 03 00 00 00 0c | 00 01 61 01 01 | 00 01 62 02 00 01 7a`);
    assert.deepEqual(decodeSharedObjectMessage(19, bytes).events, [
      { type: E.RequestChange, key: 'a', value: true },
      { type: E.RequestChange, key: 'b', value: 'z' },
    ]);
  });

  it('unknown event types are kept raw, and the events around them still decode', () => {
    const bytes = hex(`${CHAT_HEADER} | 0e 00 00 00 02 ab cd | 0a 00 00 00 03 00 01 78`);
    assert.deepEqual(decodeSharedObjectMessage(19, bytes).events, [
      { type: 14, unknown: true, data: Buffer.of(0xab, 0xcd) },
      { type: E.RequestRemove, key: 'x' },
    ]);
  });

  it('an AMF0 value inside type 16 (no 0x11) is read as AMF0', () => {
    const bytes = hex(`00 | ${CHAT_HEADER} | 03 00 00 00 0c | 00 01 78 | 00 3F F0 00 00 00 00 00 00`);
    assert.deepEqual(decodeSharedObjectMessage(16, bytes).events, [{ type: E.RequestChange, key: 'x', value: 1 }]);
  });
});

describe('shared object message round trips', () => {
  // AMF3 keeps a typed object's sealed member names; AMF0 has no such thing.
  const valuesFor = (encoding: 0 | 3): unknown[] => [
    0, -1.5, 2 ** 40, 'text', 'é'.repeat(40_000), true, null, undefined, new Date(1_700_000_000_000),
    [1, 'two', [3]], { nested: { deep: [true] } }, new AmfEcmaArray({ a: 1 }), new AmfTypedObject('flex.Point', { x: 1, y: 2 }, encoding === 3 ? ['x', 'y'] : undefined),
    new AmfVector('int', [1, -2, 3]), Buffer.from('bytes'),
  ];
  for (const encoding of [0, 3] as const) {
    it(`every event type, AMF${encoding}`, () => {
      const values = valuesFor(encoding);
      const message: SharedObjectMessage = {
        name: 'room/1 é',
        version: 0xfffffffe,
        persistent: true,
        flags: 2,
        events: [
          { type: E.Use },
          { type: E.Release },
          ...values.map((value, i) => ({ type: E.RequestChange, key: `k${i}`, value }) as const),
          { type: E.Change, key: '', value: 'empty key' },
          { type: E.Success, key: 'k1' },
          { type: E.SendMessage, handler: 'onChat', args: values },
          { type: E.SendMessage, handler: 'noArgs', args: [] },
          { type: E.Status, code: 'SharedObject.NoWriteAccess', level: 'error' },
          { type: E.Clear },
          { type: E.Remove, key: 'k2' },
          { type: E.RequestRemove, key: 'k3' },
          { type: E.UseSuccess },
          { type: 99, unknown: true, data: Buffer.of(1, 2, 3) },
        ],
      };
      const { type, payload } = encodeSharedObjectMessage(encoding, message);
      assert.equal(type, encoding === 3 ? 16 : 19);
      const decoded = decodeSharedObjectMessage(type, payload);
      // Buffers come back as Buffers (AMF3 ByteArray) either way.
      assert.deepEqual(decoded, message);
    });
  }
});

describe('shared object message refusals', () => {
  const good = encodeSharedObjectMessage(0, { name: 'chat', version: 3, persistent: false, events: [{ type: E.RequestChange, key: 'x', value: 'hello' }, { type: E.Use }] }).payload;

  it('every truncation of a valid message is refused with MalformedMessageError, none crashes', () => {
    // Cutting at an event boundary leaves a valid shorter message; every other cut must be refused.
    const boundaries = new Set([18, good.length - 5, good.length]);
    for (let cut = 0; cut < good.length; cut++) {
      if (boundaries.has(cut)) {
        assert.doesNotThrow(() => decodeSharedObjectMessage(19, good.subarray(0, cut)));
        continue;
      }
      assert.throws(() => decodeSharedObjectMessage(19, good.subarray(0, cut)), MalformedMessageError, `cut at ${cut}`);
    }
  });

  it('absurd lengths: a name or event longer than the body', () => {
    assert.throws(() => decodeSharedObjectMessage(19, hex('ff ff 61')), /truncated/);
    assert.throws(() => decodeSharedObjectMessage(19, hex(`${CHAT_HEADER} | 03 7f ff ff ff 00 01 78`)), /claims 2147483647 bytes/);
  });

  it('a value that is not AMF, and a send whose handler is not a string', () => {
    assert.throws(() => decodeSharedObjectMessage(19, hex(`${CHAT_HEADER} | 03 00 00 00 04 00 01 78 fe`)), /unknown AMF0 type marker/);
    assert.throws(() => decodeSharedObjectMessage(19, hex(`${CHAT_HEADER} | 06 00 00 00 09 00 3F F0 00 00 00 00 00 00`)), /handler name is not a string/);
    assert.throws(() => decodeSharedObjectMessage(20, hex(CHAT_HEADER)), /not a shared object message/);
  });

  it('nesting deeper than 64 levels is refused, not recursed into', () => {
    let value: unknown = 1;
    for (let i = 0; i < 100; i++) value = [value];
    const deep = Buffer.concat([hex(CHAT_HEADER), Buffer.of(3), Buffer.alloc(4), hex('00 01 78'), Buffer.alloc(0)]);
    // Build the event by hand: the encoder has its own (higher) limit.
    const body = Buffer.concat([hex('00 01 78'), Buffer.from('0a00000001'.repeat(100), 'hex'), hex('00 3F F0 00 00 00 00 00 00')]);
    deep.writeUInt32BE(body.length, hex(CHAT_HEADER).length + 1);
    assert.throws(() => decodeSharedObjectMessage(19, Buffer.concat([deep.subarray(0, hex(CHAT_HEADER).length + 5), body])), /deeper than 64/);
  });
});
