// The native accelerator (src/rtmfp/native/covey_native.c): in-place AES and decryption against @noble/ciphers,
// and the sealed packets it makes against the allocating path's. Skipped where it was not built;
// CI builds it and sets COVEY_REQUIRE_NATIVE=1, and then its absence fails.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cbc } from '@noble/ciphers/aes.js';
import { nativeAccel, nativeAccelUnavailable } from '../../src/rtmfp/native-accel.js';
import { ZeroIvDecryptor, ZeroIvEncryptor } from '../../src/rtmfp/crypto/aes-cbc.js';
import { PacketProtection, PROTECTION_BACK_MARGIN, PROTECTION_FRONT_MARGIN } from '../../src/rtmfp/crypto/packet-protection.js';
import { wholeDatagram } from '../../src/rtmfp/platform.js';

const skip = nativeAccel === undefined ? `native accelerator unavailable: ${nativeAccelUnavailable}` : false;
const ZERO_IV = new Uint8Array(16);

test('the native accelerator is loaded where it is required (COVEY_REQUIRE_NATIVE=1)', { skip: process.env.COVEY_REQUIRE_NATIVE !== '1' && 'not required here' }, () => {
  assert.ok(nativeAccel, `native accelerator unavailable: ${nativeAccelUnavailable}`);
  assert.equal(ZeroIvEncryptor.canEncryptInPlace, true);
});

test('in-place encryption matches @noble/ciphers packet after packet, with sessions taking turns on the shared context, and leaves the rest of the buffer alone', { skip }, () => {
  const keys = [randomBytes(16), randomBytes(16), randomBytes(16)];
  const encryptors = keys.map((k) => new ZeroIvEncryptor(k));
  for (let i = 0; i < 200; i++) {
    const key = keys[i % 3]!;
    const enc = encryptors[i % 3]!;
    const plain = randomBytes(16 * (1 + (i % 75)));
    const buf = Buffer.concat([Buffer.alloc(7, 0xaa), plain, Buffer.alloc(9, 0xbb)]);
    enc.encryptInPlace(buf, 7, 7 + plain.length);
    const expected = cbc(key, ZERO_IV, { disablePadding: true }).encrypt(plain);
    assert.deepEqual(new Uint8Array(buf.subarray(7, 7 + plain.length)), expected, `packet ${i}`);
    assert.ok(buf.subarray(0, 7).equals(Buffer.alloc(7, 0xaa)) && buf.subarray(7 + plain.length).equals(Buffer.alloc(9, 0xbb)), `packet ${i}: outside the range`);
  }
});

test('in-place encryption refuses ranges that are not whole blocks inside the buffer', { skip }, () => {
  const accel = nativeAccel!;
  const key = randomBytes(16);
  const buf = Buffer.alloc(64);
  assert.throws(() => accel.encrypt(key, buf, 0, 15), /whole blocks/);
  assert.throws(() => accel.encrypt(key, buf, 48, 80), /whole blocks/);
  assert.throws(() => accel.encrypt(key, buf, 32, 16), /whole blocks/);
  assert.throws(() => accel.encrypt(Buffer.alloc(15), buf, 0, 16), /16-byte Buffer/);
  assert.ok(buf.equals(Buffer.alloc(64)), 'nothing written');
});

test('native decryption matches @noble/ciphers for every packet length, into another buffer or in place, and ZeroIvDecryptor uses it', { skip }, () => {
  const accel = nativeAccel!;
  const keys = [randomBytes(16), randomBytes(16)];
  for (let blocks = 1; blocks <= 75; blocks++) {
    const key = keys[blocks % 2]!;
    const plain = randomBytes(16 * blocks);
    const cipherText = Buffer.from(cbc(key, ZERO_IV, { disablePadding: true }).encrypt(plain));
    const out = Buffer.alloc(cipherText.length + 8, 0xcc);
    accel.decrypt(key, cipherText, 0, cipherText.length, out, 5);
    assert.ok(out.subarray(5, 5 + plain.length).equals(plain), `${blocks} blocks`);
    assert.ok(out.subarray(0, 5).equals(Buffer.alloc(5, 0xcc)) && out.subarray(5 + plain.length).equals(Buffer.alloc(3, 0xcc)), `${blocks} blocks: outside the target range`);
    const inPlace = Buffer.concat([Buffer.alloc(3), cipherText]);
    accel.decrypt(key, inPlace, 3, inPlace.length, inPlace, 3);
    assert.ok(inPlace.subarray(3).equals(plain), `${blocks} blocks in place`);
    // The session's decryptor, packet after packet on the shared context.
    assert.ok(new ZeroIvDecryptor(key).decrypt(cipherText).equals(plain), `${blocks} blocks through ZeroIvDecryptor`);
  }
});

test('native decryption refuses ranges that are not whole blocks, a target without room, and a target partly over its source', { skip }, () => {
  const accel = nativeAccel!;
  const key = randomBytes(16);
  const src = randomBytes(64);
  const copy = Buffer.from(src);
  const dst = Buffer.alloc(64);
  assert.throws(() => accel.decrypt(key, src, 0, 15, dst, 0), /whole blocks/);
  assert.throws(() => accel.decrypt(key, src, 48, 80, dst, 0), /whole blocks/);
  assert.throws(() => accel.decrypt(key, src, 0, 64, dst, 16), /no room/);
  assert.throws(() => accel.decrypt(key, src, 0, 32, src, 16), /overlap/);
  assert.throws(() => accel.decrypt(Buffer.alloc(15), src, 0, 16, dst, 0), /16-byte Buffer/);
  assert.ok(src.equals(copy) && dst.equals(Buffer.alloc(64)), 'nothing written');
});

test('native HMAC-SHA256 matches node:crypto for keys and messages of many lengths, truncated where asked', { skip }, () => {
  const accel = nativeAccel!;
  for (const keyLength of [1, 16, 32, 64, 100]) {
    for (const size of [0, 1, 55, 56, 64, 1184]) {
      const key = randomBytes(keyLength);
      const data = randomBytes(size + 10);
      const expected = createHmac('sha256', key).update(data.subarray(5, 5 + size)).digest();
      for (const n of [4, 10, 32]) {
        const out = Buffer.alloc(40, 0x77);
        accel.hmacSha256(key, data, 5, 5 + size, out, 3, n);
        assert.ok(out.subarray(3, 3 + n).equals(expected.subarray(0, n)), `key ${keyLength}, ${size} bytes, ${n} kept`);
        assert.ok(out.subarray(0, 3).equals(Buffer.alloc(3, 0x77)) && out.subarray(3 + n).equals(Buffer.alloc(37 - n, 0x77)), 'nothing else written');
      }
    }
  }
  const out = Buffer.alloc(32);
  assert.throws(() => accel.hmacSha256(Buffer.alloc(32), Buffer.alloc(10), 5, 11, out, 0, 32), /inside the buffer/);
  assert.throws(() => accel.hmacSha256(Buffer.alloc(32), Buffer.alloc(10), 0, 10, out, 1, 32), /inside out/);
  assert.throws(() => accel.hmacSha256(Buffer.alloc(32), Buffer.alloc(10), 0, 10, Buffer.alloc(40), 0, 33), /at most 32/);
});

test('a packet sealed in place is byte for byte the one sealed the allocating way, with checksum, sequence numbers or HMAC', { skip }, () => {
  const key = randomBytes(16);
  const variants = [
    {},
    { sendSequence: true },
    { sendHmac: { key: randomBytes(32), length: 10 } },
  ];
  for (const variant of variants) {
    const params = { encryptKey: key, decryptKey: key, sendSequence: false, recvSequence: false, ...variant };
    const allocating = new PacketProtection(params);
    const inPlace = new PacketProtection(params);
    const opener = new PacketProtection({ ...params, recvSequence: params.sendSequence, recvHmac: params.sendHmac });
    for (let i = 0; i < 40; i++) {
      const packet = randomBytes(1 + ((i * 37) % 1180));
      const buf = Buffer.alloc(PROTECTION_FRONT_MARGIN + packet.length + PROTECTION_BACK_MARGIN);
      packet.copy(buf, PROTECTION_FRONT_MARGIN);
      const a = wholeDatagram(allocating.seal(Buffer.from(buf), PROTECTION_FRONT_MARGIN, PROTECTION_FRONT_MARGIN + packet.length, 0x1234567));
      const b = wholeDatagram(inPlace.seal(buf, PROTECTION_FRONT_MARGIN, PROTECTION_FRONT_MARGIN + packet.length, 0x1234567, true));
      assert.ok(a.equals(b), `${JSON.stringify(Object.keys(variant))} packet ${i}`);
      assert.ok(opener.open(b)?.subarray(0, packet.length).equals(packet), `opens ${i}`);
    }
  }
});

test('the install step goes on without the accelerator, saying why, unless it is required', () => {
  const script = fileURLToPath(new URL('../../scripts/build-native.mjs', import.meta.url));
  const run = (env: Record<string, string>) => spawnSync(process.execPath, [script], { env: { ...process.env, ...env }, encoding: 'utf8' });
  const optional = run({ COVEY_NATIVE: '0', COVEY_REQUIRE_NATIVE: '0' });
  assert.equal(optional.status, 0);
  assert.match(optional.stderr, /native accelerator not built \(COVEY_NATIVE=0\)[\s\S]*TypeScript path/);
  const required = run({ COVEY_NATIVE: '0', COVEY_REQUIRE_NATIVE: '1' });
  assert.equal(required.status, 1);
  assert.match(required.stderr, /native accelerator not built/);
});
