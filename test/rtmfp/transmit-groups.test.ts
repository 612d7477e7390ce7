// A round of packet assembly that many sessions joined at once (a fan-out: one shared-object
// change written to every user's flow in one turn) hands its datagrams to the port a group of
// sessions at a time, over real UDP sockets on 127.0.0.1: the first group leaves while the
// next is assembled, and everything still arrives.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { RtmfpEndpoint, TRANSMIT_FLUSH_SESSIONS } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import type { Address } from '../../src/rtmfp/address.js';
import type { DatagramHandler, DatagramPort, OutgoingDatagram } from '../../src/rtmfp/platform.js';
import type { Session } from '../../src/rtmfp/session.js';
import { until } from '../support/test-server.js';

/** The server's real port, noting how many datagrams it had been given at each flush(). */
class FlushRecordingPort implements DatagramPort {
  sends = 0;
  readonly sendsAtFlush: number[] = [];

  constructor(private readonly port: NodeDatagramPort) {}

  get copiesOnSend(): boolean {
    return this.port.copiesOnSend;
  }

  send(data: OutgoingDatagram, to: Address): void {
    this.sends++;
    this.port.send(data, to);
  }

  flush(): void {
    this.sendsAtFlush.push(this.sends);
    this.port.flush();
  }

  onDatagram(handler: DatagramHandler): void {
    this.port.onDatagram(handler);
  }

  localAddress(): Address {
    return this.port.localAddress();
  }

  close(): void {
    this.port.close();
  }
}

test(`a message written to ${2 * TRANSMIT_FLUSH_SESSIONS + 22} sessions in one turn leaves ${TRANSMIT_FLUSH_SESSIONS} sessions at a time, and every one arrives`, async () => {
  const count = 2 * TRANSMIT_FLUSH_SESSIONS + 22;
  const port = new FlushRecordingPort(await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 }));
  const server = new RtmfpEndpoint({ port, crypto: new FlashCrypto({ server: true }), acceptSessions: true });
  const serverSessions: Session[] = [];
  server.onSession = (s) => serverSessions.push(s);
  const client = new RtmfpEndpoint({ port: await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 }), crypto: new FlashCrypto({ server: false }) });
  try {
    const sessions = await Promise.all(Array.from({ length: count }, () => client.connect({ ancillaryData: 'rtmfp://127.0.0.1/groups' }, [{ host: '127.0.0.1', port: server.localAddress.port }])));
    const received = new Map<number, string>();
    for (const s of sessions) {
      s.onFlow = (flow) => {
        flow.onMessage = (m) => received.set(s.localId, m.toString());
      };
    }
    // Open sessions with no flows owe nothing: the round the writes start holds them alone.
    await until(() => serverSessions.length === count, 10_000, 'every session at the server');
    const flushesBefore = port.sendsAtFlush.length;
    const sendsBefore = port.sends;
    serverSessions.forEach((s, i) => s.openFlow(Buffer.from('fan')).write(Buffer.from(`to ${i}`)));
    await until(() => received.size === count, 10_000, 'the message at every session');
    const atFlush = port.sendsAtFlush.slice(flushesBefore).map((n) => n - sendsBefore);
    // Each session's message is one packet: the port was flushed after the first group's
    // packets and after the second's; the rest left at the end of the turn.
    assert.deepEqual(atFlush.slice(0, 2), [TRANSMIT_FLUSH_SESSIONS, 2 * TRANSMIT_FLUSH_SESSIONS]);
    assert.deepEqual([...received.values()].sort(), serverSessions.map((_, i) => `to ${i}`).sort());
  } finally {
    client.close();
    server.close();
  }
});
