import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { aacCodecString, parseAacAudioSpecificConfig } from '../../src/codec/aac.js';
import { MediaFormatError } from '../../src/codec/media-format-error.js';

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

describe('AAC AudioSpecificConfig', () => {
  it('reads AAC-LC configurations', () => {
    // 00010 (LC) 0100 (44.1 kHz) 0010 (stereo) 000
    assert.deepEqual(parseAacAudioSpecificConfig(hex('1210')), {
      audioObjectType: 2,
      sampleRate: 44100,
      channelConfiguration: 2,
      channels: 2,
      extensionSampleRate: undefined,
    });
    // 00010 0011 (48 kHz) 0001 (mono)
    assert.equal(parseAacAudioSpecificConfig(hex('1188')).sampleRate, 48000);
    assert.equal(parseAacAudioSpecificConfig(hex('1188')).channels, 1);
    assert.equal(aacCodecString(parseAacAudioSpecificConfig(hex('1210'))), 'mp4a.40.2');
  });

  it('reads an explicit 24-bit sampling frequency', () => {
    // 00010, 1111, 44100 as 24 bits, 0001, padding.
    const config = parseAacAudioSpecificConfig(hex('17 80 56 22 08'));
    assert.deepEqual([config.audioObjectType, config.sampleRate, config.channels], [2, 44100, 1]);
  });

  it('unwraps explicitly signalled HE-AAC (SBR)', () => {
    // 00101 (SBR) 0110 (24 kHz) 0010 (stereo) 0011 (48 kHz output) 00010 (LC core)
    const config = parseAacAudioSpecificConfig(hex('2b 11 88'));
    assert.deepEqual([config.audioObjectType, config.sampleRate, config.extensionSampleRate, config.channels], [2, 24000, 48000, 2]);
  });

  it('counts 8 channels for configuration 7', () => {
    // 00010 0100 0111 000
    assert.equal(parseAacAudioSpecificConfig(hex('1238')).channels, 8);
  });

  it('rejects truncated configurations and reserved frequency indexes', () => {
    assert.throws(() => parseAacAudioSpecificConfig(hex('')), MediaFormatError);
    assert.throws(() => parseAacAudioSpecificConfig(hex('12')), /cut inside its sampling frequency index/);
    assert.throws(() => parseAacAudioSpecificConfig(hex('17 80')), /cut inside its sampling frequency/);
    // 00010 1101 (reserved index 13)
    assert.throws(() => parseAacAudioSpecificConfig(hex('16 80')), /reserved AAC sampling frequency index 13/);
  });
});
