// The engine over real UDP sockets on 127.0.0.1: our client against our server.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import type { Session } from '../../src/rtmfp/session.js';
import { UdpShim } from '../support/udp-shim.js';
import { seededRandom } from '../support/memory-network.js';

async function startServer() {
  const port = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
  const server = new RtmfpEndpoint({ port, crypto: new FlashCrypto({ server: true }), acceptSessions: true });
  const sessions: Session[] = [];
  const received = new Map<Session, Buffer[]>();
  server.onSession = (s) => {
    sessions.push(s);
    received.set(s, []);
    s.onFlow = (flow) => {
      flow.onMessage = (m) => received.get(s)!.push(Buffer.from(m));
    };
  };
  return { server, port: port.localAddress().port, sessions, received };
}

// The client sends through node:dgram and seals each packet into a new buffer, and the server
// (where the accelerator was built) through its batches, sealing in place: each test runs both.
async function startClient() {
  const port = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0, accelerate: false });
  return new RtmfpEndpoint({ port, crypto: new FlashCrypto({ server: false }) });
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('100 concurrent sessions over UDP each deliver a message', async () => {
  const s = await startServer();
  const client = await startClient();
  try {
    const sessions = await Promise.all(
      Array.from({ length: 100 }, () => client.connect({ ancillaryData: 'rtmfp://127.0.0.1/test' }, [{ host: '127.0.0.1', port: s.port }])),
    );
    assert.equal(new Set(sessions.map((x) => x.localId)).size, 100);
    sessions.forEach((session, i) => session.openFlow(Buffer.from('m')).write(Buffer.from(`hello ${i}`)));
    await until(() => s.sessions.length === 100 && [...s.received.values()].every((m) => m.length === 1), 10_000, 'all messages');
    const texts = [...s.received.values()].map((m) => m[0]!.toString()).sort();
    assert.deepEqual(texts, Array.from({ length: 100 }, (_, i) => `hello ${i}`).sort());
  } finally {
    client.close();
    s.server.close();
  }
});

test('a session forgets finished flows: 300 flows opened and closed one batch after another all deliver, past the 256 it keeps at once', async () => {
  const s = await startServer();
  const client = await startClient();
  try {
    const session = await client.connect({ ancillaryData: 'rtmfp://127.0.0.1/test' }, [{ host: '127.0.0.1', port: s.port }]);
    for (let batch = 0; batch < 6; batch++) {
      const flows = Array.from({ length: 50 }, (_, i) => {
        const flow = session.openFlow(Buffer.from(`m${batch}`));
        flow.write(Buffer.from(`flow ${batch * 50 + i}`));
        flow.close();
        return flow;
      });
      // Every flow of the batch finished (its close acknowledged) before the next batch opens.
      await until(() => flows.every((f) => f.state === 'complete'), 10_000, `batch ${batch} complete`);
    }
    await until(() => (s.received.get(s.sessions[0]!)?.length ?? 0) === 300, 10_000, 'all 300 messages');
    const texts = s.received.get(s.sessions[0]!)!.map((m) => m.toString()).sort();
    assert.deepEqual(texts, Array.from({ length: 300 }, (_, i) => `flow ${i}`).sort());
  } finally {
    client.close();
    s.server.close();
  }
});

test('1 MiB of reliable messages arrives intact and in order through 10% loss, reordering and duplication', async () => {
  const s = await startServer();
  const shim = new UdpShim({ host: '127.0.0.1', port: s.port }, { loss: 0.1, duplicate: 0.05, delayMs: 1, jitterMs: 8 });
  const shimPort = await shim.listen();
  const client = await startClient();
  try {
    const session = await client.connect({ ancillaryData: 'rtmfp://127.0.0.1/test' }, [{ host: '127.0.0.1', port: shimPort }]);
    const flow = session.openFlow(Buffer.from('bulk'));
    const rnd = seededRandom(42);
    const sent: Buffer[] = [];
    let total = 0;
    while (total < 1024 * 1024) {
      const size = 1 + Math.floor(rnd() * rnd() * 20_000);
      const m = randomBytes(size);
      sent.push(m);
      total += size;
      flow.write(m);
    }
    await until(() => (s.received.get(s.sessions[0]!)?.length ?? 0) >= sent.length, 60_000, 'all messages through the lossy shim');
    const got = s.received.get(s.sessions[0]!)!;
    assert.equal(got.length, sent.length);
    const digest = (list: Buffer[]) => list.reduce((h, m) => h.update(m), createHash('sha256')).digest('hex');
    assert.equal(digest(got), digest(sent), 'same bytes in the same order');
    for (let i = 0; i < sent.length; i++) assert.equal(got[i]!.length, sent[i]!.length, `message ${i} boundaries`);
    assert.ok(shim.dropped > 0 && shim.duplicated > 0, 'the shim really dropped and duplicated');
  } finally {
    client.close();
    shim.close();
    s.server.close();
  }
});

test('partially reliable messages are abandoned after their deadline; later ones still arrive', async () => {
  const s = await startServer();
  const shim = new UdpShim({ host: '127.0.0.1', port: s.port }, {});
  const shimPort = await shim.listen();
  const client = await startClient();
  try {
    const session = await client.connect({ ancillaryData: 'rtmfp://127.0.0.1/test' }, [{ host: '127.0.0.1', port: shimPort }]);
    const flow = session.openFlow(Buffer.from('media'));
    flow.write(Buffer.from('first'));
    await until(() => (s.received.get(s.sessions[0]!)?.length ?? 0) === 1, 5_000, 'first message');
    shim.policy = { loss: 1 }; // a black hole: nothing gets through
    const t0 = Date.now();
    const receipts = Array.from({ length: 5 }, (_, i) => flow.write(Buffer.alloc(3000, i), { deadlineMs: 300 }));
    await until(() => receipts.every((r) => r.status === 'abandoned'), 5_000, 'abandonment');
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 250 && elapsed < 2_000, `abandoned on time (${elapsed} ms)`);
    shim.policy = {};
    flow.write(Buffer.from('after'));
    await until(() => s.received.get(s.sessions[0]!)!.some((m) => m.toString() === 'after'), 10_000, 'the message after the abandoned ones');
    const texts = s.received.get(s.sessions[0]!)!.map((m) => m.toString());
    assert.equal(texts[0], 'first');
    assert.equal(texts[texts.length - 1], 'after');
  } finally {
    client.close();
    shim.close();
    s.server.close();
  }
});

test('100,000 hostile packets are dropped and counted; memory stays bounded; a good session keeps working', async () => {
  const s = await startServer();
  const client = await startClient();
  const attacker = createSocket('udp4');
  await new Promise<void>((r) => attacker.bind(0, '127.0.0.1', r));
  try {
    const session = await client.connect({ ancillaryData: 'rtmfp://127.0.0.1/test' }, [{ host: '127.0.0.1', port: s.port }]);
    const flow = session.openFlow(Buffer.from('good'));
    flow.write(Buffer.from('before'));
    await until(() => s.received.get(s.sessions[0]!)?.length === 1, 5_000, 'first good message');
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const rnd = seededRandom(9);
    const serverSession = s.sessions[0]!;
    const kinds = [
      () => randomBytes(Math.floor(rnd() * 19)), // too short
      () => randomBytes(20 + 16 * Math.floor(rnd() * 70)), // random "ciphertext", unknown session IDs
      () => { const b = randomBytes(36); b.writeUInt32BE((serverSession.localId ^ b.readUInt32BE(4) ^ b.readUInt32BE(8)) >>> 0, 0); return b; }, // right session ID, garbage inside
      () => { const b = randomBytes(52); b.writeUInt32BE((b.readUInt32BE(4) ^ b.readUInt32BE(8)) >>> 0, 0); return b; }, // startup (session 0) garbage
      () => randomBytes(21 + Math.floor(rnd() * 1200)), // odd lengths
    ];
    const N = 100_000;
    const c = s.server.counters;
    const received0 = c.packetsReceived;
    for (let i = 0; i < N; i += 200) {
      for (let j = 0; j < 200; j++) attacker.send(kinds[(i + j) % kinds.length]!(), s.port, '127.0.0.1');
      // Pace the flood to what the server reads, so the kernel (whose receive buffer is capped
      // by net.core.rmem_max) does not drop it before the server sees it.
      const waitUntil = Date.now() + 100;
      while (c.packetsReceived - received0 < i && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 1));
    }
    await until(() => c.packetsReceived - received0 >= N * 0.9, 30_000, `the flood to be read (${c.packetsReceived - received0} so far)`);
    flow.write(Buffer.from('after'));
    await until(() => s.received.get(serverSession)!.length === 2, 10_000, 'good message after the flood');
    global.gc?.();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(growth < 32 * 1024 * 1024, `heap grew ${growth} bytes`);
    assert.equal(s.server.sessionCount, 1, 'no session created by garbage');
    const dropped = c.badLength + c.badIntegrity + c.unknownSession + c.malformed;
    assert.ok(dropped >= c.packetsReceived - 50, `dropped and counted: ${JSON.stringify(c.snapshot())}`);
  } finally {
    attacker.close();
    client.close();
    s.server.close();
  }
});
