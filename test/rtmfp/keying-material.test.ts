// Sessions keep what they were keyed with (DH secret, both nonces) so that NetGroup peers can
// bind their group key to the session: checked on the crypto adapter and over real UDP.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { FlashCertificate } from '../../src/rtmfp/crypto/flash-certificate.js';
import type { Session } from '../../src/rtmfp/session.js';

const hmac = (key: Buffer, data: Buffer) => createHmac('sha256', key).update(data).digest();

test('keying material: the nonces are the SKIC and SKRC exchanged, and the packet keys derive from them and the secret', () => {
  for (const [initiator, responder] of [
    [new FlashCrypto({ server: false }), new FlashCrypto({ server: false })],
    [new FlashCrypto({ server: false }), new FlashCrypto({ server: true })],
    [new FlashCrypto({ server: false, ephemeralInitiator: true, groups: [14] }), new FlashCrypto({ server: true })],
  ] as const) {
    const keying = initiator.initiate(FlashCertificate.parse(responder.certificate));
    const { skrc, keys: r } = responder.respond(FlashCertificate.parse(initiator.certificate), keying.skic);
    const i = keying.complete(skrc);
    assert.deepEqual(i.material.initiatorNonce, keying.skic);
    assert.deepEqual(i.material.responderNonce, skrc);
    assert.deepEqual(r.material, i.material, 'both ends hold the same secret and nonces');
    // RFC 7425 §4.6: the initiator's encryption key is HMAC(secret, HMAC(SKRC, SKIC)).
    const { sharedSecret: secret, initiatorNonce: skic } = i.material;
    assert.deepEqual(i.params.encryptKey, hmac(secret, hmac(skrc, skic)).subarray(0, 16));
    assert.deepEqual(r.params.encryptKey, hmac(secret, hmac(skic, skrc)).subarray(0, 16));
  }
});

test('keying material: the responder keeps its own copy of the SKIC, not a view of the packet it came in', () => {
  const initiator = new FlashCrypto({ server: false });
  const responder = new FlashCrypto({ server: false });
  const keying = initiator.initiate(FlashCertificate.parse(responder.certificate));
  const packet = Buffer.from(keying.skic);
  const { keys } = responder.respond(FlashCertificate.parse(initiator.certificate), packet);
  packet.fill(0);
  assert.deepEqual(keys.material.initiatorNonce, keying.skic);
});

async function peerEndpoint(options: { server?: boolean; keep?: boolean } = {}): Promise<RtmfpEndpoint> {
  const port = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
  return new RtmfpEndpoint({ port, crypto: new FlashCrypto({ server: options.server ?? false }), acceptSessions: true, keepKeyingMaterial: options.keep });
}

test('keying material over UDP: a peer-to-peer session keeps it at both ends, mirrored', async () => {
  const a = await peerEndpoint();
  const b = await peerEndpoint();
  try {
    const accepted = new Promise<Session>((resolve) => (b.onSession = resolve));
    const initiated = await a.connect({ fingerprint: b.peerId }, [b.localAddress]);
    const responded = await accepted;
    const mi = initiated.keyingMaterial!, mr = responded.keyingMaterial!;
    assert.ok(mi && mr, 'both sessions keep their keying material');
    assert.equal(mi.sharedSecret.length, 128, 'DH group 2: a 1024-bit secret');
    assert.deepEqual(mi.sharedSecret, mr.sharedSecret);
    assert.deepEqual(initiated.nearNonce, responded.farNonce);
    assert.deepEqual(initiated.farNonce, responded.nearNonce);
    assert.notDeepEqual(initiated.nearNonce, initiated.farNonce);
  } finally {
    a.close();
    b.close();
  }
});

test('keying material over UDP: a server endpoint does not keep it unless asked', async () => {
  const server = await peerEndpoint({ server: true });
  const kept = await peerEndpoint({ server: true, keep: true });
  const client = await peerEndpoint();
  try {
    for (const [endpoint, keeps] of [[server, false], [kept, true]] as const) {
      const accepted = new Promise<Session>((resolve) => (endpoint.onSession = resolve));
      const session = await client.connect({ ancillaryData: 'rtmfp://127.0.0.1/app' }, [endpoint.localAddress]);
      assert.ok(session.keyingMaterial, 'the client keeps it');
      assert.equal((await accepted).keyingMaterial !== undefined, keeps);
    }
  } finally {
    client.close();
    server.close();
    kept.close();
  }
});
