// Readers and writers for AMF3 externalizable classes (ActionScript IExternalizable). Their bodies
// are written by the class's own readExternal/writeExternal code, so without a matching codec the
// bytes that follow cannot even be skipped: the AMF3 reader fails rather than guess.
import type { Amf3Reader } from './amf3-reader.js';
import type { Amf3Writer } from './amf3-writer.js';

export interface Amf3ExternalizableCodec {
  /** Reads the class's body (what its readExternal consumes) and returns it. */
  read(reader: Amf3Reader): unknown;
  /** Writes `body` as the class's writeExternal would. */
  write(writer: Amf3Writer, body: unknown): void;
}

/** Externalizable class name (the alias on the wire) to its codec. */
export type Amf3ExternalizableCodecs = ReadonlyMap<string, Amf3ExternalizableCodec>;

/** Flex collections whose body is one AMF3 value: the source array, or the proxied object. */
const singleValueBody: Amf3ExternalizableCodec = {
  read: (reader) => reader.readValue(),
  write: (writer, body) => {
    writer.writeValue(body);
  },
};

/**
 * Codecs every reader and writer knows unless given its own map. To add classes, pass e.g.
 * `new Map([...DEFAULT_AMF3_EXTERNALIZABLES, ['com.example.Point', pointCodec]])` as
 * `externalizables`.
 */
export const DEFAULT_AMF3_EXTERNALIZABLES: Amf3ExternalizableCodecs = new Map([
  ['flex.messaging.io.ArrayCollection', singleValueBody],
  ['flex.messaging.io.ObjectProxy', singleValueBody],
]);
