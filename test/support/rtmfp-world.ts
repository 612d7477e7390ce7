// A deterministic RTMFP world for engine tests: a fake clock, an in-memory network, a server
// endpoint on port 1935 that accepts sessions, and a client endpoint on port 50000.
import { FakeClock } from './fake-clock.js';
import { MemoryNetwork } from './memory-network.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import type { Session, SessionTimings } from '../../src/rtmfp/session.js';

/** A short keepalive, so tests reach it in little (fake) time; liveness as by default (dead after 8 s of silence). */
export const TEST_TIMINGS = { keepaliveMs: 5_000 };

export interface RtmfpWorldOptions {
  serverCrypto?: FlashCrypto;
  clientCrypto?: FlashCrypto;
  /** In place of TEST_TIMINGS, for one side. */
  serverTimings?: Partial<SessionTimings>;
  clientTimings?: Partial<SessionTimings>;
}

export function rtmfpWorld(options: RtmfpWorldOptions = {}) {
  const clock = new FakeClock();
  const net = new MemoryNetwork(clock);
  const serverPort = net.bind(1935);
  const server = new RtmfpEndpoint({
    port: serverPort,
    clock,
    crypto: options.serverCrypto ?? new FlashCrypto({ server: true }),
    acceptSessions: true,
    timings: options.serverTimings ?? TEST_TIMINGS,
  });
  /** The server's sessions, as they open (until a test sets server.onSession itself). */
  const accepted: Session[] = [];
  server.onSession = (s) => accepted.push(s);
  const clientPort = net.bind(50000);
  const client = new RtmfpEndpoint({ port: clientPort, clock, crypto: options.clientCrypto ?? new FlashCrypto({ server: false }), timings: options.clientTimings ?? TEST_TIMINGS });
  return { clock, net, server, serverPort, client, clientPort, accepted };
}

export type RtmfpWorld = ReturnType<typeof rtmfpWorld>;

/** Opens a client session to the world's server, advancing the clock through the handshake. */
export async function connectClient(w: RtmfpWorld): Promise<Session> {
  const p = w.client.connect({ ancillaryData: 'rtmfp://10.0.0.1/live' }, [w.serverPort.localAddress()]);
  await w.clock.advance(50);
  return p;
}
