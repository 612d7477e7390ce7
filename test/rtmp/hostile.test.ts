// Bad input against a running server: each offender is closed with a logged reason, what it can
// make the server hold stays bounded, and a healthy publisher and player keep streaming meanwhile.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startTestServer, until, type TestServer } from '../support/test-server.js';
import { RtmpClient, type RtmpClientStream } from '../../src/client/rtmp-client.js';
import { ClientHandshake } from '../../src/rtmp/client-handshake.js';
import { encodeChunks } from '../../src/rtmp/chunk-encoder.js';
import { encodeCommand } from '../../src/codec/flash-command.js';
import { MessageType } from '../../src/rtmp/message-types.js';

let server: TestServer;
let publisher: RtmpClient;
let player: RtmpClient;
let publishStream: RtmpClientStream;
let pump: NodeJS.Timeout;
/** Arrival times of the healthy player's video frames. */
const healthyArrivals: number[] = [];

// A keyframe-only "video" stream: legacy AVC tags, 25 per second, 80 KB each (2 MB/s), so a
// player that stops reading fills the kernel's socket buffers within seconds.
const seqHeader = Buffer.from([0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0]);
const keyframe = Buffer.concat([Buffer.from([0x17, 1, 0, 0, 0]), Buffer.alloc(80_000, 7)]);

before(async () => {
  server = await startTestServer({
    rtmp: { limits: { handshakeTimeoutMs: 1000, stallTimeoutMs: 2000 }, connectTimeoutMs: 1000 },
  });
  publisher = await RtmpClient.connect(server.url('live'));
  publishStream = await publisher.publish('healthy');
  publishStream.sendVideo(0, seqHeader);
  let ts = 0;
  pump = setInterval(() => {
    ts += 40;
    publishStream.sendVideo(ts, keyframe);
  }, 40);
  player = await RtmpClient.connect(server.url('live'));
  await player.play('healthy', { onFrame: (kind) => kind === 'video' && healthyArrivals.push(Date.now()) });
  await until(() => healthyArrivals.length > 5, 5000, 'healthy stream flowing');
});

after(async () => {
  clearInterval(pump);
  // The healthy player never went half a second without video while offenders came and went.
  let worstGap = 0;
  for (let i = 1; i < healthyArrivals.length; i++) worstGap = Math.max(worstGap, healthyArrivals[i]! - healthyArrivals[i - 1]!);
  player.close();
  publisher.close();
  await server.close();
  assert.ok(healthyArrivals.length > 50, `healthy player got ${healthyArrivals.length} frames`);
  assert.ok(worstGap < 500, `healthy player stalled for ${worstGap} ms`);
});

function rawSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: server.port }, () => resolve(s));
    s.on('error', reject);
  });
}

/** Resolves when the server closes the socket. */
function closedBy(socket: Socket, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed || socket.readableEnded) return resolve();
    const timer = setTimeout(() => reject(new Error('server did not close the connection')), ms);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.on('end', () => socket.destroy());
    socket.on('error', () => {});
  });
}

/** A raw socket past a correct handshake, ready for hand-made chunks. */
async function handshaken(): Promise<Socket> {
  const socket = await rawSocket();
  const hs = new ClientHandshake('digest');
  socket.write(hs.start());
  await new Promise<void>((resolve) => {
    const onData = (d: Buffer) => {
      const step = hs.push(d);
      if (step.reply) socket.write(step.reply);
      if (step.done) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
  });
  socket.resume();
  return socket;
}

async function expectClosed(socket: Socket, reason: RegExp, ms?: number): Promise<void> {
  await closedBy(socket, ms);
  const line = await server.waitLog((l) => l.msg === 'RTMP connection closed' && reason.test(String(l.reason)));
  assert.equal(line.level, 40, 'logged as a warning');
}

test('a garbage handshake is closed: HTTP, random bytes, RTMPE', async () => {
  const http = await rawSocket();
  http.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await expectClosed(http, /spoke HTTP/);

  const junk = await rawSocket();
  junk.write(Buffer.from([0x42, 1, 2, 3, 4]));
  await expectClosed(junk, /version byte 0x42/);

  const rtmpe = await rawSocket();
  rtmpe.write(Buffer.alloc(1537, 6));
  await expectClosed(rtmpe, /RTMPE/);
});

test('a client that connects and says nothing is closed: before the handshake, and before connect', async () => {
  const silent = await rawSocket();
  await expectClosed(silent, /handshake not completed within 1000 ms/);
  const quiet = await handshaken();
  await expectClosed(quiet, /no connect command within 1000 ms/);
});

test('a chunk size of 2^31 is refused', async () => {
  const s = await handshaken();
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(0x80000000);
  s.write(encodeChunks(2, MessageType.SetChunkSize, 0, 0, payload, 128));
  await expectClosed(s, /Set Chunk Size 2147483648 has the reserved top bit set/);
});

test('a message length past the limit is refused at its first chunk header', async () => {
  const s = await handshaken();
  // Type 0 header on chunk stream 4: video, 16 MiB - 1 bytes, followed by a single chunk.
  const header = Buffer.from([0x04, 0, 0, 0, 0xff, 0xff, 0xff, MessageType.Video, 1, 0, 0, 0]);
  s.write(Buffer.concat([header, Buffer.alloc(128)]));
  await expectClosed(s, /message of 16777215 bytes .* exceeds the 8388608-byte limit/);
});

test('chunk streams that never complete are refused before they add up', async () => {
  const s = await handshaken();
  // Start a 1 MB message on each of many chunk streams, sending only its first 128-byte chunk.
  const parts: Buffer[] = [];
  for (let csid = 4; csid < 40; csid++) {
    parts.push(Buffer.from([csid, 0, 0, 0, 0x10, 0, 0, MessageType.Video, 1, 0, 0, 0]), Buffer.alloc(128));
  }
  s.write(Buffer.concat(parts));
  await expectClosed(s, /too many messages in progress at once: 9 \(limit 8\)/);
});

test('malformed AMF in a command is a protocol violation, not a crash', async () => {
  const s = await handshaken();
  s.write(encodeChunks(3, MessageType.CommandAmf0, 0, 0, Buffer.from([0x02, 0x00, 0x07, 0x63, 0x6f]), 128));
  await expectClosed(s, /malformed AMF/);
});

test('a player that reads nothing: frames are dropped with the queue bounded, then it is closed', async () => {
  const s = await handshaken();
  const send = (streamId: number, name: string, tx: number, ...args: unknown[]) => {
    const { type, payload } = encodeCommand(0, name, tx, name === 'connect' ? { app: 'live', tcUrl: server.url('live') } : null, ...args);
    s.write(encodeChunks(3, type, streamId, 0, payload, 128));
  };
  send(0, 'connect', 1);
  send(0, 'createStream', 2);
  send(1, 'play', 0, 'healthy');
  await server.waitLog((l) => l.msg === 'play started' && l.streamId === 1 && l.client !== undefined && (server.logs.filter((x) => x.msg === 'play started').length >= 2));
  // Stop reading: the kernel buffers fill, then the server's queue.
  s.pause();
  const connection = [...server.listener.connections].at(-1)!;
  let maxQueued = 0;
  const watch = setInterval(() => (maxQueued = Math.max(maxQueued, connection.queuedBytes)), 20);
  try {
    // The socket is paused, so its close only shows once read: the server's log says it first.
    const line = await server.waitLog((l) => l.msg === 'RTMP connection closed' && /peer is not reading/.test(String(l.reason)), 30_000);
    assert.equal(line.level, 40);
    assert.ok(connection.closed !== undefined);
    s.resume();
    await closedBy(s);
  } finally {
    clearInterval(watch);
  }
  // Video stops being queued past 768 KiB; one more frame may be in flight.
  assert.ok(maxQueued > 0, 'the queue did fill');
  assert.ok(maxQueued <= 768 * 1024 + 2 * keyframe.length, `queued up to ${maxQueued} bytes`);
});
