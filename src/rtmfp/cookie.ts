// Stateless RHello cookies (RFC 7016 §3.5.1.1.2): the responder keeps nothing per IHello, so a
// flood of them costs no memory. A cookie is 64 bytes (librtmfp accepts no other length):
// [issued-at seconds u32][address digest 8][random 20][HMAC-SHA256 of the rest, keyed by a
// secret of this process]. A cookie is good for MAX_COOKIE_AGE_S; one presented from another
// address than it was issued to is answered with a cookie change rather than a session.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { addressKey, type Address } from './address.js';

export const COOKIE_LENGTH = 64;
export const MAX_COOKIE_AGE_S = 95;

export type CookieCheck = 'valid' | 'invalid' | 'moved';

export class CookieJar {
  private readonly secret = randomBytes(32);

  constructor(private readonly nowSeconds: () => number) {}

  private static addressDigest(a: Address): Buffer {
    return createHash('sha256').update(addressKey(a)).digest().subarray(0, 8);
  }

  issue(to: Address): Buffer {
    const cookie = Buffer.allocUnsafe(COOKIE_LENGTH);
    cookie.writeUInt32BE(Math.floor(this.nowSeconds()) >>> 0, 0);
    CookieJar.addressDigest(to).copy(cookie, 4);
    randomBytes(20).copy(cookie, 12);
    createHmac('sha256', this.secret).update(cookie.subarray(0, 32)).digest().copy(cookie, 32);
    return cookie;
  }

  check(cookie: Buffer, from: Address): CookieCheck {
    if (cookie.length !== COOKIE_LENGTH) return 'invalid';
    const mac = createHmac('sha256', this.secret).update(cookie.subarray(0, 32)).digest();
    if (!timingSafeEqual(mac, cookie.subarray(32))) return 'invalid';
    const age = Math.floor(this.nowSeconds()) - cookie.readUInt32BE(0);
    if (age < 0 || age > MAX_COOKIE_AGE_S) return 'invalid';
    return CookieJar.addressDigest(from).equals(cookie.subarray(4, 12)) ? 'valid' : 'moved';
  }
}
