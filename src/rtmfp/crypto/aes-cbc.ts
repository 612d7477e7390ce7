// AES-128-CBC with a zero IV for every packet (RFC 7425 §4.2), the fast way.
// Creating a cipher per packet is slow, so a session keeps long-lived node:crypto contexts and
// cancels the CBC chaining between packets; final() is never called, so a context never resets.
// Measured (see the RTMFP engine issue): 290k-480k encrypts/s of full packets against 43k-127k
// for @noble/ciphers, byte-identical; the tests check both against @noble/ciphers' CBC. Small
// packets are another matter: see ZeroIvDecryptor. Where the native accelerator was built,
// sessions whose port copies what it sends encrypt in place instead (encryptInPlace): node:crypto
// makes two buffers per update() and has no way to write into a given one.
import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';
// The block functions on an expanded key, which @noble/ciphers exports as `unsafe` (low level, and
// may change between its versions: the version is pinned, and the tests check this path against
// node:crypto).
import { unsafe as aes } from '@noble/ciphers/aes.js';
import { ownedCopy } from '../../codec/buffer-view.js';
import { nativeAccel } from '../native-accel.js';

const ZERO_IV = Buffer.alloc(16);

/** Bytes the encryptor needs free in front of a plaintext: it encrypts a lead block there. */
export const ENCRYPT_LEAD_BYTES = 16;

function xorBlockInto(target: Uint8Array, at: number, block: Uint8Array): void {
  for (let i = 0; i < 16; i++) target[at + i]! ^= block[i]!;
}

function copyBlock(from: Uint8Array, fromAt: number, to: Uint8Array, toAt: number): void {
  for (let i = 0; i < 16; i++) to[toAt + i] = from[fromAt + i]!;
}

/**
 * Views of the last packet assembly buffer used, from one offset, by length in blocks. Every
 * session of an endpoint assembles in one scratch buffer from one offset, and a packet's length
 * takes one of some 75 values, so a view made once per length replaces one made per packet.
 * (Another buffer or offset, as for handshake packets, starts the set over.)
 */
let viewsOf: Buffer | undefined;
let viewsFrom = -1;
let views: Buffer[] = [];

function inputView(buf: Buffer, from: number, end: number): Buffer {
  if (buf !== viewsOf || from !== viewsFrom) {
    viewsOf = buf;
    viewsFrom = from;
    views = [];
  }
  const blocks = (end - from) >>> 4;
  let view = views[blocks];
  if (view === undefined) view = views[blocks] = buf.subarray(from, end);
  return view;
}

/**
 * Encrypts each packet as a fresh zero-IV CBC run on one long-lived context, and hands back the
 * ciphertext with 16 spare bytes in front, so that a datagram header can be written there and
 * the datagram sent as one buffer, with no copy and no gather list.
 *
 * How: the context's chaining value is always the last ciphertext block it produced (`chain`).
 * Each call encrypts a lead block equal to `chain`, which comes out as E(chain ^ chain) = E(0),
 * a constant of the key (`zeroBlockCipher`); the packet's first block is fed XORed with that
 * constant, so it encrypts to E(p1), exactly as with a zero IV, and the rest chains as usual.
 * The lead block costs one AES block; node:crypto has no way to encrypt into a given buffer,
 * and its output buffer is the one we send.
 */
export class ZeroIvEncryptor {
  private readonly key: Buffer;
  /** The node:crypto context, made on the first encrypt(): a session that only ever encrypts in place never has one. */
  private cipherContext: Cipher | undefined;
  private readonly chain = Buffer.alloc(16);
  /** E(0) under this key: what the lead block always encrypts to (worked out on first use, off the handshake's path). */
  private zeroBlockCipher: Buffer | undefined;

  constructor(key: Uint8Array) {
    this.key = ownedCopy(key);
  }

  /** Whether encryptInPlace() can be used (the native accelerator is loaded). */
  static get canEncryptInPlace(): boolean {
    return nativeAccel !== undefined;
  }

  /**
   * Encrypts `buf[start..end)` (a multiple of 16 bytes) in place, as a fresh zero-IV CBC run:
   * no buffer is made. Only when canEncryptInPlace.
   */
  encryptInPlace(buf: Buffer, start: number, end: number): void {
    // The accelerator keys one shared context per packet: no native memory per session.
    nativeAccel!.encrypt(this.key, buf, start, end);
  }

  private get cipher(): Cipher {
    let c = this.cipherContext;
    if (c === undefined) {
      c = this.cipherContext = createCipheriv('aes-128-cbc', this.key, ZERO_IV);
      c.setAutoPadding(false);
    }
    return c;
  }

  /**
   * Encrypts `buf[start..end)` (a multiple of 16 bytes; the buffer is modified there and in the
   * ENCRYPT_LEAD_BYTES before `start`). Answers a new buffer of ENCRYPT_LEAD_BYTES + (end -
   * start) bytes: the ciphertext after the lead bytes, whose content callers may overwrite.
   */
  encrypt(buf: Buffer, start: number, end: number): Buffer {
    const cipher = this.cipher;
    let zero = this.zeroBlockCipher;
    if (zero === undefined) {
      // The context starts with a zero chaining value, so a zero block comes out as E(0).
      zero = this.zeroBlockCipher = cipher.update(ZERO_IV);
      copyBlock(zero, 0, this.chain, 0);
    }
    copyBlock(this.chain, 0, buf, start - ENCRYPT_LEAD_BYTES);
    xorBlockInto(buf, start, zero);
    const out = cipher.update(inputView(buf, start - ENCRYPT_LEAD_BYTES, end));
    copyBlock(out, out.length - 16, this.chain, 0);
    return out;
  }
}

/** Packets up to this size are decrypted in TypeScript (see ZeroIvDecryptor). */
const SMALL_PACKET_BYTES = 128;
/** Larger packets a session decrypts in TypeScript before it makes a node:crypto context. */
const LARGE_PACKETS_BEFORE_CONTEXT = 16;

/**
 * Decrypts each packet as a fresh zero-IV CBC run: through the native accelerator where it is
 * loaded (it keys one shared context per packet), otherwise as follows.
 *
 * Small packets (acks, pings: nearly all a subscriber's session ever receives) are decrypted
 * with @noble/ciphers' AES on an expanded key, block by block: 0.77 us for 64 bytes, where a call
 * into node:crypto costs about 1.5 us. So are a session's first few larger packets (a player's
 * connect and play commands), because a node:crypto context costs about 1.9 KB of native memory
 * for the session's life: that was 1.9 KB per subscriber for two or three packets. A session that
 * keeps receiving large packets (a publisher's media) gets a context on its
 * LARGE_PACKETS_BEFORE_CONTEXT + 1st, kept for the session: the context's IV after a packet is
 * that packet's last ciphertext block, so XORing that block into the next packet's first
 * recovered block gives what a fresh zero-IV context would.
 */
export class ZeroIvDecryptor {
  private readonly key: Buffer;
  private decipher: Decipher | undefined;
  private readonly chain = Buffer.alloc(16);
  /** The decryption key schedule for packets decrypted here, made on the first one. */
  private roundKeys: Uint32Array | undefined;
  /** Packets over SMALL_PACKET_BYTES decrypted here so far (until the context is made). */
  private largePackets = 0;

  constructor(key: Uint8Array) {
    this.key = ownedCopy(key);
  }

  /** Decrypts a whole number of blocks into a new buffer. */
  decrypt(cipherText: Buffer): Buffer {
    if (nativeAccel !== undefined) {
      // 240 ns for a 64-byte ack and 700-900 ns for a full packet, where the paths below take
      // 570-900 ns and 1.6 us; and no key schedule or context is kept for the session.
      const out = Buffer.allocUnsafe(cipherText.length);
      nativeAccel.decrypt(this.key, cipherText, 0, cipherText.length, out, 0);
      return out;
    }
    if (cipherText.length <= SMALL_PACKET_BYTES) return this.decryptByBlocks(cipherText);
    if (this.decipher === undefined) {
      if (++this.largePackets <= LARGE_PACKETS_BEFORE_CONTEXT) return this.decryptByBlocks(cipherText);
      this.decipher = createDecipheriv('aes-128-cbc', this.key, ZERO_IV);
      this.decipher.setAutoPadding(false);
    }
    const out = this.decipher.update(cipherText);
    xorBlockInto(out, 0, this.chain);
    copyBlock(cipherText, cipherText.length - 16, this.chain, 0);
    return out;
  }

  private decryptByBlocks(cipherText: Buffer): Buffer {
    const roundKeys = (this.roundKeys ??= aes.expandKeyDecLE(this.key));
    const out = Buffer.allocUnsafe(cipherText.length);
    // Words are little-endian, as @noble/ciphers reads blocks; the previous ciphertext block
    // (zero for the first) is XORed into each decrypted one.
    let p0 = 0;
    let p1 = 0;
    let p2 = 0;
    let p3 = 0;
    for (let o = 0; o < cipherText.length; o += 16) {
      const c0 = cipherText.readUInt32LE(o);
      const c1 = cipherText.readUInt32LE(o + 4);
      const c2 = cipherText.readUInt32LE(o + 8);
      const c3 = cipherText.readUInt32LE(o + 12);
      const d = aes.decrypt(roundKeys, c0, c1, c2, c3);
      out.writeUInt32LE((d.s0 ^ p0) >>> 0, o);
      out.writeUInt32LE((d.s1 ^ p1) >>> 0, o + 4);
      out.writeUInt32LE((d.s2 ^ p2) >>> 0, o + 8);
      out.writeUInt32LE((d.s3 ^ p3) >>> 0, o + 12);
      p0 = c0;
      p1 = c1;
      p2 = c2;
      p3 = c3;
    }
    return out;
  }
}
