// The JavaScript value model shared by the AMF0 and AMF3 codecs.
//
// Plain values map naturally: number, string, boolean, null, undefined, Date, Array (AMF0 strict
// array / AMF3 dense array) and plain objects (anonymous objects). Everything AMF can say that a
// plain JS value cannot is a small wrapper class below, so that decoding then encoding gives the
// same meaning back (and, for values this codec wrote itself, the same bytes).

/** Thrown for any malformed, truncated or unencodable AMF data; `offset` is where it went wrong. */
export class AmfError extends Error {
  override name = 'AmfError';
  constructor(
    message: string,
    /** Byte offset in the input (decoding) or output (encoding) at which the problem was found. */
    readonly offset?: number,
  ) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`);
  }
}

/**
 * An instance of a named ActionScript class: AMF0 typed object, or AMF3 object with a class name.
 * AMF3 distinguishes sealed members (fixed by the class, written in trait order) from dynamic ones;
 * `sealedMemberNames` keeps that split so a decoded object re-encodes identically. When it is
 * undefined, every key of `values` is written as a sealed member, which is what a non-dynamic
 * registered class on the other side expects.
 */
export class AmfTypedObject {
  constructor(
    public className: string,
    public values: Record<string, unknown> = {},
    public sealedMemberNames: readonly string[] | undefined = undefined,
    public dynamic = false,
  ) {}
}

/**
 * An associative array: AMF0 ECMA array (as in onMetaData), or an AMF3 array with string keys.
 * Kept apart from plain objects because peers treat the two differently. In AMF3, keys "0".."n-1"
 * form the dense part and any other key the associative part.
 */
export class AmfEcmaArray {
  constructor(public values: Record<string, unknown> = {}) {}
}

/** A legacy flash.xml.XMLDocument (AMF0 XML document marker, AMF3 XMLDocument marker). */
export class AmfXmlDocument {
  constructor(public xml: string) {}
}

/** An E4X XML value (AMF3 only; AMF0 writers carry it through an AVM+ switch). */
export class AmfXml {
  constructor(public xml: string) {}
}

export type AmfVectorKind = 'int' | 'uint' | 'double' | 'object';

/**
 * An ActionScript Vector (AMF3 only). Numeric kinds hold JS numbers that must fit the element type
 * (int32, uint32, double); `objectTypeName` is the element class of Vector.<T> for kind 'object'
 * ('*' for any, '' when the encoder did not say).
 */
export class AmfVector {
  constructor(
    readonly kind: AmfVectorKind,
    public items: unknown[] = [],
    public fixed = false,
    public objectTypeName = '*',
  ) {}
}

/** An ActionScript flash.utils.Dictionary (AMF3 only): keys may be any value, objects included. */
export class AmfDictionary {
  constructor(
    public entries: Map<unknown, unknown> = new Map(),
    public weakKeys = false,
  ) {}
}

/**
 * An instance of an AMF3 externalizable class (IExternalizable): its body is whatever the
 * registered codec for `className` reads and writes, e.g. the source array of an ArrayCollection.
 */
export class AmfExternalizable {
  constructor(
    public className: string,
    public body: unknown,
  ) {}
}

/**
 * The string-keyed properties of an AMF object-like value (plain object, ECMA array, typed object),
 * or undefined for anything else. Lets callers read e.g. onMetaData without caring which of the
 * three forms the encoder chose.
 */
export function amfObjectProperties(value: unknown): Record<string, unknown> | undefined {
  if (value instanceof AmfEcmaArray || value instanceof AmfTypedObject) return value.values;
  if (isPlainObject(value)) return value;
  return undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Sets a decoded key as an own data property. A plain assignment of "__proto__" would replace the
 * object's prototype instead: a peer must not be able to do that.
 */
export function setAmfProperty(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** Limits that keep a hostile or corrupt input from exhausting the stack or memory. */
export interface AmfLimits {
  /** Deepest nesting of containers accepted when reading or writing (default 256). */
  maxDepth?: number;
}

export const DEFAULT_AMF_MAX_DEPTH = 256;
