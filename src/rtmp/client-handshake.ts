// The client half of the RTMP handshake, in the digest form Flash Player uses (so it exercises a
// server's digest answer) or the simple form. Checks the server's S1 digest and S2 signature
// when the server answers in the digest form. A server answering in the simple form is taken
// whatever its S2 holds, as FFmpeg and librtmp take it: MonaServer2 (79fad0b) sends an S2 that
// does not echo C1, and refusing it made Covey's client the only one that could not connect.
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
import { RTMP_VERSION, type HandshakeForm, type HandshakeStep } from './server-handshake.js';
import { randomFillSync } from 'node:crypto';

/** The player version Flash Player 9.0.124.2 announced; servers key off a non-zero value. */
const PLAYER_VERSION = 0x09007c02;

export class ClientHandshake {
  /** The form the server answered with. */
  serverForm: HandshakeForm | undefined;
  /** In the simple form: whether the server's S2 echoed our C1 (the specification's answer). */
  serverEchoed: boolean | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private readonly c1: Buffer;
  private readonly c1Digest: Buffer | undefined;
  private finished = false;

  constructor(readonly form: HandshakeForm = 'digest', now: () => number = () => Date.now()) {
    if (form === 'digest') {
      const made = makeDigestBlock(now(), PLAYER_VERSION, 0, PLAYER_KEY.subarray(0, PLAYER_KEY_TEXT_LENGTH));
      this.c1 = made.block;
      this.c1Digest = made.digest;
    } else {
      this.c1 = Buffer.allocUnsafe(HANDSHAKE_SIZE);
      this.c1.writeUInt32BE(now() >>> 0, 0);
      this.c1.writeUInt32BE(0, 4);
      randomFillSync(this.c1, 8);
    }
  }

  /** C0 and C1, to send first. */
  start(): Buffer {
    return Buffer.concat([Buffer.of(RTMP_VERSION), this.c1]);
  }

  /** Feeds S0 S1 S2; replies with C2 once all arrived. Throws HandshakeError on a bad server answer. */
  push(data: Buffer): HandshakeStep {
    if (this.finished) return { done: true, rest: data };
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    if (this.pending[0] !== RTMP_VERSION) throw new HandshakeError(`server answered with version byte ${this.pending[0]}, expected 3`);
    if (this.pending.length < 1 + 2 * HANDSHAKE_SIZE) return { done: false };
    const s1 = this.pending.subarray(1, 1 + HANDSHAKE_SIZE);
    const s2 = this.pending.subarray(1 + HANDSHAKE_SIZE, 1 + 2 * HANDSHAKE_SIZE);
    const rest = this.pending.subarray(1 + 2 * HANDSHAKE_SIZE);
    let c2: Buffer;
    const serverDigest = s1.readUInt32BE(4) !== 0 && this.c1Digest ? findValidDigest(s1, SERVER_KEY.subarray(0, SERVER_KEY_TEXT_LENGTH)) : undefined;
    if (serverDigest) {
      if (!isValidSignedResponse(s2, this.c1Digest!, SERVER_KEY)) throw new HandshakeError('server S2 signature does not match our digest');
      this.serverForm = 'digest';
      c2 = makeSignedResponse(serverDigest.digest, PLAYER_KEY);
    } else {
      if (this.form === 'digest' && s1.readUInt32BE(4) !== 0) throw new HandshakeError('server S1 announces a version but carries no valid digest');
      this.serverEchoed = s2.subarray(8).equals(this.c1.subarray(8));
      this.serverForm = 'simple';
      c2 = Buffer.from(s1);
    }
    this.finished = true;
    this.pending = Buffer.alloc(0);
    return rest.length > 0 ? { reply: c2, done: true, rest: Buffer.from(rest) } : { reply: c2, done: true };
  }
}
