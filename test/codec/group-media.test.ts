// The NetGroup media messages against librtmfp's layouts (research file netgroup.md §5.2), with
// vectors written out byte by byte from that description, and round trips.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  ASK_CLOSE_MESSAGE,
  encodeFragmentsMap,
  encodeMediaFragment,
  encodePull,
  encodePushRequest,
  encodeStreamEnd,
  encodeStreamInfo,
  GroupMediaMessage,
  isAskClose,
  mapFirst,
  mapHas,
  MAX_FRAGMENT_PAYLOAD,
  parseFragmentsMap,
  parseMediaFragment,
  parsePull,
  parsePushRequest,
  parseStreamInfo,
  splitMediaMessage,
} from '../../src/codec/group-media.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test("21 announce: name option, 21 01 + key, 01 02, [01 06], window, 04 04 92 A7 60, update period, fetch period", () => {
  const key = Buffer.alloc(32, 0xab);
  const message = encodeStreamInfo({ name: 'cam', streamKey: key, windowMs: 8000, availabilityUpdateMs: 100, fetchPeriodMs: 2500, sendToAll: false });
  // 8000 = VLU BE 40, 100 = 64, 2500 = 93 44
  const expected = Buffer.concat([hex('21 04 00 63 61 6d 21 01'), key, hex('01 02  03 03 be 40  04 04 92 a7 60  02 05 64  03 07 93 44')]);
  assert.deepEqual(message, expected);
  assert.deepEqual(parseStreamInfo(message), { kind: 'announce', name: 'cam', streamKey: key, windowMs: 8000, availabilityUpdateMs: 100, fetchPeriodMs: 2500, sendToAll: false });
  const toAll = encodeStreamInfo({ name: 'cam', streamKey: key, windowMs: 4000, availabilityUpdateMs: 50, fetchPeriodMs: 1000, sendToAll: true });
  assert.deepEqual(toAll.subarray(6 + 34, 6 + 34 + 4), hex('01 02 01 06'));
  assert.deepEqual(parseStreamInfo(toAll), { kind: 'announce', name: 'cam', streamKey: key, windowMs: 4000, availabilityUpdateMs: 50, fetchPeriodMs: 1000, sendToAll: true });
});

test('21 short form closes the stream: the ID after its last fragment (as librtmfp numbers it); malformed announces are refused', () => {
  assert.deepEqual(encodeStreamEnd(300), hex('21 82 2c'));
  assert.deepEqual(parseStreamInfo(hex('21 82 2c')), { kind: 'end', endId: 300 });
  const good = encodeStreamInfo({ name: 'x', streamKey: randomBytes(32), windowMs: 8000, availabilityUpdateMs: 100, fetchPeriodMs: 2500, sendToAll: false });
  const key = parseStreamInfo(good)?.kind === 'announce' ? (parseStreamInfo(good) as { streamKey: Buffer }).streamKey : undefined;
  for (let n = 0; n < good.length; n++) {
    const parsed = parseStreamInfo(good.subarray(0, n));
    // Cut inside the name or key: nothing. Cut between later options: an announce with defaults.
    if (n < 1 + 3 + 34) assert.ok(parsed === undefined || parsed.kind === 'end', `first ${n} bytes are no announce`);
    else assert.ok(parsed === undefined || (parsed.kind === 'announce' && parsed.streamKey.equals(key!)), `first ${n} bytes`);
  }
  const shortKey = Buffer.from(good);
  shortKey[4] = 0x20; // key option one byte short: the list no longer parses into a 32-byte key
  assert.equal(parseStreamInfo(shortKey), undefined);
  assert.equal(parseStreamInfo(hex('22 01')), undefined);
});

test('22 map: last ID, then bit r of byte k for fragment last-1-8k-r', () => {
  const held = new Set([1, 2, 3, 5, 8, 9, 10, 12]);
  const message = encodeFragmentsMap(12, 1, (id) => held.has(id));
  // 11 down to 4: 11 no, 10 yes, 9 yes, 8 yes, 7 no, 6 no, 5 yes, 4 no -> bits 1,2,3,6 = 0x4e; 3..1: 3,2,1 yes -> 0x07
  assert.deepEqual(message, hex('22 0c 4e 07'));
  const map = parseFragmentsMap(message)!;
  assert.deepEqual(map, { last: 12, bitmap: hex('4e 07') });
  for (let id = 0; id <= 14; id++) assert.equal(mapHas(map, id), held.has(id), `fragment ${id}`);
  assert.equal(mapFirst(map), 1);
  // A publisher with 1..20 all held: FF FF and three bits (librtmfp's publisher map).
  assert.deepEqual(encodeFragmentsMap(20, 1, () => true), hex('22 14 ff ff 07'));
  assert.deepEqual(encodeFragmentsMap(1, 1, () => true), hex('22 01'));
  assert.deepEqual(parseFragmentsMap(hex('22 01')), { last: 1, bitmap: Buffer.alloc(0) });
  assert.equal(parseFragmentsMap(hex('22 81')), undefined, 'truncated VLU');
  assert.equal(parseFragmentsMap(Buffer.concat([hex('22 01'), Buffer.alloc(5000)])), undefined, 'longer than any window');
});

test('22 map: fragments said held below heldBelow are not looked up, and the map is the same', () => {
  for (let trial = 0; trial < 300; trial++) {
    const first = 1 + Math.floor(Math.random() * 50);
    const last = first + Math.floor(Math.random() * 100);
    const heldBelow = first + Math.floor(Math.random() * (last - first + 2));
    const held = (id: number) => id < heldBelow || Math.random() < 0.7;
    const holds = new Set<number>();
    for (let id = first; id <= last; id++) if (held(id)) holds.add(id);
    const asked: number[] = [];
    const fast = encodeFragmentsMap(last, first, (id) => (asked.push(id), holds.has(id)), heldBelow);
    assert.deepEqual(fast, encodeFragmentsMap(last, first, (id) => holds.has(id)), `[${first}, ${last}] held below ${heldBelow}`);
    assert.ok(asked.every((id) => id >= heldBelow), 'asked only about fragments from heldBelow on');
  }
  // A member holding 1..20: FF FF and three bits, nothing asked.
  assert.deepEqual(encodeFragmentsMap(20, 1, () => assert.fail('asked'), 21), hex('22 14 ff ff 07'));
});

test('a fragment parses with its payload as a view into the message (no copy)', () => {
  const wire = encodeMediaFragment({ id: 7, marker: GroupMediaMessage.MEDIA_DATA, remaining: 0, type: 9, time: 40, payload: Buffer.from('abc') });
  const f = parseMediaFragment(wire)!;
  assert.deepEqual(f.payload, Buffer.from('abc'));
  assert.equal(f.payload.buffer, wire.buffer);
});

test('23 push mask, 2B pull, 0C ask-close', () => {
  assert.deepEqual(encodePushRequest(0b1010_0001), hex('23 a1'));
  assert.equal(parsePushRequest(hex('23 a1')), 0xa1);
  assert.equal(parsePushRequest(hex('23')), undefined);
  assert.equal(parsePushRequest(hex('23 01 02')), undefined);
  assert.deepEqual(encodePull(200), hex('2b 81 48'));
  assert.equal(parsePull(hex('2b 81 48')), 200);
  assert.equal(parsePull(hex('2b 81')), undefined);
  assert.equal(parsePull(hex('2b 00')), undefined, 'fragments count from 1');
  assert.deepEqual(ASK_CLOSE_MESSAGE, hex('0c'));
  assert.ok(isAskClose(hex('0c')) && !isAskClose(hex('0c 00')));
});

test('20 whole message: VLU ID, type, u32 time, payload', () => {
  const [f] = splitMediaMessage(130, 9, 0x01020304, hex('17 01 aa'));
  const bytes = encodeMediaFragment(f!);
  assert.deepEqual(bytes, hex('20 81 02 09 01 02 03 04 17 01 aa'));
  assert.deepEqual(parseMediaFragment(bytes), { id: 130, marker: 0x20, remaining: 0, type: 9, time: 0x01020304, payload: hex('17 01 aa') });
});

test('30/10/00: a message over 959 bytes cut into 959-byte pieces, the split counter counting down', () => {
  const payload = randomBytes(MAX_FRAGMENT_PAYLOAD * 2 + 10);
  const pieces = splitMediaMessage(7, 8, 1000, payload);
  assert.deepEqual(pieces.map((p) => [p.id, p.marker, p.remaining, p.payload.length]), [
    [7, 0x30, 2, 959],
    [8, 0x10, 1, 959],
    [9, 0x00, 0, 10],
  ]);
  const wire = pieces.map(encodeMediaFragment);
  assert.deepEqual(wire[0]!.subarray(0, 8), hex('30 07 02 08 00 00 03 e8'));
  assert.deepEqual(wire[1]!.subarray(0, 3), hex('10 08 01'));
  assert.deepEqual(wire[2]!.subarray(0, 2), hex('00 09'));
  assert.ok(wire.every((w) => w.length <= MAX_FRAGMENT_PAYLOAD + 8));
  const back = wire.map((w) => parseMediaFragment(w)!);
  assert.deepEqual(Buffer.concat(back.map((b) => b.payload)), payload);
  assert.deepEqual(back.map((b) => [b.id, b.marker, b.remaining]), [[7, 0x30, 2], [8, 0x10, 1], [9, 0x00, 0]]);
  assert.equal(back[0]!.type, 8);
  assert.equal(back[0]!.time, 1000);
  // Exactly 959 bytes is one whole message; 960 is two pieces.
  assert.equal(splitMediaMessage(1, 9, 0, Buffer.alloc(959)).length, 1);
  assert.deepEqual(splitMediaMessage(1, 9, 0, Buffer.alloc(960)).map((p) => p.marker), [0x30, 0x00]);
  assert.throws(() => splitMediaMessage(1, 9, 0, Buffer.alloc(959 * 256 + 1)), /too large/);
});

test('malformed media fragments are refused, never thrown', () => {
  const good = encodeMediaFragment(splitMediaMessage(5, 9, 10, randomBytes(2000))[0]!);
  for (let n = 0; n < 8; n++) assert.equal(parseMediaFragment(good.subarray(0, n)), undefined, `first ${n} bytes`);
  assert.equal(parseMediaFragment(hex('10 05 00 aa')), undefined, 'a middle piece with nothing to come');
  assert.equal(parseMediaFragment(hex('20 00 09 00 00 00 00')), undefined, 'fragment 0');
  assert.equal(parseMediaFragment(hex('40 01')), undefined);
});
