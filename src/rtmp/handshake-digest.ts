// The digest ("complex") form of the RTMP handshake that Flash Player, FMLE, OBS and FFmpeg use.
// It is not documented by Adobe; this follows the widely reimplemented scheme: a 32-byte
// HMAC-SHA256 digest hidden at a data-dependent offset inside the 1536-byte C1/S1 blocks, keyed
// with fixed "Genuine Adobe ..." strings, and an S2/C2 signature keyed from the peer's digest.
// A server that answers a digest client with a plain echo makes some players refuse the stream
// (H.264/AAC playback in Flash Player needs the digest form), hence the trouble.
import { createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';

/** C1, S1, C2 and S2 are all this long. */
export const HANDSHAKE_SIZE = 1536;
export const DIGEST_SIZE = 32;

/** The 32 bytes both fixed keys end with. */
const KEY_TAIL = Buffer.from('f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae', 'hex');
/** Flash Player's key; its first 30 bytes (the text) key the C1 digest. */
export const PLAYER_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Player 001', 'latin1'), KEY_TAIL]);
export const PLAYER_KEY_TEXT_LENGTH = 30;
/** The server's key; its first 36 bytes (the text) key the S1 digest. */
export const SERVER_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Media Server 001', 'latin1'), KEY_TAIL]);
export const SERVER_KEY_TEXT_LENGTH = 36;

/**
 * Where the digest sits. Scheme 0 (Flash Player 9 era) puts the digest block first; scheme 1
 * (Flash Player 10+) puts the key block first and the digest after it. Either way the offset is
 * the sum of four bytes, modulo 728, past those four bytes.
 */
export type DigestScheme = 0 | 1;

export function digestOffset(block: Uint8Array, scheme: DigestScheme): number {
  const base = scheme === 0 ? 8 : 772;
  return ((block[base]! + block[base + 1]! + block[base + 2]! + block[base + 3]!) % 728) + base + 4;
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HMAC of the block with the 32 digest bytes left out. */
export function computeBlockDigest(block: Uint8Array, offset: number, key: Uint8Array): Buffer {
  return hmac(key, block.subarray(0, offset), block.subarray(offset + DIGEST_SIZE, HANDSHAKE_SIZE));
}

/**
 * Finds the scheme whose digest checks out in a C1 (with the player key) or S1 (with the server
 * key); returns the digest and scheme, or undefined when neither does (a simple-handshake peer).
 */
export function findValidDigest(
  block: Uint8Array,
  key: Uint8Array,
): { scheme: DigestScheme; digest: Buffer } | undefined {
  for (const scheme of [1, 0] as const) {
    const offset = digestOffset(block, scheme);
    const expected = computeBlockDigest(block, offset, key);
    const actual = block.subarray(offset, offset + DIGEST_SIZE);
    if (timingSafeEqual(expected, actual)) return { scheme, digest: Buffer.from(actual) };
  }
  return undefined;
}

/** Fills a C1/S1 block: time, version, random bytes, and the digest at the scheme's offset. */
export function makeDigestBlock(time: number, version: number, scheme: DigestScheme, key: Uint8Array): { block: Buffer; digest: Buffer } {
  const block = Buffer.allocUnsafe(HANDSHAKE_SIZE);
  randomFillSync(block, 8);
  block.writeUInt32BE(time >>> 0, 0);
  block.writeUInt32BE(version >>> 0, 4);
  const offset = digestOffset(block, scheme);
  const digest = computeBlockDigest(block, offset, key);
  digest.copy(block, offset);
  return { block, digest };
}

/**
 * The S2/C2 answer to a digest peer: random bytes whose last 32 are an HMAC of the rest, keyed
 * by HMAC(our full key, the peer's digest).
 */
export function makeSignedResponse(peerDigest: Uint8Array, ourFullKey: Uint8Array): Buffer {
  const block = Buffer.allocUnsafe(HANDSHAKE_SIZE);
  randomFillSync(block, 0, HANDSHAKE_SIZE - DIGEST_SIZE);
  signResponse(block, peerDigest, ourFullKey).copy(block, HANDSHAKE_SIZE - DIGEST_SIZE);
  return block;
}

export function signResponse(block: Uint8Array, peerDigest: Uint8Array, fullKey: Uint8Array): Buffer {
  const key = hmac(fullKey, peerDigest);
  return hmac(key, block.subarray(0, HANDSHAKE_SIZE - DIGEST_SIZE));
}

/** Checks an S2/C2 signed with `signerFullKey` over our own digest. */
export function isValidSignedResponse(block: Uint8Array, ourDigest: Uint8Array, signerFullKey: Uint8Array): boolean {
  const expected = signResponse(block, ourDigest, signerFullKey);
  return timingSafeEqual(expected, block.subarray(HANDSHAKE_SIZE - DIGEST_SIZE, HANDSHAKE_SIZE));
}
