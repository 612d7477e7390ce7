/** `input` as a Buffer over the same memory (no copy), so Buffer's read methods are available. */
export function asBuffer(input: Uint8Array): Buffer {
  return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

/**
 * A copy of `input` in memory of its own, for small buffers kept for a long time (per session or
 * per flow). Buffer.from() and Buffer.concat() carve small buffers out of a shared 8 KB slab, and
 * one long-lived slice keeps its whole slab alive: per session, that came to several KB of slabs
 * held for a few dozen bytes. Buffer.alloc() never uses the slab.
 */
export function ownedCopy(input: Uint8Array): Buffer {
  const copy = Buffer.alloc(input.length);
  copy.set(input);
  return copy;
}
