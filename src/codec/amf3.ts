// AMF3: one-call helpers for whole messages, plus the reader and writer they are built on.
import { Amf3Reader, type Amf3ReaderOptions } from './amf3-reader.js';
import { Amf3Writer } from './amf3-writer.js';

export { Amf3Reader, type Amf3ReaderOptions } from './amf3-reader.js';
export { Amf3Writer, type Amf3WriterOptions } from './amf3-writer.js';
export { Amf3Marker } from './amf3-markers.js';
export {
  DEFAULT_AMF3_EXTERNALIZABLES,
  type Amf3ExternalizableCodec,
  type Amf3ExternalizableCodecs,
} from './amf3-externalizable.js';

/** Decodes every AMF3 value in `input`, as one AMF3 context (shared reference tables). */
export function decodeAmf3(input: Uint8Array, options?: Amf3ReaderOptions): unknown[] {
  return new Amf3Reader(input, options).readAll();
}

/** Encodes `values` one after another as AMF3, as one AMF3 context (shared reference tables). */
export function encodeAmf3(...values: unknown[]): Buffer {
  return new Amf3Writer().writeValues(...values).toBuffer();
}
