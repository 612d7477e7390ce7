// The Internet checksum (RFC 1071) that RFC 7425 §4.2 puts in front of each packet when no
// HMAC is negotiated: the ones' complement of the ones' complement sum of 16-bit words.

export function internetChecksum(buf: Uint8Array, start = 0, end = buf.length): number {
  let sum = 0;
  let i = start;
  const even = end - ((end - start) & 1);
  for (; i < even; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  // Fold carries: at most 2^16 words of 2^16, so two folds always suffice for packet sizes.
  sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
