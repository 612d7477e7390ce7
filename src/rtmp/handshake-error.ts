/** A peer's handshake bytes cannot be RTMP (or ask for a variant we do not speak). */
export class HandshakeError extends Error {
  override name = 'HandshakeError';
}
