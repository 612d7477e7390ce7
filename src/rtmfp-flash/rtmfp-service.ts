// The RTMFP service of the server: a UDP endpoint whose sessions become Flash model clients.
import type { FlashServer } from '../flash/flash-server.js';
import { FlashCrypto } from '../rtmfp/crypto/flash-crypto.js';
import { warmDhGroups } from '../rtmfp/crypto/dh-groups.js';
import { RtmfpEndpoint } from '../rtmfp/endpoint.js';
import { NodeDatagramPort } from '../rtmfp/node-platform.js';
import type { Logger } from '../util/log.js';
import { RtmfpFlashSession, type RtmfpSessionOptions } from './rtmfp-flash-session.js';
import { PeerRegistry } from '../rtmfp/peer-registry.js';
import { Introducer, type IntroducerOptions } from '../rtmfp/introducer.js';
import { Redirector, type RedirectDecision } from '../rtmfp/redirector.js';
import type { Address } from '../rtmfp/address.js';
import type { SessionTimings } from '../rtmfp/session.js';

export interface RtmfpServiceOptions extends RtmfpSessionOptions {
  host: string;
  port: number;
  flash: FlashServer;
  log: Logger;
  /** Rate limits and the amplification bound of introductions. */
  rendezvous?: Omit<IntroducerOptions, 'log'>;
  /** Other servers to send connecting clients to, in turn (a redirector); empty: none. */
  redirectTo?: readonly Address[];
  /** Decides per connection IHello where the client goes (see RedirectDecision). */
  redirectDecide?: RedirectDecision;
  /** Session timings (liveness: when a silent client is pinged and declared dead); default DEFAULT_TIMINGS. */
  timings?: Partial<SessionTimings>;
}

const introducers = new WeakMap<RtmfpEndpoint, Introducer>();

/** The introducer of a service's endpoint (its rate limiters, for tests and stats). */
export function introducerOf(endpoint: RtmfpEndpoint): Introducer | undefined {
  return introducers.get(endpoint);
}

export async function startRtmfpService(options: RtmfpServiceOptions): Promise<RtmfpEndpoint> {
  const { flash, host, port, log, rendezvous, redirectTo, redirectDecide, timings, ...sessionOptions } = options;
  const udp = await NodeDatagramPort.bind({ host, port });
  // Build the DH groups now rather than on the first handshake (tens of ms each).
  warmDhGroups();
  const endpoint = new RtmfpEndpoint({ port: udp, crypto: new FlashCrypto({ server: true }), log, acceptSessions: true, timings });
  // Connected clients are introduced to peers that ask for them by peer ID (rendezvous).
  sessionOptions.peers ??= new PeerRegistry();
  introducers.set(endpoint, new Introducer(endpoint, sessionOptions.peers, { ...rendezvous, log: log.child({ part: 'rendezvous' }) }));
  if ((redirectTo?.length ?? 0) > 0 || redirectDecide !== undefined) {
    new Redirector(endpoint, { servers: redirectTo ?? [], decide: redirectDecide, log: log.child({ part: 'redirector' }) });
  }
  endpoint.onSession = (session) => {
    session.log.info({ peerId: session.peerId }, 'RTMFP session opened');
    new RtmfpFlashSession(session, flash, sessionOptions);
  };
  return endpoint;
}
