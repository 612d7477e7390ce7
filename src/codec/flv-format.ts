// The FLV container layout (Adobe Flash Video File Format Specification v10.1, annex E).

export const FlvTagType = {
  Audio: 8,
  Video: 9,
  ScriptData: 18,
} as const;

/** "FLV", version, flags, header size: 9 bytes (PreviousTagSize0 follows, outside the header). */
export const FLV_HEADER_SIZE = 9;
/** Type, data size, timestamp, extended timestamp, stream id. */
export const FLV_TAG_HEADER_SIZE = 11;
/** Each tag is followed by a 32-bit size of that tag (header + data). */
export const FLV_PREVIOUS_TAG_SIZE_SIZE = 4;
/** Data sizes are 24-bit. */
export const FLV_MAX_TAG_DATA_SIZE = 0xffffff;

export const FLV_FLAG_AUDIO = 0x04;
export const FLV_FLAG_VIDEO = 0x01;
/** Tag type byte: 2 reserved bits, the Filter bit (pre-processing such as decryption needed), 5-bit type. */
export const FLV_TAG_FILTER_BIT = 0x20;
export const FLV_TAG_TYPE_MASK = 0x1f;

export interface FlvHeader {
  version: number;
  hasAudio: boolean;
  hasVideo: boolean;
  /** Offset of PreviousTagSize0: 9 in every known file, larger only with padding. */
  headerSize: number;
}

export interface FlvTag {
  /** FlvTagType (8 audio, 9 video, 18 script data); other values are passed through as read. */
  type: number;
  /** Milliseconds: the 24-bit timestamp with its extension byte as the upper 8 bits (signed 32-bit). */
  timestamp: number;
  /** The tag body: an RTMP audio/video message payload, or AMF0 script data. */
  data: Buffer;
  /** Always 0 in practice; written as 0 when omitted. */
  streamId?: number;
  /** The Filter bit: the body needs pre-processing (e.g. decryption) before use. */
  filtered?: boolean;
}
