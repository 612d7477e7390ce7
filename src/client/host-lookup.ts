// Finding the server a URL names, and saying why that failed in the same words whichever
// protocol asked: RTMFP looks the host up itself (it needs an address for its UDP socket), RTMP
// lets node:net do it, and a user who mistyped a host should read one message for both.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** The one line for a failed lookup of `host` (from node:dns or node:net's getaddrinfo). */
export function hostLookupError(host: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOTFOUND' || code === 'ENODATA' ? 'no such host'
    : code === 'EAI_AGAIN' ? 'the name server did not answer (try again, or check DNS)'
    : code ?? (err as Error).message;
  return new Error(`cannot resolve host ${host}: ${why}`);
}

/** True when `err` (from a socket's connect) is a failed name lookup, not a failed connection. */
export function isLookupFailure(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).syscall === 'getaddrinfo';
}

/** The numeric address of `host` (a name, or already numeric). */
export async function lookupHost(host: string): Promise<string> {
  if (isIP(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch (err) {
    throw hostLookupError(host, err);
  }
}
