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
