// node:dgram ports with and without the native accelerator's batches, over real sockets on
// loopback: what arrives, in what order, from buffers the sender reuses at once.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { DatagramBatch, encodeHost, socketFd } from '../../src/rtmfp/datagram-batch.js';
import { nativeAccel, nativeAccelUnavailable, type NativeAccel } from '../../src/rtmfp/native-accel.js';
import type { Address } from '../../src/rtmfp/address.js';
import { until } from '../support/test-server.js';

const skip = nativeAccel === undefined ? `native accelerator unavailable: ${nativeAccelUnavailable}` : false;

/** A plain node:dgram receiver that keeps what arrives. */
async function receiver(type: 'udp4' | 'udp6', host: string): Promise<{ socket: Socket; address: Address; got: Buffer[] }> {
  const socket = createSocket({ type, recvBufferSize: 4 << 20 });
  const got: Buffer[] = [];
  socket.on('message', (m) => got.push(m));
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return { socket, address: { host, port: socket.address().port }, got };
}

/** Datagram i of a run: its number, then a length that varies from 1 to 1,400 bytes. */
function datagram(i: number): Buffer {
  const b = Buffer.alloc(4 + ((i * 131) % 1397), i & 0xff);
  b.writeUInt32BE(i);
  return b;
}

for (const accelerate of [true, false]) {
  const name = accelerate ? 'batched' : 'node:dgram';
  test(`${name}: 300 datagrams to three receivers in one tick arrive whole and in order, from a buffer reused at once; parts are gathered`, { skip: accelerate && skip }, async () => {
    const port = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0, accelerate });
    const receivers = await Promise.all([0, 1, 2].map(() => receiver('udp4', '127.0.0.1')));
    try {
      assert.equal(port.accelerated, accelerate);
      assert.equal(port.copiesOnSend, accelerate);
      const scratch = Buffer.alloc(2000);
      const expected: Buffer[][] = [[], [], []];
      // 100 to a receiver, all at once: within a default-sized receive buffer (rmem_max 208 KB).
      for (let i = 0; i < 300; i++) {
        const d = datagram(i);
        const r = i % 3;
        expected[r]!.push(d);
        if (accelerate) {
          // The caller's buffer is written over as soon as send() returns, as a session's is.
          d.copy(scratch);
          port.send(scratch.subarray(0, d.length), receivers[r]!.address);
          scratch.fill(0xee);
        } else {
          port.send(d, receivers[r]!.address);
        }
      }
      port.send([Buffer.from('gath'), Buffer.from('ered')], receivers[0]!.address);
      expected[0]!.push(Buffer.from('gathered'));
      await until(() => receivers.every((r, k) => r.got.length === expected[k]!.length), 5000, 'every datagram');
      receivers.forEach((r, k) => r.got.forEach((g, i) => assert.ok(g.equals(expected[k]![i]!), `receiver ${k}, datagram ${i}`)));
      assert.equal(port.sendErrors, 0);
    } finally {
      port.close();
      for (const r of receivers) r.socket.close();
    }
  });

  test(`${name}: a dual-stack port reaches IPv4 and IPv6 receivers, and one refused datagram does not lose the next${accelerate ? ' (and is counted)' : ''}`, { skip: accelerate && skip }, async (t) => {
    const port = await NodeDatagramPort.bind({ host: '::', port: 0, accelerate });
    const v4 = await receiver('udp4', '127.0.0.1');
    let v6: Awaited<ReturnType<typeof receiver>> | undefined;
    try {
      v6 = await receiver('udp6', '::1');
    } catch {
      t.diagnostic('no IPv6 loopback here: IPv4 only');
    }
    try {
      port.send(Buffer.from('to v4'), v4.address);
      if (v6) port.send(Buffer.from('to v6'), v6.address);
      // A broadcast address without SO_BROADCAST: the kernel refuses it (EACCES) every time.
      port.send(Buffer.from('refused'), { host: '255.255.255.255', port: 9 });
      port.send(Buffer.from('after'), v4.address);
      await until(() => v4.got.length === 2 && (!v6 || v6.got.length === 1), 5000, 'the datagrams');
      assert.deepEqual(v4.got.map(String), ['to v4', 'after']);
      if (v6) assert.deepEqual(v6.got.map(String), ['to v6']);
      // node:dgram drops a refusal silently when no callback was given, and a callback costs a
      // tick per datagram: only the batches count it.
      if (accelerate) assert.equal(port.sendErrors, 1);
    } finally {
      port.close();
      v4.socket.close();
      v6?.socket.close();
    }
  });

  test(`${name}: what is sent just before close() still leaves`, { skip: accelerate && skip }, async () => {
    const port = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0, accelerate });
    const r = await receiver('udp4', '127.0.0.1');
    try {
      port.send(Buffer.from('last words'), r.address);
      port.close();
      await until(() => r.got.length === 1, 5000, 'the last datagram');
      assert.equal(r.got[0]!.toString(), 'last words');
    } finally {
      r.socket.close();
    }
  });
}

/** Bytes waiting in the receive queue of the UDP socket bound to 127.0.0.1:`port`, as the kernel reports them. */
function receiveQueueBytes(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local) return parseInt(fields[4]!.split(':')[1]!, 16);
  }
  throw new Error(`no UDP socket on 127.0.0.1:${port} in /proc/net/udp`);
}

test('flush() hands what was sent to the kernel at once, before the tick ends; what follows still goes at the end of the tick', { skip }, async () => {
  const port = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0, accelerate: true });
  const r = await receiver('udp4', '127.0.0.1');
  try {
    port.send(Buffer.from('first'), r.address);
    assert.equal(receiveQueueBytes(r.address.port), 0, 'still in the batch');
    port.flush();
    // This process has not yielded since: the receiver has not read it, the kernel holds it.
    assert.ok(receiveQueueBytes(r.address.port) > 0, 'in the receiver\'s socket');
    port.send(Buffer.from('second'), r.address);
    await until(() => r.got.length === 2, 5000, 'both datagrams');
    assert.deepEqual(r.got.map(String), ['first', 'second']);
    assert.equal(port.sendErrors, 0);
  } finally {
    port.close();
    r.socket.close();
  }
});

test('when the kernel takes only part of a batch, the rest goes through node:dgram in order, and later batches queue behind it', { skip }, async () => {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const r = await receiver('udp4', '127.0.0.1');
  try {
    // The real accelerator, told that the send buffer filled after 5 datagrams of each batch.
    let batches = 0;
    const partial: NativeAccel = {
      ...nativeAccel!,
      sendBatch: (fd, stage, meta, count, stats, segment) => {
        batches++;
        return nativeAccel!.sendBatch(fd, stage, meta, Math.min(count, 5), stats, segment);
      },
    };
    const sentViaSocket: number[] = [];
    const batch = new DatagramBatch(partial, socket, socketFd(socket)!, false, (data, to) => {
      sentViaSocket.push(data.readUInt32BE());
      socket.send(data, to.port, to.host);
    });
    for (let i = 0; i < 20; i++) batch.add(datagram(i), r.address);
    batch.flush();
    assert.equal(batches, 1);
    assert.deepEqual(sentViaSocket, Array.from({ length: 15 }, (_, i) => i + 5));
    assert.equal(batch.viaSocket, 15);
    await until(() => r.got.length === 20, 5000, 'all 20');
    assert.deepEqual(r.got.map((g) => g.readUInt32BE()), Array.from({ length: 20 }, (_, i) => i));
  } finally {
    socket.close();
    r.socket.close();
  }
});

test('a tick that sends more than the stage holds flushes as it fills, by count and by bytes, losing and reordering nothing', { skip }, async () => {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  // 21 receivers, so that none holds more than about 100 datagrams at once.
  const receivers = await Promise.all(Array.from({ length: 21 }, () => receiver('udp4', '127.0.0.1')));
  try {
    const calls: number[] = [];
    const counting: NativeAccel = {
      ...nativeAccel!,
      sendBatch: (fd, stage, meta, count, stats, segment) => {
        calls.push(count);
        return nativeAccel!.sendBatch(fd, stage, meta, count, stats, segment);
      },
    };
    const batch = new DatagramBatch(counting, socket, socketFd(socket)!, false, () => assert.fail('nothing should leave through node:dgram'));
    const send = async (total: number, size: number) => {
      for (const r of receivers) r.got.length = 0;
      calls.length = 0;
      for (let i = 0; i < total; i++) {
        const d = Buffer.alloc(size, i & 0xff);
        d.writeUInt32BE(i);
        batch.add(d, receivers[i % receivers.length]!.address);
      }
      await until(() => receivers.reduce((n, r) => n + r.got.length, 0) === total, 5000, `${total} datagrams of ${size} bytes`);
      for (const [k, r] of receivers.entries()) {
        assert.deepEqual(r.got.map((g) => g.readUInt32BE()), Array.from({ length: r.got.length }, (_, j) => k + j * receivers.length), `receiver ${k}`);
        assert.ok(r.got.every((g) => g.length === size && g[size - 1] === (g.readUInt32BE() & 0xff)), `receiver ${k}: contents`);
      }
    };
    // 2,100 small ones: the stage's 2,048 slots fill first.
    await send(2100, 16);
    assert.deepEqual(calls, [2048, 52]);
    // 1,800 of 600 bytes: its 1 MB fills first (1,747 of them, each given 600 bytes).
    await send(1800, 600);
    assert.deepEqual(calls, [1747, 53]);
    assert.equal(batch.viaSocket, 0);
  } finally {
    socket.close();
    for (const r of receivers) r.socket.close();
  }
});

test('runs of equal datagrams to one destination go as one segmented send each, cut back into the same datagrams; without segmenting, one message each', { skip }, async () => {
  const socket = createSocket('udp6');
  await new Promise<void>((resolve) => socket.bind(0, '::', resolve));
  const a = await receiver('udp4', '127.0.0.1');
  const b = await receiver('udp4', '127.0.0.1');
  try {
    const batch = new DatagramBatch(nativeAccel!, socket, socketFd(socket)!, true, () => assert.fail('nothing should leave through node:dgram'));
    // A burst as a session sends one: full packets, then a shorter last; then a burst to b, a
    // lone datagram to a, and 70 to b (more than one segmented send takes).
    const plan: Array<[typeof a, number]> = [];
    for (let i = 0; i < 12; i++) plan.push([a, 1188]);
    plan.push([a, 404]);
    for (let i = 0; i < 5; i++) plan.push([b, 1188]);
    plan.push([a, 1188]);
    for (let i = 0; i < 70; i++) plan.push([b, 700]);
    const run = async (segment: boolean) => {
      a.got.length = 0;
      b.got.length = 0;
      batch.segmenting = segment;
      const before = batch.messages;
      plan.forEach(([r, size], i) => {
        const d = Buffer.alloc(size, i & 0xff);
        d.writeUInt32BE(i);
        batch.add(d, r.address);
      });
      await until(() => a.got.length + b.got.length === plan.length, 5000, 'every datagram');
      const expect = (r: typeof a) => plan.flatMap(([to, size], i) => (to === r ? [`${i}:${size}`] : []));
      assert.deepEqual(a.got.map((g) => `${g.readUInt32BE()}:${g.length}`), expect(a));
      assert.deepEqual(b.got.map((g) => `${g.readUInt32BE()}:${g.length}`), expect(b));
      assert.ok([...a.got, ...b.got].every((g) => g[g.length - 1] === (g.readUInt32BE() & 0xff)), 'contents');
      return batch.messages - before;
    };
    // Segmented: a's 13, b's 5, a's 1, and b's 70 as 64 + 6.
    assert.equal(await run(true), 5);
    assert.equal(batch.segmenting, true, 'this kernel segments');
    assert.equal(await run(false), plan.length);
  } finally {
    socket.close();
    a.socket.close();
    b.socket.close();
  }
});

// A kernel that refuses to segment: a network namespace of the test's own (unshare, as root)
// whose loopback MTU is smaller than a segment. Skipped where namespaces cannot be made; CI makes them.
const canMakeNamespace = process.getuid?.() === 0 && spawnSync('unshare', ['--net', 'ip', 'link', 'show', 'lo']).status === 0;
test('where the kernel refuses to segment, the same datagrams go one by one, and the batch stops segmenting', { skip: skip || (!canMakeNamespace && 'needs root, unshare and ip (iproute2) to make a network namespace') }, () => {
  const probe = fileURLToPath(new URL('../support/segmentation-refusal-probe.ts', import.meta.url));
  const r = spawnSync('unshare', ['--net', 'sh', '-c', `ip link set lo up && ip link set lo mtu 1000 && exec "${process.execPath}" --import tsx "${probe}"`], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { got: string[]; segmenting: boolean; messages: number; sendErrors: number };
  assert.deepEqual(result.got, ['0:1188', '1:1188', '2:1188', '3:1188', '4:404']);
  assert.equal(result.segmenting, false, 'the refusal was recognised');
  assert.equal(result.messages, 5, 'then sent one by one');
  assert.equal(result.sendErrors, 0);
});

test('destinations are encoded for sendmmsg as the socket family wants them; names and zoned addresses are left to node:dgram', () => {
  assert.deepEqual([...encodeHost('127.0.0.1', false)!], [4, 0x7f000001, 0, 0, 0]);
  assert.deepEqual([...encodeHost('192.168.1.2', true)!], [6, 0, 0, 0xffff, (192 << 24) | (168 << 16) | (1 << 8) | 2]);
  assert.deepEqual([...encodeHost('2001:db8::1', true)!], [6, 0x20010db8, 0, 0, 1]);
  assert.deepEqual([...encodeHost('::1', true)!], [6, 0, 0, 0, 1]);
  assert.equal(encodeHost('2001:db8::1', false), null);
  assert.equal(encodeHost('fe80::1%eth0', true), null);
  assert.equal(encodeHost('localhost', true), null);
});
