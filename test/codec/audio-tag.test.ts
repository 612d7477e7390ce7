import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { isAudioSequenceHeader, parseAudioTag, type AudioTagInfo } from '../../src/codec/audio-tag.js';
import { MediaFormatError } from '../../src/codec/media-format-error.js';

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function fourCc(text: string): string {
  return Buffer.from(text, 'latin1').toString('hex');
}

function parse(bytes: Buffer): AudioTagInfo {
  const info = parseAudioTag(bytes);
  assert.equal(isAudioSequenceHeader(bytes), info.isSequenceHeader, 'isAudioSequenceHeader agrees');
  return info;
}

function pick(info: AudioTagInfo, ...keys: (keyof AudioTagInfo)[]): Partial<AudioTagInfo> {
  return Object.fromEntries(keys.map((key) => [key, info[key]]));
}

describe('legacy audio tags', () => {
  it('recognises the AAC sequence header and raw frames', () => {
    // 0xaf = AAC (10), 44 kHz, 16-bit, stereo; then AACPacketType 0 and an AudioSpecificConfig.
    const header = parse(hex('af 00 1210'));
    assert.deepEqual(
      pick(header, 'soundFormat', 'codec', 'kind', 'packetType', 'isSequenceHeader', 'payloadOffset', 'declaredSampleRate', 'declaredSampleBits', 'declaredChannels'),
      {
        soundFormat: 10,
        codec: 'aac',
        kind: 'sequence-start',
        packetType: 0,
        isSequenceHeader: true,
        payloadOffset: 2,
        declaredSampleRate: 44100,
        declaredSampleBits: 16,
        declaredChannels: 2,
      },
    );
    assert.deepEqual(pick(parse(hex('af 01 2100')), 'kind', 'isSequenceHeader', 'packetType'), {
      kind: 'coded-frames',
      isSequenceHeader: false,
      packetType: 1,
    });
  });

  it('reads the header fields of other codecs, which have no sequence header', () => {
    // 0x2e = MP3, 44 kHz, 16-bit, mono. 0x72 = G.711 A-law, 5.5 kHz, 16-bit, mono.
    assert.deepEqual(pick(parse(hex('2e fffb')), 'codec', 'isSequenceHeader', 'payloadOffset', 'declaredChannels'), {
      codec: 'mp3',
      isSequenceHeader: false,
      payloadOffset: 1,
      declaredChannels: 1,
    });
    assert.deepEqual(pick(parse(hex('72 00')), 'codec', 'declaredSampleRate'), { codec: 'alaw', declaredSampleRate: 5512 });
    assert.equal(parse(hex('b2 00')).codec, 'speex');
  });
});

describe('Enhanced RTMP audio tags', () => {
  it('recognises sequence start and coded frames by FourCC', () => {
    // 0x90 = ExHeader (9) << 4 | SequenceStart.
    const opusHead = parse(hex(`90 ${fourCc('Opus')} ${fourCc('OpusHead')}`));
    assert.deepEqual(pick(opusHead, 'enhanced', 'fourCc', 'codec', 'isSequenceHeader', 'payloadOffset'), {
      enhanced: true,
      fourCc: 'Opus',
      codec: 'opus',
      isSequenceHeader: true,
      payloadOffset: 5,
    });
    assert.deepEqual(pick(parse(hex(`91 ${fourCc('mp4a')} 21`)), 'codec', 'kind', 'isSequenceHeader'), {
      codec: 'aac',
      kind: 'coded-frames',
      isSequenceHeader: false,
    });
    assert.equal(parse(hex(`92 ${fourCc('fLaC')}`)).kind, 'sequence-end');
    assert.equal(parse(hex(`94 ${fourCc('ac-3')} 00 02`)).kind, 'multichannel-config');
  });

  it('skips ModEx prefixes and reads multitrack packets', () => {
    assert.deepEqual(pick(parse(hex(`97 00 aa 00 ${fourCc('mp4a')} 1190`)), 'isSequenceHeader', 'payloadOffset'), {
      isSequenceHeader: true,
      payloadOffset: 8,
    });
    // 0x95 = Multitrack; 0x00 = OneTrack, SequenceStart; FourCC; track 3.
    assert.deepEqual(pick(parse(hex(`95 00 ${fourCc('mp4a')} 03 1190`)), 'multitrack', 'trackId', 'isSequenceHeader', 'payloadOffset'), {
      multitrack: true,
      trackId: 3,
      isSequenceHeader: true,
      payloadOffset: 7,
    });
    // 0x21 = ManyTracksManyCodecs, CodedFrames: FourCC per track, then id and size.
    assert.deepEqual(pick(parse(hex(`95 21 ${fourCc('Opus')} 01 000001 aa`)), 'codec', 'trackId', 'isSequenceHeader', 'payloadOffset'), {
      codec: 'opus',
      trackId: 1,
      isSequenceHeader: false,
      payloadOffset: 10,
    });
  });
});

describe('malformed audio tags', () => {
  it('throw MediaFormatError, and the predicate says false', () => {
    for (const bytes of [hex(''), hex('af'), hex('af 05'), hex('90 4f70'), hex('97'), hex('95'), hex('95 00 6d703461'), hex('9f 6d703461')]) {
      assert.throws(() => parseAudioTag(bytes), MediaFormatError, bytes.toString('hex'));
      assert.equal(isAudioSequenceHeader(bytes), false, bytes.toString('hex'));
    }
    assert.throws(() => parseAudioTag(hex('af')), /too short for its AACPacketType/);
  });
});

describe('audio tag fuzzing', () => {
  it('throws only MediaFormatError for random bodies', () => {
    let state = 11;
    const next = (): number => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24;
    for (let round = 0; round < 20_000; round++) {
      const bytes = Buffer.alloc(next() % 24);
      for (let index = 0; index < bytes.length; index++) bytes[index] = next();
      try {
        parseAudioTag(bytes);
      } catch (error) {
        if (!(error instanceof MediaFormatError)) assert.fail(`${String(error)} for ${bytes.toString('hex')}`);
      }
      isAudioSequenceHeader(bytes);
    }
  });
});
