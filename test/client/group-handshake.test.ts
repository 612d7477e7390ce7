// The NetGroup peer handshake message and its key, against librtmfp's layout and derivation
// (RTMFPWriter::writePeerGroup, P2PSession::buildGroupKey) written out independently here.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { encodeGroupBegin, encodeGroupInit, groupKey, parseGroupInit } from '../../src/client/group-handshake.js';

test('group key: HMAC-SHA256(groupspec text, HMAC-SHA256(DH secret, recipient nonce))', () => {
  const secret = randomBytes(128);
  const nonce = randomBytes(76);
  const text = 'G:027f0201010103010c050e74657374011b';
  const inner = createHmac('sha256', secret).update(nonce).digest();
  assert.deepEqual(groupKey(text, secret, nonce), createHmac('sha256', text).update(inner).digest());
  assert.notDeepEqual(groupKey(text + '0', secret, nonce), groupKey(text, secret, nonce), 'another groupspec, another key');
  assert.notDeepEqual(groupKey(text, secret, randomBytes(76)), groupKey(text, secret, nonce), 'another nonce, another key');
});

test("01 has librtmfp's exact layout: 41 00 + 64 hex, 21 01 + key, 23 03 + 21 0F + recipient's peer ID", () => {
  const groupId = createHash('sha256').update('G:0101010c00').digest();
  const key = randomBytes(32);
  const peer = randomBytes(32);
  const message = encodeGroupInit({ groupIdHex: groupId.toString('hex'), key, recipientPeerId: peer });
  const expected = Buffer.concat([Buffer.from('014100', 'hex'), Buffer.from(groupId.toString('hex')), Buffer.from('2101', 'hex'), key, Buffer.from('2303210f', 'hex'), peer]);
  assert.deepEqual(message, expected);
  assert.deepEqual(parseGroupInit(message), { groupIdHex: groupId.toString('hex'), key, recipientPeerId: peer });
  // Hex in capitals (not what librtmfp writes, but it compares without regard to case) parses too.
  const upper = Buffer.concat([Buffer.from('014100', 'hex'), Buffer.from(groupId.toString('hex').toUpperCase()), expected.subarray(67)]);
  assert.equal(parseGroupInit(upper)?.groupIdHex, groupId.toString('hex').toUpperCase());
  assert.deepEqual(encodeGroupBegin(), [Buffer.from([0x02]), Buffer.from([0x0e])]);
});

test('a malformed or truncated 01 is not taken for a handshake', () => {
  const good = encodeGroupInit({ groupIdHex: 'ab'.repeat(32), key: randomBytes(32), recipientPeerId: randomBytes(32) });
  for (let n = 0; n < good.length; n++) assert.equal(parseGroupInit(good.subarray(0, n)), undefined, `first ${n} bytes`);
  const badEpd = Buffer.from(good);
  badEpd[good.length - 33] = 0x0e;
  assert.equal(parseGroupInit(badEpd), undefined);
  assert.equal(parseGroupInit(Buffer.from([0x0e])), undefined);
});
