// Coalesces writes so a subscriber gets several messages per syscall instead of one each. A
// socket is corked at its first write and uncorked either at the end of the current callback
// (commands, and media when merging is off) or when a shared timer fires (media with a merge
// window: the same trade SRS makes with its merged writes, a few tens of milliseconds of latency
// for far fewer syscalls, which dominate fan-out cost). Order is kept: it is one stream.
import type { Socket } from 'node:net';

const soon = new Set<Socket>();
const later = new Set<Socket>();
let soonScheduled = false;
let laterTimer: NodeJS.Timeout | undefined;

function flushSoon(): void {
  soonScheduled = false;
  for (const socket of soon) socket.uncork();
  soon.clear();
}

function flushLater(): void {
  laterTimer = undefined;
  for (const socket of later) socket.uncork();
  later.clear();
}

/** Writes `data`; it leaves within `mergeMs` (0: once the current callback is done). */
export function batchedWrite(socket: Socket, data: Buffer, mergeMs = 0): void {
  const inSoon = soon.has(socket);
  const inLater = !inSoon && later.has(socket);
  if (!inSoon && !inLater) socket.cork();
  socket.write(data);
  if (inSoon) return;
  if (mergeMs <= 0) {
    if (inLater) later.delete(socket);
    soon.add(socket);
    if (!soonScheduled) {
      soonScheduled = true;
      queueMicrotask(flushSoon);
    }
  } else if (!inLater) {
    later.add(socket);
    laterTimer ??= setTimeout(flushLater, mergeMs);
  }
}

/** Forgets a socket that is being destroyed. */
export function forgetSocket(socket: Socket): void {
  soon.delete(socket);
  later.delete(socket);
}
