// AMF3 decoding (AMF 3 Specification, January 2013). One reader is one AMF3 context: its string,
// object and trait reference tables span every value it reads until resetReferences().
import { AmfByteReader } from './amf-byte-reader.js';
import {
  AmfDictionary,
  AmfEcmaArray,
  AmfError,
  AmfExternalizable,
  AmfTypedObject,
  AmfVector,
  AmfXml,
  AmfXmlDocument,
  DEFAULT_AMF_MAX_DEPTH,
  setAmfProperty,
  type AmfLimits,
} from './amf-types.js';
import { DEFAULT_AMF3_EXTERNALIZABLES, type Amf3ExternalizableCodecs } from './amf3-externalizable.js';
import { Amf3Marker } from './amf3-markers.js';

export interface Amf3ReaderOptions extends AmfLimits {
  /** Codecs for externalizable classes; DEFAULT_AMF3_EXTERNALIZABLES when omitted. */
  externalizables?: Amf3ExternalizableCodecs;
}

/** Class description shared by objects through the trait reference table. */
interface Amf3Traits {
  readonly className: string;
  readonly sealedMemberNames: readonly string[];
  readonly dynamic: boolean;
  readonly externalizable: boolean;
}

/**
 * Holds an object-table slot while an externalizable body is read: its value only exists once the
 * codec returns, so a reference to it from inside its own body cannot be resolved.
 */
const UNDER_CONSTRUCTION: unique symbol = Symbol('amf3 object under construction');

export class Amf3Reader extends AmfByteReader {
  private readonly maxDepth: number;
  private readonly externalizables: Amf3ExternalizableCodecs;
  private strings: string[] = [];
  private objects: unknown[] = [];
  private traits: Amf3Traits[] = [];
  private depth = 0;

  constructor(input: Uint8Array, options: Amf3ReaderOptions = {}) {
    super(input);
    this.maxDepth = options.maxDepth ?? DEFAULT_AMF_MAX_DEPTH;
    this.externalizables = options.externalizables ?? DEFAULT_AMF3_EXTERNALIZABLES;
  }

  /** Reads every value up to the end of the input. */
  readAll(): unknown[] {
    const values: unknown[] = [];
    while (this.hasMore) values.push(this.readValue());
    return values;
  }

  /** Empties the reference tables, as at the start of a new AMF3 context. */
  resetReferences(): void {
    this.strings = [];
    this.objects = [];
    this.traits = [];
  }

  readValue(): unknown {
    if (this.depth >= this.maxDepth) {
      throw new AmfError(`AMF3 value nested deeper than ${this.maxDepth} levels`, this.offset);
    }
    this.depth++;
    const value = this.readMarkedValue();
    this.depth--;
    return value;
  }

  /** Reads a variable-length unsigned 29-bit integer. */
  readU29(what = 'U29'): number {
    const buffer = this.buffer;
    let offset = this.offset;
    if (buffer.length - offset >= 4) {
      // Common case, enough bytes for the longest form: no per-byte bounds checks.
      let byte = buffer[offset++]!;
      let value = byte & 0x7f;
      if (byte >= 0x80) {
        byte = buffer[offset++]!;
        value = (value << 7) | (byte & 0x7f);
        if (byte >= 0x80) {
          byte = buffer[offset++]!;
          value = (value << 7) | (byte & 0x7f);
          if (byte >= 0x80) value = (value << 8) | buffer[offset++]!;
        }
      }
      this.offset = offset;
      return value;
    }
    let value = 0;
    for (let index = 0; index < 4; index++) {
      const byte = this.readUInt8(what);
      if (index === 3) return (value << 8) | byte;
      value = (value << 7) | (byte & 0x7f);
      if (byte < 0x80) return value;
    }
    return value; // unreachable: the fourth byte always returns
  }

  /** Reads an AMF3 string body (UTF-8-vr: inline or a string-table reference), without marker. */
  readString(): string {
    const start = this.offset;
    const header = this.readU29('string header');
    if ((header & 1) === 0) {
      const index = header >>> 1;
      const referenced = this.strings[index];
      if (referenced === undefined) {
        throw new AmfError(`AMF3 string reference ${index} out of range (table has ${this.strings.length})`, start);
      }
      return referenced;
    }
    const byteLength = header >>> 1;
    if (byteLength === 0) return ''; // the empty string is never put in the table
    const text = this.readUtf8(byteLength, 'AMF3 string');
    this.strings.push(text);
    return text;
  }

  private readMarkedValue(): unknown {
    const markerOffset = this.offset;
    const marker = this.readUInt8('AMF3 type marker');
    switch (marker) {
      case Amf3Marker.Undefined:
        return undefined;
      case Amf3Marker.Null:
        return null;
      case Amf3Marker.False:
        return false;
      case Amf3Marker.True:
        return true;
      case Amf3Marker.Integer:
        // Sign-extend from 29 bits.
        return (this.readU29('AMF3 integer') << 3) >> 3;
      case Amf3Marker.Double:
        return this.readDoubleBE('AMF3 double');
      case Amf3Marker.String:
        return this.readString();
      case Amf3Marker.XmlDocument:
        return this.readXml(AmfXmlDocument);
      case Amf3Marker.Date:
        return this.readDate();
      case Amf3Marker.Array:
        return this.readArray();
      case Amf3Marker.Object:
        return this.readObject();
      case Amf3Marker.Xml:
        return this.readXml(AmfXml);
      case Amf3Marker.ByteArray:
        return this.readByteArray();
      case Amf3Marker.VectorInt:
        return this.readNumericVector('int');
      case Amf3Marker.VectorUint:
        return this.readNumericVector('uint');
      case Amf3Marker.VectorDouble:
        return this.readNumericVector('double');
      case Amf3Marker.VectorObject:
        return this.readObjectVector();
      case Amf3Marker.Dictionary:
        return this.readDictionary();
      default:
        throw new AmfError(`unknown AMF3 type marker 0x${marker.toString(16).padStart(2, '0')}`, markerOffset);
    }
  }

  /** Resolves an object-table reference (a U29 header whose low bit is 0). */
  private objectReference(header: number, start: number, what: string): unknown {
    const index = header >>> 1;
    if (index >= this.objects.length) {
      throw new AmfError(`AMF3 ${what} reference ${index} out of range (table has ${this.objects.length})`, start);
    }
    const value = this.objects[index];
    if (value === UNDER_CONSTRUCTION) {
      throw new AmfError(`AMF3 ${what} reference ${index} points into an externalizable object still being read`, start);
    }
    return value;
  }

  /** Throws unless `count` items of at least `minBytesEach` could still follow: no huge loops. */
  private needItems(count: number, minBytesEach: number, what: string): void {
    if (count * minBytesEach > this.remaining) {
      throw new AmfError(`AMF3 ${what} claims ${count} items but only ${this.remaining} bytes remain`, this.offset);
    }
  }

  private readXml(kind: typeof AmfXml | typeof AmfXmlDocument): unknown {
    const start = this.offset;
    const header = this.readU29('AMF3 XML header');
    if ((header & 1) === 0) return this.objectReference(header, start, 'XML');
    const value = new kind(this.readUtf8(header >>> 1, 'AMF3 XML'));
    this.objects.push(value);
    return value;
  }

  private readDate(): unknown {
    const start = this.offset;
    const header = this.readU29('AMF3 date header');
    if ((header & 1) === 0) return this.objectReference(header, start, 'date');
    const value = new Date(this.readDoubleBE('AMF3 date'));
    this.objects.push(value);
    return value;
  }

  private readByteArray(): unknown {
    const start = this.offset;
    const header = this.readU29('AMF3 ByteArray header');
    if ((header & 1) === 0) return this.objectReference(header, start, 'ByteArray');
    const value = this.readBytes(header >>> 1, 'AMF3 ByteArray');
    this.objects.push(value);
    return value;
  }

  private readArray(): unknown {
    const start = this.offset;
    const header = this.readU29('AMF3 array header');
    if ((header & 1) === 0) return this.objectReference(header, start, 'array');
    const denseCount = header >>> 1;
    let key = this.readString();
    if (key === '') {
      this.needItems(denseCount, 1, 'array');
      const items: unknown[] = [];
      this.objects.push(items);
      for (let index = 0; index < denseCount; index++) items.push(this.readValue());
      return items;
    }
    const values: Record<string, unknown> = {};
    const array = new AmfEcmaArray(values);
    this.objects.push(array);
    while (key !== '') {
      setAmfProperty(values, key, this.readValue());
      key = this.readString();
    }
    this.needItems(denseCount, 1, 'array');
    for (let index = 0; index < denseCount; index++) values[index] = this.readValue();
    return array;
  }

  private readTraits(header: number, start: number): Amf3Traits {
    if ((header & 2) === 0) {
      const index = header >>> 2;
      const traits = this.traits[index];
      if (traits === undefined) {
        throw new AmfError(`AMF3 trait reference ${index} out of range (table has ${this.traits.length})`, start);
      }
      return traits;
    }
    if ((header & 4) !== 0) {
      const traits = { className: this.readString(), sealedMemberNames: [], dynamic: false, externalizable: true };
      this.traits.push(traits);
      return traits;
    }
    const sealedCount = header >>> 4;
    const className = this.readString();
    this.needItems(sealedCount, 1, 'object traits');
    const sealedMemberNames: string[] = [];
    for (let index = 0; index < sealedCount; index++) sealedMemberNames.push(this.readString());
    const traits = { className, sealedMemberNames, dynamic: (header & 8) !== 0, externalizable: false };
    this.traits.push(traits);
    return traits;
  }

  private readObject(): unknown {
    const start = this.offset;
    const header = this.readU29('AMF3 object header');
    if ((header & 1) === 0) return this.objectReference(header, start, 'object');
    const traits = this.readTraits(header, start);

    if (traits.externalizable) {
      const codec = this.externalizables.get(traits.className);
      if (codec === undefined) {
        throw new AmfError(
          `AMF3 externalizable class "${traits.className}" has no registered reader; its body cannot be parsed`,
          start,
        );
      }
      const slot = this.objects.length;
      this.objects.push(UNDER_CONSTRUCTION);
      const value = new AmfExternalizable(traits.className, codec.read(this));
      this.objects[slot] = value;
      return value;
    }

    const values: Record<string, unknown> = {};
    const object =
      traits.className === ''
        ? values
        : new AmfTypedObject(traits.className, values, traits.sealedMemberNames, traits.dynamic);
    this.objects.push(object);
    for (const name of traits.sealedMemberNames) setAmfProperty(values, name, this.readValue());
    if (traits.dynamic) {
      for (let key = this.readString(); key !== ''; key = this.readString()) {
        setAmfProperty(values, key, this.readValue());
      }
    }
    return object;
  }

  private readNumericVector(kind: 'int' | 'uint' | 'double'): unknown {
    const start = this.offset;
    const header = this.readU29('AMF3 vector header');
    if ((header & 1) === 0) return this.objectReference(header, start, 'vector');
    const count = header >>> 1;
    const fixed = this.readUInt8('vector fixed flag') !== 0;
    const itemSize = kind === 'double' ? 8 : 4;
    this.need(count * itemSize, `AMF3 vector of ${count} ${kind}`);
    const items: number[] = new Array<number>(count);
    const buffer = this.buffer;
    let offset = this.offset;
    for (let index = 0; index < count; index++, offset += itemSize) {
      items[index] =
        kind === 'int' ? buffer.readInt32BE(offset) : kind === 'uint' ? buffer.readUInt32BE(offset) : buffer.readDoubleBE(offset);
    }
    this.offset = offset;
    const vector = new AmfVector(kind, items, fixed);
    this.objects.push(vector);
    return vector;
  }

  private readObjectVector(): unknown {
    const start = this.offset;
    const header = this.readU29('AMF3 vector header');
    if ((header & 1) === 0) return this.objectReference(header, start, 'vector');
    const count = header >>> 1;
    const fixed = this.readUInt8('vector fixed flag') !== 0;
    const objectTypeName = this.readString();
    this.needItems(count, 1, 'object vector');
    const items: unknown[] = [];
    const vector = new AmfVector('object', items, fixed, objectTypeName);
    this.objects.push(vector);
    for (let index = 0; index < count; index++) items.push(this.readValue());
    return vector;
  }

  private readDictionary(): unknown {
    const start = this.offset;
    const header = this.readU29('AMF3 dictionary header');
    if ((header & 1) === 0) return this.objectReference(header, start, 'dictionary');
    const count = header >>> 1;
    const weakKeys = this.readUInt8('dictionary weak-keys flag') !== 0;
    this.needItems(count, 2, 'dictionary');
    const entries = new Map<unknown, unknown>();
    const dictionary = new AmfDictionary(entries, weakKeys);
    this.objects.push(dictionary);
    for (let index = 0; index < count; index++) {
      const key = this.readValue();
      entries.set(key, this.readValue());
    }
    return dictionary;
  }
}
