/** `input` as a Buffer over the same memory (no copy), so Buffer's read methods are available. */
export function asBuffer(input: Uint8Array): Buffer {
  return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}
