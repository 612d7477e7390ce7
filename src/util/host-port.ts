// How every log line and message writes a socket address, whichever protocol it came from:
// host:port for IPv4, [host]:port for IPv6 (RFC 3986's form, so the port cannot be mistaken for
// the last group), and an IPv4-mapped IPv6 address (what a dual-stack '::' socket reports for an
// IPv4 peer) as the IPv4 address it is, so one client reads the same over RTMFP and RTMP.
import { isIPv4 } from 'node:net';

/** '::ffff:127.0.0.1' -> '127.0.0.1'; any other host unchanged. */
export function unmapIPv4(host: string): string {
  return host.startsWith('::ffff:') && isIPv4(host.slice(7)) ? host.slice(7) : host;
}

export function formatHostPort(host: string, port: number): string {
  const h = unmapIPv4(host);
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}
