// Audio tag bodies (FLV audio tags = RTMP audio message payloads): which codec, and whether this
// is a sequence header (e.g. AAC AudioSpecificConfig) to keep for late joiners. Covers the legacy
// header (FLV spec v10.1, E.4.2) and Enhanced RTMP v2 audio (SoundFormat 9 + FourCC).
import { AvMultitrackType, needMediaBytes, readTrackHeader, skipModEx } from './enhanced-rtmp.js';
import { MediaFormatError } from './media-format-error.js';

export const SoundFormat = {
  LinearPcmPlatformEndian: 0,
  Adpcm: 1,
  Mp3: 2,
  LinearPcmLittleEndian: 3,
  Nellymoser16kMono: 4,
  Nellymoser8kMono: 5,
  Nellymoser: 6,
  G711ALaw: 7,
  G711MuLaw: 8,
  /** Enhanced RTMP: the low nibble is an AudioPacketType and a FourCC names the codec. */
  ExHeader: 9,
  Aac: 10,
  Speex: 11,
  Mp3At8kHz: 14,
  DeviceSpecific: 15,
} as const;

export const AacPacketType = {
  SequenceHeader: 0,
  Raw: 1,
} as const;

/** Enhanced RTMP audio packet types. */
export const AudioPacketType = {
  SequenceStart: 0,
  CodedFrames: 1,
  SequenceEnd: 2,
  MultichannelConfig: 4,
  Multitrack: 5,
  ModEx: 7,
} as const;

export type AudioPacketKind = 'sequence-start' | 'coded-frames' | 'sequence-end' | 'multichannel-config';

export interface AudioTagInfo {
  /** SoundFormat (10 = AAC; 9 = enhanced, see fourCc). */
  soundFormat: number;
  enhanced: boolean;
  /** Enhanced FourCC: 'mp4a', 'Opus', 'fLaC', 'ac-3', 'ec-3', '.mp3'; undefined for legacy tags. */
  fourCc: string | undefined;
  /** Codec-neutral name: 'aac', 'mp3', 'opus', 'flac', 'ac3', 'eac3', 'speex', 'pcm', ... */
  codec: string | undefined;
  kind: AudioPacketKind;
  /** The packet type as sent: AACPacketType (legacy AAC) or AudioPacketType (enhanced); undefined otherwise. */
  packetType: number | undefined;
  /** Decoder configuration (AAC AudioSpecificConfig, OpusHead...): keep it for late joiners. */
  isSequenceHeader: boolean;
  /** Legacy header fields: rate (5512, 11025, 22050, 44100 Hz as declared), bits, channels. */
  declaredSampleRate: number | undefined;
  declaredSampleBits: number | undefined;
  declaredChannels: number | undefined;
  /** Offset in the tag body where the codec payload begins. */
  payloadOffset: number;
  /** Enhanced RTMP v2 multitrack: the fields above describe the first track. */
  multitrack: boolean;
  trackId: number;
}

const LEGACY_SAMPLE_RATES = [5512, 11025, 22050, 44100] as const;

const LEGACY_CODEC_NAMES: Readonly<Record<number, string>> = {
  0: 'pcm',
  1: 'adpcm',
  2: 'mp3',
  3: 'pcm',
  4: 'nellymoser',
  5: 'nellymoser',
  6: 'nellymoser',
  7: 'alaw',
  8: 'mulaw',
  10: 'aac',
  11: 'speex',
  14: 'mp3',
};

const FOURCC_CODEC_NAMES: Readonly<Record<string, string>> = {
  mp4a: 'aac',
  Opus: 'opus',
  fLaC: 'flac',
  'ac-3': 'ac3',
  'ec-3': 'eac3',
  '.mp3': 'mp3',
};

/** Parses the header of an audio tag body. Throws MediaFormatError when it is cut short. */
export function parseAudioTag(data: Uint8Array): AudioTagInfo {
  if (data.length < 1) throw new MediaFormatError('empty audio tag');
  const first = data[0]!;
  const soundFormat = first >> 4;
  return soundFormat === SoundFormat.ExHeader ? parseEnhanced(data, first) : parseLegacy(data, first, soundFormat);
}

/** True when `data` is an audio sequence header (legacy AAC or enhanced); false otherwise, malformed included. */
export function isAudioSequenceHeader(data: Uint8Array): boolean {
  const first = data[0];
  if (first === undefined) return false;
  const soundFormat = first >> 4;
  if (soundFormat === SoundFormat.Aac) return data[1] === AacPacketType.SequenceHeader;
  if (soundFormat !== SoundFormat.ExHeader) return false;
  try {
    return parseAudioTag(data).isSequenceHeader;
  } catch {
    return false;
  }
}

function parseLegacy(data: Uint8Array, first: number, soundFormat: number): AudioTagInfo {
  const info: AudioTagInfo = {
    soundFormat,
    enhanced: false,
    fourCc: undefined,
    codec: LEGACY_CODEC_NAMES[soundFormat],
    kind: 'coded-frames',
    packetType: undefined,
    isSequenceHeader: false,
    declaredSampleRate: LEGACY_SAMPLE_RATES[(first >> 2) & 0x03],
    declaredSampleBits: (first & 0x02) === 0 ? 8 : 16,
    declaredChannels: (first & 0x01) === 0 ? 1 : 2,
    payloadOffset: 1,
    multitrack: false,
    trackId: 0,
  };
  if (soundFormat === SoundFormat.Aac) {
    needMediaBytes(data, 2, 'AACPacketType');
    const packetType = data[1]!;
    info.packetType = packetType;
    info.payloadOffset = 2;
    if (packetType === AacPacketType.SequenceHeader) {
      info.kind = 'sequence-start';
      info.isSequenceHeader = true;
    } else if (packetType !== AacPacketType.Raw) {
      throw new MediaFormatError(`unknown AACPacketType ${packetType}`, 1);
    }
  }
  return info;
}

function parseEnhanced(data: Uint8Array, first: number): AudioTagInfo {
  const info: AudioTagInfo = {
    soundFormat: SoundFormat.ExHeader,
    enhanced: true,
    fourCc: undefined,
    codec: undefined,
    kind: 'coded-frames',
    packetType: undefined,
    isSequenceHeader: false,
    declaredSampleRate: undefined,
    declaredSampleBits: undefined,
    declaredChannels: undefined,
    payloadOffset: 1,
    multitrack: false,
    trackId: 0,
  };
  let offset = 1;
  let packetType = first & 0x0f;
  while (packetType === AudioPacketType.ModEx) {
    ({ offset, packetType } = skipModEx(data, offset, 'audio'));
  }

  let multitrackType: number | undefined;
  if (packetType === AudioPacketType.Multitrack) {
    needMediaBytes(data, offset + 1, 'multitrack header');
    const byte = data[offset++]!;
    multitrackType = byte >> 4;
    packetType = byte & 0x0f;
    info.multitrack = true;
    if (multitrackType > AvMultitrackType.ManyTracksManyCodecs) {
      throw new MediaFormatError(`unknown multitrack type ${multitrackType}`, offset - 1);
    }
    if (packetType === AudioPacketType.Multitrack || packetType === AudioPacketType.ModEx) {
      throw new MediaFormatError(`invalid packet type ${packetType} inside a multitrack packet`, offset - 1);
    }
  }
  info.packetType = packetType;
  // The FourCC comes next either way: shared by all tracks, or (ManyTracksManyCodecs) the first
  // track's own, which is the one described here.
  const track = readTrackHeader(data, offset, multitrackType);
  info.fourCc = track.fourCc;
  if (track.trackId !== undefined) info.trackId = track.trackId;
  offset = track.offset;
  info.codec = FOURCC_CODEC_NAMES[track.fourCc] ?? track.fourCc;

  switch (packetType) {
    case AudioPacketType.SequenceStart:
      info.kind = 'sequence-start';
      info.isSequenceHeader = true;
      break;
    case AudioPacketType.CodedFrames:
      break;
    case AudioPacketType.SequenceEnd:
      info.kind = 'sequence-end';
      break;
    case AudioPacketType.MultichannelConfig:
      info.kind = 'multichannel-config';
      break;
    default:
      throw new MediaFormatError(`unknown enhanced audio packet type ${packetType}`, 0);
  }
  info.payloadOffset = offset;
  return info;
}
