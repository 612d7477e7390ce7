// A benchmark-only RTMFP player that costs a fraction of Covey's client per packet, so that the
// fan-out benchmark can run 1,000 players on the second core of a 2-core machine. Covey's client
// spends about 12 us per media packet, a third of it in GC of decryption outputs, and 1,000 of
// them need more than a core.
//
// Covey's client opens the session, connects and starts playing (lean-players.ts); then this
// takes the session's socket over and handles the server's packets itself:
// - CBC decrypts any block given the ciphertext block before it, so only the blocks holding what
//   is read get decrypted: the packet header, each chunk's header, and each message's first bytes
//   (type, timestamp, codec header). That is 2 to 4 blocks of a full packet's 74, on an expanded
//   key with @noble/ciphers' block function, into one reused table: nothing is allocated. Where
//   the native accelerator is built, a packet whose first block is read is decrypted whole through
//   it instead, into that table (about 240 ns for a shared-object update's 80-odd bytes, where
//   @noble/ciphers took about 0.5 us a block and such a packet has 4 to read).
// - Checksums are not verified (loopback does not corrupt; the server's are tested elsewhere),
//   and messages are not reassembled: a frame counts when its last fragment arrives, provided all
//   its fragments came in order. One that did not is counted missing, which can only make the
//   server's figures look worse than a real player would see them.
// - It acknowledges like Covey's client: every flow, after the second data packet (once the
//   packets that arrived together have been read) or 200 ms after a lone one, advertising the
//   empty buffer the client advertises; it answers pings and buffer probes. The server sees the
//   same traffic from it as from Covey's client.
import { unsafe as aes } from '@noble/ciphers/aes.js';
import { writeAck, type AckRangeList } from '../../src/rtmfp/ack-codec.js';
import { ChunkType, Fragment, HeaderFlag, PacketMode, UserDataFlag } from '../../src/rtmfp/chunk-types.js';
import { ChunkWriter } from '../../src/rtmfp/chunk-writer.js';
import { PacketProtection, PROTECTION_BACK_MARGIN, PROTECTION_FRONT_MARGIN, type ProtectionParams } from '../../src/rtmfp/crypto/packet-protection.js';
import { timestampEcho, timestampTicks, writePacketHeader } from '../../src/rtmfp/packet.js';
import { DEFAULT_TIMINGS, MAX_PACKET_LENGTH, TIME_CRITICAL_HOLD_MS } from '../../src/rtmfp/session.js';
import type { OutgoingDatagram } from '../../src/rtmfp/platform.js';
import { endianness } from 'node:os';
import { nativeAccel } from '../../src/rtmfp/native-accel.js';
import { FlashMessageType } from '../../src/codec/flash-command.js';
import { isVideoSequenceHeader } from '../../src/codec/video-tag.js';
import { isAudioSequenceHeader } from '../../src/codec/audio-tag.js';
import { TC_MESSAGE_HEADER_LENGTH } from '../../src/codec/tc-message.js';
import type { PlayerFrames } from './player-frames.js';

/** Largest packet handled, in cipher blocks (the server's packets are at most 1,180 bytes). */
const MAX_BLOCKS = 128;
/** Whole packets are decrypted natively where that is built; the table's words are then little-endian views of its bytes. */
const wholePacketDecryption = endianness() === 'LE' ? nativeAccel : undefined;
/** What Covey's client advertises for a flow whose buffer is empty: 1 MB, in 1024-byte blocks. */
const BUFFER_BLOCKS = 1024;
/** As the session's: a lone data packet is acknowledged this long after it came. */
const DELAYED_ACK_MS = DEFAULT_TIMINGS.delayedAckMs;
/** Sequence numbers above a gap remembered per flow; more is not a loopback benchmark's case. */
const MAX_OUT_OF_ORDER = 512;
/** Payload bytes a codec-header test is given: legacy AVC and AAC read 2 (and want 5 or more), enhanced RTMP's forms up to 8. */
const CODEC_HEAD_BYTES = 8;

/** A media message whose first fragments have arrived in order. */
interface OpenMessage {
  next: number;
  ts: number;
  bytes: number;
  codecConfig: boolean;
}

/** What a player keeps of one of the server's flows. */
export class LeanFlow {
  /** Everything up to here has arrived, or the server has given it up. */
  cumulative = 0;
  /** Sequence numbers received above a gap, ascending. */
  readonly above: number[] = [];
  owesAck = false;
  open: OpenMessage | undefined;

  constructor(readonly id: number) {}

  /** Records a fragment; answers whether it is new (not a duplicate). */
  receive(seq: number, forward: number): boolean {
    if (forward > this.cumulative) this.cumulative = forward;
    this.absorb();
    this.owesAck = true;
    if (seq <= this.cumulative || this.above.includes(seq)) return false;
    if (seq === this.cumulative + 1) {
      this.cumulative = seq;
      this.absorb();
    } else if (this.above.length < MAX_OUT_OF_ORDER) {
      let i = this.above.length;
      while (i > 0 && this.above[i - 1]! > seq) i--;
      this.above.splice(i, 0, seq);
    }
    return true;
  }

  private absorb(): void {
    const above = this.above;
    while (above.length > 0 && above[0]! <= this.cumulative + 1) {
      if (above[0] === this.cumulative + 1) this.cumulative++;
      above.shift();
    }
  }

  /** The ranges above the cumulative point, as the ack writer takes them. */
  ranges(): AckRangeList {
    const starts: number[] = [];
    const ends: number[] = [];
    for (const seq of this.above) {
      if (ends.length > 0 && ends[ends.length - 1] === seq - 1) ends[ends.length - 1] = seq;
      else {
        starts.push(seq);
        ends.push(seq);
      }
    }
    return { starts, ends, count: starts.length };
  }
}

/** A little-endian 32-bit word, as @noble/ciphers reads blocks (inline: readUInt32LE checks bounds and type). */
function le32(b: Buffer, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
}

const NO_RANGES: AckRangeList = { starts: [], ends: [], count: 0 };

export interface LeanSession {
  /** The keys the session was keyed with (from FlashCrypto's KeyingResult). */
  params: ProtectionParams;
  /** The server's session ID, which our packets carry. */
  remoteId: number;
  send(datagram: OutgoingDatagram): void;
}

/**
 * The session half of a lean reader: reading packets (decrypting only what is read), flows and
 * acknowledgements. What a new fragment means is the subclass's: media frames (LeanPlayer), or
 * shared-object updates (lean-rtmfp-so-user.ts).
 */
export abstract class LeanReceiver {
  packetsIn = 0;
  packetsOut = 0;
  /** Packets that could not be read (too long, or chunks running past the end). */
  malformed = 0;
  /** Set by the scheduler: when a lone data packet's ack is due (Infinity: none owed). */
  ackDeadline = Infinity;
  /** Called when an ack is due at once; the scheduler sends it after the datagrams at hand. */
  onAckNow: (player: LeanReceiver) => void = () => {};

  private readonly roundKeys: Uint32Array;
  private readonly protection: PacketProtection;
  private readonly flows = new Map<number, LeanFlow>();
  private readonly pingReplies: Buffer[] = [];
  private packetsSinceAck = 0;
  private ackQueued = false;
  private lastRxTimestamp = -1;
  private lastRxTimestampAt = 0;
  private echoPending = false;
  private timeCriticalAt = -Infinity;

  // The packet being read: its datagram, and its plaintext words for the blocks decrypted so far
  // (little-endian, as @noble/ciphers' block function reads and writes them).
  private datagram: Buffer = Buffer.alloc(0);
  /** The plaintext table; `words` reads it as @noble/ciphers' little-endian block words. */
  private readonly plain = Buffer.alloc(MAX_BLOCKS * 16);
  private readonly words = new Int32Array(this.plain.buffer, this.plain.byteOffset, MAX_BLOCKS * 4);
  private readonly decryptKey: Buffer;
  private readonly decryptedIn = new Uint32Array(MAX_BLOCKS);
  private packetNumber = 0;
  protected cursor = 0;

  private readonly scratch = Buffer.alloc(PROTECTION_FRONT_MARGIN + MAX_PACKET_LENGTH + PROTECTION_BACK_MARGIN);
  private readonly writer = new ChunkWriter(this.scratch, 0, 0);

  constructor(
    private readonly session: LeanSession,
  ) {
    if (session.params.recvHmac || session.params.recvSequence || session.params.sendHmac || session.params.sendSequence) {
      throw new Error('lean players read packets with the checksum and no session sequence numbers only (the default Flash profile)');
    }
    this.roundKeys = aes.expandKeyDecLE(session.params.decryptKey);
    this.decryptKey = Buffer.from(session.params.decryptKey);
    this.protection = new PacketProtection(session.params);
  }

  // ---- Reading a packet, decrypting only what is read ----

  protected byte(at: number): number {
    const block = at >>> 4;
    if (this.decryptedIn[block] !== this.packetNumber) this.decryptBlock(block);
    return (this.words[at >>> 2]! >>> ((at & 3) << 3)) & 0xff;
  }

  private decryptBlock(block: number): void {
    const d = this.datagram;
    if (wholePacketDecryption !== undefined) {
      // receive() checked the length: whole blocks, at most MAX_BLOCKS.
      wholePacketDecryption.decrypt(this.decryptKey, d, 4, d.length, this.plain, 0);
      this.decryptedIn.fill(this.packetNumber, 0, (d.length - 4) >>> 4);
      return;
    }
    const at = 4 + block * 16;
    const r = aes.decrypt(this.roundKeys, le32(d, at), le32(d, at + 4), le32(d, at + 8), le32(d, at + 12));
    const w = this.words;
    const i = block * 4;
    if (block === 0) {
      w[i] = r.s0;
      w[i + 1] = r.s1;
      w[i + 2] = r.s2;
      w[i + 3] = r.s3;
    } else {
      w[i] = r.s0 ^ le32(d, at - 16);
      w[i + 1] = r.s1 ^ le32(d, at - 12);
      w[i + 2] = r.s2 ^ le32(d, at - 8);
      w[i + 3] = r.s3 ^ le32(d, at - 4);
    }
    this.decryptedIn[block] = this.packetNumber;
  }

  private u16(at: number): number {
    return (this.byte(at) << 8) | this.byte(at + 1);
  }

  protected u32(at: number): number {
    return ((this.byte(at) << 24) | (this.byte(at + 1) << 16) | (this.byte(at + 2) << 8) | this.byte(at + 3)) >>> 0;
  }

  /** A VLU at the cursor, which moves past it. */
  private vlu(): number {
    let value = 0;
    for (let i = 0; i < 8; i++) {
      const b = this.byte(this.cursor++);
      value = value * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) return value;
    }
    throw new RangeError('VLU too long');
  }

  /** A datagram from the server. */
  receive(datagram: Buffer, now: number): void {
    this.packetsIn++;
    datagramsRead++;
    const length = datagram.length - 4;
    if (length < 16 || length % 16 !== 0 || length > MAX_BLOCKS * 16) {
      this.malformed++;
      return;
    }
    this.datagram = datagram;
    // Block stamps start at 0, and a wrapped packet number must not match them.
    if (++this.packetNumber === 0xffffffff) {
      this.decryptedIn.fill(0);
      this.packetNumber = 1;
    }
    try {
      this.readPacket(length, now);
    } catch {
      this.malformed++;
    }
  }

  private readPacket(length: number, now: number): void {
    // [checksum: 2][flags][timestamp?][timestamp echo?][chunks...][padding]
    const flags = this.byte(2);
    if ((flags & HeaderFlag.MODE_MASK) !== PacketMode.RESPONDER) {
      this.malformed++;
      return;
    }
    let o = 3;
    if (flags & HeaderFlag.TIMESTAMP) {
      const ts = this.u16(o);
      o += 2;
      if (ts !== this.lastRxTimestamp) {
        this.lastRxTimestamp = ts;
        this.lastRxTimestampAt = now;
        this.echoPending = true;
      }
    }
    if (flags & HeaderFlag.TIMESTAMP_ECHO) o += 2;
    if (flags & HeaderFlag.TIME_CRITICAL) this.timeCriticalAt = now;

    let data = false;
    let flow: LeanFlow | undefined;
    let seq = 0;
    let forward = 0;
    while (o + 3 <= length) {
      const type = this.byte(o);
      if (type === ChunkType.PADDING_FF || type === ChunkType.PADDING_0) break;
      const end = o + 3 + this.u16(o + 1);
      if (end > length) throw new RangeError('chunk runs past the packet');
      this.cursor = o + 3;
      if (type === ChunkType.USER_DATA) {
        const chunkFlags = this.byte(this.cursor++);
        const id = this.vlu();
        seq = this.vlu();
        forward = seq - this.vlu();
        if (chunkFlags & UserDataFlag.OPTIONS) {
          for (let size = this.vlu(); size !== 0; size = this.vlu()) this.cursor += size;
        }
        flow = this.flows.get(id);
        if (flow === undefined) this.flows.set(id, (flow = new LeanFlow(id)));
        this.fragment(flow, chunkFlags, seq, forward, end);
        data = true;
      } else if (type === ChunkType.NEXT_USER_DATA) {
        if (flow === undefined) throw new RangeError('Next User Data with no User Data before it');
        const chunkFlags = this.byte(this.cursor++);
        this.fragment(flow, chunkFlags, ++seq, forward, end);
        data = true;
      } else if (type === ChunkType.PING) {
        const body = Buffer.allocUnsafe(end - this.cursor);
        for (let i = 0; i < body.length; i++) body[i] = this.byte(this.cursor + i);
        this.pingReplies.push(body);
        this.queueAck();
      } else if (type === ChunkType.BUFFER_PROBE) {
        const id = this.vlu();
        const probed = this.flows.get(id);
        if (probed) {
          probed.owesAck = true;
          this.queueAck();
        }
      }
      o = end;
    }
    if (data) {
      if (++this.packetsSinceAck >= 2) this.queueAck();
      else if (this.ackDeadline === Infinity) this.ackDeadline = now + DELAYED_ACK_MS;
    }
  }

  /** A User Data fragment whose data runs from the cursor to `end`. */
  private fragment(flow: LeanFlow, flags: number, seq: number, forward: number, end: number): void {
    if (flow.receive(seq, forward)) this.newFragment(flow, flags, seq, end);
  }

  /** A fragment not seen before, its data from the cursor to `end` (read it with byte and u32). */
  protected abstract newFragment(flow: LeanFlow, flags: number, seq: number, end: number): void;

  // ---- Acknowledging ----

  private queueAck(): void {
    if (this.ackQueued) return;
    this.ackQueued = true;
    this.onAckNow(this);
  }

  /** Sends what is owed: ping replies and every flow's ack. */
  sendAcks(now: number): void {
    this.ackQueued = false;
    this.ackDeadline = Infinity;
    this.packetsSinceAck = 0;
    for (let packets = 0; packets < 4; packets++) {
      const w = this.writer;
      const echo = this.echoPending ? timestampEcho(this.lastRxTimestamp, this.lastRxTimestampAt, now) : undefined;
      this.echoPending = false;
      const start = writePacketHeader(this.scratch, PROTECTION_FRONT_MARGIN, {
        flags: now - this.timeCriticalAt < TIME_CRITICAL_HOLD_MS ? HeaderFlag.TIME_CRITICAL_REVERSE : 0,
        mode: PacketMode.INITIATOR,
        timestamp: timestampTicks(now),
        timestampEcho: echo,
      });
      w.reset(start, PROTECTION_FRONT_MARGIN + MAX_PACKET_LENGTH);
      while (this.pingReplies.length > 0 && w.chunk(ChunkType.PING_REPLY, this.pingReplies[0]!)) this.pingReplies.shift();
      let more = this.pingReplies.length > 0;
      for (const flow of this.flows.values()) {
        if (!flow.owesAck) continue;
        if (writeAck(w, flow.id, BUFFER_BLOCKS, flow.cumulative, flow.above.length === 0 ? NO_RANGES : flow.ranges())) flow.owesAck = false;
        else more = true;
      }
      if (w.offset === start) return;
      this.sendPacket();
      if (!more) return;
    }
  }

  /** Asks the server to close the session (once: the benchmark is over). */
  close(now: number): void {
    const start = writePacketHeader(this.scratch, PROTECTION_FRONT_MARGIN, { flags: 0, mode: PacketMode.INITIATOR, timestamp: timestampTicks(now) });
    this.writer.reset(start, PROTECTION_FRONT_MARGIN + MAX_PACKET_LENGTH);
    this.writer.chunk(ChunkType.SESSION_CLOSE_REQUEST, Buffer.alloc(0));
    this.sendPacket();
  }

  /** Seals the packet the writer holds and sends it. */
  private sendPacket(): void {
    this.session.send(this.protection.seal(this.scratch, PROTECTION_FRONT_MARGIN, this.writer.offset, this.session.remoteId));
    this.packetsOut++;
  }
}

/** A lean media player: counts the audio and video frames of its session's flows. */
export class LeanPlayer extends LeanReceiver {
  private readonly codecHead = Buffer.alloc(CODEC_HEAD_BYTES);

  constructor(
    session: LeanSession,
    private readonly frames: PlayerFrames,
  ) {
    super(session);
  }

  /** Media messages are counted into `frames` when their last fragment arrives. */
  protected override newFragment(flow: LeanFlow, flags: number, seq: number, end: number): void {
    const at = this.cursor;
    const size = end - at;
    const position = flags & UserDataFlag.FRAGMENT_MASK;
    const abandoned = (flags & UserDataFlag.ABANDON) !== 0;
    if (position === Fragment.WHOLE || position === Fragment.BEGIN) {
      flow.open = undefined;
      if (abandoned || size < TC_MESSAGE_HEADER_LENGTH) return;
      const type = this.byte(at);
      if (type !== FlashMessageType.Audio && type !== FlashMessageType.Video) return;
      const message: OpenMessage = {
        next: seq + 1,
        ts: this.u32(at + 1),
        bytes: size - TC_MESSAGE_HEADER_LENGTH,
        codecConfig: this.isCodecConfig(type, at + TC_MESSAGE_HEADER_LENGTH, end),
      };
      if (position === Fragment.WHOLE) this.frames.frame(message.ts, message.bytes, message.codecConfig, Date.now());
      else flow.open = message;
      return;
    }
    const open = flow.open;
    if (open === undefined) return;
    if (abandoned || seq !== open.next) {
      flow.open = undefined;
      return;
    }
    open.next++;
    open.bytes += size;
    if (position === Fragment.END) {
      flow.open = undefined;
      this.frames.frame(open.ts, open.bytes, open.codecConfig, Date.now());
    }
  }

  private isCodecConfig(type: number, from: number, end: number): boolean {
    const n = Math.min(CODEC_HEAD_BYTES, end - from);
    for (let i = 0; i < n; i++) this.codecHead[i] = this.byte(from + i);
    const head = this.codecHead.subarray(0, n);
    return type === FlashMessageType.Video ? isVideoSequenceHeader(head) : isAudioSequenceHeader(head);
  }
}

/** Datagrams read by every lean receiver of this process (the ack scheduler watches it for a pause). */
let datagramsRead = 0;


/**
 * The longest an ack owed at once waits for the reads to pause (afterReadsMs): well inside the
 * 200 ms a lone packet's ack may wait (RFC 7016 §3.6.3.4.2's delayed ack), so the server's flows
 * never stall on it.
 */
const ACK_WAIT_MAX_MS = 20;

/**
 * Sends the players' acks as Covey's client's sessions do: one owed at once goes out after the
 * datagrams already at hand have been read (so a burst is acknowledged once), and a lone packet's
 * when its delay runs out. With afterReadsMs (the shared-object bench's latency phase), the acks
 * owed at once wait for the reads to pause: 1,000 users on 1,000 machines each ack on their own
 * CPU, but here every ack sent (about 7 us of node:dgram's send) holds up the next user's read,
 * and when the server's change reached all users an ack was due on every other update, whose last
 * user had it 4.5 ms later than the others' (median, shared-object fan-out at 1,000 users, load
 * 3-4).
 */
export class AckScheduler {
  private readonly now: LeanReceiver[] = [];
  private scheduled = false;
  private readonly timer: NodeJS.Timeout;
  private owedSince = 0;
  private readsSeen = 0;
  /**
   * When set, acks owed at once wait until no datagram came for this long (checked on a timer of
   * this period), at most ACK_WAIT_MAX_MS, instead of going out after the datagrams at hand.
   */
  afterReadsMs: number | undefined;

  constructor(
    private readonly players: readonly LeanReceiver[],
    private readonly clock: () => number,
  ) {
    for (const p of players) p.onAckNow = (player) => this.ackSoon(player);
    this.timer = setInterval(() => this.sendDelayed(), 20);
  }

  private ackSoon(player: LeanReceiver): void {
    this.now.push(player);
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.afterReadsMs;
    if (wait === undefined) {
      setImmediate(this.sendOwed);
      return;
    }
    this.owedSince = this.clock();
    this.readsSeen = datagramsRead;
    setTimeout(this.sendWhenReadsPause, wait);
  }

  private readonly sendWhenReadsPause = (): void => {
    const wait = this.afterReadsMs;
    if (wait !== undefined && datagramsRead !== this.readsSeen && this.clock() - this.owedSince < ACK_WAIT_MAX_MS) {
      this.readsSeen = datagramsRead;
      setTimeout(this.sendWhenReadsPause, wait);
      return;
    }
    this.sendOwed();
  };

  private readonly sendOwed = (): void => {
    this.scheduled = false;
    const t = this.clock();
    for (const p of this.now.splice(0)) p.sendAcks(t);
  };

  private sendDelayed(): void {
    const t = this.clock();
    for (const p of this.players) if (p.ackDeadline <= t) p.sendAcks(t);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
