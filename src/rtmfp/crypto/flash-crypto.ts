// The Flash cryptography profile (RFC 7425 §4) as one adapter for the engine: our
// certificate and peer ID, endpoint-discriminator matching, the keying exchange (IIKeying's
// SKIC and RIKeying's SKRC) and the per-session packet protection it yields.
import { createHmac } from 'node:crypto';
import { randomPool } from './random-pool.js';
import { ByteReader, encodeOption, encodeVlu, encodeVluOption, findOption, readOptionList, vluLength, writeVlu, type RtmfpOption } from '../../codec/vlu.js';
import { CertOption, KeyingOption, NegotiationFlag } from './flash-options.js';
import { FlashCertificate, type Epd } from './flash-certificate.js';
import { DhKeyPair, SUPPORTED_DH_GROUPS, isSupportedDhGroup, type DhGroupId } from './dh-groups.js';
import { MAX_HMAC_LENGTH, MIN_HMAC_LENGTH, PacketProtection, type ProtectionParams } from './packet-protection.js';

export class KeyingError extends Error {}

export interface NegotiationPolicy {
  /** Send always (rather than only when asked). */
  sendAlways: boolean;
  /** Require the other side to send. */
  recvRequired: boolean;
}

export interface FlashCryptoOptions {
  /**
   * A server's certificate offers ephemeral DH groups and accepts ancillary data (connect
   * URLs); a client's or peer's carries static DH public keys, as Flash Player's does, which
   * makes its peer ID stable for the life of the endpoint.
   */
  server: boolean;
  /** DH groups in preference order, strongest first. */
  groups?: readonly DhGroupId[];
  /** As initiator, send the DH public key in the SKIC (rtmfp-cpp's form) instead of the certificate. */
  ephemeralInitiator?: boolean;
  hostname?: string;
  hmac?: NegotiationPolicy & { length?: number };
  sessionSequence?: NegotiationPolicy;
}

/** The outcome of keying: what the session uses to protect its packets. */
export interface KeyingResult {
  protection: PacketProtection;
  /**
   * The keys and options `protection` was made from. The session keeps only `protection`; this
   * is for programs that handle a session's packets themselves once it is open (the fan-out
   * benchmark's lean players).
   */
  params: ProtectionParams;
  group: DhGroupId;
  /** Whether each side sends HMACs and sequence numbers, for logs. */
  negotiated: { sendHmac: boolean; recvHmac: boolean; sendSequence: boolean; recvSequence: boolean };
  /** What the keys were derived from; see KeyingMaterial. */
  material: KeyingMaterial;
}

/**
 * The DH shared secret and both session key components (the "nonces" librtmfp names them):
 * protocols above the session bind to them. NetGroup's peer handshake proves knowledge of the
 * groupspec with HMAC-SHA256(groupspec, HMAC-SHA256(secret, recipient's nonce)) (librtmfp
 * P2PSession::buildGroupKey), so a peer must still have them after keying.
 */
export interface KeyingMaterial {
  sharedSecret: Buffer;
  /** The initiator's SKIC, as sent in IIKeying. */
  initiatorNonce: Buffer;
  /** The responder's SKRC, as sent in RIKeying. */
  responderNonce: Buffer;
}

const NO_NEGOTIATION: NegotiationPolicy = { sendAlways: false, recvRequired: false };
const DEFAULT_HMAC_LENGTH = 16;

function negotiationFlags(p: NegotiationPolicy): number {
  return (p.sendAlways ? NegotiationFlag.SEND_ALWAYS : 0) | NegotiationFlag.SEND_ON_REQUEST | (p.recvRequired ? NegotiationFlag.REQUEST : 0);
}

/** Combines our policy with the far side's flags; undefined when they cannot agree. */
function negotiate(ours: NegotiationPolicy, farFlags: number): NegotiationPolicy | undefined {
  const willSend = (farFlags & (NegotiationFlag.SEND_ALWAYS | NegotiationFlag.SEND_ON_REQUEST)) !== 0;
  if (ours.recvRequired && !willSend) return undefined;
  return {
    sendAlways: ours.sendAlways || (farFlags & NegotiationFlag.REQUEST) !== 0,
    recvRequired: ours.recvRequired || (farFlags & NegotiationFlag.SEND_ALWAYS) !== 0,
  };
}

function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

interface FarNegotiation {
  hmacFlags: number;
  hmacLength: number;
  sequenceFlags: number;
}

function readNegotiation(options: readonly RtmfpOption[]): FarNegotiation {
  const out: FarNegotiation = { hmacFlags: 0, hmacLength: 0, sequenceFlags: 0 };
  const h = findOption(options, KeyingOption.HMAC_NEGOTIATION);
  if (h && h.length > 0) {
    out.hmacFlags = h[0]!;
    try {
      out.hmacLength = new ByteReader(h, 1).vlu();
    } catch {
      out.hmacLength = 0;
    }
  }
  const s = findOption(options, KeyingOption.SESSION_SEQUENCE_NEGOTIATION);
  if (s && s.length > 0) out.sequenceFlags = s[0]!;
  return out;
}

/**
 * `prefix` followed by one option (RFC 7016 §2.1.3) whose value is an optional VLU and then
 * `rest`, built in a single buffer: the SKRC of every handshake is made this way.
 */
function appendOption(prefix: Buffer, type: number, vlu: number | undefined, rest: Uint8Array): Buffer {
  const body = vluLength(type) + (vlu === undefined ? 0 : vluLength(vlu)) + rest.length;
  const out = Buffer.allocUnsafe(prefix.length + vluLength(body) + body);
  prefix.copy(out, 0);
  let o = writeVlu(out, prefix.length, body);
  o = writeVlu(out, o, type);
  if (vlu !== undefined) o = writeVlu(out, o, vlu);
  out.set(rest, o);
  return out;
}

function readGroupAndKey(value: Buffer): { group: number; key: Buffer } {
  const r = new ByteReader(value);
  const group = r.vlu();
  return { group, key: r.rest() };
}

export class FlashCrypto {
  readonly certificate: Buffer;
  readonly fingerprint: Buffer;
  readonly groups: readonly DhGroupId[];
  private readonly staticKeys = new Map<DhGroupId, DhKeyPair>();
  private readonly hmacPolicy: NegotiationPolicy;
  private readonly hmacLength: number;
  private readonly sequencePolicy: NegotiationPolicy;
  private readonly answers = new Map<number, Buffer>();

  constructor(readonly options: FlashCryptoOptions) {
    this.groups = options.groups ?? (options.server ? SUPPORTED_DH_GROUPS : [2]);
    this.hmacPolicy = options.hmac ?? NO_NEGOTIATION;
    this.hmacLength = Math.min(MAX_HMAC_LENGTH, Math.max(MIN_HMAC_LENGTH, options.hmac?.length ?? DEFAULT_HMAC_LENGTH));
    this.sequencePolicy = options.sessionSequence ?? NO_NEGOTIATION;
    const parts: Buffer[] = [];
    if (options.hostname !== undefined) parts.push(encodeOption(CertOption.HOSTNAME, Buffer.from(options.hostname, 'utf8')));
    if (options.server || options.ephemeralInitiator) {
      // An ephemeral certificate: groups offered, keys made per session. A certificate with
      // static keys would oblige a group select (rtmfp-cpp drops the keying otherwise).
      // The order Flash servers use (ancillary, randomness, groups weakest first): librtmfp
      // reads the first 77 bytes, which are then exactly the certificate it knows.
      if (options.server) parts.push(encodeOption(CertOption.ACCEPTS_ANCILLARY_DATA));
      parts.push(encodeOption(CertOption.EXTRA_RANDOMNESS, randomPool.bytes(64)));
      for (const g of [...this.groups].reverse()) parts.push(encodeVluOption(CertOption.SUPPORTED_EPHEMERAL_DH_GROUP, g));
    } else {
      for (const g of this.groups) {
        const pair = DhKeyPair.generate(g);
        this.staticKeys.set(g, pair);
        parts.push(encodeVluOption(CertOption.STATIC_DH_PUBLIC_KEY, g, pair.publicKey));
      }
    }
    this.certificate = Buffer.concat(parts);
    this.fingerprint = FlashCertificate.parse(this.certificate).fingerprint;
  }

  get isStatic(): boolean {
    return this.staticKeys.size > 0;
  }

  /** Whether an IHello with this discriminator is for us. */
  isSelectedBy(epd: Epd): boolean {
    if (epd.fingerprint) return epd.fingerprint.equals(this.fingerprint);
    if (epd.requiredHostname !== undefined && epd.requiredHostname !== this.options.hostname) return false;
    if (epd.ancillaryData !== undefined && !this.options.server) return false;
    return true;
  }

  /** Strongest group both we and `far` support. */
  bestGroup(far: FlashCertificate): DhGroupId | undefined {
    const theirs = new Set(far.groups);
    return this.groups.find((g) => theirs.has(g));
  }

  /** The initiator offers: what it will do always, that it will send on request, what it requires. */
  private offerOptions(): Buffer[] {
    return [
      encodeOption(KeyingOption.HMAC_NEGOTIATION, Buffer.concat([Buffer.from([negotiationFlags(this.hmacPolicy)]), encodeVlu(this.hmacLength)])),
      encodeOption(KeyingOption.SESSION_SEQUENCE_NEGOTIATION, Buffer.from([negotiationFlags(this.sequencePolicy)])),
    ];
  }

  /**
   * The responder answers with the outcome: "send always" where it will send, "request" where
   * it requires, nothing else, and an HMAC length only when it sends HMACs. librtmfp accepts
   * no other answer when neither is used (exactly 03 1a 00 00 02 1e 00), and rtmfp-cpp reads
   * the same bits as a binding answer. There are four answers for a given HMAC length, so
   * each is encoded once and kept.
   */
  private answerOptions(hmac: NegotiationPolicy, sequence: NegotiationPolicy): Buffer {
    const outcome = (p: NegotiationPolicy) => (p.sendAlways ? NegotiationFlag.SEND_ALWAYS : 0) | (p.recvRequired ? NegotiationFlag.REQUEST : 0);
    const key = (outcome(hmac) << 4) | outcome(sequence);
    let answer = this.answers.get(key);
    if (!answer) {
      answer = Buffer.concat([
        encodeOption(KeyingOption.HMAC_NEGOTIATION, Buffer.concat([Buffer.from([outcome(hmac)]), encodeVlu(hmac.sendAlways ? this.hmacLength : 0)])),
        encodeOption(KeyingOption.SESSION_SEQUENCE_NEGOTIATION, Buffer.from([outcome(sequence)])),
      ]);
      this.answers.set(key, answer);
    }
    return answer;
  }

  private keysFrom(
    secret: Buffer,
    nearComponent: Buffer,
    farComponent: Buffer,
    hmac: NegotiationPolicy,
    sequence: NegotiationPolicy,
    farHmacLength: number,
    group: DhGroupId,
    material: KeyingMaterial,
  ): KeyingResult {
    const encryptKey = hmacSha256(secret, hmacSha256(farComponent, nearComponent));
    const decryptKey = hmacSha256(secret, hmacSha256(nearComponent, farComponent));
    const params: ProtectionParams = {
      encryptKey: encryptKey.subarray(0, 16),
      decryptKey: decryptKey.subarray(0, 16),
      sendSequence: sequence.sendAlways,
      recvSequence: sequence.recvRequired,
    };
    if (hmac.sendAlways) params.sendHmac = { key: hmacSha256(secret, encryptKey), length: this.hmacLength };
    if (hmac.recvRequired) params.recvHmac = { key: hmacSha256(secret, decryptKey), length: farHmacLength };
    return {
      protection: new PacketProtection(params),
      params,
      group,
      negotiated: {
        sendHmac: hmac.sendAlways,
        recvHmac: hmac.recvRequired,
        sendSequence: sequence.sendAlways,
        recvSequence: sequence.recvRequired,
      },
      material,
    };
  }

  private agree(far: FarNegotiation): { hmac: NegotiationPolicy; sequence: NegotiationPolicy } {
    const hmac = negotiate(this.hmacPolicy, far.hmacFlags);
    if (!hmac) throw new KeyingError('peer will not send the HMAC we require');
    if (hmac.recvRequired && (far.hmacLength < MIN_HMAC_LENGTH || far.hmacLength > MAX_HMAC_LENGTH)) {
      throw new KeyingError(`peer HMAC length ${far.hmacLength} outside ${MIN_HMAC_LENGTH}-${MAX_HMAC_LENGTH}`);
    }
    const sequence = negotiate(this.sequencePolicy, far.sequenceFlags);
    if (!sequence) throw new KeyingError('peer will not send the session sequence numbers we require');
    return { hmac, sequence };
  }

  /**
   * Responder side: answers the SKRC for an initiator's certificate and SKIC, and the keys.
   * Accepts both forms of the initiator's DH value: static in its certificate with a group
   * select in the SKIC (Flash Player, MonaServer, librtmfp), or ephemeral in the SKIC (rtmfp-cpp).
   */
  respond(initiator: FlashCertificate, skic: Buffer): { skrc: Buffer; keys: KeyingResult } {
    let options: RtmfpOption[];
    try {
      options = readOptionList(new ByteReader(skic));
    } catch (err) {
      throw new KeyingError(`malformed SKIC: ${(err as Error).message}`);
    }
    const far = readNegotiation(options);
    const { hmac, sequence } = this.agree(far);
    let group: number;
    let farPublic: Buffer;
    const select = findOption(options, KeyingOption.DH_GROUP_SELECT);
    const ephemeral = findOption(options, KeyingOption.EPHEMERAL_DH_PUBLIC_KEY);
    try {
      if (ephemeral) {
        ({ group, key: farPublic } = readGroupAndKey(ephemeral));
      } else if (select && initiator.isStatic) {
        group = new ByteReader(select).vlu();
        const key = isSupportedDhGroup(group) ? initiator.staticKey(group) : undefined;
        if (!key) throw new KeyingError(`certificate has no static key for group ${group}`);
        farPublic = key;
      } else {
        throw new KeyingError('SKIC has neither an ephemeral DH key nor a group select');
      }
    } catch (err) {
      if (err instanceof KeyingError) throw err;
      throw new KeyingError(`malformed DH option: ${(err as Error).message}`);
    }
    if (!isSupportedDhGroup(group) || !this.groups.includes(group)) throw new KeyingError(`DH group ${group} not offered`);
    // Negotiation first, then the key: librtmfp reads the DH public value at a fixed offset.
    const answer = this.answerOptions(hmac, sequence);
    let secret: Buffer;
    let skrc: Buffer;
    const mine = this.staticKeys.get(group);
    try {
      if (mine) {
        secret = mine.computeSecret(farPublic);
        skrc = appendOption(answer, KeyingOption.EXTRA_RANDOMNESS, undefined, randomPool.bytes(64));
      } else {
        const exchange = DhKeyPair.agree(group, farPublic);
        secret = exchange.secret;
        skrc = appendOption(answer, KeyingOption.EPHEMERAL_DH_PUBLIC_KEY, group, exchange.publicKey);
      }
    } catch (err) {
      throw new KeyingError(`bad DH public value: ${(err as Error).message}`);
    }
    // The SKIC may be a view of a packet buffer that is reused: the material keeps a copy.
    const material = { sharedSecret: secret, initiatorNonce: Buffer.from(skic), responderNonce: skrc };
    return { skrc, keys: this.keysFrom(secret, skrc, skic, hmac, sequence, far.hmacLength, group, material) };
  }

  /** Initiator side: builds the SKIC for a responder, and the step that finishes keying. */
  initiate(responder: FlashCertificate): InitiatorKeying {
    const group = this.bestGroup(responder);
    if (group === undefined) throw new KeyingError(`no DH group in common (ours ${this.groups.join(',')}, theirs ${responder.groups.join(',')})`);
    const parts: Buffer[] = [];
    let ephemeral: DhKeyPair | undefined;
    const mine = this.staticKeys.get(group);
    if (mine && !this.options.ephemeralInitiator) {
      parts.push(encodeVluOption(KeyingOption.DH_GROUP_SELECT, group));
      parts.push(encodeOption(KeyingOption.EXTRA_RANDOMNESS, randomPool.bytes(64)));
    } else {
      ephemeral = DhKeyPair.generate(group);
      parts.push(encodeVluOption(KeyingOption.EPHEMERAL_DH_PUBLIC_KEY, group, ephemeral.publicKey));
    }
    parts.push(...this.offerOptions());
    const skic = Buffer.concat(parts);
    const pair = ephemeral ?? mine!;
    const responderStatic = responder.isStatic ? responder.staticKeys().get(group) : undefined;
    return {
      skic,
      complete: (skrc: Buffer): KeyingResult => {
        let options: RtmfpOption[];
        try {
          options = readOptionList(new ByteReader(skrc));
        } catch (err) {
          throw new KeyingError(`malformed SKRC: ${(err as Error).message}`);
        }
        const far = readNegotiation(options);
        const { hmac, sequence } = this.agree(far);
        let farPublic = responderStatic;
        if (!farPublic) {
          const opt = findOption(options, KeyingOption.EPHEMERAL_DH_PUBLIC_KEY);
          if (!opt) throw new KeyingError('SKRC has no DH public key');
          const gk = readGroupAndKey(opt);
          if (gk.group !== group) throw new KeyingError(`responder keyed group ${gk.group}, we chose ${group}`);
          farPublic = gk.key;
        }
        let secret: Buffer;
        try {
          secret = pair.computeSecret(farPublic);
        } catch (err) {
          throw new KeyingError(`bad DH public value: ${(err as Error).message}`);
        }
        const material = { sharedSecret: secret, initiatorNonce: skic, responderNonce: Buffer.from(skrc) };
        return this.keysFrom(secret, skic, skrc, hmac, sequence, far.hmacLength, group, material);
      },
    };
  }
}

export interface InitiatorKeying {
  skic: Buffer;
  complete(skrc: Buffer): KeyingResult;
}
