// Why packets were dropped and what the engine did, counted rather than thrown or logged per
// packet: hostile input must cost little, and operators and tests read these numbers.
export class EngineCounters {
  packetsReceived = 0;
  packetsSent = 0;
  /** UDP payload bytes handed to the socket (what a NetGroup test holds the server's share of media to). */
  bytesSent = 0;
  /** Shorter than a session ID and one cipher block, or not a whole number of blocks. */
  badLength = 0;
  /** Session ID that names no session or handshake. */
  unknownSession = 0;
  /** Failed checksum, HMAC, or replayed sequence number. */
  badIntegrity = 0;
  /** Decrypted but unparsable packets and chunks. */
  malformed = 0;
  unknownChunk = 0;
  unknownFlow = 0;
  flowLimit = 0;
  handshakesStarted = 0;
  handshakesCompleted = 0;
  handshakesFailed = 0;
  badCookies = 0;
  /** IIKeyings whose cookie was issued to another address: answered with a cookie change. */
  cookieChanges = 0;
  /** Simultaneous opens with the same peer (RFC 7016 §3.5.1.3): its IIKeying ignored, or answered in place of our own connect. */
  glaresWon = 0;
  glaresLost = 0;
  sessionsOpened = 0;
  sessionsClosed = 0;
  /** Pings sent to a silent far end (liveness, RFC 7016 §3.5.4.1), and sessions that never answered them. */
  livenessPings = 0;
  sessionsDead = 0;
  /** Rendezvous (see Introducer): IHellos for a registered peer answered with a redirect and a forwarded IHello. */
  introductions = 0;
  /** IHellos naming a peer ID nobody registered: not answered. */
  introductionsUnknownPeer = 0;
  /** Introductions refused because their initiator's address asked for too many (or too many addresses ask at once). */
  introductionsRateLimitedSource = 0;
  /** Introductions refused because their target was asked for too often (or too many targets are asked at once). */
  introductionsRateLimitedTarget = 0;
  /** Addresses left off redirects to keep them within the amplification bound. */
  redirectAddressesDropped = 0;
  /** Connection IHellos answered with a redirect to another server (see Redirector). */
  connectionsRedirected = 0;
  /** Forwarded IHellos in a session someone opened to us: forged, dropped. */
  forgedForwardedIHellos = 0;
  /** Redirects that answer no IHello of ours: dropped. */
  unsolicitedRedirects = 0;

  snapshot(): Record<string, number> {
    return Object.fromEntries(Object.entries(this)) as Record<string, number>;
  }
}
