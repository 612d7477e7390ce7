// AMF3 encoding (AMF 3 Specification, January 2013). One writer is one AMF3 context: strings,
// objects and traits already written are sent as references until resetReferences().
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
  type AmfLimits,
} from './amf-types.js';
import { DEFAULT_AMF3_EXTERNALIZABLES, type Amf3ExternalizableCodecs } from './amf3-externalizable.js';
import { AMF3_INTEGER_MAX, AMF3_INTEGER_MIN, AMF3_MAX_INLINE_LENGTH, Amf3Marker, U29_MAX } from './amf3-markers.js';
import { ByteWriter, utf8ByteLength } from './byte-writer.js';

export interface Amf3WriterOptions extends AmfLimits {
  /** Codecs for externalizable classes; DEFAULT_AMF3_EXTERNALIZABLES when omitted. */
  externalizables?: Amf3ExternalizableCodecs;
  /** Append to this byte buffer instead of a new one (used by the AMF0 AVM+ switch). */
  output?: ByteWriter;
}

/** Trait-table key of anonymous dynamic objects, the traits almost every object uses. */
const ANONYMOUS_TRAITS_KEY = 'anonymous';

/** The inline object header for anonymous dynamic objects: traits inline, dynamic, 0 sealed. */
const ANONYMOUS_TRAITS_HEADER = 0b1011;

export class Amf3Writer {
  readonly output: ByteWriter;
  private readonly maxDepth: number;
  private readonly externalizables: Amf3ExternalizableCodecs;
  private strings = new Map<string, number>();
  private objects = new Map<object, number>();
  private traits = new Map<string, number>();
  private depth = 0;

  constructor(options: Amf3WriterOptions = {}) {
    this.output = options.output ?? new ByteWriter();
    this.maxDepth = options.maxDepth ?? DEFAULT_AMF_MAX_DEPTH;
    this.externalizables = options.externalizables ?? DEFAULT_AMF3_EXTERNALIZABLES;
  }

  /** The bytes written so far (a view; see ByteWriter.toBuffer). */
  toBuffer(): Buffer {
    return this.output.toBuffer();
  }

  /** Empties the reference tables, as at the start of a new AMF3 context. */
  resetReferences(): void {
    this.strings.clear();
    this.objects.clear();
    this.traits.clear();
  }

  writeValues(...values: unknown[]): this {
    for (const value of values) this.writeValue(value);
    return this;
  }

  writeValue(value: unknown): this {
    if (this.depth >= this.maxDepth) {
      throw new AmfError(`AMF3 value nested deeper than ${this.maxDepth} levels`, this.output.byteLength);
    }
    this.depth++;
    this.writeMarkedValue(value);
    this.depth--;
    return this;
  }

  /** Writes a variable-length unsigned 29-bit integer. */
  writeU29(value: number): this {
    const output = this.output;
    if (!Number.isInteger(value) || value < 0 || value > U29_MAX) {
      throw new AmfError(`${value} does not fit an AMF3 U29`, output.byteLength);
    }
    if (value < 0x80) {
      output.writeUInt8(value);
    } else if (value < 0x4000) {
      output.writeUInt8((value >>> 7) | 0x80);
      output.writeUInt8(value & 0x7f);
    } else if (value < 0x200000) {
      output.writeUInt8((value >>> 14) | 0x80);
      output.writeUInt8(((value >>> 7) & 0x7f) | 0x80);
      output.writeUInt8(value & 0x7f);
    } else {
      output.writeUInt8((value >>> 22) | 0x80);
      output.writeUInt8(((value >>> 15) & 0x7f) | 0x80);
      output.writeUInt8(((value >>> 8) & 0x7f) | 0x80);
      output.writeUInt8(value & 0xff);
    }
    return this;
  }

  /** Writes an AMF3 string body (UTF-8-vr: inline, or a reference when seen before), no marker. */
  writeString(text: string): this {
    if (text === '') {
      this.output.writeUInt8(0x01); // empty string: inline, length 0, never referenced
      return this;
    }
    const index = this.strings.get(text);
    if (index !== undefined) return this.writeU29(index << 1);
    this.strings.set(text, this.strings.size);
    const byteLength = utf8ByteLength(text);
    this.writeInlineLength(byteLength, 'string');
    this.output.writeUtf8(text, byteLength);
    return this;
  }

  private writeInlineLength(length: number, what: string): void {
    if (length > AMF3_MAX_INLINE_LENGTH) {
      throw new AmfError(`AMF3 ${what} of ${length} is longer than ${AMF3_MAX_INLINE_LENGTH}`, this.output.byteLength);
    }
    this.writeU29((length << 1) | 1);
  }

  private writeMarkedValue(value: unknown): void {
    const output = this.output;
    switch (typeof value) {
      case 'undefined':
        output.writeUInt8(Amf3Marker.Undefined);
        return;
      case 'boolean':
        output.writeUInt8(value ? Amf3Marker.True : Amf3Marker.False);
        return;
      case 'number':
        this.writeNumber(value);
        return;
      case 'string':
        output.writeUInt8(Amf3Marker.String);
        this.writeString(value);
        return;
      case 'object':
        if (value === null) output.writeUInt8(Amf3Marker.Null);
        else this.writeObjectLike(value);
        return;
      default:
        throw new AmfError(`cannot encode a ${typeof value} as AMF3`, output.byteLength);
    }
  }

  private writeNumber(value: number): void {
    // -0 goes as a double so its sign survives.
    if (Number.isInteger(value) && value >= AMF3_INTEGER_MIN && value <= AMF3_INTEGER_MAX && !Object.is(value, -0)) {
      this.output.writeUInt8(Amf3Marker.Integer);
      this.writeU29(value & U29_MAX);
    } else {
      this.output.writeUInt8(Amf3Marker.Double);
      this.output.writeDoubleBE(value);
    }
  }

  /**
   * Writes the marker, then either a reference to `value` if it was written before (returning
   * false), or nothing more after registering it (returning true: the caller writes it inline).
   */
  private beginObject(marker: number, value: object): boolean {
    this.output.writeUInt8(marker);
    const index = this.objects.get(value);
    if (index !== undefined) {
      this.writeU29(index << 1);
      return false;
    }
    this.objects.set(value, this.objects.size);
    return true;
  }

  private writeObjectLike(value: object): void {
    const output = this.output;
    if (Array.isArray(value)) {
      if (!this.beginObject(Amf3Marker.Array, value)) return;
      this.writeInlineLength(value.length, 'array');
      output.writeUInt8(0x01); // no associative part
      for (let index = 0; index < value.length; index++) this.writeValue(value[index]);
    } else if (value instanceof Date) {
      if (!this.beginObject(Amf3Marker.Date, value)) return;
      output.writeUInt8(0x01);
      output.writeDoubleBE(value.getTime());
    } else if (value instanceof Uint8Array || value instanceof ArrayBuffer) {
      if (!this.beginObject(Amf3Marker.ByteArray, value)) return;
      const bytes = value instanceof Uint8Array ? value : new Uint8Array(value);
      this.writeInlineLength(bytes.length, 'ByteArray');
      output.writeBytes(bytes);
    } else if (value instanceof AmfEcmaArray) {
      if (this.beginObject(Amf3Marker.Array, value)) this.writeEcmaArray(value);
    } else if (value instanceof AmfTypedObject) {
      if (this.beginObject(Amf3Marker.Object, value)) this.writeTypedObject(value);
    } else if (value instanceof AmfExternalizable) {
      if (this.beginObject(Amf3Marker.Object, value)) this.writeExternalizable(value);
    } else if (value instanceof AmfXmlDocument || value instanceof AmfXml) {
      const marker = value instanceof AmfXml ? Amf3Marker.Xml : Amf3Marker.XmlDocument;
      if (!this.beginObject(marker, value)) return;
      const byteLength = utf8ByteLength(value.xml);
      this.writeInlineLength(byteLength, 'XML');
      output.writeUtf8(value.xml, byteLength);
    } else if (value instanceof AmfVector) {
      this.writeVector(value);
    } else if (value instanceof AmfDictionary || value instanceof Map) {
      if (!this.beginObject(Amf3Marker.Dictionary, value)) return;
      const entries = value instanceof Map ? value : value.entries;
      this.writeInlineLength(entries.size, 'dictionary');
      output.writeUInt8(value instanceof AmfDictionary && value.weakKeys ? 1 : 0);
      for (const [key, entry] of entries) {
        this.writeValue(key);
        this.writeValue(entry);
      }
    } else {
      if (this.beginObject(Amf3Marker.Object, value)) this.writeAnonymousObject(value as Record<string, unknown>);
    }
  }

  private writeEcmaArray(array: AmfEcmaArray): void {
    const values = array.values;
    // The dense part is the run of keys "0", "1", ... present from 0; everything else is associative.
    let denseCount = 0;
    while (Object.prototype.hasOwnProperty.call(values, denseCount)) denseCount++;
    this.writeInlineLength(denseCount, 'array');
    for (const key of Object.keys(values)) {
      if (isArrayIndexBelow(key, denseCount)) continue;
      if (key === '') throw new AmfError('an AMF3 associative array cannot have an empty key', this.output.byteLength);
      this.writeString(key);
      this.writeValue(values[key]);
    }
    this.output.writeUInt8(0x01);
    for (let index = 0; index < denseCount; index++) this.writeValue(values[index]);
  }

  private writeAnonymousObject(values: Record<string, unknown>): void {
    const traitIndex = this.traits.get(ANONYMOUS_TRAITS_KEY);
    if (traitIndex === undefined) {
      this.traits.set(ANONYMOUS_TRAITS_KEY, this.traits.size);
      this.writeU29(ANONYMOUS_TRAITS_HEADER);
      this.output.writeUInt8(0x01); // class name ""
    } else {
      this.writeU29((traitIndex << 2) | 0b01);
    }
    this.writeDynamicMembers(values, undefined);
  }

  private writeDynamicMembers(values: Record<string, unknown>, sealed: ReadonlySet<string> | undefined): void {
    for (const key of Object.keys(values)) {
      if (sealed?.has(key)) continue;
      if (key === '') throw new AmfError('an AMF3 dynamic member cannot have an empty name', this.output.byteLength);
      this.writeString(key);
      this.writeValue(values[key]);
    }
    this.output.writeUInt8(0x01);
  }

  private writeTypedObject(object: AmfTypedObject): void {
    const { className, values, dynamic } = object;
    const sealedMemberNames = object.sealedMemberNames ?? Object.keys(values);
    const sealedSet = object.sealedMemberNames === undefined ? undefined : new Set(sealedMemberNames);
    if (!dynamic && sealedSet !== undefined) {
      for (const key of Object.keys(values)) {
        if (!sealedSet.has(key)) {
          throw new AmfError(
            `AMF3 typed object "${className}" is not dynamic but has "${key}" outside its sealed members`,
            this.output.byteLength,
          );
        }
      }
    }
    const key = JSON.stringify([className, dynamic, sealedMemberNames]);
    const traitIndex = this.traits.get(key);
    if (traitIndex !== undefined) {
      this.writeU29((traitIndex << 2) | 0b01);
    } else {
      this.traits.set(key, this.traits.size);
      if (sealedMemberNames.length > U29_MAX >>> 4) {
        throw new AmfError(`AMF3 typed object "${className}" has too many sealed members`, this.output.byteLength);
      }
      this.writeU29((sealedMemberNames.length << 4) | (dynamic ? 0b1000 : 0) | 0b011);
      this.writeString(className);
      for (const name of sealedMemberNames) this.writeString(name);
    }
    for (const name of sealedMemberNames) this.writeValue(values[name]);
    if (dynamic) this.writeDynamicMembers(values, sealedSet ?? new Set(sealedMemberNames));
  }

  private writeExternalizable(object: AmfExternalizable): void {
    const codec = this.externalizables.get(object.className);
    if (codec === undefined) {
      throw new AmfError(
        `AMF3 externalizable class "${object.className}" has no registered writer`,
        this.output.byteLength,
      );
    }
    const key = JSON.stringify(['externalizable', object.className]);
    const traitIndex = this.traits.get(key);
    if (traitIndex !== undefined) {
      this.writeU29((traitIndex << 2) | 0b01);
    } else {
      this.traits.set(key, this.traits.size);
      this.writeU29(0b0111);
      this.writeString(object.className);
    }
    codec.write(this, object.body);
  }

  private writeVector(vector: AmfVector): void {
    const output = this.output;
    const marker =
      vector.kind === 'int'
        ? Amf3Marker.VectorInt
        : vector.kind === 'uint'
          ? Amf3Marker.VectorUint
          : vector.kind === 'double'
            ? Amf3Marker.VectorDouble
            : Amf3Marker.VectorObject;
    if (!this.beginObject(marker, vector)) return;
    const items = vector.items;
    this.writeInlineLength(items.length, 'vector');
    output.writeUInt8(vector.fixed ? 1 : 0);
    if (vector.kind === 'object') {
      this.writeString(vector.objectTypeName);
      for (const item of items) this.writeValue(item);
      return;
    }
    for (const item of items) {
      if (typeof item !== 'number') {
        throw new AmfError(`AMF3 ${vector.kind} vector holds a non-number item`, output.byteLength);
      }
      if (vector.kind === 'double') {
        output.writeDoubleBE(item);
      } else if (vector.kind === 'int') {
        if (!Number.isInteger(item) || item < -0x80000000 || item > 0x7fffffff) {
          throw new AmfError(`${item} does not fit an AMF3 int vector`, output.byteLength);
        }
        output.writeInt32BE(item);
      } else {
        if (!Number.isInteger(item) || item < 0 || item > 0xffffffff) {
          throw new AmfError(`${item} does not fit an AMF3 uint vector`, output.byteLength);
        }
        output.writeUInt32BE(item);
      }
    }
  }
}

/** True for the canonical decimal form of an integer in [0, limit). */
function isArrayIndexBelow(key: string, limit: number): boolean {
  if (key.length === 0 || key.length > 10) return false;
  const index = Number(key);
  return Number.isInteger(index) && index >= 0 && index < limit && String(index) === key;
}
