// A real UDP socket that loses some of what arrives: a DatagramPort for an endpoint whose links
// should be lossy while it keeps its own address (so peers reach it directly, as P2P needs; the
// relay in udp-shim.ts stands between a client and one server instead). What comes from
// addresses the filter spares (the server, say) is never dropped.
import type { Address } from '../../src/rtmfp/address.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import type { DatagramHandler, DatagramPort, OutgoingDatagram } from '../../src/rtmfp/platform.js';
import { seededRandom } from './memory-network.js';

export class LossyPort implements DatagramPort {
  /** Datagrams that arrived and were dropped, and those passed on. */
  dropped = 0;
  passed = 0;
  private handler: DatagramHandler = () => {};

  private constructor(
    private readonly port: NodeDatagramPort,
    /** Share of incoming datagrams lost, 0-1. */
    public loss: number,
    private readonly spare: (from: Address) => boolean,
    private readonly random: () => number,
  ) {
    port.onDatagram((data, from) => {
      if (!this.spare(from) && this.random() < this.loss) {
        this.dropped++;
        return;
      }
      this.passed++;
      this.handler(data, from);
    });
  }

  /** Binds 127.0.0.1 on an ephemeral port; `spare` says which senders lose nothing. */
  static async bind(loss: number, spare: (from: Address) => boolean, seed: number): Promise<LossyPort> {
    return new LossyPort(await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 }), loss, spare, seededRandom(seed));
  }

  get copiesOnSend(): boolean | undefined {
    return this.port.copiesOnSend;
  }

  send(data: OutgoingDatagram, to: Address): void {
    this.port.send(data, to);
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  localAddress(): Address {
    return this.port.localAddress();
  }

  close(): void {
    this.port.close();
  }
}
