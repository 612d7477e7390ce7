// onMetaData rewritten for a live recording: the source's duration and filesize dropped, or
// turned into placeholders whose offsets a recorder overwrites in place at the end.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { metadataForRecording } from '../../src/codec/recording-metadata.js';
import { encodeAmf0, decodeAmf0 } from '../../src/codec/amf0.js';
import { AmfEcmaArray } from '../../src/codec/amf-types.js';

const source = encodeAmf0('onMetaData', new AmfEcmaArray({ duration: 20.08, width: 320, filesize: 1234567, encoder: 'x duration y', height: 240 }));

/** Writes `value` as the double at `offset` and decodes the result. */
function patched(payload: Buffer, offsets: Record<string, number>): Record<string, unknown> {
  const copy = Buffer.from(payload);
  for (const [value, at] of Object.entries(offsets)) copy.writeDoubleBE(Number(value), at);
  return (decodeAmf0(copy)[1] as AmfEcmaArray).values;
}

test('placeholders: duration and filesize are 0, last, at the offsets given; the rest as it was, still an ECMA array', () => {
  const m = metadataForRecording(source, true)!;
  const [name, array] = decodeAmf0(m.payload) as [string, AmfEcmaArray];
  assert.equal(name, 'onMetaData');
  assert.ok(array instanceof AmfEcmaArray);
  assert.deepEqual(Object.entries(array.values), [['width', 320], ['encoder', 'x duration y'], ['height', 240], ['filesize', 0], ['duration', 0]]);
  assert.deepEqual(patched(m.payload, { 3.25: m.durationOffset!, 54321: m.filesizeOffset! }), { width: 320, encoder: 'x duration y', height: 240, filesize: 54321, duration: 3.25 });
});

test('placeholders: a duration is added when the source had none, a filesize is not', () => {
  const m = metadataForRecording(encodeAmf0('onMetaData', { width: 640 }), true)!;
  assert.equal(m.filesizeOffset, undefined);
  const copy = Buffer.from(m.payload);
  copy.writeDoubleBE(7.5, m.durationOffset!);
  assert.deepEqual(decodeAmf0(copy), ['onMetaData', { width: 640, duration: 7.5 }]);
});

test('without placeholders (a pipe): duration and filesize are removed', () => {
  const m = metadataForRecording(source, false)!;
  assert.equal(m.durationOffset, undefined);
  assert.deepEqual((decodeAmf0(m.payload)[1] as AmfEcmaArray).values, { width: 320, encoder: 'x duration y', height: 240 });
});

test('anything else is left alone: other data, unreadable bytes, onMetaData without properties', () => {
  assert.equal(metadataForRecording(encodeAmf0('onCuePoint', { duration: 1 }), true), undefined);
  assert.equal(metadataForRecording(Buffer.from([2, 0, 10, 0x6f]), true), undefined);
  assert.equal(metadataForRecording(encodeAmf0('onMetaData', 5), true), undefined);
});
