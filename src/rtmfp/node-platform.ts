// The real platform: the process clock and node:dgram sockets.
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { isIP, isIPv6 } from 'node:net';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import type { Clock, DatagramHandler, DatagramPort, OutgoingDatagram, TimerHandle } from './platform.js';
import { normaliseHost, type Address } from './address.js';
import { nativeAccel } from './native-accel.js';
import { DatagramBatch, socketFd } from './datagram-batch.js';

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const t = setTimeout(fn, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(t) };
  },
};

/** 4 MiB: measured here, smaller kernel buffers lose packets of a loopback burst. */
export const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

/** Per-host answers worked out once, not per datagram; each map starts over past HOST_MEMO_MAX. */
const HOST_MEMO_MAX = 65536;

function memoByHost<T>(memo: Map<string, T>, host: string, work: (host: string) => T): T {
  let value = memo.get(host);
  if (value === undefined) {
    if (memo.size >= HOST_MEMO_MAX) memo.clear();
    value = work(host);
    memo.set(host, value);
  }
  return value;
}

/** Address families (4, 6; 0 for a name) as isIP() answers them: it runs a regular expression. */
const hostFamilies = new Map<string, number>();
/** IPv4 addresses as a dual-stack socket wants them (::ffff:a.b.c.d). */
const v4MappedHosts = new Map<string, string>();
const v4Mapped = (host: string) => memoByHost(v4MappedHosts, host, (h) => `::ffff:${h}`);

export interface UdpBindOptions {
  host: string;
  port: number;
  /**
   * Send through the native accelerator when it was built (default true): datagrams are copied
   * as they are sent and handed to the kernel in batches at the end of the tick.
   */
  accelerate?: boolean;
}

export class NodeDatagramPort implements DatagramPort {
  private handler: DatagramHandler = () => {};
  private closed = false;
  private socketSendErrors = 0;

  /** Cached: asking the socket costs a native call, and every send needs it. */
  private readonly ipv6: boolean;

  /** The native batch sender, when the accelerator is in use on this socket. */
  private readonly batch: DatagramBatch | undefined;

  private constructor(private readonly socket: Socket, accelerate: boolean) {
    this.ipv6 = socket.address().family === 'IPv6';
    const fd = accelerate && nativeAccel !== undefined ? socketFd(socket) : undefined;
    this.batch = fd === undefined ? undefined : new DatagramBatch(nativeAccel!, socket, fd, this.ipv6, (data, to) => this.sendViaSocket(data, to));
    socket.on('message', (msg, rinfo) => this.handler(msg, { host: normaliseHost(rinfo.address), port: rinfo.port }));
    socket.on('error', () => {
      this.socketSendErrors++;
    });
  }

  /**
   * Binds a UDP socket. '::' binds IPv6 and IPv4 together (dual stack); where the host has no
   * IPv6, it falls back to IPv4 on all interfaces.
   */
  static async bind(options: UdpBindOptions): Promise<NodeDatagramPort> {
    const wantsV6 = isIPv6(options.host);
    const accelerate = options.accelerate ?? true;
    try {
      return await NodeDatagramPort.tryBind(wantsV6 ? 'udp6' : 'udp4', options.host, options.port, accelerate);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (options.host === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) {
        return NodeDatagramPort.tryBind('udp4', '0.0.0.0', options.port, accelerate);
      }
      throw err;
    }
  }

  /**
   * The socket's name lookup: node:dgram looks up every destination before sending, and
   * dns.lookup answers even a numeric address on the next tick, a deferred call and a tick
   * object per datagram. The engine sends to numeric addresses (from the socket or the wire),
   * so those are answered at once and only names go to the resolver. (node:dgram passes the
   * socket's family, 4 or 6, as `options`, which dns.lookup takes as well.)
   */
  private static lookup(
    hostname: string,
    options: LookupOneOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
  ): void {
    // A session sends to one address for its life, so the family is remembered per host.
    const family = memoByHost(hostFamilies, hostname, isIP);
    if (family !== 0) callback(null, hostname, family);
    else dnsLookup(hostname, options, callback);
  }

  private static tryBind(type: 'udp4' | 'udp6', host: string, port: number, accelerate: boolean): Promise<NodeDatagramPort> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({
        type,
        ipv6Only: false,
        recvBufferSize: SOCKET_BUFFER_BYTES,
        sendBufferSize: SOCKET_BUFFER_BYTES,
        lookup: NodeDatagramPort.lookup,
      });
      socket.once('error', reject);
      socket.bind({ address: host, port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve(new NodeDatagramPort(socket, accelerate));
      });
    });
  }

  /** Whether datagrams leave through the native accelerator's batches. */
  get accelerated(): boolean {
    return this.batch !== undefined;
  }

  /** With the accelerator, send() copies what it is given: callers may reuse their buffers at once. */
  get copiesOnSend(): boolean {
    return this.batch !== undefined;
  }

  /**
   * Datagrams the kernel refused to send (counted, never thrown: UDP may lose them anyway). Without
   * the accelerator, only those refused after a wait: node:dgram drops a refusal at the time of
   * sending silently when there is no callback, and a callback costs a tick per datagram.
   */
  get sendErrors(): number {
    return this.socketSendErrors + (this.batch?.sendErrors ?? 0);
  }

  send(data: OutgoingDatagram, to: Address): void {
    if (this.closed) return;
    if (this.batch !== undefined) this.batch.add(data, to);
    else this.sendViaSocket(data, to);
  }

  /** Hands the batch's datagrams to the kernel now (the endpoint does between groups of sessions). */
  flush(): void {
    if (!this.closed) this.batch?.flush();
  }

  private sendViaSocket(data: OutgoingDatagram, to: Address): void {
    const host = this.ipv6 && !to.host.includes(':') ? v4Mapped(to.host) : to.host;
    // No per-send callback: with one, node:dgram spends a tick per datagram. Without one it drops
    // a refusal at the time of sending silently; later failures reach the 'error' handler.
    this.socket.send(data as Buffer | Buffer[], to.port, host);
  }

  onDatagram(handler: DatagramHandler): void {
    this.handler = handler;
  }

  localAddress(): Address {
    const a = this.socket.address();
    return { host: normaliseHost(a.address), port: a.port };
  }

  close(): void {
    if (this.closed) return;
    // What this tick sent still goes: a session's close request is often the last thing sent.
    this.batch?.flush();
    this.closed = true;
    this.socket.close();
  }
}
