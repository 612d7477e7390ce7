// Video tag bodies (FLV video tags = RTMP video message payloads): which codec, whether this is a
// sequence header to keep for late joiners, whether it is a keyframe they can start on. Covers the
// legacy header (FLV spec v10.1, E.4.3) and Enhanced RTMP (v1 ExVideoTagHeader with FourCC; v2
// ModEx prefixes and multitrack).
import { AvMultitrackType, needMediaBytes, readInt24, readTrackHeader, skipModEx } from './enhanced-rtmp.js';
import { MediaFormatError } from './media-format-error.js';

export const VideoFrameType = {
  Keyframe: 1,
  InterFrame: 2,
  DisposableInterFrame: 3,
  GeneratedKeyframe: 4,
  /** Legacy: video info/command frame. Enhanced: command frame (or metadata, see VideoPacketType). */
  Command: 5,
} as const;

export const VideoCodecId = {
  SorensonH263: 2,
  ScreenVideo: 3,
  Vp6: 4,
  Vp6Alpha: 5,
  ScreenVideoV2: 6,
  Avc: 7,
  /** Not in Adobe's spec, but widely used (and read by FFmpeg) before Enhanced RTMP existed. */
  Hevc: 12,
} as const;

/** Enhanced RTMP video packet types. */
export const VideoPacketType = {
  SequenceStart: 0,
  CodedFrames: 1,
  SequenceEnd: 2,
  /** Coded frames with no composition time field (it is zero). */
  CodedFramesX: 3,
  Metadata: 4,
  Mpeg2TsSequenceStart: 5,
  Multitrack: 6,
  ModEx: 7,
} as const;

/** Legacy AVC/HEVC packet types (AVCPacketType). */
export const AvcPacketType = {
  SequenceHeader: 0,
  Nalu: 1,
  EndOfSequence: 2,
} as const;

/** What a video tag carries, independent of which header form it used. */
export type VideoPacketKind =
  | 'sequence-start'
  | 'mpeg2ts-sequence-start'
  | 'coded-frames'
  | 'sequence-end'
  | 'metadata'
  | 'command';

export interface VideoTagInfo {
  /** VideoFrameType: 1 keyframe, 2 inter, 3 disposable inter, 4 generated keyframe, 5 command. */
  frameType: number;
  /** True for the Enhanced RTMP form (IsExHeader bit set). */
  enhanced: boolean;
  /** Legacy codec id (VideoCodecId); undefined for enhanced tags. */
  codecId: number | undefined;
  /** Enhanced FourCC such as 'avc1', 'hvc1', 'av01', 'vp09'; undefined for legacy tags and commands. */
  fourCc: string | undefined;
  /** Codec-neutral name: 'avc', 'hevc', 'av1', 'vp9', 'vp8', 'vp6', 'h263', ... or the FourCC. */
  codec: string | undefined;
  kind: VideoPacketKind;
  /** The packet type as sent: AVCPacketType (legacy AVC/HEVC) or VideoPacketType (enhanced); undefined otherwise. */
  packetType: number | undefined;
  /** Decoder configuration (AVCDecoderConfigurationRecord, HEVC..., AV1...): keep it for late joiners. */
  isSequenceHeader: boolean;
  /** A coded keyframe: a point where a new viewer can start decoding. */
  isKeyframe: boolean;
  /** Presentation minus decoding time, in milliseconds (0 when the form has no such field). */
  compositionTime: number;
  /** Offset in the tag body where the codec payload (record, NAL units, OBUs...) begins. */
  payloadOffset: number;
  /** Enhanced RTMP v2 multitrack: the fields above describe the first track. */
  multitrack: boolean;
  /** Track id of the described track (0 unless multitrack). */
  trackId: number;
}

const IS_EX_HEADER = 0x80;

const LEGACY_CODEC_NAMES: Readonly<Record<number, string>> = {
  2: 'h263',
  3: 'screen',
  4: 'vp6',
  5: 'vp6a',
  6: 'screen2',
  7: 'avc',
  12: 'hevc',
};

const FOURCC_CODEC_NAMES: Readonly<Record<string, string>> = {
  avc1: 'avc',
  hvc1: 'hevc',
  av01: 'av1',
  vp09: 'vp9',
  vp08: 'vp8',
};

/** Parses the header of a video tag body. Throws MediaFormatError when it is cut short. */
export function parseVideoTag(data: Uint8Array): VideoTagInfo {
  if (data.length < 1) throw new MediaFormatError('empty video tag');
  const first = data[0]!;
  return (first & IS_EX_HEADER) === 0 ? parseLegacy(data, first) : parseEnhanced(data, first);
}

/** True when `data` is a video sequence header (legacy or enhanced); false for anything else, malformed included. */
export function isVideoSequenceHeader(data: Uint8Array): boolean {
  // Fast path for the common legacy AVC/HEVC form: byte 1 is the AVCPacketType.
  const first = data[0];
  if (first === undefined) return false;
  if ((first & IS_EX_HEADER) === 0) {
    return isAvcLike(first) && data.length >= 5 && data[1] === AvcPacketType.SequenceHeader;
  }
  try {
    return parseVideoTag(data).isSequenceHeader;
  } catch {
    return false;
  }
}

/** True when `data` is a coded keyframe (legacy or enhanced); false for anything else, malformed included. */
export function isVideoKeyframe(data: Uint8Array): boolean {
  const first = data[0];
  if (first === undefined) return false;
  if ((first & IS_EX_HEADER) === 0) {
    if (first >> 4 !== VideoFrameType.Keyframe) return false;
    if (!isAvcLike(first)) return true;
    return data.length >= 5 && data[1] === AvcPacketType.Nalu;
  }
  try {
    return parseVideoTag(data).isKeyframe;
  } catch {
    return false;
  }
}

/**
 * True when the frame's codec cannot be decoded without its sequence header (a configuration
 * record): legacy AVC and HEVC, and every enhanced codec (each starts with a SequenceStart).
 */
export function needsSequenceHeader(data: Uint8Array): boolean {
  const first = data[0];
  if (first === undefined) return false;
  return (first & IS_EX_HEADER) !== 0 || isAvcLike(first);
}

/** Legacy AVC or HEVC, not a command frame: the layout with AVCPacketType and composition time. */
function isAvcLike(first: number): boolean {
  const codecId = first & 0x0f;
  return (codecId === VideoCodecId.Avc || codecId === VideoCodecId.Hevc) && first >> 4 !== VideoFrameType.Command;
}

function parseLegacy(data: Uint8Array, first: number): VideoTagInfo {
  const frameType = first >> 4;
  const codecId = first & 0x0f;
  const info: VideoTagInfo = {
    frameType,
    enhanced: false,
    codecId,
    fourCc: undefined,
    codec: LEGACY_CODEC_NAMES[codecId],
    kind: 'coded-frames',
    packetType: undefined,
    isSequenceHeader: false,
    isKeyframe: false,
    compositionTime: 0,
    payloadOffset: 1,
    multitrack: false,
    trackId: 0,
  };
  if (frameType === VideoFrameType.Command) {
    info.kind = 'command';
    return info;
  }
  if (codecId === VideoCodecId.Avc || codecId === VideoCodecId.Hevc) {
    if (data.length < 5) throw new MediaFormatError(`${info.codec} video tag of ${data.length} bytes is shorter than its 5-byte header`);
    const packetType = data[1]!;
    info.packetType = packetType;
    info.compositionTime = readInt24(data, 2);
    info.payloadOffset = 5;
    if (packetType === AvcPacketType.SequenceHeader) info.kind = 'sequence-start';
    else if (packetType === AvcPacketType.EndOfSequence) info.kind = 'sequence-end';
    else if (packetType !== AvcPacketType.Nalu) {
      throw new MediaFormatError(`unknown AVCPacketType ${packetType}`, 1);
    }
  }
  return finish(info);
}

function parseEnhanced(data: Uint8Array, first: number): VideoTagInfo {
  const info: VideoTagInfo = {
    frameType: (first >> 4) & 0x07,
    enhanced: true,
    codecId: undefined,
    fourCc: undefined,
    codec: undefined,
    kind: 'coded-frames',
    packetType: undefined,
    isSequenceHeader: false,
    isKeyframe: false,
    compositionTime: 0,
    payloadOffset: 1,
    multitrack: false,
    trackId: 0,
  };
  let offset = 1;
  let packetType = first & 0x0f;
  // ModEx prefixes modify the packet that follows; the real packet type comes after each one.
  while (packetType === VideoPacketType.ModEx) {
    ({ offset, packetType } = skipModEx(data, offset, 'video'));
  }
  info.packetType = packetType;

  if (info.frameType === VideoFrameType.Command && packetType !== VideoPacketType.Metadata) {
    // A command frame carries one command byte and no FourCC.
    info.kind = 'command';
    info.payloadOffset = offset;
    return info;
  }

  let multitrackType: number | undefined;
  if (packetType === VideoPacketType.Multitrack) {
    needMediaBytes(data, offset + 1, 'multitrack header');
    const byte = data[offset++]!;
    multitrackType = byte >> 4;
    packetType = byte & 0x0f;
    info.packetType = packetType;
    info.multitrack = true;
    if (multitrackType > AvMultitrackType.ManyTracksManyCodecs) {
      throw new MediaFormatError(`unknown multitrack type ${multitrackType}`, offset - 1);
    }
    if (packetType === VideoPacketType.Multitrack || packetType === VideoPacketType.ModEx) {
      throw new MediaFormatError(`invalid packet type ${packetType} inside a multitrack packet`, offset - 1);
    }
  }
  // The FourCC comes next either way: shared by all tracks, or (ManyTracksManyCodecs) the first
  // track's own, which is the one described here.
  const track = readTrackHeader(data, offset, multitrackType);
  info.fourCc = track.fourCc;
  if (track.trackId !== undefined) info.trackId = track.trackId;
  offset = track.offset;
  info.codec = FOURCC_CODEC_NAMES[track.fourCc] ?? track.fourCc;

  switch (packetType) {
    case VideoPacketType.SequenceStart:
      info.kind = 'sequence-start';
      break;
    case VideoPacketType.Mpeg2TsSequenceStart:
      info.kind = 'mpeg2ts-sequence-start';
      break;
    case VideoPacketType.SequenceEnd:
      info.kind = 'sequence-end';
      break;
    case VideoPacketType.Metadata:
      info.kind = 'metadata';
      break;
    case VideoPacketType.CodedFramesX:
      break;
    case VideoPacketType.CodedFrames:
      // Only AVC and HEVC coded frames carry a composition time offset.
      if (info.fourCc === 'avc1' || info.fourCc === 'hvc1') {
        needMediaBytes(data, offset + 3, 'composition time');
        info.compositionTime = readInt24(data, offset);
        offset += 3;
      }
      break;
    default:
      throw new MediaFormatError(`unknown enhanced video packet type ${packetType}`, 0);
  }
  info.payloadOffset = offset;
  return finish(info);
}

function finish(info: VideoTagInfo): VideoTagInfo {
  info.isSequenceHeader = info.kind === 'sequence-start' || info.kind === 'mpeg2ts-sequence-start';
  info.isKeyframe = info.kind === 'coded-frames' && info.frameType === VideoFrameType.Keyframe;
  return info;
}
