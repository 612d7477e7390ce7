// Coalesces writes made in one turn of the event loop: a socket is corked at its first write and
// uncorked once the current callback (a publisher's read, typically) has run to its end, so the
// messages it fanned out leave in one writev per subscriber instead of one syscall each.
import type { Socket } from 'node:net';

const corked = new Set<Socket>();
let scheduled = false;

function flush(): void {
  scheduled = false;
  for (const socket of corked) socket.uncork();
  corked.clear();
}

export function batchedWrite(socket: Socket, data: Buffer): void {
  if (!corked.has(socket)) {
    socket.cork();
    corked.add(socket);
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  }
  socket.write(data);
}

/** Forgets a socket that is being destroyed (uncorking a destroyed socket is harmless, but this frees it sooner). */
export function forgetSocket(socket: Socket): void {
  corked.delete(socket);
}
