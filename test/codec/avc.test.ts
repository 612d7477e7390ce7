import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { avcCodecString, parseAvcDecoderConfiguration } from '../../src/codec/avc.js';
import { MediaFormatError } from '../../src/codec/media-format-error.js';

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

describe('AVCDecoderConfigurationRecord', () => {
  // Version 1, High profile (0x64), compatibility 0, level 3.0 (0x1e), 4-byte NAL lengths (0xff),
  // one SPS (0xe1) of 4 bytes, one PPS of 2 bytes.
  const record = hex('01 64 00 1e ff e1 0004 6764001e 01 0002 68ee');

  it('reads profile, level, NAL length size and parameter sets', () => {
    const configuration = parseAvcDecoderConfiguration(record);
    assert.deepEqual(
      { ...configuration, sequenceParameterSets: configuration.sequenceParameterSets.map((set) => set.toString('hex')), pictureParameterSets: configuration.pictureParameterSets.map((set) => set.toString('hex')) },
      {
        configurationVersion: 1,
        profile: 100,
        profileCompatibility: 0,
        level: 30,
        nalUnitLengthSize: 4,
        sequenceParameterSets: ['6764001e'],
        pictureParameterSets: ['68ee'],
      },
    );
    assert.equal(avcCodecString(configuration), 'avc1.64001e');
  });

  it('copies the parameter sets out of the input', () => {
    const input = Buffer.from(record);
    const configuration = parseAvcDecoderConfiguration(input);
    input.fill(0);
    assert.equal(configuration.sequenceParameterSets[0]!.toString('hex'), '6764001e');
  });

  it('rejects truncated or unknown records', () => {
    for (let length = 0; length < record.length; length++) {
      assert.throws(() => parseAvcDecoderConfiguration(record.subarray(0, length)), MediaFormatError, `length ${length}`);
    }
    assert.throws(() => parseAvcDecoderConfiguration(hex('02 64 00 1e ff e1 0000 00')), /configurationVersion 2/);
  });
});
