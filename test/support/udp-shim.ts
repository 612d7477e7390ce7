// A lossy UDP relay on 127.0.0.1 for tests over real sockets: clients send to the shim, which
// forwards to the server through a socket of its own per client, dropping, duplicating and
// delaying (hence reordering) datagrams both ways as its policy says.
import { createSocket, type Socket } from 'node:dgram';
import { seededRandom, type LinkPolicy } from './memory-network.js';

export class UdpShim {
  private readonly front: Socket = createSocket('udp4');
  private readonly upstreams = new Map<string, Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly random: () => number;
  forwarded = 0;
  dropped = 0;
  duplicated = 0;

  constructor(
    private readonly server: { host: string; port: number },
    public policy: LinkPolicy,
    seed = 7,
  ) {
    this.random = seededRandom(seed);
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.front.bind(0, '127.0.0.1', r));
    this.front.on('message', (msg, rinfo) => {
      const key = `${rinfo.address}:${rinfo.port}`;
      let up = this.upstreams.get(key);
      if (!up) {
        up = createSocket('udp4');
        up.bind(0, '127.0.0.1');
        up.on('message', (back) => this.relay(back, (d) => this.front.send(d, rinfo.port, rinfo.address)));
        this.upstreams.set(key, up);
      }
      const socket = up;
      this.relay(msg, (d) => socket.send(d, this.server.port, this.server.host));
    });
    return this.front.address().port;
  }

  private relay(data: Buffer, send: (d: Buffer) => void): void {
    const { loss = 0, duplicate = 0, delayMs = 0, jitterMs = 0 } = this.policy;
    if (this.random() < loss) {
      this.dropped++;
      return;
    }
    const copies = this.random() < duplicate ? 2 : 1;
    if (copies === 2) this.duplicated++;
    for (let i = 0; i < copies; i++) {
      const delay = delayMs + this.random() * jitterMs;
      this.forwarded++;
      if (delay <= 0) send(data);
      else {
        const t = setTimeout(() => {
          this.timers.delete(t);
          send(data);
        }, delay);
        this.timers.add(t);
      }
    }
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.front.close();
    for (const s of this.upstreams.values()) s.close();
  }
}
