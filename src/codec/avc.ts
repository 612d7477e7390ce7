// H.264 decoder configuration: the AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.2.4.1) that
// an AVC sequence header carries after its 5-byte tag header.
import { asBuffer } from './buffer-view.js';
import { MediaFormatError } from './media-format-error.js';

export interface AvcDecoderConfiguration {
  configurationVersion: number;
  /** profile_idc: 66 baseline, 77 main, 100 high, ... */
  profile: number;
  profileCompatibility: number;
  /** level_idc: 30 = level 3.0, 31 = 3.1, ... */
  level: number;
  /** Bytes in each NAL unit length prefix of the coded frames (1, 2 or 4). */
  nalUnitLengthSize: number;
  sequenceParameterSets: Buffer[];
  pictureParameterSets: Buffer[];
}

/** Parses a record (e.g. `tag.data.subarray(parseVideoTag(tag.data).payloadOffset)`); copies the parameter sets. */
export function parseAvcDecoderConfiguration(record: Uint8Array): AvcDecoderConfiguration {
  const bytes = asBuffer(record);
  if (bytes.length < 7) throw new MediaFormatError(`AVC decoder configuration of ${bytes.length} bytes is too short`);
  const configurationVersion = bytes[0]!;
  if (configurationVersion !== 1) {
    throw new MediaFormatError(`unsupported AVC configurationVersion ${configurationVersion}`, 0);
  }
  let offset = 5;
  const readParameterSets = (count: number, what: string): Buffer[] => {
    const sets: Buffer[] = [];
    for (let index = 0; index < count; index++) {
      if (offset + 2 > bytes.length) throw new MediaFormatError(`AVC decoder configuration cut inside ${what} ${index}`, offset);
      const length = bytes.readUInt16BE(offset);
      offset += 2;
      if (offset + length > bytes.length) throw new MediaFormatError(`AVC decoder configuration cut inside ${what} ${index}`, offset);
      sets.push(Buffer.from(bytes.subarray(offset, offset + length)));
      offset += length;
    }
    return sets;
  };
  const sequenceParameterSets = readParameterSets(bytes[offset++]! & 0x1f, 'SPS');
  if (offset >= bytes.length) throw new MediaFormatError('AVC decoder configuration has no PPS count', offset);
  const pictureParameterSets = readParameterSets(bytes[offset++]!, 'PPS');
  return {
    configurationVersion,
    profile: bytes[1]!,
    profileCompatibility: bytes[2]!,
    level: bytes[3]!,
    nalUnitLengthSize: (bytes[4]! & 0x03) + 1,
    sequenceParameterSets,
    pictureParameterSets,
  };
}

/** The RFC 6381 codecs string, e.g. "avc1.64001e" (for HLS playlists and MSE). */
export function avcCodecString(configuration: AvcDecoderConfiguration): string {
  const hex = (value: number): string => value.toString(16).padStart(2, '0');
  return `avc1.${hex(configuration.profile)}${hex(configuration.profileCompatibility)}${hex(configuration.level)}`;
}
