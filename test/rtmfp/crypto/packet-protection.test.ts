import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cbc } from '@noble/ciphers/aes.js';
import { ENCRYPT_LEAD_BYTES, ZeroIvDecryptor, ZeroIvEncryptor } from '../../../src/rtmfp/crypto/aes-cbc.js';
import { wholeDatagram } from '../../../src/rtmfp/platform.js';
import { internetChecksum } from '../../../src/rtmfp/checksum.js';
import { PacketProtection, PROTECTION_FRONT_MARGIN, DEFAULT_SESSION_KEY } from '../../../src/rtmfp/crypto/packet-protection.js';

const ZERO_IV = new Uint8Array(16);

/** Encrypts `plain` the way a session does, with free lead bytes in front; answers the ciphertext. */
function encryptWith(enc: ZeroIvEncryptor, plain: Uint8Array): Buffer {
  const buf = Buffer.concat([Buffer.alloc(ENCRYPT_LEAD_BYTES, 0x5a), plain]);
  const out = enc.encrypt(buf, ENCRYPT_LEAD_BYTES, buf.length);
  assert.equal(out.length, buf.length);
  return out.subarray(ENCRYPT_LEAD_BYTES);
}

test('fast AES-CBC path matches @noble/ciphers packet by packet', () => {
  const key = randomBytes(16);
  const enc = new ZeroIvEncryptor(key);
  const dec = new ZeroIvDecryptor(key);
  for (let i = 0; i < 300; i++) {
    const plain = randomBytes(16 * (1 + (i % 75)));
    const expected = cbc(key, ZERO_IV, { disablePadding: true }).encrypt(plain);
    const actual = encryptWith(enc, plain);
    assert.deepEqual(new Uint8Array(actual), expected, `packet ${i}`);
    assert.deepEqual(dec.decrypt(actual), plain, `decrypt ${i}`);
  }
});

test('AES-128 known answer (FIPS 197 / SP 800-38A F.1.1: first CBC block with zero IV is ECB)', () => {
  const key = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
  const plain = Buffer.from('6bc1bee22e409f96e93d7e117393172a', 'hex');
  const out = encryptWith(new ZeroIvEncryptor(key), plain);
  assert.equal(out.toString('hex'), '3ad77bb40d7a3660a89ecaf32466ef97');
});

test('Internet checksum known answer (RFC 1071 §3)', () => {
  // Words 0001 f203 f4f5 f6f7 sum to 0x2ddf0, folded 0xddf2, complemented 0x220d.
  assert.equal(internetChecksum(Buffer.from('0001f203f4f5f6f7', 'hex')), 0x220d);
  assert.equal(internetChecksum(Buffer.from('ff', 'hex')), 0x00ff);
});

/** RFC 1071 word by word, the plain way: what the word-wise fast paths must agree with. */
function referenceChecksum(b: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

test('Internet checksum agrees with the plain sum at every alignment and length', () => {
  const bytes = randomBytes(1400);
  // Through views at each offset of their memory, as packets arrive (the checksummed part of
  // a decrypted packet starts 2 bytes in) and as they are assembled.
  for (let viewOffset = 0; viewOffset < 4; viewOffset++) {
    const view = bytes.subarray(viewOffset);
    for (let start = 0; start < 8; start++) {
      for (const length of [0, 1, 2, 3, 63, 64, 65, 66, 67, 100, 257, 1180, 1191]) {
        const end = start + length;
        assert.equal(internetChecksum(view, start, end), referenceChecksum(view, start, end), `view +${viewOffset}, [${start}, ${end})`);
      }
    }
  }
  // All ones: sums that need folding more than once.
  const ones = Buffer.alloc(1200, 0xff);
  assert.equal(internetChecksum(ones, 2), referenceChecksum(ones, 2, 1200));
});

function sealed(p: PacketProtection, packet: Buffer): Buffer {
  const buf = Buffer.alloc(PROTECTION_FRONT_MARGIN + packet.length + 16);
  packet.copy(buf, PROTECTION_FRONT_MARGIN);
  return wholeDatagram(p.seal(buf, PROTECTION_FRONT_MARGIN, PROTECTION_FRONT_MARGIN + packet.length, 0));
}

test('default-key packets decrypt with @noble/ciphers and carry checksum then 0xff padding', () => {
  const p = PacketProtection.withDefaultKey();
  const packet = Buffer.from('0b1234300003aabbcc', 'hex');
  const datagram = sealed(p, packet);
  assert.equal((datagram.length - 4) % 16, 0);
  const plain = Buffer.from(cbc(DEFAULT_SESSION_KEY, ZERO_IV, { disablePadding: true }).decrypt(datagram.subarray(4)));
  assert.deepEqual(plain.subarray(2, 2 + packet.length), packet);
  assert.ok(plain.subarray(2 + packet.length).every((b) => b === 0xff));
  assert.equal(plain.readUInt16BE(0), internetChecksum(plain, 2));
  assert.deepEqual(PacketProtection.withDefaultKey().open(datagram)?.subarray(0, packet.length), packet);
});

test('HMAC and session sequence numbers: round trip, tamper and replay refused', () => {
  const k1 = randomBytes(16), k2 = randomBytes(16), h1 = randomBytes(32), h2 = randomBytes(32);
  const a = new PacketProtection({ encryptKey: k1, decryptKey: k2, sendHmac: { key: h1, length: 10 }, recvHmac: { key: h2, length: 16 }, sendSequence: true, recvSequence: true });
  const b = new PacketProtection({ encryptKey: k2, decryptKey: k1, sendHmac: { key: h2, length: 16 }, recvHmac: { key: h1, length: 10 }, sendSequence: true, recvSequence: true });
  const packets = Array.from({ length: 50 }, (_, i) => randomBytes(1 + i * 7));
  const datagrams = packets.map((pk) => sealed(a, pk));
  // Out of order delivery inside the window is fine.
  const order = [...datagrams.keys()].reverse();
  for (const i of order) assert.deepEqual(b.open(datagrams[i]!)?.subarray(0, packets[i]!.length), packets[i]);
  assert.equal(b.open(datagrams[3]!), undefined, 'replay refused');
  const tampered = Buffer.from(sealed(a, packets[0]!));
  tampered[tampered.length - 20]! ^= 1;
  assert.equal(b.open(tampered), undefined, 'tampered ciphertext refused');
  const badMac = Buffer.from(sealed(a, packets[1]!));
  badMac[badMac.length - 1]! ^= 1;
  assert.equal(b.open(badMac), undefined, 'tampered HMAC refused');
  const reverse = sealed(b, Buffer.from('hello'));
  assert.deepEqual(a.open(reverse)?.subarray(0, 5), Buffer.from('hello'));
});

test('checksum failure and bad lengths are refused, never thrown', () => {
  const p = PacketProtection.withDefaultKey();
  const d = sealed(p, Buffer.from('0b000030000100', 'hex'));
  const bad = Buffer.from(d);
  bad[10]! ^= 0x55;
  assert.equal(PacketProtection.withDefaultKey().open(bad), undefined);
  assert.equal(p.open(d.subarray(0, 19)), undefined);
  assert.equal(p.open(Buffer.concat([d, Buffer.alloc(3)])), undefined);
});
