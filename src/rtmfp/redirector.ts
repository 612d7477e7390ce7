// Spreading connections over a fleet of servers (RFC 7016 §3.5.1.1.1, as rtmfp-cpp's
// redirector does): an IHello that would connect to this server is answered with a Responder
// Redirect listing another server (origin 3, "relay/redirect"), and the initiator sends its
// IHello there instead. The servers are taken in turn (round-robin). No "least-loaded": the
// servers of the list tell us nothing of their load, and a guess from what we sent each is no
// measure of what they carry. A hook may decide per IHello instead (the Lua layer scripts it).
import { AddressOrigin, addressKey, formatAddress, type Address } from './address.js';
import type { RtmfpEndpoint } from './endpoint.js';
import type { Epd } from './crypto/flash-certificate.js';
import type { Logger } from '../util/log.js';
import { DEFAULT_MAX_AMPLIFICATION } from './introducer.js';

export interface ConnectIHello {
  /** What the initiator asked for: the connect URL (ancillaryData) or our own ID. */
  epd: Epd;
  /** Where it came from. */
  from: Address;
}

/**
 * Per IHello: the servers to send the initiator to, `null` to take the connection here, or
 * undefined to leave it to the round-robin over `servers`.
 */
export type RedirectDecision = (request: ConnectIHello) => readonly Address[] | null | undefined;

export interface RedirectorOptions {
  /** The other servers, taken in turn. Empty: connections stay here unless `decide` says otherwise. */
  servers: readonly Address[];
  decide?: RedirectDecision;
  log?: Logger;
}

/**
 * Initiators remembered with the server they were sent to, so that a retried IHello (same tag,
 * same address: the initiator retransmits after 1 s, 1.5 s, ...) gets the same server rather
 * than the next one. Bounded: past it the oldest are forgotten, and a retry of theirs merely
 * gets another server of the list, which serves it as well.
 */
const MAX_REMEMBERED = 4096;

export class Redirector {
  private next = 0;
  private readonly sentTo = new Map<string, Address>();
  private readonly log: Logger;

  constructor(
    private readonly endpoint: RtmfpEndpoint,
    private readonly options: RedirectorOptions,
  ) {
    this.log = options.log ?? endpoint.log;
    endpoint.onConnectIHello = (epd, tag, from, datagramLength) => this.consider(epd, tag, from, datagramLength);
  }

  /** Answers true when the initiator was redirected (and must get no RHello). */
  consider(epd: Epd, tag: Buffer, from: Address, datagramLength: number): boolean {
    let servers: readonly Address[] | null | undefined;
    try {
      servers = this.options.decide?.({ epd, from });
    } catch (err) {
      // A failing hook must not refuse connections: the round-robin decides.
      this.log.error({ err }, 'redirect hook failed');
    }
    if (servers === null) return false;
    if (servers === undefined) {
      const chosen = this.roundRobin(tag, from);
      if (chosen === undefined) return false;
      servers = [chosen];
    }
    if (servers.length === 0) return false;
    // Bounded like an introduction's redirect; a tag and one address always fit.
    const listed = this.endpoint.sendRedirect(from, tag, servers.map((s) => ({ host: s.host, port: s.port, origin: AddressOrigin.RELAY })), datagramLength * DEFAULT_MAX_AMPLIFICATION);
    this.endpoint.counters.connectionsRedirected++;
    if (this.log.isLevelEnabled('debug')) this.log.debug({ from: formatAddress(from), to: servers.slice(0, listed).map(formatAddress) }, 'connection redirected');
    return true;
  }

  private roundRobin(tag: Buffer, from: Address): Address | undefined {
    const servers = this.options.servers;
    if (servers.length === 0) return undefined;
    const key = `${tag.toString('latin1')}|${addressKey(from)}`;
    const remembered = this.sentTo.get(key);
    if (remembered !== undefined) return remembered;
    const chosen = servers[this.next++ % servers.length]!;
    if (this.sentTo.size >= MAX_REMEMBERED) this.sentTo.delete(this.sentTo.keys().next().value as string);
    this.sentTo.set(key, chosen);
    return chosen;
  }
}
