// FLV writing: the file header, then each tag as one buffer ready to append to a file or pipe.
import {
  FLV_FLAG_AUDIO,
  FLV_FLAG_VIDEO,
  FLV_HEADER_SIZE,
  FLV_MAX_TAG_DATA_SIZE,
  FLV_PREVIOUS_TAG_SIZE_SIZE,
  FLV_TAG_FILTER_BIT,
  FLV_TAG_HEADER_SIZE,
  FLV_TAG_TYPE_MASK,
  type FlvTag,
} from './flv-format.js';
import { MediaFormatError } from './media-format-error.js';

/** The 9-byte FLV header followed by PreviousTagSize0 (0): the first 13 bytes of every file. */
export function encodeFlvHeader(options: { hasAudio: boolean; hasVideo: boolean }): Buffer {
  const bytes = Buffer.alloc(FLV_HEADER_SIZE + FLV_PREVIOUS_TAG_SIZE_SIZE);
  bytes.write('FLV', 0, 'latin1');
  bytes[3] = 1;
  bytes[4] = (options.hasAudio ? FLV_FLAG_AUDIO : 0) | (options.hasVideo ? FLV_FLAG_VIDEO : 0);
  bytes.writeUInt32BE(FLV_HEADER_SIZE, 5);
  return bytes;
}

/**
 * One tag: header, body, then its PreviousTagSize. Timestamps may be given as signed or unsigned
 * 32-bit values (RTMP timestamps are unsigned); the low 32 bits are written either way.
 */
export function encodeFlvTag(tag: FlvTag): Buffer {
  const { type, timestamp, data } = tag;
  const streamId = tag.streamId ?? 0;
  if (data.length > FLV_MAX_TAG_DATA_SIZE) {
    throw new MediaFormatError(`FLV tag body of ${data.length} bytes exceeds ${FLV_MAX_TAG_DATA_SIZE}`);
  }
  if (!Number.isInteger(type) || type < 0 || type > FLV_TAG_TYPE_MASK) {
    throw new MediaFormatError(`FLV tag type ${type} does not fit 5 bits`);
  }
  if (!Number.isInteger(timestamp) || timestamp < -0x80000000 || timestamp > 0xffffffff) {
    throw new MediaFormatError(`FLV timestamp ${timestamp} does not fit 32 bits`);
  }
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffffff) {
    throw new MediaFormatError(`FLV stream id ${streamId} does not fit 24 bits`);
  }
  const tagSize = FLV_TAG_HEADER_SIZE + data.length;
  const bytes = Buffer.allocUnsafe(tagSize + FLV_PREVIOUS_TAG_SIZE_SIZE);
  const unsignedTimestamp = timestamp >>> 0;
  bytes[0] = type | (tag.filtered === true ? FLV_TAG_FILTER_BIT : 0);
  bytes.writeUIntBE(data.length, 1, 3);
  bytes.writeUIntBE(unsignedTimestamp & 0xffffff, 4, 3);
  bytes[7] = unsignedTimestamp >>> 24;
  bytes.writeUIntBE(streamId, 8, 3);
  bytes.set(data, FLV_TAG_HEADER_SIZE);
  bytes.writeUInt32BE(tagSize, tagSize);
  return bytes;
}
