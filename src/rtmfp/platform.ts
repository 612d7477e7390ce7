// What the RTMFP engine needs from the world, as small interfaces: a clock with timers and a
// datagram port. The real ones wrap node:dgram and the event loop (node-platform.ts); tests
// drive the engine with a fake clock and an in-memory network instead.
import type { Address } from './address.js';

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds on a monotonic scale; only differences matter. */
  now(): number;
  /** Runs `fn` once after `delayMs`. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
}

export type DatagramHandler = (data: Buffer, from: Address) => void;

/** One bound UDP socket (or its in-memory stand-in). */
export interface DatagramPort {
  /** Sends one datagram (given whole or as parts to gather); failures are the network's business (UDP), never thrown. */
  send(data: Buffer | readonly Buffer[], to: Address): void;
  /** Installs the handler for incoming datagrams (one handler at a time). */
  onDatagram(handler: DatagramHandler): void;
  localAddress(): Address;
  close(): void;
}
