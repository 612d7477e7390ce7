// FLV script data tags (type 18): an AMF0 name such as "onMetaData" followed by its AMF0 values.
import { AmfError } from './amf-types.js';
import { decodeAmf0, encodeAmf0, type Amf0ReaderOptions } from './amf0.js';
import { MediaFormatError } from './media-format-error.js';

export interface FlvScriptData {
  /** The handler name, e.g. "onMetaData" or "onCuePoint". */
  name: string;
  /** What follows the name: for onMetaData one ECMA array or object (see amfObjectProperties). */
  values: unknown[];
}

/**
 * True for script data whose AMF0 name is "onMetaData" (string marker 2, length 10), read from
 * the bytes without decoding the rest: publishers check every data frame they send.
 */
export function isOnMetaData(payload: Uint8Array): boolean {
  return payload.length > 13 && payload[0] === 2 && payload[1] === 0 && payload[2] === 10 && Buffer.from(payload.buffer, payload.byteOffset + 3, 10).toString('latin1') === 'onMetaData';
}

export function decodeFlvScriptData(data: Uint8Array, options?: Amf0ReaderOptions): FlvScriptData {
  let decoded: unknown[];
  try {
    decoded = decodeAmf0(data, options);
  } catch (error) {
    if (error instanceof AmfError) {
      throw new MediaFormatError(`malformed FLV script data: ${error.message}`, undefined, { cause: error });
    }
    throw error;
  }
  const [name, ...values] = decoded;
  if (typeof name !== 'string') {
    throw new MediaFormatError('FLV script data does not start with a name string');
  }
  return { name, values };
}

export function encodeFlvScriptData(name: string, ...values: unknown[]): Buffer {
  return encodeAmf0(name, ...values);
}
