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

/** A datagram to send: one buffer, or parts the socket gathers into one datagram. */
export type OutgoingDatagram = Buffer | readonly Buffer[];

export function datagramLength(d: OutgoingDatagram): number {
  if (Buffer.isBuffer(d)) return d.length;
  let n = 0;
  for (const part of d as readonly Buffer[]) n += part.length;
  return n;
}

/** The datagram as one buffer (the same buffer when it is one already). */
export function wholeDatagram(d: OutgoingDatagram): Buffer {
  return Buffer.isBuffer(d) ? d : Buffer.concat(d as readonly Buffer[]);
}

/** One bound UDP socket (or its in-memory stand-in). */
export interface DatagramPort {
  /** Sends one datagram (given whole or as parts to gather); failures are the network's business (UDP), never thrown. */
  send(data: OutgoingDatagram, to: Address): void;
  /** Installs the handler for incoming datagrams (one handler at a time). */
  onDatagram(handler: DatagramHandler): void;
  localAddress(): Address;
  close(): void;
  /**
   * True when send() is done with the buffers it is given by the time it returns (it copies
   * them): the engine may then seal packets in place in a buffer it reuses, rather than have
   * the cipher make a new one for each. Absent means false.
   */
  readonly copiesOnSend?: boolean;
  /**
   * Hands what send() has queued so far to the kernel now, for a port that queues datagrams until
   * the end of the tick (the native accelerator's batches). Absent means send() queues nothing.
   */
  flush?(): void;
}
