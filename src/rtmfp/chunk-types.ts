// RTMFP chunk type codes and the flag bits inside chunks (RFC 7016 §2.3).

export const ChunkType = {
  /** Packet padding: parsing stops at either. */
  PADDING_0: 0x00,
  PADDING_FF: 0xff,
  FRAGMENT: 0x7f,

  IHELLO: 0x30,
  FORWARDED_IHELLO: 0x0f,
  RHELLO: 0x70,
  REDIRECT: 0x71,
  RHELLO_COOKIE_CHANGE: 0x79,
  IIKEYING: 0x38,
  RIKEYING: 0x78,

  PING: 0x01,
  PING_REPLY: 0x41,

  USER_DATA: 0x10,
  NEXT_USER_DATA: 0x11,
  ACK_BITMAP: 0x50,
  ACK_RANGES: 0x51,
  BUFFER_PROBE: 0x18,
  FLOW_EXCEPTION: 0x5e,

  SESSION_CLOSE_REQUEST: 0x0c,
  SESSION_CLOSE_ACK: 0x4c,
} as const;

/** Packet header flags (RFC 7016 §2.2.4). */
export const HeaderFlag = {
  TIME_CRITICAL: 0x80,
  TIME_CRITICAL_REVERSE: 0x40,
  TIMESTAMP: 0x08,
  TIMESTAMP_ECHO: 0x04,
  MODE_MASK: 0x03,
} as const;

export const PacketMode = {
  INITIATOR: 1,
  RESPONDER: 2,
  STARTUP: 3,
} as const;

/** User Data chunk flags (RFC 7016 §2.3.11). */
export const UserDataFlag = {
  OPTIONS: 0x80,
  FRAGMENT_MASK: 0x30,
  ABANDON: 0x02,
  FINAL: 0x01,
} as const;

export const Fragment = {
  WHOLE: 0x00,
  BEGIN: 0x10,
  END: 0x20,
  MIDDLE: 0x30,
} as const;

/** User Data option types (RFC 7016 §2.3.11.1). */
export const UserDataOption = {
  METADATA: 0x00,
  RETURN_FLOW_ASSOCIATION: 0x0a,
  /** Option types below this must be understood; a flow with an unknown one is rejected. */
  MANDATORY_CUTOFF: 0x2000,
} as const;

/** Chunk header: type (1) and length (2). */
export const CHUNK_HEADER_LENGTH = 3;

/** Timestamps count 4 ms ticks (RFC 7016 §2.2.4). */
export const TIMESTAMP_TICK_MS = 4;
