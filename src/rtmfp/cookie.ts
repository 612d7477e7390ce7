// Stateless RHello cookies (RFC 7016 §3.5.1.1.2): the responder keeps nothing per IHello, so a
// flood of them costs no memory. A cookie is 64 bytes (librtmfp accepts no other length):
// [issued-at seconds u32][address digest 8][random 20][HMAC-SHA256 of the rest, keyed by a
// secret of this process]. A cookie is good for MAX_COOKIE_AGE_S; one presented from another
// address than it was issued to is answered with a cookie change rather than a session.
// Every cookie costs a handshake one address digest and one HMAC, so both are written straight
// into the cookie and the random part comes from the bulk pool.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { addressKey, type Address } from './address.js';
import { randomPool } from './crypto/random-pool.js';
import { sha256 } from './crypto/sha256.js';

export const COOKIE_LENGTH = 64;
export const MAX_COOKIE_AGE_S = 95;

export type CookieCheck = 'valid' | 'invalid' | 'moved';

const SIGNED = 32;

export class CookieJar {
  private readonly secret = randomPool.bytes(32);

  constructor(private readonly nowSeconds: () => number) {}

  private static addressDigest(a: Address): Buffer {
    return sha256(addressKey(a));
  }

  /** The MAC of a cookie's first SIGNED bytes. */
  private mac(cookie: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(cookie.subarray(0, SIGNED)).digest();
  }

  issue(to: Address): Buffer {
    const cookie = Buffer.allocUnsafe(COOKIE_LENGTH);
    this.write(cookie, 0, to);
    return cookie;
  }

  /** Writes a cookie for `to` at `buf[offset..offset + COOKIE_LENGTH)` (straight into an RHello). */
  write(buf: Buffer, offset: number, to: Address): void {
    buf.writeUInt32BE(Math.floor(this.nowSeconds()) >>> 0, offset);
    CookieJar.addressDigest(to).copy(buf, offset + 4, 0, 8);
    randomPool.fill(buf, offset + 12, 20);
    this.mac(buf.subarray(offset, offset + SIGNED)).copy(buf, offset + SIGNED);
  }

  check(cookie: Buffer, from: Address): CookieCheck {
    if (cookie.length !== COOKIE_LENGTH) return 'invalid';
    if (!timingSafeEqual(this.mac(cookie), cookie.subarray(SIGNED))) return 'invalid';
    const age = Math.floor(this.nowSeconds()) - cookie.readUInt32BE(0);
    if (age < 0 || age > MAX_COOKIE_AGE_S) return 'invalid';
    return CookieJar.addressDigest(from).compare(cookie, 4, 12, 0, 8) === 0 ? 'valid' : 'moved';
  }
}
