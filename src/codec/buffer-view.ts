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

/**
 * Shared copies of small byte strings that recur, such as RFC 7425 flow metadata: every
 * subscriber's flows carry one of the same few signatures, and a copy of its own per flow cost
 * some 280 bytes each (an ArrayBuffer, its backing store and bookkeeping, and the Buffer), six
 * per subscriber. The table holds at most `maxEntries` strings of at most `maxBytes` bytes;
 * anything else gets a copy of its own, so peers sending endless distinct values cannot grow it.
 */
export class ByteInterner {
  private readonly table = new Map<string, Buffer>();

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  /** The bytes of `input` in memory of their own (never a view of `input`), possibly shared with other callers: never modify them. */
  intern(input: Uint8Array): Buffer {
    if (input.length > this.maxBytes) return ownedCopy(input);
    const key = asBuffer(input).toString('latin1');
    let copy = this.table.get(key);
    if (copy === undefined) {
      copy = ownedCopy(input);
      if (this.table.size < this.maxEntries) this.table.set(key, copy);
    }
    return copy;
  }

  get size(): number {
    return this.table.size;
  }
}
