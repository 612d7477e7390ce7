// The Internet checksum (RFC 1071) that RFC 7425 §4.2 puts in front of each packet when no
// HMAC is negotiated: the ones' complement of the ones' complement sum of 16-bit words.
// Every packet sent and received is summed, so the common case reads 32-bit words through a
// typed-array view of the buffer's memory instead of single bytes (about 4x fewer steps).
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * A Uint32Array over the memory of the last buffer summed: sessions reuse one scratch buffer,
 * so it is made rarely (and the buffer's .buffer getter, not free either, is not asked again).
 */
let wordsFor: Uint8Array | undefined;
let words: Uint32Array = new Uint32Array(0);

function wordView(buf: Uint8Array): Uint32Array {
  if (buf !== wordsFor) {
    wordsFor = buf;
    words = new Uint32Array(buf.buffer, 0, Math.floor(buf.buffer.byteLength / 4));
  }
  return words;
}

/** Folds a non-negative sum of 16-bit words (below 2^53) into 16 bits, ones' complement style. */
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The big-endian 16-bit word sum of `buf[start..end)`, byte by byte. */
function byteSum(buf: Uint8Array, start: number, end: number): number {
  let sum = 0;
  let i = start;
  const even = end - ((end - start) & 1);
  for (; i < even; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  return sum;
}

export function internetChecksum(buf: Uint8Array, start = 0, end = buf.length): number {
  // Bytes before the first 32-bit boundary. A received packet's checksummed part starts two
  // bytes into the decrypted buffer (after the checksum itself), so this is usually 2: one
  // 16-bit word summed on its own keeps every later byte in its high or low place. An odd lead
  // would not, and falls back to bytes.
  const lead = (4 - ((buf.byteOffset + start) & 3)) & 3;
  let sum: number;
  if ((lead & 1) !== 0 || end - start < 64) {
    sum = byteSum(buf, start, end);
  } else {
    // Whole 32-bit words from the boundary, then the 0-3 bytes left, which begin at an even
    // distance from `start` and so keep their places as high and low bytes.
    const view = wordView(buf);
    const first = (buf.byteOffset + start + lead) >>> 2;
    const count = (end - start - lead) >>> 2;
    // Two sums, four words a step: fewer loop checks and additions that need not wait on
    // each other.
    let sumA = 0;
    let sumB = 0;
    const stop = first + count;
    let k = first;
    for (; k + 4 <= stop; k += 4) {
      sumA += view[k]! + view[k + 2]!;
      sumB += view[k + 1]! + view[k + 3]!;
    }
    for (; k < stop; k++) sumA += view[k]!;
    const wordSum = sumA + sumB;
    // Summing 32-bit words and folding equals summing their 16-bit halves (2^16 = 1 in ones'
    // complement). On a little-endian machine each half is a byte-swapped word, and the sum of
    // byte-swapped words is the byte-swapped sum (RFC 1071 §2(B)), so swap the folded result.
    let folded = fold(wordSum);
    if (LITTLE_ENDIAN) folded = ((folded & 0xff) << 8) | (folded >>> 8);
    sum = folded + byteSum(buf, start, start + lead) + byteSum(buf, start + lead + count * 4, end);
  }
  return ~fold(sum) & 0xffff;
}
