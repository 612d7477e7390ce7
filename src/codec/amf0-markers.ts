// AMF0 type markers (AMF 0 Specification, December 2007, section 2.1).
export const Amf0Marker = {
  Number: 0x00,
  Boolean: 0x01,
  String: 0x02,
  Object: 0x03,
  MovieClip: 0x04, // reserved, never sent
  Null: 0x05,
  Undefined: 0x06,
  Reference: 0x07,
  EcmaArray: 0x08,
  ObjectEnd: 0x09,
  StrictArray: 0x0a,
  Date: 0x0b,
  LongString: 0x0c,
  Unsupported: 0x0d,
  RecordSet: 0x0e, // reserved, never sent
  XmlDocument: 0x0f,
  TypedObject: 0x10,
  AvmPlus: 0x11,
} as const;

/** Longest UTF-8 string that fits a 16-bit length (string marker, object keys, class names). */
export const AMF0_MAX_SHORT_STRING = 0xffff;
