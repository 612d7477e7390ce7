// AMF0 decoding (AMF 0 Specification, December 2007). The reference table spans every value one
// reader reads; an AVM+ switch reads one AMF3 value in a fresh AMF3 context.
import { AmfByteReader } from './amf-byte-reader.js';
import {
  AmfEcmaArray,
  AmfError,
  AmfTypedObject,
  AmfXmlDocument,
  DEFAULT_AMF_MAX_DEPTH,
  setAmfProperty,
} from './amf-types.js';
import { Amf0Marker } from './amf0-markers.js';
import { Amf3Reader, type Amf3ReaderOptions } from './amf3-reader.js';

/** Limits, plus the AMF3 settings used for values behind an AVM+ switch. */
export type Amf0ReaderOptions = Amf3ReaderOptions;

export class Amf0Reader extends AmfByteReader {
  private readonly options: Amf0ReaderOptions;
  private readonly maxDepth: number;
  /** Complex values (objects, arrays, typed objects) in the order they began, for 0x07 references. */
  private references: unknown[] = [];
  private depth = 0;

  constructor(input: Uint8Array, options: Amf0ReaderOptions = {}) {
    super(input);
    this.options = options;
    this.maxDepth = options.maxDepth ?? DEFAULT_AMF_MAX_DEPTH;
  }

  /** Reads every value up to the end of the input (an RTMP command is a sequence of values). */
  readAll(): unknown[] {
    const values: unknown[] = [];
    while (this.hasMore) values.push(this.readValue());
    return values;
  }

  /** Empties the reference table. */
  resetReferences(): void {
    this.references = [];
  }

  readValue(): unknown {
    if (this.depth >= this.maxDepth) {
      throw new AmfError(`AMF0 value nested deeper than ${this.maxDepth} levels`, this.offset);
    }
    this.depth++;
    const value = this.readMarkedValue();
    this.depth--;
    return value;
  }

  /** Reads a string with a 16-bit length and no marker (object keys, class names). */
  readShortString(what = 'AMF0 string'): string {
    return this.readUtf8(this.readUInt16BE(`${what} length`), what);
  }

  private readMarkedValue(): unknown {
    const markerOffset = this.offset;
    const marker = this.readUInt8('AMF0 type marker');
    switch (marker) {
      case Amf0Marker.Number:
        return this.readDoubleBE('AMF0 number');
      case Amf0Marker.Boolean:
        return this.readUInt8('AMF0 boolean') !== 0;
      case Amf0Marker.String:
        return this.readShortString();
      case Amf0Marker.Object: {
        const object: Record<string, unknown> = {};
        this.references.push(object);
        this.readProperties(object);
        return object;
      }
      case Amf0Marker.Null:
        return null;
      case Amf0Marker.Undefined:
        return undefined;
      case Amf0Marker.Reference: {
        const index = this.readUInt16BE('AMF0 reference');
        if (index >= this.references.length) {
          throw new AmfError(`AMF0 reference ${index} out of range (table has ${this.references.length})`, markerOffset);
        }
        return this.references[index];
      }
      case Amf0Marker.EcmaArray: {
        // The count is only a hint (encoders get it wrong); the end marker is what ends the array.
        this.readUInt32BE('AMF0 ECMA array count');
        const array = new AmfEcmaArray();
        this.references.push(array);
        this.readProperties(array.values);
        return array;
      }
      case Amf0Marker.StrictArray:
        return this.readStrictArray();
      case Amf0Marker.Date: {
        const time = this.readDoubleBE('AMF0 date');
        this.readInt16BE('AMF0 date time zone'); // reserved; the spec says to send 0 and ignore it
        return new Date(time);
      }
      case Amf0Marker.LongString:
        return this.readUtf8(this.readUInt32BE('AMF0 long string length'), 'AMF0 long string');
      case Amf0Marker.Unsupported:
        // Stands for a value the sender could not serialize; undefined is the nearest meaning.
        return undefined;
      case Amf0Marker.XmlDocument:
        return new AmfXmlDocument(this.readUtf8(this.readUInt32BE('AMF0 XML length'), 'AMF0 XML document'));
      case Amf0Marker.TypedObject: {
        const className = this.readShortString('AMF0 class name');
        const object = new AmfTypedObject(className);
        this.references.push(object);
        this.readProperties(object.values);
        return object;
      }
      case Amf0Marker.AvmPlus:
        return this.readAvmPlus();
      case Amf0Marker.ObjectEnd:
        throw new AmfError('AMF0 object-end marker outside an object', markerOffset);
      case Amf0Marker.MovieClip:
      case Amf0Marker.RecordSet:
        throw new AmfError(`reserved AMF0 type marker 0x0${marker.toString(16)} is not supported`, markerOffset);
      default:
        throw new AmfError(`unknown AMF0 type marker 0x${marker.toString(16).padStart(2, '0')}`, markerOffset);
    }
  }

  /** Reads key/value pairs up to the empty key followed by the object-end marker. */
  private readProperties(target: Record<string, unknown>): void {
    for (;;) {
      const key = this.readShortString('AMF0 property name');
      // An empty key ends the object only when the object-end marker follows; no value can start
      // with that marker, so anything else is a value for the key "".
      if (key === '' && this.offset < this.buffer.length && this.buffer[this.offset] === Amf0Marker.ObjectEnd) {
        this.offset++;
        return;
      }
      setAmfProperty(target, key, this.readValue());
    }
  }

  private readStrictArray(): unknown[] {
    const count = this.readUInt32BE('AMF0 strict array count');
    if (count > this.remaining) {
      throw new AmfError(`AMF0 strict array claims ${count} items but only ${this.remaining} bytes remain`, this.offset);
    }
    const items: unknown[] = [];
    this.references.push(items);
    for (let index = 0; index < count; index++) items.push(this.readValue());
    return items;
  }

  private readAvmPlus(): unknown {
    const amf3 = new Amf3Reader(this.buffer, {
      ...this.options,
      maxDepth: this.maxDepth - this.depth + 1,
    });
    amf3.offset = this.offset;
    const value = amf3.readValue();
    this.offset = amf3.offset;
    return value;
  }
}
