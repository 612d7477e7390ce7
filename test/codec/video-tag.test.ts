import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  isVideoKeyframe,
  isVideoSequenceHeader,
  needsSequenceHeader,
  parseVideoTag,
  type VideoTagInfo,
} from '../../src/codec/video-tag.js';
import { MediaFormatError } from '../../src/codec/media-format-error.js';

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function fourCc(text: string): string {
  return Buffer.from(text, 'latin1').toString('hex');
}

/** Parses `bytes`, checks the quick predicates agree, and returns the fields under test. */
function parse(bytes: Buffer): VideoTagInfo {
  const info = parseVideoTag(bytes);
  assert.equal(isVideoSequenceHeader(bytes), info.isSequenceHeader, 'isVideoSequenceHeader agrees');
  assert.equal(isVideoKeyframe(bytes), info.isKeyframe, 'isVideoKeyframe agrees');
  return info;
}

function pick(info: VideoTagInfo, ...keys: (keyof VideoTagInfo)[]): Partial<VideoTagInfo> {
  return Object.fromEntries(keys.map((key) => [key, info[key]]));
}

describe('legacy video tags', () => {
  it('recognises an AVC sequence header', () => {
    const info = parse(hex('17 00 000000 01640028ffe1'));
    assert.deepEqual(pick(info, 'frameType', 'codecId', 'codec', 'kind', 'packetType', 'isSequenceHeader', 'isKeyframe', 'payloadOffset', 'enhanced'), {
      frameType: 1,
      codecId: 7,
      codec: 'avc',
      kind: 'sequence-start',
      packetType: 0,
      isSequenceHeader: true,
      isKeyframe: false,
      payloadOffset: 5,
      enhanced: false,
    });
  });

  it('recognises AVC keyframes and inter frames with signed composition times', () => {
    assert.deepEqual(pick(parse(hex('17 01 000050 00000001')), 'isKeyframe', 'compositionTime', 'kind'), {
      isKeyframe: true,
      compositionTime: 80,
      kind: 'coded-frames',
    });
    assert.deepEqual(pick(parse(hex('27 01 fffff6 00')), 'frameType', 'isKeyframe', 'compositionTime'), {
      frameType: 2,
      isKeyframe: false,
      compositionTime: -10,
    });
  });

  it('recognises the AVC end of sequence and command frames', () => {
    assert.equal(parse(hex('17 02 000000')).kind, 'sequence-end');
    const command = parse(hex('57 00'));
    assert.deepEqual(pick(command, 'kind', 'isKeyframe', 'isSequenceHeader'), { kind: 'command', isKeyframe: false, isSequenceHeader: false });
  });

  it('reads codec id 12 as HEVC with the AVC layout', () => {
    assert.deepEqual(pick(parse(hex('1c 00 000000 01')), 'codec', 'isSequenceHeader'), { codec: 'hevc', isSequenceHeader: true });
    assert.deepEqual(pick(parse(hex('1c 01 000000 00')), 'codec', 'isKeyframe'), { codec: 'hevc', isKeyframe: true });
  });

  it('treats other legacy codecs as frames without packet types', () => {
    assert.deepEqual(pick(parse(hex('12 0000')), 'codec', 'isKeyframe', 'payloadOffset', 'packetType'), {
      codec: 'h263',
      isKeyframe: true,
      payloadOffset: 1,
      packetType: undefined,
    });
    assert.deepEqual(pick(parse(hex('24 00')), 'codec', 'isKeyframe'), { codec: 'vp6', isKeyframe: false });
  });
});

describe('Enhanced RTMP video tags', () => {
  it('recognises a sequence start for hvc1, av01 and vp09', () => {
    for (const [code, codec] of [['hvc1', 'hevc'], ['av01', 'av1'], ['vp09', 'vp9']] as const) {
      // 0x90 = IsExHeader | keyframe << 4 | SequenceStart.
      const info = parse(hex(`90 ${fourCc(code)} 01020304`));
      assert.deepEqual(pick(info, 'enhanced', 'fourCc', 'codec', 'kind', 'isSequenceHeader', 'isKeyframe', 'payloadOffset', 'codecId'), {
        enhanced: true,
        fourCc: code,
        codec,
        kind: 'sequence-start',
        isSequenceHeader: true,
        isKeyframe: false,
        payloadOffset: 5,
        codecId: undefined,
      });
    }
  });

  it('reads the composition time of hvc1 coded frames, and none for CodedFramesX or AV1', () => {
    assert.deepEqual(pick(parse(hex(`91 ${fourCc('hvc1')} 000028 aabb`)), 'isKeyframe', 'compositionTime', 'payloadOffset'), {
      isKeyframe: true,
      compositionTime: 40,
      payloadOffset: 8,
    });
    assert.deepEqual(pick(parse(hex(`93 ${fourCc('hvc1')} aabb`)), 'isKeyframe', 'compositionTime', 'payloadOffset', 'packetType'), {
      isKeyframe: true,
      compositionTime: 0,
      payloadOffset: 5,
      packetType: 3,
    });
    assert.deepEqual(pick(parse(hex(`91 ${fourCc('av01')} 12 00`)), 'isKeyframe', 'compositionTime', 'payloadOffset'), {
      isKeyframe: true,
      compositionTime: 0,
      payloadOffset: 5,
    });
    // 0xa1 = inter frame, coded frames.
    assert.equal(parse(hex(`a1 ${fourCc('vp09')} 00`)).isKeyframe, false);
  });

  it('recognises sequence end, metadata, MPEG-2 TS sequence start and command frames', () => {
    assert.equal(parse(hex(`92 ${fourCc('av01')}`)).kind, 'sequence-end');
    const metadata = parse(hex(`94 ${fourCc('hvc1')} 02 0009 ${fourCc('colorInfo')}`));
    assert.deepEqual(pick(metadata, 'kind', 'isKeyframe', 'isSequenceHeader'), { kind: 'metadata', isKeyframe: false, isSequenceHeader: false });
    assert.deepEqual(pick(parse(hex(`95 ${fourCc('av01')} 00`)), 'kind', 'isSequenceHeader'), {
      kind: 'mpeg2ts-sequence-start',
      isSequenceHeader: true,
    });
    // 0xd1 = command frame (5) with a packet type other than metadata: one command byte, no FourCC.
    assert.deepEqual(pick(parse(hex('d1 00')), 'kind', 'fourCc', 'payloadOffset'), { kind: 'command', fourCc: undefined, payloadOffset: 1 });
  });

  it('skips ModEx prefixes, with 8- and 16-bit sizes', () => {
    // 0x97 = keyframe, ModEx; 3 bytes of data; then modifier type 0 / packet type CodedFrames.
    const short = parse(hex(`97 02 aabbcc 01 ${fourCc('avc1')} 000014 ff`));
    assert.deepEqual(pick(short, 'kind', 'isKeyframe', 'compositionTime', 'payloadOffset', 'fourCc'), {
      kind: 'coded-frames',
      isKeyframe: true,
      compositionTime: 20,
      payloadOffset: 13,
      fourCc: 'avc1',
    });
    // Size byte 0xff means 256 or more: a UI16 size (+1) follows. 0x0100 + 1 = 257 bytes of data.
    const long = parse(Buffer.concat([hex('97 ff 0100'), Buffer.alloc(257), hex(`00 ${fourCc('hvc1')} 01`)]));
    assert.deepEqual(pick(long, 'kind', 'isSequenceHeader', 'payloadOffset'), { kind: 'sequence-start', isSequenceHeader: true, payloadOffset: 4 + 257 + 5 });
  });

  it('describes the first track of multitrack packets', () => {
    // 0x96 = keyframe, Multitrack; 0x10 = ManyTracks, SequenceStart; shared FourCC; track 1 of 5 bytes.
    const many = parse(hex(`96 10 ${fourCc('hvc1')} 01 000005 0102030405`));
    assert.deepEqual(pick(many, 'multitrack', 'trackId', 'kind', 'isSequenceHeader', 'fourCc', 'payloadOffset'), {
      multitrack: true,
      trackId: 1,
      kind: 'sequence-start',
      isSequenceHeader: true,
      fourCc: 'hvc1',
      payloadOffset: 10,
    });
    // 0x21 = ManyTracksManyCodecs, CodedFrames: the FourCC is per track, before its id.
    const manyCodecs = parse(hex(`96 21 ${fourCc('av01')} 00 000002 aabb`));
    assert.deepEqual(pick(manyCodecs, 'isKeyframe', 'fourCc', 'codec', 'trackId', 'payloadOffset'), {
      isKeyframe: true,
      fourCc: 'av01',
      codec: 'av1',
      trackId: 0,
      payloadOffset: 10,
    });
    // 0x01 = OneTrack, CodedFrames for avc1: no track size, but a composition time.
    const one = parse(hex(`96 01 ${fourCc('avc1')} 02 00000a 00`));
    assert.deepEqual(pick(one, 'trackId', 'compositionTime', 'payloadOffset'), { trackId: 2, compositionTime: 10, payloadOffset: 10 });
  });
});

describe('malformed video tags', () => {
  const cases = [
    hex(''),
    hex('17'),
    hex('17 01 00'),
    hex('90 6876'),
    hex('91 68766331 00'),
    hex('97'),
    hex('97 05 aa'),
    hex('97 ff 01'),
    hex('96'),
    hex('96 10 68766331'),
    hex('96 10 68766331 01 00'),
    hex('96 30 68766331 01 000000'),
    hex('96 06 68766331'),
    hex('9e 68766331'),
    hex('17 07 000000'),
  ];
  it('throw MediaFormatError, and the predicates say false', () => {
    for (const bytes of cases) {
      assert.throws(() => parseVideoTag(bytes), MediaFormatError, bytes.toString('hex'));
      assert.equal(isVideoKeyframe(bytes), false, bytes.toString('hex'));
      assert.equal(isVideoSequenceHeader(bytes), false, bytes.toString('hex'));
    }
  });

  it('explain what was cut short', () => {
    assert.throws(() => parseVideoTag(hex('17 01 00')), /avc video tag of 3 bytes is shorter than its 5-byte header/);
    assert.throws(() => parseVideoTag(hex('90 6876')), /too short for its FourCC/);
    assert.throws(() => parseVideoTag(hex('9e 68766331')), /unknown enhanced video packet type 14/);
  });
});

describe('video tag fuzzing', () => {
  it('throws only MediaFormatError for random bodies', () => {
    let state = 7;
    const next = (): number => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24;
    for (let round = 0; round < 20_000; round++) {
      const bytes = Buffer.alloc(next() % 24);
      for (let index = 0; index < bytes.length; index++) bytes[index] = next();
      try {
        parseVideoTag(bytes);
      } catch (error) {
        if (!(error instanceof MediaFormatError)) assert.fail(`${String(error)} for ${bytes.toString('hex')}`);
      }
      isVideoKeyframe(bytes);
      isVideoSequenceHeader(bytes);
    }
  });
});

describe('needsSequenceHeader', () => {
  it('is true for legacy AVC and HEVC frames and every enhanced tag, false for older codecs, command frames and nothing', () => {
    assert.equal(needsSequenceHeader(hex('17 01 000000 65')), true, 'AVC keyframe');
    assert.equal(needsSequenceHeader(hex('2c 01 000000 02')), true, 'HEVC inter frame');
    assert.equal(needsSequenceHeader(hex('91' + fourCc('av01') + '00')), true, 'enhanced AV1 keyframe');
    assert.equal(needsSequenceHeader(hex('12 00')), false, 'Sorenson H.263 keyframe');
    assert.equal(needsSequenceHeader(hex('14 00')), false, 'VP6 keyframe');
    assert.equal(needsSequenceHeader(hex('57 00')), false, 'AVC command frame');
    assert.equal(needsSequenceHeader(Buffer.alloc(0)), false, 'empty');
  });
});
