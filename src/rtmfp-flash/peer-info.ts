// The addresses a client reports for itself with `setPeerInfo` (RFC 7425 §5.3.3): one AMF
// string "ip:port" per local address after the transaction ID and null, sent by Flash/AIR and
// librtmfp right after connect. Parsed leniently: AIR mobile clients send strings with garbage
// in them (MonaServer issue #91, airsdk issue #1967), and a bad entry must cost only itself.
import { isIPv4, isIPv6 } from 'node:net';
import { normaliseHost, type Address } from '../rtmfp/address.js';

/**
 * Arguments looked at, at most: a hostile list costs a bounded amount of work whatever its
 * length (Flash sends one per interface: two in the dump of Cumulus issue #19).
 */
const MAX_ARGUMENTS = 64;
/** "[" + the longest IPv6 text (45) + "]:65535" = 53; longer strings are not addresses. */
const MAX_ENTRY_LENGTH = 64;

export interface PeerInfo {
  addresses: Address[];
  /** Entries that were not an address: what they were, shortened, for a debug line. */
  ignored: string[];
}

/** Reads up to `max` distinct addresses from setPeerInfo's arguments; anything else is ignored. */
export function parsePeerInfo(args: readonly unknown[], max: number): PeerInfo {
  const addresses: Address[] = [];
  const ignored: string[] = [];
  for (const arg of args.slice(0, MAX_ARGUMENTS)) {
    const address = typeof arg === 'string' ? parseHostPort(arg) : undefined;
    if (address === undefined) {
      if (ignored.length < 8) ignored.push(typeof arg === 'string' ? JSON.stringify(arg.slice(0, 40)) : typeof arg);
      continue;
    }
    if (addresses.some((a) => a.host === address.host && a.port === address.port)) continue;
    if (addresses.length < max) addresses.push(address);
  }
  return { addresses, ignored };
}

/**
 * "1.2.3.4:5" or "[v6]:5" (a zone, "%en0", is dropped: it means nothing on another host), with
 * surrounding blanks and NULs tolerated. Unbracketed IPv6 is refused: "fe80::1:1935" is itself an
 * IPv6 address, so its port cannot be told apart. Unspecified and multicast addresses, and port
 * 0, are refused: nobody can be reached there.
 */
export function parseHostPort(text: string): Address | undefined {
  if (text.length > MAX_ENTRY_LENGTH) return undefined;
  // eslint-disable-next-line no-control-regex
  const s = text.replace(/^[\s\0]+|[\s\0]+$/g, '');
  const m = /^\[([0-9A-Fa-f:.]+)(?:%[^\]]*)?\]:(\d{1,5})$/.exec(s) ?? /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(s);
  if (m === null) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  const raw = m[1]!;
  if (!isIPv4(raw) && !isIPv6(raw)) return undefined;
  const host = normaliseHost(raw.toLowerCase());
  if (isIPv4(host)) {
    const first = Number(host.split('.')[0]);
    if (host === '0.0.0.0' || host === '255.255.255.255' || (first >= 224 && first <= 239)) return undefined;
  } else if (/^(::|0:0:0:0:0:0:0:0)$/.test(host) || /^ff/.test(host)) {
    return undefined;
  }
  return { host, port };
}
