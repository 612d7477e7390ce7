import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AmfEcmaArray, amfObjectProperties } from '../../src/codec/amf-types.js';
import {
  FlvParser,
  FlvTagType,
  MediaFormatError,
  decodeFlvScriptData,
  encodeFlvHeader,
  encodeFlvScriptData,
  encodeFlvTag,
  type FlvTag,
} from '../../src/codec/flv.js';
import { isOnMetaData } from '../../src/codec/flv-script-data.js';
import { parseVideoTag, isVideoKeyframe, isVideoSequenceHeader } from '../../src/codec/video-tag.js';
import { parseAudioTag, isAudioSequenceHeader } from '../../src/codec/audio-tag.js';
import { parseAvcDecoderConfiguration, avcCodecString } from '../../src/codec/avc.js';
import { parseAacAudioSpecificConfig, aacCodecString } from '../../src/codec/aac.js';

/**
 * About 2 s of H.264 + AAC made by FFmpeg; the command is in test/fixtures/README.md:
 * ffmpeg -f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i sine=frequency=440 -c:v libx264
 *   -pix_fmt yuv420p -g 25 -b:v 150k -c:a aac -b:a 48k -t 2 -f flv test/fixtures/sample-h264-aac.flv
 */
const FIXTURE = fileURLToPath(new URL('../fixtures/sample-h264-aac.flv', import.meta.url));

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function parseAll(bytes: Uint8Array, chunkSize = bytes.length): { parser: FlvParser; tags: FlvTag[] } {
  const parser = new FlvParser();
  const tags: FlvTag[] = [];
  for (let offset = 0; offset < bytes.length; offset += chunkSize) {
    tags.push(...parser.push(bytes.subarray(offset, offset + chunkSize)));
  }
  parser.end();
  return { parser, tags };
}

/** Comparable form of a tag: Buffers compare by content, views and copies alike. */
function plain(tag: FlvTag): object {
  return { ...tag, data: tag.data.toString('hex') };
}

const sampleTags: FlvTag[] = [
  { type: FlvTagType.ScriptData, timestamp: 0, data: encodeFlvScriptData('onMetaData', new AmfEcmaArray({ duration: 1 })) },
  { type: FlvTagType.Video, timestamp: 0, data: hex('17 00 00 00 00 01 64 00 1e ff e1 00 00 01 00 00') },
  { type: FlvTagType.Audio, timestamp: 0, data: hex('af 00 12 10') },
  { type: FlvTagType.Video, timestamp: 40, data: hex('27 01 00 00 28 00 00 00 01 09') },
  { type: FlvTagType.Audio, timestamp: 0x00fffffe, data: Buffer.alloc(0) },
  // Needs the extension byte: 0x12345678 is 0x345678 plus 0x12 as the upper bits.
  { type: FlvTagType.Video, timestamp: 0x12345678, data: hex('17 01 00 00 00') },
  { type: FlvTagType.Audio, timestamp: -5, data: hex('af 01 aa'), filtered: true },
  { type: FlvTagType.Audio, timestamp: 10, data: Buffer.alloc(70_000, 7) },
];

function sampleFile(): Buffer {
  return Buffer.concat([encodeFlvHeader({ hasAudio: true, hasVideo: true }), ...sampleTags.map(encodeFlvTag)]);
}

describe('FLV writing', () => {
  it('writes the header and PreviousTagSize0 byte for byte', () => {
    assert.equal(encodeFlvHeader({ hasAudio: true, hasVideo: true }).toString('hex'), '464c5601050000000900000000');
    assert.equal(encodeFlvHeader({ hasAudio: true, hasVideo: false }).toString('hex'), '464c5601040000000900000000');
    assert.equal(encodeFlvHeader({ hasAudio: false, hasVideo: true }).toString('hex'), '464c5601010000000900000000');
  });

  it('writes a tag with its extended timestamp and PreviousTagSize byte for byte', () => {
    const bytes = encodeFlvTag({ type: FlvTagType.Video, timestamp: 0x01020304, data: hex('aa') });
    // type, size 1, timestamp low 24 bits 020304, extension 01, stream id 0, body, size 11 + 1.
    assert.equal(bytes.toString('hex'), hex('09 000001 020304 01 000000 aa 0000000c').toString('hex'));
    const filtered = encodeFlvTag({ type: FlvTagType.Audio, timestamp: 0xffffffff, data: Buffer.alloc(0), filtered: true });
    assert.equal(filtered.toString('hex'), hex('28 000000 ffffff ff 000000 0000000b').toString('hex'));
  });

  it('rejects tags it cannot represent', () => {
    assert.throws(() => encodeFlvTag({ type: 9, timestamp: 0, data: Buffer.alloc(0x1000000) }), MediaFormatError);
    assert.throws(() => encodeFlvTag({ type: 9, timestamp: 2 ** 32, data: Buffer.alloc(1) }), /does not fit 32 bits/);
    assert.throws(() => encodeFlvTag({ type: 9, timestamp: 1.5, data: Buffer.alloc(1) }), /does not fit 32 bits/);
    assert.throws(() => encodeFlvTag({ type: 40, timestamp: 0, data: Buffer.alloc(1) }), /does not fit 5 bits/);
  });
});

describe('FLV parsing', () => {
  it('reads back what the writer wrote', () => {
    const { parser, tags } = parseAll(sampleFile());
    assert.deepEqual(parser.header, { version: 1, hasAudio: true, hasVideo: true, headerSize: 9 });
    assert.deepEqual(
      tags.map(plain),
      sampleTags.map((tag) => plain({ streamId: 0, filtered: false, ...tag })),
    );
    assert.equal(parser.bufferedBytes, 0);
  });

  it('gives the same tags for 1-byte chunks and for odd chunk sizes', () => {
    const file = sampleFile();
    const whole = parseAll(file).tags.map(plain);
    assert.deepEqual(parseAll(file, 1).tags.map(plain), whole);
    for (const size of [2, 3, 7, 11, 13, 4096]) assert.deepEqual(parseAll(file, size).tags.map(plain), whole);
  });

  it('returns tag bodies as views of the input when a tag sits inside one chunk', () => {
    const file = sampleFile();
    const [first] = parseAll(file).tags;
    assert.equal(first!.data.buffer, file.buffer);
  });

  it('skips header padding when the header size is larger than 9', () => {
    const header = hex('464c5601 05 0000000d deadbeef 00000000');
    const file = Buffer.concat([header, encodeFlvTag({ type: 8, timestamp: 1, data: hex('af01') })]);
    for (const chunkSize of [1, file.length]) {
      const { parser, tags } = parseAll(file, chunkSize);
      assert.equal(parser.header?.headerSize, 13);
      assert.equal(tags.length, 1);
      assert.equal(tags[0]!.data.toString('hex'), 'af01');
    }
  });

  it('rejects input that is not FLV', () => {
    assert.throws(() => new FlvParser().push(Buffer.from('GIF89a-----')), /not an FLV file: signature is 474946/);
    assert.throws(() => new FlvParser().push(hex('464c5601 05 00000008 00000000')), /header size 8 is smaller than 9/);
  });

  it('checks PreviousTagSize only when asked to', () => {
    const file = sampleFile();
    const wrong = Buffer.from(file);
    const firstTagEnd = 13 + 11 + sampleTags[0]!.data.length;
    wrong.writeUInt32BE(1234, firstTagEnd);
    assert.equal(parseAll(wrong).tags.length, sampleTags.length);
    assert.throws(
      () => new FlvParser({ strictPreviousTagSize: true }).push(wrong),
      (error: unknown) =>
        error instanceof MediaFormatError && /PreviousTagSize is 1234, expected/.test(error.message) && error.offset === firstTagEnd,
    );
    assert.equal(new FlvParser({ strictPreviousTagSize: true }).push(file).length, sampleTags.length);
  });

  it('reports a file cut inside a tag on end(), after returning the complete tags', () => {
    const file = sampleFile();
    const parser = new FlvParser();
    const tags = parser.push(file.subarray(0, file.length - 10));
    assert.equal(tags.length, sampleTags.length - 1);
    assert.throws(() => parser.end(), /truncated FLV: input ends inside a tag/);
    const headerOnly = new FlvParser();
    headerOnly.push(file.subarray(0, 5));
    assert.throws(() => headerOnly.end(), /inside a header/);
    assert.throws(() => new FlvParser().end(), /empty input/);
    const clean = new FlvParser();
    clean.push(encodeFlvHeader({ hasAudio: false, hasVideo: true }));
    assert.doesNotThrow(() => clean.end());
  });
});

describe('FLV parser fuzzing', () => {
  it('throws only MediaFormatError for corrupted files, in any chunking', () => {
    const file = sampleFile();
    let state = 3;
    const next = (limit: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return Math.floor((state / 2 ** 32) * limit);
    };
    for (let round = 0; round < 2000; round++) {
      const corrupted = Buffer.from(file.subarray(0, 13 + next(400)));
      for (let flip = 0; flip < 3; flip++) corrupted[next(Math.min(corrupted.length, 120))] = next(256);
      const parser = new FlvParser({ strictPreviousTagSize: round % 2 === 0 });
      const chunkSize = 1 + next(40);
      try {
        for (let offset = 0; offset < corrupted.length; offset += chunkSize) parser.push(corrupted.subarray(offset, offset + chunkSize));
        parser.end();
      } catch (error) {
        if (!(error instanceof MediaFormatError)) assert.fail(`${String(error)} in round ${round}`);
      }
    }
  });
});

describe('FLV script data', () => {
  it('round-trips a name and values', () => {
    const data = encodeFlvScriptData('onCuePoint', { name: 'cue', time: 1.5 });
    assert.deepEqual(decodeFlvScriptData(data), { name: 'onCuePoint', values: [{ name: 'cue', time: 1.5 }] });
  });

  it('tells onMetaData from other script data by its bytes, in a view into a larger buffer too', () => {
    const metadata = encodeFlvScriptData('onMetaData', { duration: 0 });
    assert.equal(isOnMetaData(metadata), true);
    assert.equal(isOnMetaData(Buffer.concat([Buffer.from('xyz'), metadata]).subarray(3)), true);
    assert.equal(isOnMetaData(encodeFlvScriptData('onCuePoint', {})), false);
    assert.equal(isOnMetaData(encodeFlvScriptData('onMetaDatb', {})), false);
    assert.equal(isOnMetaData(metadata.subarray(0, 13)), false, 'the name alone, nothing after it');
  });

  it('reports malformed script data as MediaFormatError', () => {
    assert.throws(() => decodeFlvScriptData(hex('02 00 05 61')), /malformed FLV script data: truncated AMF0 string/);
    assert.throws(() => decodeFlvScriptData(hex('00 00 00 00 00 00 00 00 00')), /does not start with a name/);
  });
});

/** Checks what a late joiner needs from an H.264 + AAC stream FFmpeg made (see FIXTURE). */
function checkFfmpegStream(tags: FlvTag[]): void {
  const [first] = tags;
  assert.equal(first?.type, FlvTagType.ScriptData);
  const script = decodeFlvScriptData(first.data);
  assert.equal(script.name, 'onMetaData');
  const metadata = amfObjectProperties(script.values[0]);
  assert.ok(metadata, 'onMetaData carries an object');
  assert.equal(metadata.width, 320);
  assert.equal(metadata.height, 240);
  assert.equal(metadata.videocodecid, 7);
  assert.equal(metadata.audiocodecid, 10);

  const video = tags.filter((tag) => tag.type === FlvTagType.Video);
  const audio = tags.filter((tag) => tag.type === FlvTagType.Audio);
  assert.ok(video.length >= 50, `expected 2 s of 25 fps video, got ${video.length} tags`);
  assert.ok(audio.length >= 80, `expected 2 s of AAC frames, got ${audio.length} tags`);

  // The first video tag is the AVC sequence header, and only it.
  const videoInfo = video.map((tag) => parseVideoTag(tag.data));
  assert.equal(videoInfo[0]!.isSequenceHeader, true);
  assert.deepEqual(videoInfo.filter((info) => info.isSequenceHeader).length, 1);
  assert.equal(videoInfo[0]!.codec, 'avc');
  const avc = parseAvcDecoderConfiguration(video[0]!.data.subarray(videoInfo[0]!.payloadOffset));
  assert.equal(avc.profile, 100);
  assert.equal(avc.nalUnitLengthSize, 4);
  assert.equal(avc.sequenceParameterSets.length, 1);
  assert.equal(avc.pictureParameterSets.length, 1);
  assert.equal(avc.sequenceParameterSets[0]![0]! & 0x1f, 7, 'SPS NAL unit type');
  assert.equal(avc.pictureParameterSets[0]![0]! & 0x1f, 8, 'PPS NAL unit type');
  assert.match(avcCodecString(avc), /^avc1\.64/);

  // The first audio tag is the AAC sequence header: AAC-LC, 44.1 kHz, mono.
  const audioInfo = audio.map((tag) => parseAudioTag(tag.data));
  assert.equal(audioInfo[0]!.isSequenceHeader, true);
  assert.equal(audioInfo.filter((info) => info.isSequenceHeader).length, 1);
  const aac = parseAacAudioSpecificConfig(audio[0]!.data.subarray(audioInfo[0]!.payloadOffset));
  assert.deepEqual(
    { type: aac.audioObjectType, rate: aac.sampleRate, channels: aac.channels },
    { type: 2, rate: 44100, channels: 1 },
  );
  assert.equal(aacCodecString(aac), 'mp4a.40.2');
  assert.ok(audioInfo.every((info) => info.codec === 'aac'));

  // With -g 25 at 25 fps: keyframes at 0 s and 1 s, the first coded frame being one.
  const keyframeTimes = video.filter((_, index) => videoInfo[index]!.isKeyframe).map((tag) => tag.timestamp);
  assert.deepEqual(keyframeTimes, [0, 1000]);
  assert.equal(videoInfo[1]!.isKeyframe, true);

  // The quick predicates agree with the full parse.
  video.forEach((tag, index) => {
    assert.equal(isVideoKeyframe(tag.data), videoInfo[index]!.isKeyframe);
    assert.equal(isVideoSequenceHeader(tag.data), videoInfo[index]!.isSequenceHeader);
  });
  audio.forEach((tag, index) => assert.equal(isAudioSequenceHeader(tag.data), audioInfo[index]!.isSequenceHeader));

  // Decode timestamps never go back, frames are 40 ms apart, B-frames give positive composition
  // times, and both tracks span about 2 s.
  const coded = video.filter((_, index) => videoInfo[index]!.kind === 'coded-frames');
  // FFmpeg ends an AVC stream with an end-of-sequence tag.
  assert.equal(videoInfo.at(-1)!.kind, 'sequence-end');
  for (let index = 1; index < coded.length; index++) {
    assert.equal(coded[index]!.timestamp - coded[index - 1]!.timestamp, 40);
  }
  assert.ok(videoInfo.every((info) => info.compositionTime >= 0));
  assert.ok(videoInfo.some((info) => info.compositionTime > 0), 'B-frames reorder, so some CTS > 0');
  for (const track of [video, audio]) {
    for (let index = 1; index < track.length; index++) assert.ok(track[index]!.timestamp >= track[index - 1]!.timestamp);
    const last = track.at(-1)!.timestamp;
    assert.ok(last > 1800 && last < 2200, `last timestamp ${last} is about 2 s`);
  }
}

describe('FLV from FFmpeg', () => {
  const fixture = readFileSync(FIXTURE);

  it('finds onMetaData, sequence headers, keyframes and consistent timestamps in the fixture', () => {
    assert.ok(fixture.length < 300_000);
    checkFfmpegStream(parseAll(fixture).tags);
  });

  it('parses the fixture identically in 1-byte chunks', () => {
    assert.deepEqual(parseAll(fixture, 1).tags.map(plain), parseAll(fixture).tags.map(plain));
  });

  it('rewrites the fixture byte for byte', () => {
    const { parser, tags } = parseAll(fixture);
    const header = parser.header!;
    const rewritten = Buffer.concat([encodeFlvHeader(header), ...tags.map(encodeFlvTag)]);
    assert.equal(rewritten.equals(fixture), true);
    assert.equal(new FlvParser({ strictPreviousTagSize: true }).push(fixture).length, tags.length);
  });

  const hasFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
  it('parses a stream FFmpeg writes to a pipe, as the chunks arrive', { skip: !hasFfmpeg && 'ffmpeg not installed' }, async () => {
    // The same command as the fixture, written to stdout.
    const ffmpeg = spawn(
      'ffmpeg',
      [
        '-hide_banner', '-loglevel', 'error',
        '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25',
        '-f', 'lavfi', '-i', 'sine=frequency=440',
        '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '25', '-b:v', '150k',
        '-c:a', 'aac', '-b:a', '48k', '-t', '2', '-f', 'flv', 'pipe:1',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const parser = new FlvParser({ strictPreviousTagSize: true });
    const tags: FlvTag[] = [];
    let chunks = 0;
    ffmpeg.stdout.on('data', (chunk: Buffer) => {
      chunks++;
      for (const tag of parser.push(chunk)) tags.push({ ...tag, data: Buffer.from(tag.data) });
    });
    const exitCode = await new Promise<number | null>((resolve) => ffmpeg.on('close', resolve));
    assert.equal(exitCode, 0);
    parser.end();
    assert.ok(chunks >= 1);
    assert.deepEqual(parser.header, { version: 1, hasAudio: true, hasVideo: true, headerSize: 9 });
    checkFfmpegStream(tags);
  });
});
