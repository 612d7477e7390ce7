// The RTMP handshake, both halves against each other, fed in awkward pieces.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ServerHandshake } from '../../src/rtmp/server-handshake.js';
import { ClientHandshake } from '../../src/rtmp/client-handshake.js';
import { HandshakeError } from '../../src/rtmp/handshake-error.js';
import {
  HANDSHAKE_SIZE, PLAYER_KEY, PLAYER_KEY_TEXT_LENGTH, SERVER_KEY, SERVER_KEY_TEXT_LENGTH,
  digestOffset, findValidDigest, isValidSignedResponse, makeDigestBlock,
} from '../../src/rtmp/handshake-digest.js';

/** Runs both halves, delivering bytes `piece` at a time; returns what each side ended with. */
function run(form: 'digest' | 'simple', piece: number) {
  const client = new ClientHandshake(form);
  const server = new ServerHandshake();
  const trailer = Buffer.from('first chunk bytes');
  let toServer = client.start();
  let toClient = Buffer.alloc(0);
  let clientDone = false;
  let serverRest: Buffer | undefined;
  while (!clientDone || !server.done) {
    for (let i = 0; i < toServer.length; i += piece) {
      const step = server.push(toServer.subarray(i, i + piece));
      if (step.reply) toClient = Buffer.concat([toClient, step.reply]);
      if (step.rest) serverRest = Buffer.concat([serverRest ?? Buffer.alloc(0), step.rest]);
    }
    toServer = Buffer.alloc(0);
    for (let i = 0; i < toClient.length; i += piece) {
      const step = client.push(toClient.subarray(i, i + piece));
      if (step.reply) toServer = Buffer.concat([step.reply, trailer]);
      if (step.done) clientDone = true;
    }
    toClient = Buffer.alloc(0);
  }
  return { client, server, serverRest };
}

test('digest form: the server validates the client digest and answers one the client validates', () => {
  for (const piece of [1, 7, 1000, 5000]) {
    const { client, server, serverRest } = run('digest', piece);
    assert.equal(server.form, 'digest');
    assert.equal(client.serverForm, 'digest');
    assert.equal(server.c2Valid, true, 'C2 carries the signature over our S1 digest');
    assert.equal(serverRest?.toString(), 'first chunk bytes', `bytes after C2 are handed on (piece ${piece})`);
  }
});

test('simple form: a zero version gets the echo', () => {
  const { client, server } = run('simple', 333);
  assert.equal(server.form, 'simple');
  assert.equal(client.serverForm, 'simple');
  assert.equal(server.c2Valid, true);
});

test('a C1 with a version but a broken digest gets the simple answer, not an error', () => {
  const { block } = makeDigestBlock(0, 0x09007c02, 1, PLAYER_KEY.subarray(0, PLAYER_KEY_TEXT_LENGTH));
  block[digestOffset(block, 1)]! ^= 0xff;
  const server = new ServerHandshake();
  const step = server.push(Buffer.concat([Buffer.of(3), block]));
  assert.equal(server.form, 'simple');
  // S2 echoes C1 from byte 8 on.
  assert.ok(step.reply!.subarray(1 + HANDSHAKE_SIZE + 8).equals(block.subarray(8)));
});

test('both digest schemes are recognised, and the S2 signature is keyed by the client digest', () => {
  for (const scheme of [0, 1] as const) {
    const { block, digest } = makeDigestBlock(1, 0x0a000000, scheme, PLAYER_KEY.subarray(0, PLAYER_KEY_TEXT_LENGTH));
    assert.deepEqual(findValidDigest(block, PLAYER_KEY.subarray(0, PLAYER_KEY_TEXT_LENGTH)), { scheme, digest });
    const step = new ServerHandshake().push(Buffer.concat([Buffer.of(3), block]));
    const s1 = step.reply!.subarray(1, 1 + HANDSHAKE_SIZE);
    const s2 = step.reply!.subarray(1 + HANDSHAKE_SIZE);
    assert.ok(findValidDigest(s1, SERVER_KEY.subarray(0, SERVER_KEY_TEXT_LENGTH)), 'S1 digest with the server key');
    assert.ok(isValidSignedResponse(s2, digest, SERVER_KEY));
    assert.ok(!isValidSignedResponse(s2, Buffer.alloc(32), SERVER_KEY));
  }
});

test('bad first bytes are refused with a reason at once', () => {
  assert.throws(() => new ServerHandshake().push(Buffer.from('POST /idle HTTP/1.1')), (e: Error) => e instanceof HandshakeError && /HTTP/.test(e.message));
  assert.throws(() => new ServerHandshake().push(Buffer.of(6)), /RTMPE/);
  assert.throws(() => new ServerHandshake().push(Buffer.of(0x16, 3, 1)), /TLS/);
  assert.throws(() => new ServerHandshake().push(Buffer.of(0)), /version byte 0x00/);
});

test('the client refuses a server whose S2 signature is wrong', () => {
  const client = new ClientHandshake('digest');
  const server = new ServerHandshake();
  const reply = server.push(client.start()).reply!;
  reply[reply.length - 1]! ^= 1;
  assert.throws(() => client.push(reply), /S2 signature/);
});

test('the client takes a simple-form answer whose S2 does not echo C1 (as MonaServer2 sends), and says so', () => {
  for (const form of ['digest', 'simple'] as const) {
    const client = new ClientHandshake(form);
    client.start();
    // S0, then S1 with a zero version (no digest), then an S2 of other bytes than C1.
    const s1 = Buffer.alloc(HANDSHAKE_SIZE, 0x5a);
    s1.writeUInt32BE(0, 4);
    const s2 = Buffer.alloc(HANDSHAKE_SIZE, 0xa5);
    const step = client.push(Buffer.concat([Buffer.of(3), s1, s2]));
    assert.equal(step.done, true, form);
    assert.equal(client.serverForm, 'simple');
    assert.equal(client.serverEchoed, false);
    // C2 echoes S1, as the specification asks.
    assert.ok(step.reply!.equals(s1));
  }
  const { client } = run('simple', 1537);
  assert.equal(client.serverEchoed, true);
});
