// AMF0: one-call helpers for whole messages, plus the reader and writer they are built on.
import { Amf0Reader, type Amf0ReaderOptions } from './amf0-reader.js';
import { Amf0Writer } from './amf0-writer.js';

export { Amf0Reader, type Amf0ReaderOptions } from './amf0-reader.js';
export { Amf0Writer, type Amf0WriterOptions } from './amf0-writer.js';
export { Amf0Marker } from './amf0-markers.js';

/** Decodes every AMF0 value in `input` (e.g. an RTMP command: name, transaction id, args...). */
export function decodeAmf0(input: Uint8Array, options?: Amf0ReaderOptions): unknown[] {
  return new Amf0Reader(input, options).readAll();
}

/** Encodes `values` one after another as AMF0, sharing one reference table. */
export function encodeAmf0(...values: unknown[]): Buffer {
  return new Amf0Writer().writeValues(...values).toBuffer();
}
