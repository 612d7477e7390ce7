// Peers for rendezvous tests over real UDP on 127.0.0.1: an engine endpoint that connects to a
// Covey server as Flash does (a NetConnection flow, connect, setPeerInfo) and accepts P2P
// sessions, with every datagram its socket receives recorded, and the startup packets among
// them (redirects, RHellos) decoded with the default key.
import { createSocket } from 'node:dgram';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { PacketProtection, PROTECTION_BACK_MARGIN, PROTECTION_FRONT_MARGIN } from '../../src/rtmfp/crypto/packet-protection.js';
import { parsePacket, writePacketHeader } from '../../src/rtmfp/packet.js';
import { ChunkType, PacketMode } from '../../src/rtmfp/chunk-types.js';
import { ChunkWriter } from '../../src/rtmfp/chunk-writer.js';
import { parseRedirect, type Redirect } from '../../src/rtmfp/handshake-chunks.js';
import type { Address } from '../../src/rtmfp/address.js';
import { wholeDatagram, type DatagramHandler, type DatagramPort, type OutgoingDatagram } from '../../src/rtmfp/platform.js';
import type { Session } from '../../src/rtmfp/session.js';
import type { SendFlow } from '../../src/rtmfp/send-flow.js';
import { encodeTcMetadata } from '../../src/codec/tc-metadata.js';
import { encodeTcMessage, parseTcMessage, type TcMessage } from '../../src/codec/tc-message.js';
import { decodeCommand, encodeCommand, isCommandType, type CommandMessage } from '../../src/codec/flash-command.js';
import { until } from './test-server.js';

export interface Received {
  data: Buffer;
  from: Address;
}

/** A socket that records what it receives before the endpoint sees it. */
export class RecordingPort implements DatagramPort {
  readonly received: Received[] = [];
  private handler: DatagramHandler = () => {};

  private constructor(private readonly inner: NodeDatagramPort) {
    inner.onDatagram((data, from) => {
      this.received.push({ data: Buffer.from(data), from });
      this.handler(data, from);
    });
  }

  static async bind(host = '127.0.0.1'): Promise<RecordingPort> {
    // Not accelerated: the endpoint then seals every packet in a buffer of its own.
    return new RecordingPort(await NodeDatagramPort.bind({ host, port: 0, accelerate: false }));
  }

  send(data: OutgoingDatagram, to: Address): void {
    this.inner.send(data, to);
  }
  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }
  localAddress(): Address {
    return this.inner.localAddress();
  }
  close(): void {
    this.inner.close();
  }

  /** The redirects received so far (startup packets with the default key), with their size. */
  redirects(): Array<Redirect & { datagramLength: number; from: Address }> {
    const out: Array<Redirect & { datagramLength: number; from: Address }> = [];
    for (const r of this.received) {
      for (const chunk of startupChunks(r.data)) {
        if (chunk.type === ChunkType.REDIRECT) out.push({ ...parseRedirect(chunk.body), datagramLength: r.data.length, from: r.from });
      }
    }
    return out;
  }
}

const defaultKey = PacketProtection.withDefaultKey();

/** The chunks of a startup packet, or none if the datagram is not one. */
export function startupChunks(datagram: Buffer): Array<{ type: number; body: Buffer }> {
  if (datagram.length < 20 || (datagram.readUInt32BE(0) ^ datagram.readUInt32BE(4) ^ datagram.readUInt32BE(8)) !== 0) return [];
  const plain = defaultKey.open(Buffer.from(datagram));
  if (!plain) return [];
  try {
    return parsePacket(plain).chunks.map((c) => ({ type: c.type, body: Buffer.from(c.body) }));
  } catch {
    return [];
  }
}

export interface FlashPeer {
  endpoint: RtmfpEndpoint;
  port: RecordingPort;
  /** The session with the server. */
  session: Session;
  /** Our NetConnection flow. */
  nc: SendFlow;
  /** Every message the server sent us, on any flow. */
  messages: TcMessage[];
  /** The commands among them. */
  commands(): CommandMessage[];
  /** Sends a command on the NetConnection (AMF0). */
  command(name: string, transactionId: number, ...args: unknown[]): void;
  /** Sessions other peers opened with us. */
  accepted: Session[];
  /** The server's answer to connect: _result, or _error when it was rejected. */
  connectAnswer: CommandMessage;
  close(): void;
}

export interface FlashPeerOptions {
  app?: string;
  /** Answer other peers' IHellos (default true). */
  acceptSessions?: boolean;
}

/**
 * Connects to an application (default "live") on the server at 127.0.0.1:`serverPort` as Flash
 * does; answers once the server answered connect (see connectAnswer).
 */
export async function connectFlashPeer(serverPort: number, options: FlashPeerOptions = {}): Promise<FlashPeer> {
  const app = options.app ?? 'live';
  const port = await RecordingPort.bind();
  const endpoint = new RtmfpEndpoint({ port, crypto: new FlashCrypto({ server: false }), acceptSessions: options.acceptSessions ?? true, handshake: { connectTimeoutMs: 5_000 } });
  const accepted: Session[] = [];
  endpoint.onSession = (s) => accepted.push(s);
  const tcUrl = `rtmfp://127.0.0.1:${serverPort}/${app}`;
  const session = await endpoint.connect({ ancillaryData: tcUrl }, [{ host: '127.0.0.1', port: serverPort }]);
  const messages: TcMessage[] = [];
  session.onFlow = (flow) => {
    flow.onMessage = (m) => {
      const parsed = parseTcMessage(m);
      if (parsed) messages.push({ ...parsed, body: Buffer.from(parsed.body) });
    };
  };
  const nc = session.openFlow(encodeTcMetadata(0));
  const commands = () => messages.filter((m) => isCommandType(m.type)).map((m) => decodeCommand(m.type, m.body));
  const command = (name: string, transactionId: number, ...args: unknown[]) => {
    const { type, payload } = encodeCommand(0, name, transactionId, null, ...args);
    nc.write(encodeTcMessage(type, 0, payload));
  };
  const { type, payload } = encodeCommand(0, 'connect', 1, { app, tcUrl, objectEncoding: 0 });
  nc.write(encodeTcMessage(type, 0, payload));
  const connectAnswer = await until(() => commands().find((c) => (c.name === '_result' || c.name === '_error') && c.transactionId === 1), 5000, 'the answer to connect');
  return {
    endpoint, port, session, nc, messages, commands, command, accepted, connectAnswer,
    close: () => endpoint.close(),
  };
}

/** A startup packet (session ID 0, default key) holding one chunk, as the engine writes them. */
export function startupDatagram(type: number, body: Buffer): Buffer {
  const buf = Buffer.alloc(PROTECTION_FRONT_MARGIN + 1500 + PROTECTION_BACK_MARGIN);
  const headerEnd = writePacketHeader(buf, PROTECTION_FRONT_MARGIN, { flags: 0x08, mode: PacketMode.STARTUP, timestamp: 0 });
  const w = new ChunkWriter(buf, headerEnd, buf.length - PROTECTION_BACK_MARGIN);
  if (!w.chunk(type, body)) throw new Error('chunk too large');
  return Buffer.from(wholeDatagram(defaultKey.seal(buf, PROTECTION_FRONT_MARGIN, w.offset, 0)));
}

/** A plain UDP socket on 127.0.0.x that records what it receives: a victim, or a hand-made initiator. */
export async function rawSocket(host = '127.0.0.1') {
  const socket = createSocket('udp4');
  const received: Received[] = [];
  socket.on('message', (data, rinfo) => received.push({ data, from: { host: rinfo.address, port: rinfo.port } }));
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  const address: Address = { host, port: socket.address().port };
  return {
    address,
    received,
    send: (data: Buffer, to: Address) => new Promise<void>((resolve) => socket.send(data, to.port, to.host, () => resolve())),
    redirects: () => received.flatMap((r) => startupChunks(r.data).filter((c) => c.type === ChunkType.REDIRECT).map((c) => ({ ...parseRedirect(c.body), datagramLength: r.data.length }))),
    close: () => socket.close(),
  };
}
