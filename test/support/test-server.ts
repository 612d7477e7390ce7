// A real Covey server on 127.0.0.1 with ephemeral ports, for tests: the Flash model with its RTMP
// listener (TCP) and RTMFP endpoint (UDP), and a logger whose JSON lines the test can search
// (close reasons, say).
import { Writable } from 'node:stream';
import { pino, type LevelWithSilent } from 'pino';
import { FlashServer, type FlashServerOptions } from '../../src/flash/flash-server.js';
import type { AppHooks } from '../../src/flash/app-hooks.js';
import type { FlashClient } from '../../src/flash/flash-client.js';
import { startRtmpService, type RtmpServiceOptions } from '../../src/rtmp-flash/rtmp-service.js';
import type { RtmpListener } from '../../src/rtmp/rtmp-listener.js';
import type { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { startRtmfpService, type RtmfpServiceOptions } from '../../src/rtmfp-flash/rtmfp-service.js';
import type { Logger } from '../../src/util/log.js';

export interface TestServer {
  flash: FlashServer;
  listener: RtmpListener;
  port: number;
  url: (path: string) => string;
  rtmfp: RtmfpEndpoint;
  /** rtmfp://127.0.0.1:PORT/path */
  rtmfpUrl: (path: string) => string;
  /** Parsed log lines so far. */
  logs: Array<Record<string, unknown>>;
  /** Resolves with the first log line matching, waiting up to `ms`. */
  waitLog: (match: (line: Record<string, unknown>) => boolean, ms?: number) => Promise<Record<string, unknown>>;
  close: () => Promise<void>;
}

/** A logger whose JSON lines a test can read as they come (close reasons, say). */
export interface LogCapture {
  log: Logger;
  /** Parsed log lines so far. */
  logs: Array<Record<string, unknown>>;
  /** Resolves with the first log line matching, waiting up to `ms`. */
  waitLog: (match: (line: Record<string, unknown>) => boolean, ms?: number) => Promise<Record<string, unknown>>;
}

/** @param level the logger's level: by default info, or debug when TEST_LOG is set. */
export function captureLogs(level: LevelWithSilent = process.env.TEST_LOG ? 'debug' : 'info'): LogCapture {
  const logs: Array<Record<string, unknown>> = [];
  let partial = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log = pino({ level, base: undefined }, sink);
  return {
    log,
    logs,
    waitLog: async (match, ms = 5000) => {
      const t0 = Date.now();
      for (;;) {
        const found = logs.find(match);
        if (found) return found;
        if (Date.now() - t0 > ms) throw new Error(`no matching log line within ${ms} ms; got:\n${logs.map((l) => JSON.stringify(l)).join('\n')}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

/**
 * A server for a group of up to 64 clients all on 127.0.0.1. The server's rendezvous budget is per
 * source address (100 at once, 50 a second): 21 members meeting at once had 162 introductions
 * refused and leaned on IHello retries (a connect gives up after 10 s, and nothing retries it).
 * Here each member gets the budget it would have on an address of its own.
 */
export function startGroupTestServer(): Promise<TestServer> {
  const perSource = { perSecond: 50 * 64, burst: 100 * 64 };
  return startTestServer({ flash: { groups: { maxMembersPerGroup: 64, joinsPerSecondPerClient: 100 } }, rtmfp: { rendezvous: { perSource } } });
}

export async function startTestServer(
  options: { flash?: Partial<FlashServerOptions>; rtmp?: Partial<RtmpServiceOptions>; rtmfp?: Partial<RtmfpServiceOptions> } = {},
): Promise<TestServer> {
  const { log, logs, waitLog } = captureLogs();
  const flash = new FlashServer({ log, ...options.flash });
  const listener = await startRtmpService({ host: '127.0.0.1', port: 0, flash, log, ...options.rtmp });
  const port = listener.address.port;
  const rtmfp = await startRtmfpService({ host: '127.0.0.1', port: 0, flash, log, ...options.rtmfp });
  const rtmfpPort = rtmfp.localAddress.port;
  return {
    flash,
    listener,
    port,
    url: (path) => `rtmp://127.0.0.1:${port}/${path}`,
    rtmfp,
    rtmfpUrl: (path) => `rtmfp://127.0.0.1:${rtmfpPort}/${path}`,
    logs,
    waitLog,
    close: async () => {
      rtmfp.close();
      await listener.close();
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until `check` returns a truthy value. */
export async function until<T>(check: () => T | undefined | false, ms = 5000, what = 'condition'): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * The applications the session tests connect to: "missing" does not exist, "guarded" wants the
 * password "secret" as its first connect argument, and every other one accepts, records the
 * client in `connected` and offers `methods`.
 */
export function testApps(connected: FlashClient[], methods: NonNullable<AppHooks['methods']>): Partial<FlashServerOptions> {
  return {
    appExists: (name) => name !== 'missing',
    hooks: (app) =>
      app === 'guarded'
        ? { onConnect: (client) => (client.request!.args[0] === 'secret' ? undefined : 'bad password') }
        : { onConnect: (client) => void connected.push(client), methods },
  };
}
