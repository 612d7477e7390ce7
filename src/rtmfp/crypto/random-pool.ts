// Random bytes for the handshake path, drawn from a buffer that the CSPRNG refills in bulk.
// A responder needs a few small random values per handshake (a DH private key, cookie
// nonces, a session ID); each randomBytes() call costs a native round trip and a new
// ArrayBuffer, several microseconds apiece under load, while filling 4 KiB costs about the
// same as one call. The bytes are the same node:crypto CSPRNG output, each handed out once
// and wiped from the pool as it leaves, so a later leak of the pool shows no key once used.
// Node processes do not fork, and each worker thread loads its own copy of this module, so
// no two users ever share pool bytes.
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;

export class RandomPool {
  private readonly pool: Buffer;
  private offset: number;

  constructor(size = POOL_BYTES) {
    this.pool = Buffer.allocUnsafeSlow(size);
    this.offset = size; // empty: filled on first use
  }

  /** Writes `length` fresh random bytes into `target` at `offset`. */
  fill(target: Uint8Array, offset = 0, length = target.length - offset): void {
    if (length > this.pool.length) {
      randomFillSync(target, offset, length);
      return;
    }
    if (this.offset + length > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const from = this.offset;
    const to = from + length;
    this.pool.copy(target, offset, from, to);
    this.pool.fill(0, from, to);
    this.offset = to;
  }

  /** A new buffer of `length` random bytes. */
  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    this.fill(out, 0, length);
    return out;
  }

  /** A random unsigned 32-bit integer. */
  uint32(): number {
    if (this.offset + 4 > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const n = this.pool.readUInt32BE(this.offset);
    this.pool.fill(0, this.offset, this.offset + 4);
    this.offset += 4;
    return n;
  }
}

/** The process's pool (one per thread, as each thread loads its own modules). */
export const randomPool = new RandomPool();
