// An in-memory datagram network for driving engines deterministically: ports get addresses
// 10.0.0.x:port, and a link policy decides per datagram whether it is lost, delayed or copied.
import { wholeDatagram, type DatagramHandler, type DatagramPort, type Clock, type OutgoingDatagram } from '../../src/rtmfp/platform.js';
import { addressKey, type Address } from '../../src/rtmfp/address.js';

export interface LinkPolicy {
  /** Probability a datagram is lost. */
  loss?: number;
  /** Probability a datagram is delivered twice. */
  duplicate?: number;
  /** Base one-way delay and random extra (which reorders). */
  delayMs?: number;
  jitterMs?: number;
  /** Drops the datagrams it answers true for (a targeted loss: one direction, one moment). */
  drop?: (from: Address, to: Address) => boolean;
}

/** A small deterministic PRNG (mulberry32) so lossy runs repeat exactly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class MemoryNetwork {
  private readonly ports = new Map<string, MemoryPort>();
  policy: LinkPolicy = {};
  delivered = 0;
  dropped = 0;
  private nextHost = 1;

  constructor(
    readonly clock: Clock,
    private readonly random: () => number = seededRandom(1),
  ) {}

  bind(port = 1935, host = `10.0.0.${this.nextHost++}`): MemoryPort {
    const p = new MemoryPort(this, { host, port });
    this.ports.set(addressKey(p.address), p);
    return p;
  }

  /**
   * Moves a port to a new address (a NAT rebinding or a roaming client). With `keepOld`, the
   * old address still delivers to it, as a NAT's old mapping may for a while.
   */
  rebind(p: MemoryPort, to: Address, keepOld = false): void {
    if (!keepOld) this.ports.delete(addressKey(p.address));
    p.address = to;
    this.ports.set(addressKey(to), p);
  }

  unbind(p: MemoryPort): void {
    this.ports.delete(addressKey(p.address));
  }

  transmit(data: Buffer, from: Address, to: Address): void {
    const { loss = 0, duplicate = 0, delayMs = 1, jitterMs = 0, drop } = this.policy;
    if (this.random() < loss || drop?.(from, to)) {
      this.dropped++;
      return;
    }
    const copies = this.random() < duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = delayMs + this.random() * jitterMs;
      const bytes = Buffer.from(data);
      const src = { ...from };
      this.clock.setTimer(delay, () => {
        const target = this.ports.get(addressKey(to));
        if (!target) return;
        this.delivered++;
        target.deliver(bytes, src);
      });
    }
  }
}

export class MemoryPort implements DatagramPort {
  private handler: DatagramHandler = () => {};
  closed = false;
  sent = 0;

  constructor(
    private readonly network: MemoryNetwork,
    public address: Address,
  ) {}

  send(data: OutgoingDatagram, to: Address): void {
    if (this.closed) return;
    this.sent++;
    this.network.transmit(wholeDatagram(data), this.address, to);
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  deliver(data: Buffer, from: Address): void {
    if (!this.closed) this.handler(data, from);
  }

  localAddress(): Address {
    return { ...this.address };
  }

  close(): void {
    this.closed = true;
    this.network.unbind(this);
  }
}
