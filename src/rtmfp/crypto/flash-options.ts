// Option type codes of the Flash profile (RFC 7425 §4.3, §4.4, §4.6).

/** Endpoint Discriminator options (§4.4.2). */
export const EpdOption = {
  REQUIRED_HOSTNAME: 0x00,
  /** The connect URL, for a server. */
  ANCILLARY_DATA: 0x0a,
  /** A peer ID: the SHA-256 of the wanted endpoint's certificate. */
  FINGERPRINT: 0x0f,
} as const;

/** Certificate options (§4.3.2). */
export const CertOption = {
  HOSTNAME: 0x00,
  ACCEPTS_ANCILLARY_DATA: 0x0a,
  EXTRA_RANDOMNESS: 0x0e,
  SUPPORTED_EPHEMERAL_DH_GROUP: 0x15,
  STATIC_DH_PUBLIC_KEY: 0x1d,
} as const;

/** Session keying component options (§4.3.3, §4.6). */
export const KeyingOption = {
  EPHEMERAL_DH_PUBLIC_KEY: 0x0d,
  EXTRA_RANDOMNESS: 0x0e,
  DH_GROUP_SELECT: 0x1d,
  HMAC_NEGOTIATION: 0x1a,
  SESSION_SEQUENCE_NEGOTIATION: 0x1e,
} as const;

/** Flags of the HMAC and sequence-number negotiation options (§4.6.2). */
export const NegotiationFlag = {
  /** Will send always. */
  SEND_ALWAYS: 0x04,
  /** Will send on request. */
  SEND_ON_REQUEST: 0x02,
  /** Requests that the other side send. */
  REQUEST: 0x01,
} as const;

export const FINGERPRINT_LENGTH = 32;
