import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ByteReader, VluError, encodeOption, encodeVlu, readOptionList } from '../../src/codec/vlu.js';

test('VLU known answers (RFC 7016 §2.1.2)', () => {
  const cases: Array<[number, string]> = [
    [0, '00'], [1, '01'], [127, '7f'], [128, '8100'], [16383, 'ff7f'], [16384, '818000'],
    [0x0fffffff, 'ffffff7f'], [2 ** 32, '9080808000'],
  ];
  for (const [value, hex] of cases) {
    assert.equal(encodeVlu(value).toString('hex'), hex, `encode ${value}`);
    assert.equal(new ByteReader(Buffer.from(hex, 'hex')).vlu(), value, `decode ${hex}`);
  }
});

test('VLU round trip over a range of magnitudes', () => {
  for (let v = 1; v < Number.MAX_SAFE_INTEGER / 3; v = v * 3 + 1) {
    assert.equal(new ByteReader(encodeVlu(v)).vlu(), v);
  }
});

test('truncated and overlong VLUs are refused', () => {
  assert.throws(() => new ByteReader(Buffer.from('8080', 'hex')).vlu(), VluError);
  assert.throws(() => new ByteReader(Buffer.alloc(9, 0xff)).vlu(), VluError);
  assert.throws(() => new ByteReader(Buffer.alloc(0)).vlu(), VluError);
});

test('option lists stop at the marker and reject overruns', () => {
  const list = Buffer.concat([encodeOption(0x0a, Buffer.from('rtmfp://x/app')), encodeOption(0x1d, Buffer.from([2, 1, 2])), Buffer.from([0]), Buffer.from('tail')]);
  const r = new ByteReader(list);
  const options = readOptionList(r);
  assert.deepEqual(options.map((o) => o.type), [0x0a, 0x1d]);
  assert.equal(options[0]!.value.toString(), 'rtmfp://x/app');
  assert.equal(r.rest().toString(), 'tail');
  assert.throws(() => readOptionList(new ByteReader(Buffer.from('0a0a41', 'hex'))), VluError);
});
