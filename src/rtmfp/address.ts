// Socket addresses as the engine sees them, and their RTMFP wire form (RFC 7016 §2.1.5):
// a flags byte (0x80 = IPv6; low two bits = origin), the address, then a 16-bit port.
import { isIPv6 } from 'node:net';
import { ByteReader } from '../codec/vlu.js';
import { formatHostPort, unmapIPv4 } from '../util/host-port.js';

export interface Address {
  /** Numeric IPv4 or IPv6 address; IPv4-mapped IPv6 is normalised to IPv4. */
  host: string;
  port: number;
}

export const AddressOrigin = { UNKNOWN: 0, LOCAL: 1, OBSERVED: 2, RELAY: 3 } as const;

export interface AnnouncedAddress extends Address {
  origin: number;
}

export function normaliseHost(host: string): string {
  return unmapIPv4(host);
}

/** A compact key for maps of addresses. */
export function addressKey(a: Address): string {
  return `${a.host}|${a.port}`;
}

export function sameAddress(a: Address, b: Address): boolean {
  return a.port === b.port && a.host === b.host;
}

/** As every log line writes an address, RTMP's too (src/util/host-port.ts). */
export function formatAddress(a: Address): string {
  return formatHostPort(a.host, a.port);
}

function ipv6Bytes(host: string): Buffer {
  const out = Buffer.alloc(16);
  let h = host;
  const zone = h.indexOf('%');
  if (zone >= 0) h = h.slice(0, zone);
  // An embedded IPv4 tail becomes two hextets.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (v4) {
    const p = v4[1]!.split('.').map(Number);
    h = h.slice(0, -v4[1]!.length) + `${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`;
  }
  const [head, tail] = h.includes('::') ? h.split('::') : [h, undefined];
  const headParts = head ? head.split(':').filter((x) => x !== '') : [];
  const tailParts = tail ? tail.split(':').filter((x) => x !== '') : [];
  const parts = [...headParts, ...Array(8 - headParts.length - tailParts.length).fill('0'), ...tailParts];
  parts.forEach((p, i) => out.writeUInt16BE(parseInt(p, 16), i * 2));
  return out;
}

function ipv6String(b: Buffer): string {
  // IPv4-mapped (::ffff:a.b.c.d): the IPv4 address it holds, as Address promises.
  if (b.readUInt32BE(0) === 0 && b.readUInt32BE(4) === 0 && b.readUInt32BE(8) === 0xffff) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(b.readUInt16BE(i).toString(16));
  // Compress the longest run of zeros, as RFC 5952 says.
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

/**
 * Writes a dotted-quad IPv4 address's four bytes at `offset` and says whether `host` was one
 * (nothing written otherwise). Parsed by hand because node:net's isIPv4 (a regular expression)
 * and a split took 5% of the server's CPU per introduction (scripts/bench/rtmfp-introductions.ts,
 * profiled): every redirect and forwarded IHello encodes two to four addresses. By hand, an
 * IPv4 address encodes in about 150 ns against 600 ns (CPU time, 2 million encodes).
 */
export function writeIPv4(host: string, out: Buffer, offset: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= host.length; i++) {
    const c = i < host.length ? host.charCodeAt(i) : 0x2e;
    if (c >= 0x30 && c <= 0x39) {
      // No leading zeros (as isIPv4: "010" is not a decimal byte), at most three digits.
      if ((digits === 1 && value === 0) || digits === 3) return false;
      value = value * 10 + (c - 0x30);
      digits++;
      continue;
    }
    if (c !== 0x2e || digits === 0 || value > 255 || part === 4) return false;
    if (i < host.length && part === 3) return false;
    part++;
    digits = 0;
    value = 0;
  }
  if (part !== 4) return false;
  // Second pass, now that the whole string is known to be an address: write it.
  let at = offset;
  value = 0;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c === 0x2e) {
      out[at++] = value;
      value = 0;
    } else value = value * 10 + (c - 0x30);
  }
  out[at] = value;
  return true;
}

export function encodeAddress(a: Address, origin: number = AddressOrigin.UNKNOWN): Buffer {
  const v4 = Buffer.alloc(7);
  if (writeIPv4(a.host, v4, 1)) {
    v4[0] = origin & 3;
    v4.writeUInt16BE(a.port, 5);
    return v4;
  }
  if (!isIPv6(a.host.split('%')[0]!)) throw new Error(`not a numeric address: ${a.host}`);
  const out = Buffer.alloc(19);
  out[0] = 0x80 | (origin & 3);
  ipv6Bytes(a.host).copy(out, 1);
  out.writeUInt16BE(a.port, 17);
  return out;
}

export function readAddress(r: ByteReader): AnnouncedAddress {
  const flags = r.u8();
  if (flags & 0x80) {
    const host = normaliseHost(ipv6String(r.bytes(16)));
    return { host, port: r.u16(), origin: flags & 3 };
  }
  const b = r.bytes(4);
  return { host: `${b[0]}.${b[1]}.${b[2]}.${b[3]}`, port: r.u16(), origin: flags & 3 };
}
