// RTMFP's address wire form (RFC 7016 §2.1.5): flags (0x80 IPv6, low bits the origin), the
// address, the port; and the hand-written IPv4 parser the encoder uses instead of node:net's.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { isIPv4 } from 'node:net';
import { AddressOrigin, encodeAddress, readAddress, writeIPv4 } from '../../src/rtmfp/address.js';
import { ByteReader } from '../../src/codec/vlu.js';

test('IPv4 and IPv6 addresses are written as RFC 7016 says and read back, origin included', () => {
  assert.deepEqual([...encodeAddress({ host: '192.0.2.7', port: 1935 }, AddressOrigin.OBSERVED)], [0x02, 192, 0, 2, 7, 0x07, 0x8f]);
  const v6 = encodeAddress({ host: '2001:db8::1', port: 443 }, AddressOrigin.LOCAL);
  assert.equal(v6.length, 19);
  assert.equal(v6[0], 0x81);
  assert.equal(v6.subarray(1, 17).toString('hex'), '20010db8000000000000000000000001');
  for (const host of ['10.0.0.1', '255.255.255.255', '0.0.0.0', '2001:db8::1', '::1', 'fe80::1:2:3:4', '2001:db8:0:1:1:1:1:1']) {
    const read = readAddress(new ByteReader(encodeAddress({ host, port: 65535 }, AddressOrigin.RELAY)));
    assert.deepEqual(read, { host, port: 65535, origin: AddressOrigin.RELAY }, host);
  }
  // An IPv4-mapped IPv6 address is read as the IPv4 address it holds; an embedded IPv4 tail is written as two hextets.
  assert.equal(readAddress(new ByteReader(encodeAddress({ host: '::ffff:192.0.2.1', port: 1 }))).host, '192.0.2.1');
  assert.throws(() => encodeAddress({ host: 'example.com', port: 1 }), /not a numeric address: example\.com/);
});

test('the IPv4 parser accepts exactly what node:net isIPv4 accepts, and writes the same bytes', () => {
  const cases = ['1.2.3.4', '0.0.0.0', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3.04', '1.2.3', '1.2.3.4.5', '1..2.3', '.1.2.3', '1.2.3.', ' 1.2.3.4', '1.2.3.4 ', 'a.b.c.d', '::1', '::ffff:1.2.3.4', '', '1000.1.1.1', '999.0.0.0', '1.2.3.-4', '1.2.3.4/8', '1.2.3.4%eth0'];
  // And a few thousand random strings of digits and dots, half of them dotted quads up to 299.
  let seed = 7;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let i = 0; i < 5000; i++) {
    cases.push(i % 2 ? [0, 0, 0, 0].map(() => random(300)).join('.') : Array.from({ length: 1 + random(12) }, () => '0123456789.'[random(11)]).join(''));
  }
  let accepted = 0;
  for (const host of cases) {
    const out = Buffer.alloc(6, 0xee);
    const ok = writeIPv4(host, out, 1);
    assert.equal(ok, isIPv4(host), JSON.stringify(host));
    if (ok) {
      accepted++;
      assert.equal([...out.subarray(1, 5)].join('.'), host);
      assert.ok(out[0] === 0xee && out[5] === 0xee, 'nothing written outside the four bytes');
    } else assert.ok(out.every((b) => b === 0xee), `nothing written for ${JSON.stringify(host)}`);
  }
  assert.ok(accepted > 1000, `${accepted} addresses among the cases`);
});
