// Byte-level pieces shared by the Enhanced RTMP audio and video headers (E-RTMP v1 and v2):
// FourCCs, ModEx prefixes, multitrack types, and bounds checks that name what was cut short.
import { MediaFormatError } from './media-format-error.js';

export const AvMultitrackType = {
  OneTrack: 0,
  ManyTracks: 1,
  ManyTracksManyCodecs: 2,
} as const;

/** Throws unless `data` holds at least `end` bytes. */
export function needMediaBytes(data: Uint8Array, end: number, what: string): void {
  if (data.length < end) {
    throw new MediaFormatError(`media tag of ${data.length} bytes is too short for its ${what}`, data.length);
  }
}

export function readFourCc(data: Uint8Array, offset: number): string {
  needMediaBytes(data, offset + 4, 'FourCC');
  return String.fromCharCode(data[offset]!, data[offset + 1]!, data[offset + 2]!, data[offset + 3]!);
}

/**
 * Reads what starts each track of an enhanced audio or video packet: its FourCC, then for a
 * multitrack packet the track ID and, when tracks differ in size, the 24-bit size (skipped).
 */
export function readTrackHeader(
  data: Uint8Array,
  offset: number,
  multitrackType: number | undefined,
): { fourCc: string; trackId: number | undefined; offset: number } {
  const fourCc = readFourCc(data, offset);
  offset += 4;
  let trackId: number | undefined;
  if (multitrackType !== undefined) {
    needMediaBytes(data, offset + 1, 'multitrack track id');
    trackId = data[offset++]!;
    if (multitrackType !== AvMultitrackType.OneTrack) {
      needMediaBytes(data, offset + 3, 'multitrack track size');
      offset += 3;
    }
  }
  return { fourCc, trackId, offset };
}

/** Signed 24-bit big-endian (composition time offsets). */
export function readInt24(data: Uint8Array, offset: number): number {
  return ((data[offset]! << 24) | (data[offset + 1]! << 16) | (data[offset + 2]! << 8)) >> 8;
}

/**
 * Skips one ModEx prefix: data size (UI8 + 1, or UI16 + 1 when that says 256), the data, then a
 * byte holding the modifier type (high nibble) and the packet type it applies to (low nibble).
 * ModEx data only refines timing (e.g. nanosecond offsets), which nothing here needs.
 */
export function skipModEx(data: Uint8Array, offset: number, what: string): { offset: number; packetType: number } {
  needMediaBytes(data, offset + 1, `${what} ModEx size`);
  let size = data[offset++]! + 1;
  if (size === 256) {
    needMediaBytes(data, offset + 2, `${what} ModEx size`);
    size = ((data[offset]! << 8) | data[offset + 1]!) + 1;
    offset += 2;
  }
  needMediaBytes(data, offset + size + 1, `${what} ModEx data`);
  offset += size;
  const packetType = data[offset++]! & 0x0f;
  return { offset, packetType };
}
