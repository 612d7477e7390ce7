// Run inside a network namespace whose loopback MTU is too small for a 1,188-byte segment (see
// datagram-batch.test.ts): sends a burst through a DatagramBatch, whose segmented send the
// kernel refuses, and prints what arrived and what the batch concluded, as JSON.
import { createSocket } from 'node:dgram';
import { DatagramBatch, socketFd } from '../../src/rtmfp/datagram-batch.js';
import { nativeAccel } from '../../src/rtmfp/native-accel.js';

const sender = createSocket('udp4');
const receiver = createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', resolve));
await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
const got: string[] = [];
receiver.on('message', (m) => got.push(`${m.readUInt32BE()}:${m.length}`));
const batch = new DatagramBatch(nativeAccel!, sender, socketFd(sender)!, false, () => {
  throw new Error('nothing should leave through node:dgram');
});
const to = { host: '127.0.0.1', port: receiver.address().port };
const sizes = [1188, 1188, 1188, 1188, 404];
sizes.forEach((size, i) => {
  const d = Buffer.alloc(size, i);
  d.writeUInt32BE(i);
  batch.add(d, to);
});
batch.flush();
const deadline = Date.now() + 3000;
while (got.length < sizes.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
console.log(JSON.stringify({ got, segmenting: batch.segmenting, messages: batch.messages, sendErrors: batch.sendErrors }));
sender.close();
receiver.close();
