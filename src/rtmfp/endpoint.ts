// An RTMFP endpoint: one datagram port, the session table, and the handshakes of both roles
// (RFC 7016 §3.5.1). The same endpoint answers initiators (as a server or a P2P peer) and
// initiates sessions of its own; sessions are keyed by our session ID, so one endpoint can be
// a server and a peer at once. Responding is stateless until a valid cookie comes back.
import { ChunkType, PacketMode } from './chunk-types.js';
import { ChunkWriter } from './chunk-writer.js';
import { MIN_DATAGRAM, parsePacket, readSessionId, writePacketHeader } from './packet.js';
import { PacketProtection, PROTECTION_BACK_MARGIN, PROTECTION_FRONT_MARGIN } from './crypto/packet-protection.js';
import { ZeroIvEncryptor } from './crypto/aes-cbc.js';
import { FlashCertificate, encodeEpd, parseEpd, type Epd } from './crypto/flash-certificate.js';
import type { FlashCrypto, InitiatorKeying } from './crypto/flash-crypto.js';
import { COOKIE_LENGTH, CookieJar } from './cookie.js';
import { randomPool } from './crypto/random-pool.js';
import {
  encodeCookieChange, encodeIHello, encodeIIKeying, encodeRedirect, writeRHello, writeRIKeying,
  parseCookieChange, parseForwardedIHello, parseIHello, parseIIKeying, parseRHello, parseRIKeying, parseRedirect,
} from './handshake-chunks.js';
import { isIPv4 } from 'node:net';
import { addressKey, formatAddress, type Address } from './address.js';
import { datagramLength, wholeDatagram, type Clock, type DatagramPort, type OutgoingDatagram, type TimerHandle } from './platform.js';
import { systemClock } from './node-platform.js';
import { DEFAULT_TIMINGS, MAX_PACKET_LENGTH, Session, type SessionHost, type SessionTimings } from './session.js';
import { EngineCounters } from './counters.js';
import { silentLogger, type Logger } from '../util/log.js';
import { DeadlineQueue } from './deadline-queue.js';

export interface HandshakeTimings {
  /** First IHello/IIKeying retransmission, then multiplied by backoff each time. */
  initialRetransmitMs: number;
  backoff: number;
  /** A connect that has not completed by then fails. */
  connectTimeoutMs: number;
}

export const DEFAULT_HANDSHAKE_TIMINGS: HandshakeTimings = { initialRetransmitMs: 1000, backoff: 1.5, connectTimeoutMs: 30_000 };

export interface EndpointOptions {
  port: DatagramPort;
  crypto: FlashCrypto;
  clock?: Clock;
  log?: Logger;
  /** Answer IHellos that select us (a server, or a peer open to P2P sessions). */
  acceptSessions?: boolean;
  /** Decides on IHellos carrying a connect URL (ancillary data); default: accept all. */
  acceptEpd?: (epd: Epd, from: Address) => boolean;
  maxSessions?: number;
  /**
   * Sessions keep the DH secret and nonces they were keyed with (Session.keyingMaterial), about
   * 400 bytes each. Default: on for a peer (NetGroup needs them), off for a server's certificate.
   */
  keepKeyingMaterial?: boolean;
  timings?: Partial<SessionTimings>;
  handshake?: Partial<HandshakeTimings>;
}

/**
 * A connect that failed. For one that timed out, what it got that far tells why: a redirect
 * means the server knew the peer (it introduced us), so silence from the addresses it gave is
 * the path between us, not the peer's absence.
 */
export class ConnectError extends Error {
  constructor(
    message: string,
    /** Addresses that redirects gave us for the endpoint we wanted, in arrival order. */
    readonly redirectedTo: readonly Address[] = [],
    /** 'keying' when an RHello came but no RIKeying; 'hello' when nothing selected us an endpoint. */
    readonly stage: 'hello' | 'keying' = 'hello',
  ) {
    super(message);
  }
}

export interface ConnectOptions {
  /** This connect fails after this long (default: the endpoint's handshake connectTimeoutMs). */
  timeoutMs?: number;
}

interface PendingConnect {
  tag: Buffer;
  epd: Buffer;
  wanted: Epd;
  localId: number;
  addresses: Address[];
  /** Usable addresses that redirects gave (for the error, should the connect time out). */
  redirectedTo: Address[];
  timeoutMs: number;
  state: 'hello' | 'keying';
  /** Chosen responder, once an RHello came. */
  responder?: Address;
  responderFingerprint?: Buffer;
  cookie?: Buffer;
  keying?: InitiatorKeying;
  retransmitMs: number;
  timer?: TimerHandle;
  deadline: number;
  resolve(session: Session): void;
  reject(err: Error): void;
}

/** More IHello destinations than this from redirects are ignored (hostile redirect lists). */
const MAX_REDIRECT_DESTINATIONS = 24;
const MAX_TAG_LENGTH = 64;
/**
 * Sessions assembled between two hand-overs to the port in one round of transmits (see
 * runTransmits). A group of one-packet sessions (a shared-object change) is one sendmmsg() of
 * the accelerator, which takes 64 messages a call, so the groups cost no extra system call.
 */
export const TRANSMIT_FLUSH_SESSIONS = 64;
/**
 * The size of a startup datagram holding one chunk with a body of `bodyLength` bytes: scrambled
 * session ID (4), then, encrypted in 16-byte blocks, checksum (2), flags (1), timestamp (2),
 * chunk header (3) and body.
 */
export function startupDatagramLength(bodyLength: number): number {
  return 4 + Math.ceil((2 + 3 + 3 + bodyLength) / 16) * 16;
}

/** Startup packets carry a timestamp and no echo: MonaServer accepts no other flags byte (0x0b). */
const STARTUP_FLAGS = 0x08 | PacketMode.STARTUP;
/** Flash profile keying uses no signature scheme; peers send (and librtmfp expects) 'X'. */
const SIGNATURE = Buffer.from('X');

export class RtmfpEndpoint implements SessionHost {
  readonly clock: Clock;
  readonly deadlines: DeadlineQueue;
  readonly log: Logger;
  readonly counters = new EngineCounters();
  readonly crypto: FlashCrypto;
  /** Called for each session an initiator opened with us. */
  onSession: (session: Session) => void = () => {};
  /**
   * Called for an IHello naming another peer's ID: the rendezvous layer may forward it to
   * that peer's session or answer with a redirect (see Introducer). `datagramLength` is the size
   * of the datagram that carried it, which bounds what may be sent back. Default: ignored.
   */
  onIHelloForPeer: (fingerprint: Buffer, epd: Buffer, tag: Buffer, from: Address, datagramLength: number) => void = () => {};
  /**
   * Called for an IHello that selects us (a connection to this server) before it is answered:
   * answers true if it was handled otherwise (a redirector sent the initiator elsewhere), and
   * then no RHello goes. Default: none; every such IHello gets an RHello.
   */
  onConnectIHello: ((epd: Epd, tag: Buffer, from: Address, datagramLength: number) => boolean) | undefined;

  private readonly port: DatagramPort;
  private readonly sessions = new Map<number, Session>();
  private readonly sessionsByCookie = new Map<string, Session>();
  private readonly cookieOfSession = new Map<Session, string>();
  private readonly pendingByTag = new Map<string, PendingConnect>();
  private readonly pendingById = new Map<number, PendingConnect>();
  private readonly defaultProtection = PacketProtection.withDefaultKey();
  private readonly cookies: CookieJar;
  private readonly timings: SessionTimings;
  private readonly handshakeTimings: HandshakeTimings;
  private readonly keepKeyingMaterial: boolean;
  private readonly scratch = Buffer.alloc(PROTECTION_FRONT_MARGIN + 4096 + PROTECTION_BACK_MARGIN);
  /** Writes startup packets into `scratch`; reset for each (see beginStartup). */
  private readonly startupWriter = new ChunkWriter(this.scratch, 0, 0);
  readonly packetScratch = Buffer.alloc(PROTECTION_FRONT_MARGIN + MAX_PACKET_LENGTH + PROTECTION_BACK_MARGIN);
  readonly packetWriter = new ChunkWriter(this.packetScratch, PROTECTION_FRONT_MARGIN, PROTECTION_FRONT_MARGIN + MAX_PACKET_LENGTH);
  /**
   * Sessions seal their packets in place in packetScratch: the port copies what it sends and the
   * native accelerator can encrypt in place, so no buffer is made per packet.
   */
  readonly sealInPlace: boolean;
  private closed = false;
  private closing = false;
  /**
   * Sessions waiting for packet assembly, run together in one immediate: a fan-out wakes
   * hundreds of sessions at once, and an immediate and a closure each cost more than the queue.
   * Two arrays, swapped, so that sessions queued while the others transmit wait for the next turn.
   */
  private transmitQueue: Session[] = [];
  private transmitting: Session[] = [];
  private transmitScheduled = false;

  constructor(private readonly options: EndpointOptions) {
    this.port = options.port;
    this.sealInPlace = this.port.copiesOnSend === true && ZeroIvEncryptor.canEncryptInPlace;
    this.crypto = options.crypto;
    this.clock = options.clock ?? systemClock;
    this.deadlines = new DeadlineQueue(this.clock);
    this.log = options.log ?? silentLogger;
    this.timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.handshakeTimings = { ...DEFAULT_HANDSHAKE_TIMINGS, ...options.handshake };
    this.keepKeyingMaterial = options.keepKeyingMaterial ?? !this.crypto.options.server;
    this.cookies = new CookieJar(() => this.clock.now() / 1000);
    this.port.onDatagram((data, from) => this.onDatagram(data, from));
  }

  get localAddress(): Address {
    return this.port.localAddress();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Our peer ID: the SHA-256 of our certificate. */
  get peerId(): Buffer {
    return this.crypto.fingerprint;
  }

  getSession(localId: number): Session | undefined {
    return this.sessions.get(localId);
  }

  *allSessions(): IterableIterator<Session> {
    yield* this.sessions.values();
  }

  // ---- SessionHost ----

  queueTransmit(session: Session): void {
    this.transmitQueue.push(session);
    if (!this.transmitScheduled) {
      this.transmitScheduled = true;
      setImmediate(this.runTransmits);
    }
  }

  private readonly runTransmits = (): void => {
    this.transmitScheduled = false;
    const queue = this.transmitQueue;
    this.transmitQueue = this.transmitting;
    this.transmitting = queue;
    for (let i = 0; i < queue.length; i++) {
      // What a group has assembled leaves before the next group's assembly starts, so the
      // users read while the server assembles: a shared-object change to 1,000 RTMFP users
      // reached the first 6.3-8.0 ms after the write (all 1,000 packets built first), now
      // 2.5-2.6 ms, and the last 18-21 ms instead of 24-25 (median, fan-out bench, load 2-4).
      if (i > 0 && i % TRANSMIT_FLUSH_SESSIONS === 0) this.port.flush?.();
      const session = queue[i]!;
      try {
        session.runQueuedTransmit();
      } catch (err) {
        // One session's failure must not stall the others queued with it.
        this.log.error({ err, session: session.localId }, 'RTMFP packet assembly failed: session aborted');
        try {
          session.abort('internal error');
        } catch {
          // Its close request could not be assembled either: the far end will time it out.
        }
      }
    }
    queue.length = 0;
  };

  sendDatagram(datagram: OutgoingDatagram, to: Address): void {
    if (this.closed) return;
    this.counters.bytesSent += datagramLength(datagram);
    this.port.send(datagram, to);
  }

  sessionClosed(session: Session): void {
    if (this.sessions.get(session.localId) === session) this.sessions.delete(session.localId);
    const cookie = this.cookieOfSession.get(session);
    if (cookie !== undefined) {
      this.sessionsByCookie.delete(cookie);
      this.cookieOfSession.delete(session);
    }
    this.counters.sessionsClosed++;
  }

  forwardedIHello(body: Buffer, session: Session): void {
    if (!session.isInitiator) {
      // Only an introducer forwards IHellos, and it does so in a session its client opened
      // (RFC 7016 §3.5.1.4): we are that session's initiator. One that comes in a session
      // someone opened to us is forged, and answering it would make us send an RHello
      // (some 200 bytes) to whatever address it names.
      this.counters.forgedForwardedIHellos++;
      this.log.debug({ session: session.localId, peer: formatAddress(session.address) }, 'forwarded IHello from a session we did not open: dropped');
      return;
    }
    let m;
    try {
      m = parseForwardedIHello(body);
    } catch {
      this.counters.malformed++;
      return;
    }
    // A server introduces an initiator to us: answer it directly, which also opens our NAT.
    this.answerIHello(m.epd, m.tag, m.replyAddress, undefined);
  }

  // ---- Receiving ----

  private onDatagram(data: Buffer, from: Address): void {
    this.counters.packetsReceived++;
    if (data.length < MIN_DATAGRAM) {
      this.counters.badLength++;
      return;
    }
    const sessionId = readSessionId(data);
    if (sessionId !== 0) {
      const session = this.sessions.get(sessionId);
      if (session) {
        if (!session.receive(data, from)) this.counters.badIntegrity++;
        return;
      }
      const pending = this.pendingById.get(sessionId);
      if (pending) {
        this.onStartupPacket(data, from, pending);
        return;
      }
      this.counters.unknownSession++;
      return;
    }
    this.onStartupPacket(data, from, undefined);
  }

  private onStartupPacket(data: Buffer, from: Address, pending: PendingConnect | undefined): void {
    const plain = this.defaultProtection.open(data);
    if (!plain) {
      this.counters.badIntegrity++;
      return;
    }
    let parsed;
    try {
      parsed = parsePacket(plain);
    } catch {
      this.counters.malformed++;
      return;
    }
    if (parsed.header.mode !== PacketMode.STARTUP) {
      this.counters.malformed++;
      return;
    }
    for (const chunk of parsed.chunks) {
      try {
        switch (chunk.type) {
          case ChunkType.IHELLO: {
            const m = parseIHello(chunk.body);
            this.answerIHello(m.epd, m.tag, from, data.length);
            break;
          }
          case ChunkType.IIKEYING:
            this.onIIKeying(chunk.body, from);
            break;
          case ChunkType.RHELLO:
            this.onRHello(chunk.body, from);
            break;
          case ChunkType.RIKEYING:
            if (pending) this.onRIKeying(chunk.body, from, pending);
            break;
          case ChunkType.REDIRECT:
            this.onRedirect(chunk.body, from);
            break;
          case ChunkType.RHELLO_COOKIE_CHANGE:
            this.onCookieChange(chunk.body, from);
            break;
          default:
            this.counters.unknownChunk++;
        }
      } catch (err) {
        this.counters.malformed++;
        this.log.debug({ from: formatAddress(from), chunk: chunk.type, err: (err as Error).message }, 'bad startup chunk');
      }
    }
  }

  /** `datagramLength` is undefined for a forwarded IHello, which is never passed on again. */
  private answerIHello(epdBytes: Buffer, tag: Buffer, replyTo: Address, datagramLength: number | undefined): void {
    if (tag.length === 0 || tag.length > MAX_TAG_LENGTH) {
      this.counters.malformed++;
      return;
    }
    const epd = parseEpd(epdBytes);
    if (this.crypto.isSelectedBy(epd)) {
      if (!this.options.acceptSessions) return;
      if (epd.ancillaryData !== undefined && this.options.acceptEpd && !this.options.acceptEpd(epd, replyTo)) return;
      if (datagramLength !== undefined && this.onConnectIHello?.(epd, tag, replyTo, datagramLength)) return;
      // Written straight into the packet: an RHello answers every IHello, flood or not.
      const w = this.beginStartup();
      const cookieAt = writeRHello(w, tag, COOKIE_LENGTH, this.crypto.certificate);
      if (cookieAt < 0) throw new Error('RHello does not fit a startup packet');
      this.cookies.write(w.buf, cookieAt, replyTo);
      this.sendDatagram(this.sealStartup(w, 0), replyTo);
    } else if (epd.fingerprint && datagramLength !== undefined) {
      this.onIHelloForPeer(epd.fingerprint, epdBytes, tag, replyTo, datagramLength);
    }
  }

  private onIIKeying(body: Buffer, from: Address): void {
    if (!this.options.acceptSessions) return;
    const m = parseIIKeying(body);
    const check = this.cookies.check(m.cookie, from);
    if (check === 'invalid') {
      this.counters.badCookies++;
      return;
    }
    if (check === 'moved') {
      // The initiator's address changed between RHello and IIKeying (NAT rebinding): give it
      // a cookie for its new address (RFC 7016 §3.5.1.2).
      this.counters.cookieChanges++;
      const fresh = this.cookies.issue(from);
      this.sendStartup(0, ChunkType.RHELLO_COOKIE_CHANGE, encodeCookieChange({ oldCookie: m.cookie, newCookie: fresh }), from);
      return;
    }
    // The cookie's MAC half names it: unique per cookie, and half the size of a key string.
    const cookieKey = m.cookie.toString('latin1', COOKIE_LENGTH / 2);
    const existing = this.sessionsByCookie.get(cookieKey);
    if (existing) {
      // A repeated IIKeying: our RIKeying was lost. Repeat it; never key twice.
      if (existing.remoteId === m.initiatorSessionId && existing.rikeyingDatagram) this.sendDatagram(existing.rikeyingDatagram, from);
      return;
    }
    if (m.initiatorSessionId === 0) {
      this.counters.malformed++;
      return;
    }
    if (this.sessions.size >= (this.options.maxSessions ?? 100_000)) {
      this.counters.handshakesFailed++;
      this.log.warn({ sessions: this.sessions.size }, 'session limit reached: refusing a handshake');
      return;
    }
    let cert: FlashCertificate;
    try {
      cert = FlashCertificate.parse(m.certificate);
    } catch (err) {
      this.counters.handshakesFailed++;
      this.log.debug({ from: formatAddress(from), err: (err as Error).message }, 'keying refused');
      return;
    }
    // Glare (RFC 7016 §3.5.1.3): this peer opens a session to us while we open one to it. One
    // session must survive on both sides, so both apply the same rule (RFC 7425 §4.3.6): the side
    // whose certificate is byte-wise smaller wins, keeps its initiator role and ignores the
    // other's IIKeying; the loser answers it and gives the session it gets to its own connect.
    // The rule also covers a loser's IIKeying retransmission that arrives after we won.
    const glare = this.pendingFor(cert.fingerprint);
    if ((glare || this.openedTo(cert.fingerprint)) && Buffer.compare(this.crypto.certificate, m.certificate) <= 0) {
      this.counters.glaresWon++;
      return;
    }
    this.counters.handshakesStarted++;
    let result;
    try {
      result = this.crypto.respond(cert, m.skic);
    } catch (err) {
      this.counters.handshakesFailed++;
      this.log.debug({ from: formatAddress(from), err: (err as Error).message }, 'keying refused');
      return;
    }
    const localId = this.newSessionId();
    const session = new Session(this, localId, m.initiatorSessionId, from, result.keys.protection, false, cert.fingerprint, this.timings);
    if (this.keepKeyingMaterial) session.keyingMaterial = result.keys.material;
    const w = this.beginStartup();
    if (!writeRIKeying(w, { responderSessionId: localId, skrc: result.skrc, signature: SIGNATURE })) throw new Error('RIKeying does not fit a startup packet');
    // Kept whole: it is sent again if the initiator repeats its IIKeying.
    const rikeying = wholeDatagram(this.sealStartup(w, m.initiatorSessionId));
    session.rikeyingDatagram = rikeying;
    this.sendDatagram(rikeying, from);
    this.sessions.set(localId, session);
    this.sessionsByCookie.set(cookieKey, session);
    this.cookieOfSession.set(session, cookieKey);
    this.counters.handshakesCompleted++;
    this.counters.sessionsOpened++;
    // Asking the session for its logger makes a child logger it keeps for life: only when the line is wanted.
    if (this.log.isLevelEnabled('debug')) session.log.debug({ group: result.keys.group, ...result.keys.negotiated, glare: glare !== undefined }, 'session opened (responder)');
    if (glare) {
      // We lost the glare: this session is the one our own connect to this peer was waiting for.
      this.counters.glaresLost++;
      this.forgetPending(glare);
      glare.resolve(session);
      return;
    }
    this.onSession(session);
  }

  /** Our connect still opening to the peer with this fingerprint, if any. */
  private pendingFor(fingerprint: Buffer): PendingConnect | undefined {
    for (const p of this.pendingById.values()) {
      if (p.wanted.fingerprint?.equals(fingerprint) || p.responderFingerprint?.equals(fingerprint)) return p;
    }
    return undefined;
  }

  /** Whether we initiated an open session with the peer of this fingerprint. */
  private openedTo(fingerprint: Buffer): boolean {
    for (const s of this.sessions.values()) {
      if (s.isInitiator && s.state === 'open' && s.farFingerprint.equals(fingerprint)) return true;
    }
    return false;
  }

  // ---- Initiating ----

  /**
   * Opens a session with whoever answers for `epd` at any of `addresses`: a server by its
   * connect URL (ancillaryData), or a peer by its peer ID (fingerprint).
   */
  connect(wanted: Epd, addresses: Address[], options: ConnectOptions = {}): Promise<Session> {
    if (this.closed) return Promise.reject(new ConnectError('endpoint closed'));
    const timeoutMs = options.timeoutMs ?? this.handshakeTimings.connectTimeoutMs;
    return new Promise((resolve, reject) => {
      const pending: PendingConnect = {
        tag: randomPool.bytes(16),
        epd: encodeEpd(wanted),
        wanted,
        localId: this.newSessionId(),
        addresses: [...addresses],
        redirectedTo: [],
        timeoutMs,
        state: 'hello',
        retransmitMs: this.handshakeTimings.initialRetransmitMs,
        deadline: this.clock.now() + timeoutMs,
        resolve,
        reject,
      };
      this.pendingByTag.set(pending.tag.toString('latin1'), pending);
      this.pendingById.set(pending.localId, pending);
      this.sendHandshake(pending);
    });
  }

  private sendHandshake(p: PendingConnect): void {
    if (p.state === 'hello') {
      const body = encodeIHello({ epd: p.epd, tag: p.tag });
      for (const a of p.addresses) this.sendStartup(0, ChunkType.IHELLO, body, a);
    } else {
      const body = encodeIIKeying({
        initiatorSessionId: p.localId,
        cookie: p.cookie!,
        certificate: this.crypto.certificate,
        skic: p.keying!.skic,
        signature: SIGNATURE,
      });
      this.sendStartup(0, ChunkType.IIKEYING, body, p.responder!);
    }
    p.timer?.cancel();
    const now = this.clock.now();
    const wait = Math.min(p.retransmitMs, Math.max(0, p.deadline - now));
    p.timer = this.clock.setTimer(wait, () => {
      if (this.clock.now() >= p.deadline) {
        const asked = p.state === 'hello' ? p.addresses : [p.responder!];
        this.failPending(p, new ConnectError(`no answer from ${asked.map(formatAddress).join(', ')} within ${p.timeoutMs} ms`, p.redirectedTo, p.state));
        return;
      }
      p.retransmitMs *= this.handshakeTimings.backoff;
      this.sendHandshake(p);
    });
  }

  private failPending(p: PendingConnect, err: Error): void {
    this.forgetPending(p);
    p.reject(err);
  }

  private forgetPending(p: PendingConnect): void {
    p.timer?.cancel();
    this.pendingByTag.delete(p.tag.toString('latin1'));
    this.pendingById.delete(p.localId);
  }

  private onRHello(body: Buffer, from: Address): void {
    const m = parseRHello(body);
    const p = this.pendingByTag.get(m.tag.toString('latin1'));
    if (!p || p.state !== 'hello') return; // unsolicited, or a duplicate from another address
    const cert = FlashCertificate.parse(m.certificate);
    if (p.wanted.fingerprint && !cert.fingerprint.equals(p.wanted.fingerprint)) {
      this.log.debug({ from: formatAddress(from) }, 'RHello from an endpoint with another peer ID: ignored');
      return;
    }
    p.keying = this.crypto.initiate(cert);
    p.state = 'keying';
    p.responder = from;
    p.responderFingerprint = cert.fingerprint;
    p.cookie = Buffer.from(m.cookie);
    p.retransmitMs = this.handshakeTimings.initialRetransmitMs;
    this.sendHandshake(p);
  }

  private onCookieChange(body: Buffer, from: Address): void {
    const m = parseCookieChange(body);
    for (const p of this.pendingById.values()) {
      if (p.state === 'keying' && p.cookie?.equals(m.oldCookie)) {
        p.cookie = Buffer.from(m.newCookie);
        p.responder = from;
        this.sendHandshake(p);
        return;
      }
    }
  }

  private onRedirect(body: Buffer, from: Address): void {
    const m = parseRedirect(body);
    const p = this.pendingByTag.get(m.tag.toString('latin1'));
    if (!p || p.state !== 'hello') {
      // Not an answer to an IHello of ours (a server never sends any): whoever sent it wants us
      // to send IHellos somewhere, and we do not.
      this.counters.unsolicitedRedirects++;
      if (this.log.isLevelEnabled('debug')) this.log.debug({ from: formatAddress(from) }, 'redirect answering no IHello of ours: dropped');
      return;
    }
    // An unspecified address or port 0 is no destination (sending to 0.0.0.0 reaches this very
    // host). MonaServer answers a repeated IHello for a peer it does not know with exactly one
    // such entry (librtmfp reads it as "that peer is gone"): fail at once rather than wait.
    const usable = m.destinations.filter((d) => d.port !== 0 && d.host !== '0.0.0.0' && d.host !== '::');
    if (usable.length === 0 && m.destinations.length > 0) {
      this.failPending(p, new ConnectError('the server reports that no such peer is connected'));
      return;
    }
    const known = new Set(p.addresses.map(addressKey));
    const fresh = usable.filter((d) => !known.has(addressKey(d)));
    const noted = new Set(p.redirectedTo.map(addressKey));
    for (const d of usable) {
      if (p.redirectedTo.length < MAX_REDIRECT_DESTINATIONS && !noted.has(addressKey(d))) {
        noted.add(addressKey(d));
        p.redirectedTo.push({ host: d.host, port: d.port });
      }
    }
    for (const d of fresh.slice(0, Math.max(0, MAX_REDIRECT_DESTINATIONS - p.addresses.length))) {
      p.addresses.push({ host: d.host, port: d.port });
      this.sendStartup(0, ChunkType.IHELLO, encodeIHello({ epd: p.epd, tag: p.tag }), d);
    }
  }

  private onRIKeying(body: Buffer, from: Address, p: PendingConnect): void {
    if (p.state !== 'keying') return;
    const m = parseRIKeying(body);
    let keys;
    try {
      keys = p.keying!.complete(Buffer.from(m.skrc));
    } catch (err) {
      this.counters.handshakesFailed++;
      this.failPending(p, new ConnectError(`keying with ${formatAddress(from)} failed: ${(err as Error).message}`));
      return;
    }
    if (m.responderSessionId === 0) {
      this.failPending(p, new ConnectError('responder chose session ID 0'));
      return;
    }
    this.forgetPending(p);
    const session = new Session(this, p.localId, m.responderSessionId, from, keys.protection, true, p.responderFingerprint!, this.timings);
    if (this.keepKeyingMaterial) session.keyingMaterial = keys.material;
    this.sessions.set(p.localId, session);
    this.counters.handshakesCompleted++;
    this.counters.sessionsOpened++;
    if (this.log.isLevelEnabled('debug')) session.log.debug({ group: keys.group, ...keys.negotiated }, 'session opened (initiator)');
    p.resolve(session);
  }

  // ---- Rendezvous operations (used by the rendezvous layer) ----

  /**
   * Tells an initiator to try these addresses for the peer it asked for (RFC 7016 §2.3.5). The
   * datagram stays within `maxDatagramLength`: addresses are left off from the end until it
   * fits (callers list the most useful first). Answers how many went; the redirect is sent even
   * with none (an empty list means "this packet's source": the tag alone still fits).
   */
  sendRedirect(to: Address, tag: Buffer, destinations: ReadonlyArray<Address & { origin?: number }>, maxDatagramLength = Infinity): number {
    let count = Math.min(destinations.length, MAX_REDIRECT_DESTINATIONS);
    let body = encodeRedirect(tag, destinations.slice(0, count));
    while (count > 0 && startupDatagramLength(body.length) > maxDatagramLength) {
      count--;
      body = body.subarray(0, body.length - (isIPv4(destinations[count]!.host) ? 7 : 19));
    }
    this.sendStartup(0, ChunkType.REDIRECT, body, to);
    return count;
  }

  // ---- Sending ----

  /** Starts a startup-mode packet in the scratch buffer; answers the writer for its chunks. */
  private beginStartup(): ChunkWriter {
    const headerEnd = writePacketHeader(this.scratch, PROTECTION_FRONT_MARGIN, {
      flags: STARTUP_FLAGS,
      mode: PacketMode.STARTUP,
      timestamp: Math.floor(this.clock.now() / 4) & 0xffff,
    });
    this.startupWriter.reset(headerEnd, this.scratch.length - PROTECTION_BACK_MARGIN);
    return this.startupWriter;
  }

  /** Seals the startup packet in `w` with the default key; answers the datagram. */
  private sealStartup(w: ChunkWriter, remoteSessionId: number): OutgoingDatagram {
    this.counters.packetsSent++;
    return this.defaultProtection.seal(this.scratch, PROTECTION_FRONT_MARGIN, w.offset, remoteSessionId);
  }

  /** Sends one startup-mode packet of one chunk with the default key. */
  private sendStartup(remoteSessionId: number, type: number, body: Buffer, to: Address): void {
    const w = this.beginStartup();
    if (!w.chunk(type, body)) throw new Error(`startup chunk 0x${type.toString(16)} of ${body.length} bytes does not fit`);
    this.sendDatagram(this.sealStartup(w, remoteSessionId), to);
  }

  private newSessionId(): number {
    for (;;) {
      const id = randomPool.uint32();
      if (id !== 0 && !this.sessions.has(id) && !this.pendingById.has(id)) return id;
    }
  }

  /** Closes every session (telling each far end once, each closed for `reason`) and the port. */
  close(reason = 'endpoint closed'): void {
    if (this.closed || this.closing) return;
    // Aborting a session calls its owner, which may close this endpoint again (a client that owns it).
    this.closing = true;
    for (const p of [...this.pendingById.values()]) this.failPending(p, new ConnectError(reason));
    for (const s of [...this.sessions.values()]) s.abort(reason);
    this.closed = true;
    this.port.close();
  }
}
