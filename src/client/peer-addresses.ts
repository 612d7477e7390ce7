// The local addresses a client reports to its server with `setPeerInfo` (RFC 7425 §5.3.3), so
// that the server can give them to peers that ask for it by peer ID: a peer on the same LAN (or
// behind the same NAT) reaches us at one of these rather than through the NAT's public side.
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { isIP } from 'node:net';

/**
 * What to report: 'auto' (the machine's interface addresses, as Flash Player and librtmfp do),
 * 'none', or an explicit list of "host:port" strings (sent as they are).
 */
export type LocalAddressPolicy = 'auto' | 'none' | readonly string[];

/** One "ip:port" entry, IPv6 in brackets (the form MonaServer and librtmfp parse). */
export function formatPeerAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function isLoopback(host: string): boolean {
  return host === '::1' || host.startsWith('127.');
}

/** Link-local addresses are skipped as librtmfp skips them: useless to a peer on another link. */
function isLinkLocal(info: NetworkInterfaceInfo): boolean {
  return info.family === 'IPv6' ? info.address.toLowerCase().startsWith('fe80:') : info.address.startsWith('169.254.');
}

/**
 * The strings to send for `policy`, given the UDP port we are bound to, the family our socket
 * speaks (a socket on '::' speaks both) and the server's address.
 *
 * With 'auto', a client whose server is on a loopback address reports the loopback address
 * only: its peers are then on this very host, and our interface addresses would only send them
 * looking elsewhere (tests rely on this: they must never make a peer contact a non-loopback
 * address).
 */
export function localPeerAddresses(policy: LocalAddressPolicy, port: number, socketFamily: 4 | 6 | 'both', serverHost: string): string[] {
  if (policy === 'none') return [];
  if (policy !== 'auto') return [...policy];
  if (isLoopback(serverHost)) return [formatPeerAddress(isIP(serverHost) === 6 ? '::1' : '127.0.0.1', port)];
  const out: string[] = [];
  for (const infos of Object.values(networkInterfaces())) {
    for (const info of infos ?? []) {
      if (info.internal || isLinkLocal(info)) continue;
      const family = info.family === 'IPv6' ? 6 : 4;
      if (socketFamily !== 'both' && socketFamily !== family) continue;
      out.push(formatPeerAddress(info.address, port));
    }
  }
  return out;
}
