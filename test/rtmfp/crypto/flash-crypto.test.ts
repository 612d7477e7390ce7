import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash, getDiffieHellman } from 'node:crypto';
import { FlashCrypto, KeyingError } from '../../../src/rtmfp/crypto/flash-crypto.js';
import { FlashCertificate, encodeEpd, parseEpd } from '../../../src/rtmfp/crypto/flash-certificate.js';
import { DhKeyPair, primeBytes, type DhGroupId } from '../../../src/rtmfp/crypto/dh-groups.js';
import { PROTECTION_FRONT_MARGIN, type PacketProtection } from '../../../src/rtmfp/crypto/packet-protection.js';
import { wholeDatagram } from '../../../src/rtmfp/platform.js';
import { sha256 } from '../../../src/rtmfp/crypto/sha256.js';

function roundTrip(from: PacketProtection, to: PacketProtection, text: string): string | undefined {
  const packet = Buffer.from(text);
  const buf = Buffer.alloc(PROTECTION_FRONT_MARGIN + packet.length + 16);
  packet.copy(buf, PROTECTION_FRONT_MARGIN);
  return to.open(wholeDatagram(from.seal(buf, PROTECTION_FRONT_MARGIN, PROTECTION_FRONT_MARGIN + packet.length, 0)))?.subarray(0, packet.length).toString();
}

test('DH agreement in every group, public keys full width, secrets without leading zeros', () => {
  for (const g of [2, 5, 14, 16] as DhGroupId[]) {
    const a = DhKeyPair.generate(g), b = DhKeyPair.generate(g);
    assert.equal(a.publicKey.length, primeBytes(g));
    const s1 = a.computeSecret(b.publicKey), s2 = b.computeSecret(a.publicKey);
    assert.deepEqual(s1, s2);
    assert.notEqual(s1[0], 0);
    // The same agreement as node's own named-group object, which is an independent path.
    const ref = getDiffieHellman(`modp${g}`);
    ref.generateKeys();
    const viaRef = ref.computeSecret(a.publicKey);
    let i = 0;
    while (viaRef[i] === 0) i++;
    assert.deepEqual(a.computeSecret(ref.getPublicKey()), viaRef.subarray(i));
  }
});

test('a bad DH public value is refused', () => {
  const a = DhKeyPair.generate(2);
  assert.throws(() => a.computeSecret(Buffer.from([1])));
  assert.throws(() => DhKeyPair.agree(2, Buffer.from([1])));
});

test('a one-shot responder exchange agrees with the peer, full-width public value, minimal secret', () => {
  for (const g of [2, 5, 14, 16] as DhGroupId[]) {
    const peer = DhKeyPair.generate(g);
    for (let i = 0; i < 20; i++) {
      const { publicKey, secret } = DhKeyPair.agree(g, peer.publicKey);
      assert.equal(publicKey.length, primeBytes(g));
      assert.deepEqual(peer.computeSecret(publicKey), secret);
      assert.notEqual(secret[0], 0);
    }
  }
});

test('one static key looked up by group is what the full map holds', () => {
  const cert = FlashCertificate.parse(new FlashCrypto({ server: false, groups: [14, 2] }).certificate);
  assert.deepEqual(cert.staticKey(2), cert.staticKeys().get(2));
  assert.deepEqual(cert.staticKey(14), cert.staticKeys().get(14));
  assert.equal(cert.staticKey(5), undefined);
  assert.equal(FlashCertificate.parse(new FlashCrypto({ server: true }).certificate).staticKey(2), undefined);
});

test('one-shot SHA-256 is SHA-256', () => {
  for (const input of ['', '127.0.0.1|1935', Buffer.alloc(200, 9)]) {
    assert.deepEqual(sha256(input), createHash('sha256').update(input).digest());
  }
});

test('peer ID is the SHA-256 of the certificate', () => {
  const c = new FlashCrypto({ server: false });
  assert.deepEqual(c.fingerprint, createHash('sha256').update(c.certificate).digest());
  const cert = FlashCertificate.parse(c.certificate);
  assert.ok(cert.isStatic);
  const s = new FlashCrypto({ server: true });
  const scert = FlashCertificate.parse(s.certificate);
  assert.ok(!scert.isStatic);
  assert.deepEqual(scert.ephemeralGroups, [2, 5, 14, 16]);
  assert.equal(s.certificate.length, 80, "Flash's 77 bytes plus group 16");
  assert.ok(scert.acceptsAncillaryData);
});

function handshake(initiator: FlashCrypto, responder: FlashCrypto) {
  const responderCert = FlashCertificate.parse(responder.certificate);
  const keying = initiator.initiate(responderCert);
  const { skrc, keys: r } = responder.respond(FlashCertificate.parse(initiator.certificate), keying.skic);
  const i = keying.complete(skrc);
  return { i, r };
}

test('keying: Flash Player form (static key in certificate, group select) against our server', () => {
  const { i, r } = handshake(new FlashCrypto({ server: false }), new FlashCrypto({ server: true }));
  assert.equal(i.group, 2);
  assert.equal(r.group, 2);
  assert.equal(roundTrip(i.protection, r.protection, 'to server'), 'to server');
  assert.equal(roundTrip(r.protection, i.protection, 'to client'), 'to client');
});

test('keying: ephemeral form (rtmfp-cpp) picks the strongest common group', () => {
  const { i, r } = handshake(new FlashCrypto({ server: false, groups: [14, 2], ephemeralInitiator: true }), new FlashCrypto({ server: true }));
  assert.equal(i.group, 14);
  assert.equal(roundTrip(i.protection, r.protection, 'x'), 'x');
});

test('keying: peer to peer with static keys on both sides', () => {
  const { i, r } = handshake(new FlashCrypto({ server: false }), new FlashCrypto({ server: false }));
  assert.equal(roundTrip(i.protection, r.protection, 'p2p'), 'p2p');
  assert.equal(roundTrip(r.protection, i.protection, 'p2p back'), 'p2p back');
});

test('HMAC and sequence negotiation: a side that requires them gets them from a willing peer', () => {
  const strict = new FlashCrypto({ server: false, ephemeralInitiator: true, hmac: { sendAlways: true, recvRequired: true, length: 10 }, sessionSequence: { sendAlways: true, recvRequired: true } });
  const { i, r } = handshake(strict, new FlashCrypto({ server: true }));
  assert.deepEqual(i.negotiated, { sendHmac: true, recvHmac: true, sendSequence: true, recvSequence: true });
  assert.deepEqual(r.negotiated, { sendHmac: true, recvHmac: true, sendSequence: true, recvSequence: true });
  assert.equal(roundTrip(i.protection, r.protection, 'hmac up'), 'hmac up');
  assert.equal(roundTrip(r.protection, i.protection, 'hmac down'), 'hmac down');
});

test('keying refuses unsupported groups and garbage', () => {
  const server = new FlashCrypto({ server: true, groups: [14] });
  const client = new FlashCrypto({ server: false, groups: [2] });
  assert.throws(() => client.initiate(FlashCertificate.parse(server.certificate)), KeyingError);
  assert.throws(() => server.respond(FlashCertificate.parse(client.certificate), Buffer.from('ffff', 'hex')), KeyingError);
});

test('endpoint discriminators select the right endpoint', () => {
  const server = new FlashCrypto({ server: true });
  const peer = new FlashCrypto({ server: false });
  const url = parseEpd(encodeEpd({ ancillaryData: 'rtmfp://localhost/live' }));
  assert.equal(url.ancillaryData, 'rtmfp://localhost/live');
  assert.ok(server.isSelectedBy(url));
  assert.ok(!peer.isSelectedBy(url));
  assert.ok(peer.isSelectedBy({ fingerprint: peer.fingerprint }));
  assert.ok(!server.isSelectedBy({ fingerprint: peer.fingerprint }));
  assert.throws(() => parseEpd(Buffer.alloc(0)));
});

test('an SKRC without HMAC or sequence numbers has the exact form librtmfp reads', () => {
  const server = new FlashCrypto({ server: true });
  const client = new FlashCrypto({ server: false });
  const keying = client.initiate(FlashCertificate.parse(server.certificate));
  const { skrc } = server.respond(FlashCertificate.parse(client.certificate), keying.skic);
  // HMAC negotiation "none", sequence "none", then the group 2 DH key option at byte 7 and the key at byte 11.
  assert.equal(skrc.subarray(0, 11).toString('hex'), '031a0000021e0081020d02');
  assert.equal(skrc.length, 11 + 128);
  // The answer is encoded once per outcome and reused: a second SKRC starts the same, and
  // another outcome (the initiator asks for HMAC and sequence numbers) gets its own.
  const again = server.respond(FlashCertificate.parse(client.certificate), client.initiate(FlashCertificate.parse(server.certificate)).skic).skrc;
  assert.equal(again.subarray(0, 11).toString('hex'), '031a0000021e0081020d02');
  assert.ok(!again.subarray(11).equals(skrc.subarray(11)), 'a fresh DH value each time');
  const strict = new FlashCrypto({ server: false, hmac: { sendAlways: true, recvRequired: true }, sessionSequence: { sendAlways: true, recvRequired: true } });
  const answered = server.respond(FlashCertificate.parse(strict.certificate), strict.initiate(FlashCertificate.parse(server.certificate)).skic).skrc;
  assert.equal(answered.subarray(0, 7).toString('hex'), '031a0510021e05', 'send always and request, HMAC length 16');
});
