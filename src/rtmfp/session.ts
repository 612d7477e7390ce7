// One RTMFP session after keying (RFC 7016 §3.5): packet assembly and parsing, timestamps and
// RTT, flows, keepalive and idle timeout, close, and address mobility. The same class serves
// both ends; the endpoint that created it owns the socket and the session table.
import { randomBytes } from 'node:crypto';
import { ChunkType, HeaderFlag, PacketMode, TIMESTAMP_TICK_MS } from './chunk-types.js';
import { ChunkWriter } from './chunk-writer.js';
import { parsePacket, timestampEcho, timestampTicks, writePacketHeader, type ChunkView } from './packet.js';
import { PROTECTION_FRONT_MARGIN, type PacketProtection } from './crypto/packet-protection.js';
import type { KeyingMaterial } from './crypto/flash-crypto.js';
import { formatAddress, sameAddress, type Address } from './address.js';
import { datagramLength, type Clock, type OutgoingDatagram } from './platform.js';
import { DeadlineEntry, type DeadlineQueue } from './deadline-queue.js';
import type { ReceivedFragment, RecvFlowContext, SendFlowContext } from './flow-context.js';
import { SendFlow } from './send-flow.js';
import { RecvFlow } from './recv-flow.js';
import { Congestion } from './congestion.js';
import { RttEstimator } from './rtt-estimator.js';
import { parseAck, parseUserDataHeader, parseFlowIdChunk, parseFlowException } from './ack-codec.js';
import type { Logger } from '../util/log.js';
import { EngineCounters } from './counters.js';
import { ByteInterner } from '../codec/buffer-view.js';

/** Largest packet (header and chunks) we assemble: leaves room under 1280-byte IPv6 paths. */
export const MAX_PACKET_LENGTH = 1180;

export interface SessionTimings {
  /** Send a ping after this long without sending anything (keeps NAT bindings). */
  keepaliveMs: number;
  /**
   * Liveness (RFC 7016 §3.5.4.1): after this long without hearing anything from the far end,
   * ping it, then again every pingIntervalMs while it stays silent; when deadAfterPings pings in
   * a row go unanswered the session is dead and ends. Any packet from the far end answers (a
   * Ping Reply, an ack, data). A session is thus dead after
   * pingAfterSilenceMs + deadAfterPings × pingIntervalMs of silence (deadAfterMs()).
   */
  pingAfterSilenceMs: number;
  pingIntervalMs: number;
  deadAfterPings: number;
  /** Close request retransmission period and how long to keep trying. */
  closeRetransmitMs: number;
  closeGiveUpMs: number;
  /** After the far end closed, answer its packets with close acks this long. */
  farCloseLingerMs: number;
  /** Delayed acknowledgement. */
  delayedAckMs: number;
}

export const DEFAULT_TIMINGS: SessionTimings = {
  keepaliveMs: 15_000,
  // Dead after 3 + 5 × 1 = 8 s of silence: a killed publisher frees its name and a vanished
  // player stops costing within 10 s (issue 15's bound), with 2 s to spare for the close. A
  // quiet but alive far end costs one ping and its reply every 3 s. Five pings in a row must
  // all be lost (or their replies): at 10% loss each way, one silent spell in 4,000.
  pingAfterSilenceMs: 3_000,
  pingIntervalMs: 1_000,
  deadAfterPings: 5,
  closeRetransmitMs: 5_000,
  closeGiveUpMs: 90_000,
  farCloseLingerMs: 19_000,
  delayedAckMs: 200,
};

/** How long a silent far end has before its session is declared dead. */
export function deadAfterMs(t: Pick<SessionTimings, 'pingAfterSilenceMs' | 'pingIntervalMs' | 'deadAfterPings'>): number {
  return t.pingAfterSilenceMs + t.deadAfterPings * t.pingIntervalMs;
}

export type SessionState = 'open' | 'nearclose' | 'farclose' | 'closed';

/** What a session needs from the endpoint that owns it. */
export interface SessionHost {
  readonly clock: Clock;
  readonly log: Logger;
  readonly counters: EngineCounters;
  sendDatagram(datagram: OutgoingDatagram, to: Address): void;
  /** Seal packets in place (PacketProtection.seal's `inPlace`): sendDatagram copies what it is given. */
  readonly sealInPlace: boolean;
  /** The session reached 'closed' and can be forgotten. */
  sessionClosed(session: Session): void;
  /** A Forwarded IHello came in `session` (rendezvous: a server introduces an initiator to us). */
  forwardedIHello(body: Buffer, session: Session): void;
  /** Shared packet assembly space; see Session's constructor. */
  readonly packetScratch: Buffer;
  readonly packetWriter: ChunkWriter;
  /** Calls `session.runQueuedTransmit()` after the current I/O phase. */
  queueTransmit(session: Session): void;
  /** Where sessions keep their timers (one platform timer for all of them). */
  readonly deadlines: DeadlineQueue;
}

/** A flow opened by the far end; the application sets `onMessage` (or rejects it) when told. */
export class IncomingFlow {
  onMessage: (message: Buffer) => void = () => {};
  /** Called once when the sender finished the flow. */
  onEnd: () => void = () => {};

  constructor(
    readonly session: Session,
    private readonly flow: RecvFlow,
    /** Shared with other flows carrying the same bytes: read it, never modify it. */
    readonly metadata: Buffer,
    readonly returnFlowId: number | undefined,
  ) {}

  get flowId(): number {
    return this.flow.flowId;
  }

  /** Refuses the flow: the sender is told with a Flow Exception Report. */
  reject(code = 0): void {
    this.flow.reject(code);
    this.session.settleRecvFlow(this.flow);
    this.session.requestTransmit();
  }
}

export interface OpenFlowOptions {
  /** The incoming flow this one answers (return flow association). */
  returnFlowId?: number;
  /** Scheduling priority; TIME_CRITICAL_PRIORITY and above mark packets time critical (audio, video). */
  priority?: number;
}

/** Flows at or above this priority carry time-critical data (RFC 7016 §3.5.2.2). */
export const TIME_CRITICAL_PRIORITY = 4;
/** How long after time-critical data arrives we tell the sender so (TCR) and how long that holds. */
export const TIME_CRITICAL_HOLD_MS = 800;
/**
 * Flow metadata (flows opened and flows received), shared by every session in the process: a
 * server's subscribers all carry the same few RFC 7425 flow signatures. Flows never modify it.
 */
const flowMetadata = new ByteInterner(1024, 64);

export class Session {
  state: SessionState = 'open';
  /** Set by the application to hear about flows the far end opens. */
  onFlow: (flow: IncomingFlow) => void = (f) => f.reject();
  onClose: (reason: string) => void = () => {};
  onAddressChange: (from: Address, to: Address) => void = () => {};

  readonly congestion: Congestion;
  readonly rtt = new RttEstimator();
  private readonly sendFlows = new Map<number, SendFlow>();
  /** The same flows in round-robin order, kept beside the map so assembly allocates nothing. */
  private readonly sendOrder: SendFlow[] = [];
  private readonly recvFlows = new Map<number, RecvFlow>();
  /** The same flows as an array, for the loops of every packet and timer (a Map iterator is an allocation each). */
  private readonly recvOrder: RecvFlow[] = [];
  /**
   * Some flow of recvOrder has settled (left recvFlows): recvOrder is pruned at the next transmit.
   * A flag, not a comparison of recvOrder's length with recvFlows' size: reading the Map's size
   * was a quarter of transmit()'s own time in a shared-object change to 1,000 RTMFP users (a
   * cache miss per session, CPU profile of the fan-out bench).
   */
  private recvOrderStale = false;
  /** A flow of recvOrder may owe a Flow Exception Report (RecvFlowContext.wantException). */
  private exceptionsOwed = false;
  private readonly incoming = new Map<number, IncomingFlow>();
  /**
   * Receive flows that are done (complete or refused), by flow ID, kept for LINGER_MS after: a
   * sender whose last acknowledgement was lost retransmits, and must be answered (acknowledged,
   * or refused again) rather than taken for a new flow and delivered twice. Apart from the
   * active flows, so they do not count against MAX_RECV_FLOWS. Made on the first.
   */
  private lingering: Map<number, LingeringFlow> | undefined;
  /** Lingering flows that owe the far end an acknowledgement or an exception. */
  private lingerReplies: RecvFlow[] | undefined;
  private nextFlowId = 1;
  /** Round-robin start among send flows, so one busy flow cannot starve the others. */
  private flowCursor = 0;

  /** When the far end last sent us time-critical data; we answer with TCR for a while after. */
  private timeCriticalReceivedAt = -Infinity;
  private lastRxTimestamp = -1;
  private lastRxTimestampAt = 0;
  private echoPending = false;
  private lastReceiveAt: number;
  private lastSendAt: number;

  /** Data packets received since our last ack; acks go out at two (RFC 7016 §3.6.3.4.5). */
  private packetsSinceAck = 0;
  private ackDeadline = Infinity;
  private ackNow = false;

  private readonly pingReplies: Buffer[] = [];
  /** A ping to the far end's address is due (a keepalive, or a liveness probe). */
  private pingDue = false;
  /** Liveness pings sent since we last heard from the far end. */
  private unansweredPings = 0;
  /** Found dead by the timer; confirmed after pending datagrams are read (confirmDead). */
  private deathPending = false;
  /** A candidate address being validated (RFC 7016 §3.5.4.2); `due` until its ping goes. */
  private mobilityProbe: { nonce: Buffer; address: Address; due: boolean } | undefined;

  private closeReason = '';
  private closeStartedAt = 0;
  private farClosedAt = 0;
  private closeNextSendAt = 0;
  private sendCloseAck = false;

  /** The session's one timer, in the endpoint's deadline queue: the earliest of its deadlines. */
  private readonly timer = new DeadlineEntry(() => this.onTimer());
  private transmitQueued = false;
  private sendFlowContext: SendFlowContext | undefined;
  private recvFlowContext: RecvFlowContext | undefined;

  /** Our RIKeying, resent if the initiator repeats its IIKeying before our first packet reaches it. */
  rikeyingDatagram: Buffer | undefined;
  /**
   * The DH secret and nonces this session was keyed with, when the endpoint keeps them
   * (EndpointOptions.keepKeyingMaterial): NetGroup peers bind their group key to them.
   */
  keyingMaterial: KeyingMaterial | undefined;

  private readonly writer: ChunkWriter;
  private readonly scratch: Buffer;
  private logger: Logger | undefined;

  constructor(
    private readonly host: SessionHost,
    readonly localId: number,
    readonly remoteId: number,
    public address: Address,
    private readonly protection: PacketProtection,
    readonly isInitiator: boolean,
    /** The far end's fingerprint (its peer ID). */
    readonly farFingerprint: Buffer,
    readonly timings: SessionTimings = DEFAULT_TIMINGS,
  ) {
    const now = host.clock.now();
    this.lastReceiveAt = now;
    this.lastSendAt = now;
    // Packet assembly is synchronous from start to send, so every session of an endpoint can
    // share one scratch buffer and writer: an idle session costs no packet-sized memory.
    this.scratch = host.packetScratch;
    this.writer = host.packetWriter;
    this.congestion = new Congestion(this.rtt);
    this.armTimer(now);
  }

  /** A child logger naming the session, made on first use (most sessions never log). */
  get log(): Logger {
    this.logger ??= this.host.log.child({ session: this.localId, peer: formatAddress(this.address) });
    return this.logger;
  }

  /** Whether the far end sent time-critical data within the last 800 ms. */
  get receivingTimeCritical(): boolean {
    return this.host.clock.now() - this.timeCriticalReceivedAt < TIME_CRITICAL_HOLD_MS;
  }

  get peerId(): string {
    return this.farFingerprint.toString('hex');
  }

  /** Our session key component (SKIC as initiator, SKRC as responder), if kept. */
  get nearNonce(): Buffer | undefined {
    const m = this.keyingMaterial;
    return m && (this.isInitiator ? m.initiatorNonce : m.responderNonce);
  }

  /** The far end's session key component, if kept. */
  get farNonce(): Buffer | undefined {
    const m = this.keyingMaterial;
    return m && (this.isInitiator ? m.responderNonce : m.initiatorNonce);
  }

  // ---- Application side ----

  /** Opens a flow to the far end carrying `metadata` (RFC 7425 puts its flow signature here). */
  openFlow(metadata: Buffer, options: OpenFlowOptions = {}): SendFlow {
    if (this.state !== 'open') throw new Error(`session ${this.localId} is ${this.state}`);
    const flowId = this.nextFlowId++;
    // One context for all of a session's send flows: it holds nothing flow-specific.
    const ctx = (this.sendFlowContext ??= {
      now: () => this.host.clock.now(),
      congestion: this.congestion,
      wantTransmit: () => this.requestTransmit(),
    });
    const flow = new SendFlow(ctx, flowId, flowMetadata.intern(metadata), options.returnFlowId, { priority: options.priority ?? 0 });
    this.sendFlows.set(flowId, flow);
    this.sendOrder.push(flow);
    return flow;
  }

  /** Starts an orderly close (RFC 7016 §3.5.5): close requests until acknowledged. */
  close(reason = 'closed by application'): void {
    if (this.state !== 'open') return;
    this.state = 'nearclose';
    const now = this.host.clock.now();
    this.closeStartedAt = now;
    this.closeNextSendAt = now;
    this.log.debug({ reason }, 'closing');
    this.closeReason = reason;
    this.requestTransmit();
  }

  /** Ends the session at once, telling the far end once (no waiting for its ack). */
  abort(reason: string): void {
    if (this.state === 'closed') return;
    if (this.state === 'open' || this.state === 'nearclose') this.sendControl(ChunkType.SESSION_CLOSE_REQUEST);
    this.finish(reason);
  }

  /** Sends a Forwarded IHello on this session (rendezvous: introduce an initiator to this peer). */
  sendForwardedIHello(body: Buffer): void {
    this.sendControl(ChunkType.FORWARDED_IHELLO, body);
  }

  requestTransmit(): void {
    if (this.transmitQueued || this.state === 'closed') return;
    this.transmitQueued = true;
    // After the current I/O phase rather than after this datagram: every packet read in one
    // turn of the event loop is then answered by one round of assembly, so acks for a burst
    // go out together (the receiver's ack sends were a fifth of its CPU when acking per pair).
    this.host.queueTransmit(this);
  }

  /** The host runs the transmit requestTransmit() queued. */
  runQueuedTransmit(): void {
    this.transmitQueued = false;
    this.transmit();
  }

  // ---- Receiving ----

  /** A datagram whose session ID is ours. Answers false when it fails integrity (counted by the caller). */
  receive(datagram: Buffer, from: Address): boolean {
    if (this.state === 'closed') return false;
    const plain = this.protection.open(datagram);
    if (!plain) return false;
    const now = this.host.clock.now();
    let parsed;
    try {
      parsed = parsePacket(plain);
    } catch {
      this.host.counters.malformed++;
      return true;
    }
    const { header, chunks } = parsed;
    if (header.mode === PacketMode.STARTUP || header.mode === 0) {
      this.host.counters.malformed++;
      return true;
    }
    this.rikeyingDatagram = undefined; // the far end has our keys: no more RIKeying resends
    this.lastReceiveAt = now;
    this.unansweredPings = 0;
    this.congestion.countRx(datagram.length);
    if (header.timestamp !== undefined && header.timestamp !== this.lastRxTimestamp) {
      this.lastRxTimestamp = header.timestamp;
      this.lastRxTimestampAt = now;
      this.echoPending = true;
    }
    if (header.flags & HeaderFlag.TIME_CRITICAL) this.timeCriticalReceivedAt = now;
    // The far end receives someone's time-critical data: yield to it, grow at TCP's pace.
    if (header.flags & HeaderFlag.TIME_CRITICAL_REVERSE) this.congestion.onTimeCriticalReverse(now);
    if (header.timestampEcho !== undefined) {
      const rttTicks = (timestampTicks(now) - header.timestampEcho) & 0xffff;
      const rttMs = rttTicks * TIMESTAMP_TICK_MS;
      if (rttMs < 30_000) this.rtt.sample(rttMs, now);
    }
    if (!sameAddress(from, this.address)) this.considerNewAddress(from);

    if (this.state === 'farclose') {
      this.sendCloseAck = true;
      this.requestTransmit();
      return true;
    }
    let dataPacket = false;
    let previous: ReceivedFragment | undefined;
    let previousFlowId = 0;
    for (const chunk of chunks) {
      try {
        if (chunk.type === ChunkType.USER_DATA || chunk.type === ChunkType.NEXT_USER_DATA) {
          dataPacket = true;
          let flowId: number;
          let fragment: ReceivedFragment;
          let metadata: Buffer | undefined;
          let returnFlowId: number | undefined;
          if (chunk.type === ChunkType.USER_DATA) {
            const h = parseUserDataHeader(chunk.body);
            flowId = h.flowId;
            fragment = { flags: h.flags, sequenceNumber: h.sequenceNumber, fsnOffset: h.fsnOffset, data: h.data };
            metadata = h.metadata;
            returnFlowId = h.returnFlowId;
            if (h.unknownMandatoryOption && !this.recvFlows.has(flowId)) {
              // An option we must understand but do not: refuse the flow rather than misread it.
              this.host.counters.malformed++;
              continue;
            }
          } else {
            if (!previous) throw new Error('Next User Data without User Data before it');
            flowId = previousFlowId;
            const flags = chunk.body[0];
            if (flags === undefined) throw new Error('empty Next User Data');
            fragment = {
              flags,
              sequenceNumber: previous.sequenceNumber + 1,
              fsnOffset: previous.fsnOffset + 1,
              data: chunk.body.subarray(1),
            };
          }
          this.onUserData(flowId, fragment, metadata, returnFlowId);
          previous = fragment;
          previousFlowId = flowId;
        } else {
          this.onChunk(chunk, from, now);
        }
      } catch (err) {
        this.host.counters.malformed++;
        this.log.debug({ chunk: chunk.type, err: (err as Error).message }, 'bad chunk');
      }
      if ((this.state as SessionState) === 'closed') return true;
    }
    if (dataPacket) {
      this.packetsSinceAck++;
      if (this.packetsSinceAck >= 2) this.ackNow = true;
      else if (this.ackDeadline === Infinity) this.ackDeadline = now + this.timings.delayedAckMs;
    }
    this.requestTransmit();
    this.armTimer(now);
    return true;
  }

  private onUserData(flowId: number, fragment: ReceivedFragment, metadata: Buffer | undefined, returnFlowId: number | undefined): void {
    let flow = this.recvFlows.get(flowId);
    if (!flow && this.lingering !== undefined) {
      const done = this.lingering.get(flowId);
      if (done !== undefined) {
        // A retransmission to a flow that is done: answer it from there. A sequence number past
        // a complete flow's end can only start a new flow that reuses the ID.
        if (done.flow.isRejected || fragment.sequenceNumber <= done.flow.cumulativeAck) {
          done.flow.onFragment(fragment);
          this.owesLingerReply(done.flow);
          return;
        }
        this.lingering.delete(flowId);
      }
    }
    if (!flow) {
      if (metadata === undefined) {
        // A fragment of a flow we never saw start (or already forgot): nothing to deliver to.
        // Acknowledging nothing makes the sender retransmit the first fragment with metadata.
        this.host.counters.unknownFlow++;
        return;
      }
      if (this.recvFlows.size >= MAX_RECV_FLOWS) {
        this.host.counters.flowLimit++;
        return;
      }
      // One context for all of a session's receive flows, as for send flows (a context and its
      // closures per flow were some 300 bytes each).
      const ctx = (this.recvFlowContext ??= {
        now: () => this.host.clock.now(),
        deliver: (id, message) => this.incoming.get(id)?.onMessage(message),
        wantAck: (immediate) => {
          if (immediate) this.ackNow = true;
        },
        wantException: () => {
          this.exceptionsOwed = true;
        },
      });
      // The metadata is a view into the packet: copied (or shared, see flowMetadata), so the
      // flows do not keep the packet alive.
      const ownMetadata = flowMetadata.intern(metadata);
      flow = new RecvFlow(ctx, flowId, ownMetadata, returnFlowId);
      this.recvFlows.set(flowId, flow);
      this.recvOrder.push(flow);
      const incoming = new IncomingFlow(this, flow, ownMetadata, returnFlowId);
      this.incoming.set(flowId, incoming);
      this.onFlow(incoming);
    }
    const wasComplete = flow.isComplete;
    flow.onFragment(fragment);
    flow.needsAck = true;
    if (!wasComplete && flow.isComplete) this.incoming.get(flowId)?.onEnd();
    this.settleRecvFlow(flow);
  }

  /**
   * Moves a receive flow that is done (complete, or refused) out of the active flows into
   * `lingering`, at once: a peer that opens and finishes flows quickly must not meet the flow
   * limit with flows that are only waiting to be forgotten. Its last acknowledgement or
   * exception still goes out. Internal (IncomingFlow calls it after a refusal).
   */
  settleRecvFlow(flow: RecvFlow): void {
    // Called for every fragment received: the flow's own state first, the tables only when done.
    if (!flow.isComplete && !flow.isRejected) return;
    if (this.recvFlows.get(flow.flowId) !== flow) {
      // Lingering already (refused after it was done): the exception it now owes still goes out.
      if (this.lingering?.get(flow.flowId)?.flow === flow && flow.owesReply) this.owesLingerReply(flow);
      return;
    }
    // It stays in recvOrder until the next transmit (see dropSettledFromRecvOrder).
    this.recvFlows.delete(flow.flowId);
    this.recvOrderStale = true;
    this.incoming.delete(flow.flowId);
    const lingering = (this.lingering ??= new Map());
    if (lingering.size >= MAX_LINGERING_FLOWS) {
      // The oldest goes first (a Map iterates in insertion order).
      const oldest = lingering.keys().next().value as number;
      lingering.delete(oldest);
    }
    lingering.set(flow.flowId, { flow, until: this.host.clock.now() + LINGER_MS });
    if (flow.owesReply) this.owesLingerReply(flow);
  }

  private owesLingerReply(flow: RecvFlow): void {
    const replies = (this.lingerReplies ??= []);
    if (!replies.includes(flow)) replies.push(flow);
    this.requestTransmit();
  }

  /** Receive flows that are open (not done and lingering). */
  get activeRecvFlowCount(): number {
    return this.recvFlows.size;
  }

  /** Receive flows that are done and still answered, for LINGER_MS after. */
  get lingeringRecvFlowCount(): number {
    return this.lingering?.size ?? 0;
  }

  private onChunk(chunk: ChunkView, from: Address, now: number): void {
    switch (chunk.type) {
      case ChunkType.PING:
        if (this.pingReplies.length < 4) this.pingReplies.push(Buffer.from(chunk.body));
        break;
      case ChunkType.PING_REPLY:
        if (this.mobilityProbe && chunk.body.equals(this.mobilityProbe.nonce) && sameAddress(from, this.mobilityProbe.address)) {
          const old = this.address;
          this.address = from;
          this.mobilityProbe = undefined;
          this.log.info({ from: formatAddress(old), to: formatAddress(from) }, 'peer address changed');
          this.onAddressChange(old, from);
        }
        break;
      case ChunkType.ACK_BITMAP:
      case ChunkType.ACK_RANGES: {
        const { flowId, ack } = parseAck(chunk.type, chunk.body);
        this.sendFlows.get(flowId)?.onAck(ack, now);
        break;
      }
      case ChunkType.BUFFER_PROBE: {
        const flowId = parseFlowIdChunk(chunk.body);
        const active = this.recvFlows.get(flowId);
        const flow = active ?? this.lingering?.get(flowId)?.flow;
        if (flow) {
          flow.needsAck = true;
          this.ackNow = true;
          if (flow !== active) this.owesLingerReply(flow);
        }
        break;
      }
      case ChunkType.FLOW_EXCEPTION: {
        const { flowId, code } = parseFlowException(chunk.body);
        this.sendFlows.get(flowId)?.onException(code);
        break;
      }
      case ChunkType.SESSION_CLOSE_REQUEST:
        this.sendCloseAck = true;
        if (this.state === 'open' || this.state === 'nearclose') {
          this.state = 'farclose';
          this.farClosedAt = now;
          this.log.debug('far end closed the session');
          this.closeReason = 'closed by far end';
          this.onClose(this.closeReason);
        }
        break;
      case ChunkType.SESSION_CLOSE_ACK:
        if (this.state === 'nearclose' || this.state === 'open') this.finish(this.closeReason || 'closed');
        break;
      case ChunkType.FORWARDED_IHELLO:
        this.host.forwardedIHello(chunk.body, this);
        break;
      default:
        // Unknown chunks are skipped (RFC 7016 §2.3): later versions may add some.
        this.host.counters.unknownChunk++;
    }
  }

  /** RFC 7016 §3.5.4.2: validate a new far address with a ping before sending there. */
  private considerNewAddress(from: Address): void {
    if (this.mobilityProbe && sameAddress(this.mobilityProbe.address, from)) return;
    this.mobilityProbe = { nonce: Buffer.concat([Buffer.from('M'), randomBytes(8)]), address: from, due: true };
    this.log.debug({ candidate: formatAddress(from) }, 'packet from a new address: validating');
  }

  // ---- Sending ----

  /** Starts a packet: header with timestamp and, when due, the echo. */
  private beginPacket(now: number): void {
    const w = this.writer;
    const echo = this.echoPending ? timestampEcho(this.lastRxTimestamp, this.lastRxTimestampAt, now) : undefined;
    this.echoPending = false;
    const end = writePacketHeader(this.scratch, PROTECTION_FRONT_MARGIN, {
      flags: now - this.timeCriticalReceivedAt < TIME_CRITICAL_HOLD_MS ? HeaderFlag.TIME_CRITICAL_REVERSE : 0,
      mode: this.isInitiator ? PacketMode.INITIATOR : PacketMode.RESPONDER,
      timestamp: timestampTicks(now),
      timestampEcho: echo,
    });
    w.reset(end, PROTECTION_FRONT_MARGIN + MAX_PACKET_LENGTH);
  }

  /** Seals the packet assembled at `now` and sends it. */
  private sealAndSend(now: number, to: Address = this.address): void {
    const datagram = this.protection.seal(this.scratch, PROTECTION_FRONT_MARGIN, this.writer.offset, this.remoteId, this.host.sealInPlace);
    this.host.sendDatagram(datagram, to);
    this.congestion.countTx(datagramLength(datagram));
    this.lastSendAt = now;
    this.host.counters.packetsSent++;
  }

  /** Sends one packet holding a single control chunk, outside the assembly loop. */
  private sendControl(type: number, body: Buffer = Buffer.alloc(0)): void {
    const now = this.host.clock.now();
    this.beginPacket(now);
    if (!this.writer.chunk(type, body)) return;
    this.sealAndSend(now);
  }

  /** Packet assembly: control chunks first, then acks, then flow data while congestion allows. */
  transmit(): void {
    if (this.state === 'closed') return;
    // Every active flow is in both, unless some have moved to `lingering` since.
    if (this.recvOrderStale) this.dropSettledFromRecvOrder();
    const now = this.host.clock.now();
    const w = this.writer;
    const ackDue = this.ackNow || now >= this.ackDeadline;
    for (let packets = 0; packets < MAX_PACKETS_PER_TRANSMIT; packets++) {
      this.beginPacket(now);
      const empty = w.offset;
      if (this.sendCloseAck) {
        w.chunk(ChunkType.SESSION_CLOSE_ACK, EMPTY);
        this.sendCloseAck = false;
      }
      if (this.state === 'nearclose' && now >= this.closeNextSendAt) {
        w.chunk(ChunkType.SESSION_CLOSE_REQUEST, EMPTY);
        this.closeNextSendAt = now + this.timings.closeRetransmitMs;
      }
      while (this.pingReplies.length > 0 && w.chunk(ChunkType.PING_REPLY, this.pingReplies[0]!)) this.pingReplies.shift();
      if (this.pingDue && w.chunk(ChunkType.PING, EMPTY)) this.pingDue = false;
      // Done flows answering a retransmission: their reply is due at once, like a duplicate's.
      const lingerUnsent = this.lingerReplies !== undefined && !this.writeLingerReplies(w);
      if (ackDue) {
        let unacked = lingerUnsent;
        for (const flow of this.recvOrder) {
          if (flow.needsAck && flow.writeAck(w)) flow.needsAck = false;
          unacked ||= flow.needsAck;
        }
        if (!unacked) {
          this.ackNow = false;
          this.ackDeadline = Infinity;
          this.packetsSinceAck = 0;
        }
      }
      if (this.exceptionsOwed) this.writeExceptions(w);
      if (this.state === 'open' || this.state === 'nearclose') this.fillData(w, now);
      if (w.offset === empty) break;
      this.sealAndSend(now);
      if (packets === MAX_PACKETS_PER_TRANSMIT - 1) {
        // More may be sendable: continue after pending I/O rather than hold the event loop.
        setImmediate(() => this.requestTransmit());
      }
    }
    if (this.mobilityProbe?.due) {
      // The probe goes to the candidate address only.
      this.beginPacket(now);
      w.chunk(ChunkType.PING, this.mobilityProbe.nonce);
      this.mobilityProbe.due = false;
      this.sealAndSend(now, this.mobilityProbe.address);
    }
    this.armTimer(now);
  }

  /** Writes what lingering flows owe; answers false if some of it did not fit this packet. */
  private writeLingerReplies(w: ChunkWriter): boolean {
    const replies = this.lingerReplies!;
    while (replies.length > 0) {
      const flow = replies[0]!;
      if (flow.needsAck && !flow.writeAck(w)) return false;
      if (flow.needsException && !flow.writeException(w)) return false;
      replies.shift();
    }
    this.lingerReplies = undefined;
    return true;
  }

  /** Writes the exceptions active flows owe, as many as fit; the rest wait for the next packet. */
  private writeExceptions(w: ChunkWriter): void {
    let left = false;
    for (const flow of this.recvOrder) {
      flow.writeException(w);
      left ||= flow.needsException;
    }
    this.exceptionsOwed = left;
  }

  private dropSettledFromRecvOrder(): void {
    this.recvOrderStale = false;
    let kept = 0;
    for (const flow of this.recvOrder) {
      if (this.recvFlows.get(flow.flowId) === flow) this.recvOrder[kept++] = flow;
    }
    this.recvOrder.length = kept;
  }

  private fillData(w: ChunkWriter, now: number): void {
    const flows = this.sendOrder;
    if (flows.length === 0) return;
    const start = this.flowCursor % flows.length;
    for (let i = 0; i < flows.length; i++) {
      const flow = flows[(start + i) % flows.length]!;
      if (flow.fill(w, now) > 0 && flow.priority >= TIME_CRITICAL_PRIORITY) {
        this.scratch[PROTECTION_FRONT_MARGIN]! |= HeaderFlag.TIME_CRITICAL;
      }
      if (w.roomForBody < 16) {
        this.flowCursor = start + i + 1;
        return;
      }
    }
    this.flowCursor = start + 1;
  }

  // ---- Timers ----

  private armTimer(now: number): void {
    let at = Infinity;
    if (this.state === 'open') {
      at = Math.min(at, this.livenessDeadline(), this.lastSendAt + this.timings.keepaliveMs);
      if (this.ackDeadline < Infinity) at = Math.min(at, this.ackDeadline);
      for (const flow of this.sendOrder) {
        const t = flow.nextTimeout(now);
        if (t !== undefined) at = Math.min(at, t);
      }
    } else if (this.state === 'nearclose') {
      at = Math.min(this.closeNextSendAt, this.closeGiveUpAt());
    } else if (this.state === 'farclose') {
      at = this.farClosedAt + this.timings.farCloseLingerMs;
    }
    if (at === Infinity) return;
    // A later deadline is left to the timer already set: it finds nothing due and re-arms.
    if (this.timer.scheduled && at >= this.timer.at - 1) return;
    this.host.deadlines.schedule(this.timer, at);
  }

  private onTimer(): void {
    const now = this.host.clock.now();
    // Each check below is the very sum armTimer scheduled: written as `now - last >= period` it
    // can come out a rounding error short at the deadline itself, and the timer, re-armed for a
    // moment that has come, fired again and again (1 ms apart on a real clock; without end on
    // a test's fake clock, which does not move on by itself).
    if (this.state === 'open') {
      if (now >= this.livenessDeadline()) {
        const t = this.timings;
        if (this.unansweredPings >= t.deadAfterPings) {
          // Timers run before the event loop reads sockets: after a stall (a loaded machine, a
          // long collection) the answer may be waiting unread. The verdict comes after the
          // next read instead, with what it brought.
          if (!this.deathPending) {
            this.deathPending = true;
            setImmediate(() => this.confirmDead());
          }
          return;
        }
        this.unansweredPings++;
        this.host.counters.livenessPings++;
        this.pingDue = true;
        this.requestTransmit();
      }
      if (now >= this.lastSendAt + this.timings.keepaliveMs && !this.pingDue) {
        this.pingDue = true;
        this.requestTransmit();
      }
      // A flow with something to send after its timeout (retransmissions, a probe) asks for
      // packet assembly itself; most firings find nothing due (the retransmission deadline moved
      // on with the acks since the timer was set), and then no packet is assembled at all.
      for (const flow of this.sendOrder) {
        const t = flow.nextTimeout(now);
        if (t !== undefined && t <= now) flow.onTimeout(now);
      }
      if (now >= this.ackDeadline) this.requestTransmit();
      this.reapFlows();
    } else if (this.state === 'nearclose') {
      if (now >= this.closeGiveUpAt()) {
        this.finish(this.closeReason || 'close not acknowledged');
        return;
      }
      if (now >= this.closeNextSendAt) this.requestTransmit();
    } else if (this.state === 'farclose') {
      if (now >= this.farClosedAt + this.timings.farCloseLingerMs) {
        this.finish(this.closeReason);
        return;
      }
    }
    this.armTimer(now);
  }

  /**
   * When the next liveness ping is due, or, with deadAfterPings unanswered, when the session is
   * dead. The timer and its check both use this one sum (see onTimer).
   */
  private confirmDead(): void {
    this.deathPending = false;
    if (this.state !== 'open') return;
    const now = this.host.clock.now();
    const t = this.timings;
    if (this.unansweredPings >= t.deadAfterPings && now >= this.livenessDeadline()) {
      this.host.counters.sessionsDead++;
      this.abort(`dead: ${t.deadAfterPings} keepalive pings unanswered, nothing heard for ${Math.round(now - this.lastReceiveAt)} ms`);
    } else {
      this.armTimer(now);
    }
  }

  private livenessDeadline(): number {
    const t = this.timings;
    return this.lastReceiveAt + (t.pingAfterSilenceMs + this.unansweredPings * t.pingIntervalMs);
  }

  /**
   * When an unacknowledged close is given up: closeGiveUpMs after it started, or sooner when the
   * far end has been silent as long as it takes to be declared dead (its close requests, which
   * it must answer, went unanswered like pings): a vanished peer's session is gone in seconds.
   */
  private closeGiveUpAt(): number {
    const t = this.timings;
    return Math.min(this.closeStartedAt + t.closeGiveUpMs, Math.max(this.lastReceiveAt, this.closeStartedAt) + deadAfterMs(t));
  }

  /** Forgets flows that are done in both directions. */
  private reapFlows(): void {
    // Runs at every timer firing and rarely finds anything: one pass that keeps the live flows
    // in place, in order, and allocates nothing.
    let kept = 0;
    for (const flow of this.sendOrder) {
      if (flow.isFinished) this.sendFlows.delete(flow.flowId);
      else this.sendOrder[kept++] = flow;
    }
    this.sendOrder.length = kept;
    // Receive flows leave the active ones as soon as they are done (settleRecvFlow); here the
    // lingering ones are forgotten once their time is up, oldest first.
    const lingering = this.lingering;
    if (lingering === undefined) return;
    const now = this.host.clock.now();
    for (const [flowId, done] of lingering) {
      if (done.until > now) break;
      if (done.flow.owesReply) continue; // after its reply is sent
      lingering.delete(flowId);
    }
    if (lingering.size === 0) this.lingering = undefined;
  }

  private finish(reason: string): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open' || this.state === 'nearclose';
    this.state = 'closed';
    this.host.deadlines.cancel(this.timer);
    this.log.debug({ reason }, 'session closed');
    if (wasOpen) this.onClose(reason);
    this.host.sessionClosed(this);
  }
}

const EMPTY = Buffer.alloc(0);
/** Active receive flows a session keeps at once; fragments opening more are dropped (and retransmitted). */
const MAX_RECV_FLOWS = 256;
/**
 * How long a done receive flow is still answered: 120 s, a maximum segment lifetime, as in
 * RFC 7016's RF_COMPLETE_LINGER state (rtmfp-cpp's receiver lingers as long). Senders keep a
 * finished flow's ID longer than that (F_COMPLETE_LINGER) before using it again.
 */
const LINGER_MS = 120_000;
/** Done flows one session lingers on at most; past it, the oldest is forgotten early. */
const MAX_LINGERING_FLOWS = 256;

interface LingeringFlow {
  flow: RecvFlow;
  /** When it may be forgotten. */
  until: number;
}
/** Bounds one transmit() so a large queue cannot hold the event loop. */
const MAX_PACKETS_PER_TRANSMIT = 512;
