import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { CookieJar, COOKIE_LENGTH, MAX_COOKIE_AGE_S } from '../../src/rtmfp/cookie.js';

test('cookies: 64 bytes, valid where issued, moved elsewhere, expired later, forged never', () => {
  let now = 5000;
  const jar = new CookieJar(() => now);
  const a = { host: '127.0.0.1', port: 5000 };
  const c = jar.issue(a);
  assert.equal(c.length, COOKIE_LENGTH);
  assert.equal(jar.check(c, a), 'valid');
  assert.equal(jar.check(c, { host: '127.0.0.1', port: 5001 }), 'moved');
  const forged = Buffer.from(c);
  forged[5]! ^= 1;
  assert.equal(jar.check(forged, a), 'invalid');
  assert.equal(new CookieJar(() => now).check(c, a), 'invalid', 'another process secret');
  now += MAX_COOKIE_AGE_S + 1;
  assert.equal(jar.check(c, a), 'invalid');
  assert.equal(jar.check(Buffer.alloc(10), a), 'invalid');
});

test('cookies written in place (straight into an RHello) check like issued ones', () => {
  const jar = new CookieJar(() => 100);
  const a = { host: '::1', port: 1935 };
  const buf = Buffer.alloc(7 + COOKIE_LENGTH + 5);
  jar.write(buf, 7, a);
  const c = buf.subarray(7, 7 + COOKIE_LENGTH);
  assert.equal(jar.check(c, a), 'valid');
  assert.equal(jar.check(c, { host: '::2', port: 1935 }), 'moved');
  assert.ok(buf.subarray(0, 7).every((x) => x === 0) && buf.subarray(7 + COOKIE_LENGTH).every((x) => x === 0));
  assert.ok(!jar.issue(a).equals(c), 'each cookie is unique');
});
