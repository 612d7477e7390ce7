// The server half of the RTMP handshake (C0 C1 -> S0 S1 S2 -> C2). Answers the digest form when
// the client's C1 carries a valid digest, and the simple echo otherwise, as Adobe's server does.
import { randomFillSync } from 'node:crypto';
import {
  HANDSHAKE_SIZE,
  PLAYER_KEY,
  PLAYER_KEY_TEXT_LENGTH,
  SERVER_KEY,
  SERVER_KEY_TEXT_LENGTH,
  findValidDigest,
  isValidSignedResponse,
  makeDigestBlock,
  makeSignedResponse,
} from './handshake-digest.js';
import { HandshakeError } from './handshake-error.js';

export const RTMP_VERSION = 3;
/** The version we announce in S1 (5.0.3.1); FFmpeg checks the digest when the first byte is >= 3. */
const SERVER_VERSION = 0x05000301;

export type HandshakeForm = 'simple' | 'digest';

export interface HandshakeStep {
  /** Bytes to send to the peer now, if any. */
  reply?: Buffer;
  /** True once the handshake is complete; `rest` holds bytes that followed it (the first chunks). */
  done: boolean;
  rest?: Buffer;
}

/** One line naming what the first byte looks like when it is not an RTMP version. */
export function describeBadVersion(first: Buffer): string {
  const v = first[0]!;
  if (v === 6 || v === 8 || v === 9) return `client asked for RTMPE (encrypted RTMP, version byte ${v}), which is not supported`;
  const text = first.subarray(0, 8).toString('latin1');
  if (/^(GET|POST|PUT|HEAD|OPTIONS) /.test(text)) return `client spoke HTTP ("${text.trim()}...") instead of RTMP; RTMPT is not supported`;
  if (v === 0x16) return 'client started a TLS handshake (RTMPS) on the plain RTMP port';
  return `not an RTMP client: version byte 0x${v.toString(16).padStart(2, '0')}, expected 0x03`;
}

export class ServerHandshake {
  form: HandshakeForm = 'simple';
  /** Whether the client's C2 matched what we expected (informational: many clients send junk). */
  c2Valid: boolean | undefined;
  private state: 'c0c1' | 'c2' | 'done' = 'c0c1';
  private pending: Buffer = Buffer.alloc(0);
  private s1: Buffer | undefined;
  private s1Digest: Buffer | undefined;

  constructor(private readonly now: () => number = () => Date.now()) {}

  get done(): boolean {
    return this.state === 'done';
  }

  /** Feeds received bytes; throws HandshakeError on bytes that cannot be an RTMP handshake. */
  push(data: Buffer): HandshakeStep {
    if (this.state === 'done') return { done: true, rest: data };
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    if (this.state === 'c0c1') {
      if (this.pending.length >= 1 && this.pending[0] !== RTMP_VERSION) throw new HandshakeError(describeBadVersion(this.pending));
      if (this.pending.length < 1 + HANDSHAKE_SIZE) return { done: false };
      const c1 = this.pending.subarray(1, 1 + HANDSHAKE_SIZE);
      this.pending = this.pending.subarray(1 + HANDSHAKE_SIZE);
      const reply = this.answer(c1);
      this.state = 'c2';
      const more = this.pending.length >= HANDSHAKE_SIZE ? this.finish() : { done: false };
      return { ...more, reply };
    }
    return this.pending.length >= HANDSHAKE_SIZE ? this.finish() : { done: false };
  }

  private answer(c1: Buffer): Buffer {
    const time = this.now() >>> 0;
    const clientVersion = c1.readUInt32BE(4);
    const found = clientVersion === 0 ? undefined : findValidDigest(c1, PLAYER_KEY.subarray(0, PLAYER_KEY_TEXT_LENGTH));
    let s1: Buffer;
    let s2: Buffer;
    if (found) {
      this.form = 'digest';
      const made = makeDigestBlock(time, SERVER_VERSION, found.scheme, SERVER_KEY.subarray(0, SERVER_KEY_TEXT_LENGTH));
      s1 = made.block;
      this.s1Digest = made.digest;
      s2 = makeSignedResponse(found.digest, SERVER_KEY);
    } else {
      // Simple form: S1 is time, zero, random; S2 echoes C1 with our read time in its second field.
      s1 = Buffer.allocUnsafe(HANDSHAKE_SIZE);
      s1.writeUInt32BE(time, 0);
      s1.writeUInt32BE(0, 4);
      randomFillSync(s1, 8);
      s2 = Buffer.from(c1);
      s2.writeUInt32BE(time, 4);
    }
    this.s1 = s1;
    return Buffer.concat([Buffer.of(RTMP_VERSION), s1, s2]);
  }

  private finish(): HandshakeStep {
    const c2 = this.pending.subarray(0, HANDSHAKE_SIZE);
    const rest = this.pending.subarray(HANDSHAKE_SIZE);
    this.c2Valid =
      (this.s1Digest !== undefined && isValidSignedResponse(c2, this.s1Digest, PLAYER_KEY)) ||
      this.s1!.subarray(8).equals(c2.subarray(8));
    this.state = 'done';
    this.pending = Buffer.alloc(0);
    this.s1 = undefined;
    return rest.length > 0 ? { done: true, rest } : { done: true };
  }
}
