// Covey's client turned into a lean player (lean-player.ts): the client opens the session,
// connects and plays (or uses a shared object: `connect`, then the caller's setup); `takeOver`
// then freezes its endpoint (its timers stop firing and whatever it sends is dropped) and hands
// the session's socket and keys to a LeanPlayer (or another LeanReceiver: `takeOverWith`).
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { FlashCrypto, type InitiatorKeying } from '../../src/rtmfp/crypto/flash-crypto.js';
import type { FlashCertificate } from '../../src/rtmfp/crypto/flash-certificate.js';
import type { ProtectionParams } from '../../src/rtmfp/crypto/packet-protection.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { SOCKET_BUFFER_BYTES, systemClock } from '../../src/rtmfp/node-platform.js';
import type { Clock, DatagramHandler, DatagramPort, OutgoingDatagram, TimerHandle } from '../../src/rtmfp/platform.js';
import type { Address } from '../../src/rtmfp/address.js';
import { LeanPlayer, type LeanReceiver, type LeanSession } from './lean-player.js';
import type { PlayerFrames } from './player-frames.js';

/** Keeps the keys of the session its endpoint opens (one session per endpoint here). */
class KeyRecordingCrypto extends FlashCrypto {
  keys: ProtectionParams | undefined;

  override initiate(responder: FlashCertificate): InitiatorKeying {
    const keying = super.initiate(responder);
    return {
      skic: keying.skic,
      complete: (skrc) => {
        const result = keying.complete(skrc);
        this.keys = result.params;
        return result;
      },
    };
  }
}

/** The process clock, until frozen: then the endpoint's pending timers are cancelled and new ones never fire. */
class FreezableClock implements Clock {
  private frozen = false;
  private readonly pending = new Set<TimerHandle>();
  now = (): number => performance.now();

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    if (this.frozen) return { cancel: () => {} };
    const handle: TimerHandle = {
      cancel: () => {
        this.pending.delete(handle);
        timer.cancel();
      },
    };
    const timer = systemClock.setTimer(delayMs, () => {
      this.pending.delete(handle);
      fn();
    });
    this.pending.add(handle);
    return handle;
  }

  freeze(): void {
    this.frozen = true;
    for (const handle of [...this.pending]) handle.cancel();
  }
}

/**
 * A UDP socket the endpoint uses until `divert`: from then on its datagrams go straight to the
 * lean player (no address is made for each, as the endpoint's port does) and the endpoint's
 * sends go nowhere.
 */
class DivertablePort implements DatagramPort {
  private handler: DatagramHandler = () => {};
  private diverted = false;

  /** Errors the socket reported (a connected socket reports the server's ICMP refusals once it has gone). */
  errors = 0;

  private constructor(readonly socket: Socket) {
    socket.on('message', (data, from) => this.handler(data, { host: from.address, port: from.port }));
    socket.on('error', () => this.errors++);
  }

  static async bind(): Promise<DivertablePort> {
    const socket = createSocket({ type: 'udp4', recvBufferSize: SOCKET_BUFFER_BYTES, sendBufferSize: SOCKET_BUFFER_BYTES });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new DivertablePort(socket);
  }

  send(data: OutgoingDatagram, to: Address): void {
    if (!this.diverted) this.socket.send(data as Buffer | Buffer[], to.port, to.host);
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  /**
   * Hands the socket to `handler`, connected to the server: a connected socket sends with no
   * name lookup (node:dgram defers even a numeric address's to the next tick).
   */
  async divert(server: Address, handler: (data: Buffer) => void): Promise<void> {
    this.diverted = true;
    this.socket.removeAllListeners('message');
    this.socket.on('message', handler);
    await new Promise<void>((resolve) => this.socket.connect(server.port, server.host, resolve));
  }

  localAddress(): Address {
    const a = this.socket.address();
    return { host: a.address, port: a.port };
  }

  close(): void {
    this.socket.close();
  }
}

/** One player: Covey's client until `takeOver`, a LeanPlayer (or another LeanReceiver) after. */
export class LeanSessionPlayer {
  lean: LeanReceiver | undefined;

  private constructor(
    private readonly port: DivertablePort,
    private readonly clock: FreezableClock,
    private readonly crypto: KeyRecordingCrypto,
    private readonly endpoint: RtmfpEndpoint,
    readonly client: RtmfpClient,
  ) {}

  /** Connects to `url` (rtmfp://host:port/app) and plays `streamName`, counting frames into `frames`. */
  static async open(url: string, streamName: string, frames: PlayerFrames): Promise<LeanSessionPlayer> {
    const player = await LeanSessionPlayer.connect(url);
    await player.client.play(streamName, { onFrame: frames.onClientFrame });
    return player;
  }

  /** Connects to `url` (rtmfp://host:port/app), a socket of its own; the caller does the rest with `client`. */
  static async connect(url: string): Promise<LeanSessionPlayer> {
    const port = await DivertablePort.bind();
    const clock = new FreezableClock();
    const crypto = new KeyRecordingCrypto({ server: false });
    const endpoint = new RtmfpEndpoint({ port, crypto, clock });
    const client = await RtmfpClient.connect(url, { endpoint });
    return new LeanSessionPlayer(port, clock, crypto, endpoint, client);
  }

  /** Hands the session over to a LeanPlayer, which counts frames into `frames` from then on. */
  async takeOver(frames: PlayerFrames): Promise<LeanPlayer> {
    return this.takeOverWith((session) => new LeanPlayer(session, frames));
  }

  /** Hands the session over to the LeanReceiver `make` builds on it. */
  async takeOverWith<T extends LeanReceiver>(make: (session: LeanSession) => T): Promise<T> {
    const session = this.client.session;
    if (this.crypto.keys === undefined) throw new Error('lean player: the session opened without its keys being seen');
    this.clock.freeze();
    const socket = this.port.socket;
    const lean = make({ params: this.crypto.keys, remoteId: session.remoteId, send: (d) => socket.send(d as Buffer | Buffer[]) });
    await this.port.divert(session.address, (data: Buffer) => lean.receive(data, performance.now()));
    this.lean = lean;
    return lean;
  }

  /** Datagrams received and sent, by the client and then the lean player. */
  get packetsIn(): number {
    return this.endpoint.counters.packetsReceived + (this.lean?.packetsIn ?? 0);
  }

  get packetsOut(): number {
    return this.endpoint.counters.packetsSent + (this.lean?.packetsOut ?? 0);
  }

  /** Asks the server to close the session, and closes the socket. */
  close(): void {
    if (this.lean) this.lean.close(performance.now());
    else this.client.close();
    setTimeout(() => this.port.close(), 100).unref();
  }
}
