// onMetaData for a recording of a live stream. The publisher's metadata describes its source:
// its `duration` and `filesize` are the source file's (ffprobe read 20.08 s from a 3.3 s
// recording that carried them), not the recording's. A recording keeps the rest and either drops
// the two (a pipe, which cannot be rewritten later) or carries 0 placeholders at known offsets,
// overwritten in place with the recorded figures when it ends, as FFmpeg's FLV muxer does for a
// seekable output. Both are AMF0 numbers, 8 bytes whatever the value, so the patch never moves
// a byte.
import { AmfEcmaArray, amfObjectProperties } from './amf-types.js';
import { encodeAmf0 } from './amf0.js';
import { Amf0Marker } from './amf0-markers.js';
import { decodeFlvScriptData, encodeFlvScriptData } from './flv-script-data.js';

export interface RecordingMetadata {
  /** The script data to write. */
  payload: Buffer;
  /** Where in `payload` the 8-byte big-endian double of `duration` is (placeholders only). */
  durationOffset?: number;
  /** Where the double of `filesize` is, when the source's metadata had one (placeholders only). */
  filesizeOffset?: number;
}

const SOURCE_FIGURES = new Set(['duration', 'filesize']);

/**
 * The onMetaData `payload` (AMF0: the name, then an ECMA array or object) rewritten for a live
 * recording; undefined when `payload` is not onMetaData, or cannot be read (written as it came).
 * With `placeholders`, `duration` (always) and `filesize` (when the source had one) are 0, last,
 * at the offsets returned; without, both are removed.
 */
export function metadataForRecording(payload: Uint8Array, placeholders: boolean): RecordingMetadata | undefined {
  let script;
  try {
    script = decodeFlvScriptData(payload);
  } catch {
    return undefined;
  }
  if (script.name !== 'onMetaData') return undefined;
  const [first, ...rest] = script.values;
  const properties = amfObjectProperties(first);
  if (properties === undefined) return undefined;
  const kept: Record<string, unknown> = {};
  for (const key of Object.keys(properties)) if (!SOURCE_FIGURES.has(key)) kept[key] = properties[key];
  const hadFilesize = 'filesize' in properties;
  if (placeholders) {
    // Last, in this order, so their offsets are found from the end (after any string value
    // that happens to hold the same bytes).
    if (hadFilesize) kept.filesize = 0;
    kept.duration = 0;
  }
  const container = first instanceof AmfEcmaArray ? new AmfEcmaArray(kept) : kept;
  // The name and the properties, then whatever values followed (rarely any): the offsets are
  // looked for in the first part only.
  const head = encodeFlvScriptData('onMetaData', container);
  const encoded = rest.length === 0 ? head : Buffer.concat([head, encodeAmf0(...rest)]);
  if (!placeholders) return { payload: encoded };
  const durationOffset = numberOffset(head, 'duration');
  return { payload: encoded, durationOffset, filesizeOffset: hadFilesize ? numberOffset(head, 'filesize', durationOffset) : undefined };
}

/** The offset of the double after the last `key` (an AMF0 property name, then the number marker) before `before`. */
function numberOffset(encoded: Buffer, key: string, before = encoded.length): number {
  const pattern = Buffer.alloc(2 + key.length + 1);
  pattern.writeUInt16BE(key.length, 0);
  pattern.write(key, 2, 'latin1');
  pattern[2 + key.length] = Amf0Marker.Number;
  const at = encoded.lastIndexOf(pattern, before - pattern.length);
  if (at < 0) throw new Error(`metadataForRecording: ${key} not found in what it encoded`);
  return at + pattern.length;
}
