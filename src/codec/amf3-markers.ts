// AMF3 type markers (AMF 3 Specification, January 2013, section 3.1).
export const Amf3Marker = {
  Undefined: 0x00,
  Null: 0x01,
  False: 0x02,
  True: 0x03,
  Integer: 0x04,
  Double: 0x05,
  String: 0x06,
  XmlDocument: 0x07,
  Date: 0x08,
  Array: 0x09,
  Object: 0x0a,
  Xml: 0x0b,
  ByteArray: 0x0c,
  VectorInt: 0x0d,
  VectorUint: 0x0e,
  VectorDouble: 0x0f,
  VectorObject: 0x10,
  Dictionary: 0x11,
} as const;

/** The signed range an AMF3 integer (29-bit two's complement) can hold. */
export const AMF3_INTEGER_MIN = -0x10000000;
export const AMF3_INTEGER_MAX = 0x0fffffff;

/** Largest value of an unsigned 29-bit integer (U29). */
export const U29_MAX = 0x1fffffff;

/** Largest length or count that fits beside the inline/reference flag bit of a U29. */
export const AMF3_MAX_INLINE_LENGTH = 0x0fffffff;
