// AMF0 encoding (AMF 0 Specification, December 2007). Values AMF0 has no type for (ByteArray,
// E4X XML, vectors, dictionaries, externalizables) go through an AVM+ switch as AMF3.
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
} from './amf-types.js';
import { AMF0_MAX_SHORT_STRING, Amf0Marker } from './amf0-markers.js';
import { Amf3Writer, type Amf3WriterOptions } from './amf3-writer.js';
import { ByteWriter, utf8ByteLength } from './byte-writer.js';

/** Limits, the AMF3 settings used behind an AVM+ switch, and optionally a buffer to append to. */
export type Amf0WriterOptions = Amf3WriterOptions;

/** AMF0 references are 16-bit: later complex values can only be written inline. */
const MAX_REFERENCE_INDEX = 0xffff;

export class Amf0Writer {
  readonly output: ByteWriter;
  private readonly options: Amf0WriterOptions;
  private readonly maxDepth: number;
  private references = new Map<object, number>();
  private referenceCount = 0;
  private depth = 0;

  constructor(options: Amf0WriterOptions = {}) {
    this.output = options.output ?? new ByteWriter();
    this.options = options;
    this.maxDepth = options.maxDepth ?? DEFAULT_AMF_MAX_DEPTH;
  }

  /** The bytes written so far (a view; see ByteWriter.toBuffer). */
  toBuffer(): Buffer {
    return this.output.toBuffer();
  }

  /** Empties the reference table. */
  resetReferences(): void {
    this.references.clear();
    this.referenceCount = 0;
  }

  writeValues(...values: unknown[]): this {
    for (const value of values) this.writeValue(value);
    return this;
  }

  writeValue(value: unknown): this {
    if (this.depth >= this.maxDepth) {
      throw new AmfError(`AMF0 value nested deeper than ${this.maxDepth} levels`, this.output.byteLength);
    }
    this.depth++;
    this.writeMarkedValue(value);
    this.depth--;
    return this;
  }

  /**
   * Writes the AVM+ marker then `value` in AMF3, with fresh AMF3 reference tables: how Flash Player
   * sends values on a connection using AMF3 object encoding.
   */
  writeAvmPlus(value: unknown): this {
    this.output.writeUInt8(Amf0Marker.AvmPlus);
    // The switched value sits at the current level (already counted when called from writeValue).
    const maxDepth = this.maxDepth - Math.max(0, this.depth - 1);
    new Amf3Writer({ ...this.options, output: this.output, maxDepth }).writeValue(value);
    return this;
  }

  /** Writes a string with a 16-bit length and no marker (object keys, class names). */
  writeShortString(text: string): this {
    const byteLength = utf8ByteLength(text);
    if (byteLength > AMF0_MAX_SHORT_STRING) {
      throw new AmfError(`AMF0 name of ${byteLength} bytes exceeds ${AMF0_MAX_SHORT_STRING}`, this.output.byteLength);
    }
    this.output.writeUInt16BE(byteLength);
    this.output.writeUtf8(text, byteLength);
    return this;
  }

  private writeMarkedValue(value: unknown): void {
    const output = this.output;
    switch (typeof value) {
      case 'number':
        output.writeUInt8(Amf0Marker.Number);
        output.writeDoubleBE(value);
        return;
      case 'boolean':
        output.writeUInt8(Amf0Marker.Boolean);
        output.writeUInt8(value ? 1 : 0);
        return;
      case 'string': {
        const byteLength = utf8ByteLength(value);
        if (byteLength <= AMF0_MAX_SHORT_STRING) {
          output.writeUInt8(Amf0Marker.String);
          output.writeUInt16BE(byteLength);
        } else {
          output.writeUInt8(Amf0Marker.LongString);
          output.writeUInt32BE(byteLength);
        }
        output.writeUtf8(value, byteLength);
        return;
      }
      case 'undefined':
        output.writeUInt8(Amf0Marker.Undefined);
        return;
      case 'object':
        if (value === null) output.writeUInt8(Amf0Marker.Null);
        else this.writeObjectLike(value);
        return;
      default:
        throw new AmfError(`cannot encode a ${typeof value} as AMF0`, output.byteLength);
    }
  }

  /** Writes a reference if `value` was written before (returning false), else registers it. */
  private beginComplex(value: object): boolean {
    const index = this.references.get(value);
    if (index !== undefined) {
      this.output.writeUInt8(Amf0Marker.Reference);
      this.output.writeUInt16BE(index);
      return false;
    }
    // The reader numbers every complex value, so the count advances even past the 16-bit limit.
    if (this.referenceCount <= MAX_REFERENCE_INDEX) this.references.set(value, this.referenceCount);
    this.referenceCount++;
    return true;
  }

  private writeObjectLike(value: object): void {
    const output = this.output;
    if (value instanceof Date) {
      output.writeUInt8(Amf0Marker.Date);
      output.writeDoubleBE(value.getTime());
      output.writeInt16BE(0);
    } else if (Array.isArray(value)) {
      if (!this.beginComplex(value)) return;
      output.writeUInt8(Amf0Marker.StrictArray);
      output.writeUInt32BE(value.length);
      for (let index = 0; index < value.length; index++) this.writeValue(value[index]);
    } else if (value instanceof AmfEcmaArray) {
      if (!this.beginComplex(value)) return;
      output.writeUInt8(Amf0Marker.EcmaArray);
      output.writeUInt32BE(Object.keys(value.values).length);
      this.writeProperties(value.values);
    } else if (value instanceof AmfTypedObject) {
      if (!this.beginComplex(value)) return;
      output.writeUInt8(Amf0Marker.TypedObject);
      this.writeShortString(value.className);
      this.writeProperties(value.values);
    } else if (value instanceof AmfXmlDocument) {
      const byteLength = utf8ByteLength(value.xml);
      output.writeUInt8(Amf0Marker.XmlDocument);
      output.writeUInt32BE(byteLength);
      output.writeUtf8(value.xml, byteLength);
    } else if (isAmf3Only(value)) {
      this.writeAvmPlus(value);
    } else {
      if (!this.beginComplex(value)) return;
      output.writeUInt8(Amf0Marker.Object);
      this.writeProperties(value as Record<string, unknown>);
    }
  }

  private writeProperties(values: Record<string, unknown>): void {
    for (const key of Object.keys(values)) {
      this.writeShortString(key);
      this.writeValue(values[key]);
    }
    this.output.writeUInt16BE(0);
    this.output.writeUInt8(Amf0Marker.ObjectEnd);
  }
}

function isAmf3Only(value: object): boolean {
  return (
    value instanceof Uint8Array ||
    value instanceof ArrayBuffer ||
    value instanceof AmfXml ||
    value instanceof AmfVector ||
    value instanceof AmfDictionary ||
    value instanceof Map ||
    value instanceof AmfExternalizable
  );
}
