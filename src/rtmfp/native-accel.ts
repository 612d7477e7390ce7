// The optional native accelerator (src/rtmfp/native/covey_native.c), when it was built: AES-128-CBC
// that encrypts in place and decrypts into a given buffer, HMAC-SHA256 into a given buffer, and sendmmsg() for many datagrams in
// one system call, a subscriber's burst cut up by the kernel (UDP segmentation offload). Covey works
// without it, but a fan-out server then spends about 1.7 times the CPU per subscriber (see the
// live-streaming issue's figures). COVEY_NATIVE=0 in the environment turns it off.
import { createRequire } from 'node:module';

export interface NativeAccel {
  /** Encrypts buf[start..end) (whole blocks) in place: AES-128-CBC under `key` (16 bytes), zero IV. */
  encrypt(key: Buffer, buf: Buffer, start: number, end: number): void;
  /** Decrypts src[start..end) (whole blocks) into dst[at..]: AES-128-CBC under `key`, zero IV; in place when src and dst coincide. */
  decrypt(key: Buffer, src: Buffer, start: number, end: number, dst: Buffer, at: number): void;
  /** Writes the first `length` (at most 32) bytes of HMAC-SHA256(key, buf[start..end)) into out[at..]. */
  hmacSha256(key: Buffer, buf: Buffer, start: number, end: number, out: Buffer, at: number, length: number): void;
  /**
   * Sends `count` datagrams described in `meta` (META_SLOTS int32s each) from `stage` on the
   * socket `fd`, runs to one destination as one segmented send where `segment`; answers how
   * many it is done with (sent, or failed for good). It stops early when the socket's send
   * buffer is full. `stats` (STATS_SLOTS): [0] += datagrams failed for good, [1] += messages the
   * kernel took, [2] = 1 when the kernel refused to segment.
   */
  sendBatch(fd: number, stage: Buffer, meta: Int32Array, count: number, stats: Int32Array, segment: boolean): number;
}

/** int32 slots per datagram in sendBatch's `meta`: offset, length, family, port, 4 address words. */
export const META_SLOTS = 8;
/** int32 slots of sendBatch's `stats`. */
export const STATS_SLOTS = 3;

/** Why the accelerator is not in use, when it is not. */
export let nativeAccelUnavailable: string | undefined;

function load(): NativeAccel | undefined {
  if (process.env.COVEY_NATIVE === '0') {
    nativeAccelUnavailable = 'turned off (COVEY_NATIVE=0)';
    return undefined;
  }
  if (process.platform !== 'linux') {
    nativeAccelUnavailable = `it is for Linux, and this is ${process.platform}`;
    return undefined;
  }
  try {
    // The same relative path from src/rtmfp (tsx) and from dist/rtmfp (the build).
    const accel = createRequire(import.meta.url)('../../build/Release/covey_native.node') as Partial<NativeAccel>;
    const missing = (['encrypt', 'decrypt', 'hmacSha256', 'sendBatch'] as const).filter((f) => typeof accel[f] !== 'function');
    if (missing.length > 0) {
      nativeAccelUnavailable = `built from an older Covey (no ${missing.join(', ')}): npm run build:native`;
      return undefined;
    }
    return accel as NativeAccel;
  } catch (err) {
    nativeAccelUnavailable = `not built (npm run build:native): ${(err as Error).message.split('\n')[0]}`;
    return undefined;
  }
}

export const nativeAccel: NativeAccel | undefined = load();
