// Composes the running server from its layers: transports, the Flash model, the apps.
import type { ServerConfig } from './server-config.js';
import type { Logger } from './util/log.js';
import type { RtmfpEndpoint } from './rtmfp/endpoint.js';
import { startRtmfpService } from './rtmfp-flash/rtmfp-service.js';
import { parseHostPort } from './rtmfp-flash/peer-info.js';
import { PeerRegistry } from './rtmfp/peer-registry.js';
import { formatAddress, type Address } from './rtmfp/address.js';
import { formatHostPort } from './util/host-port.js';
import { nativeAccelUnavailable } from './rtmfp/native-accel.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FlashServer } from './flash/flash-server.js';
import { FileSharedObjectStore } from './flash/shared-object-store.js';
import { startRtmpService } from './rtmp-flash/rtmp-service.js';
import type { RtmpListener } from './rtmp/rtmp-listener.js';
import { startLuaHost, type LuaHost } from './lua/lua-host.js';

export interface RunningServer {
  rtmfp?: RtmfpEndpoint;
  rtmp?: RtmpListener;
  /** The protocol-neutral model both transports share. */
  flash: FlashServer;
  /** The Lua apps under www/ (absent when www/ is missing). */
  lua?: LuaHost;
  close(): Promise<void>;
}

/** Explains the usual bind failures in one line a user can act on. */
function bindError(what: string, host: string, port: number, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'EADDRINUSE' ? 'the port is already in use (another server running? pick another with a flag or the config file)'
    : code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)'
    : code === 'EADDRNOTAVAIL' ? 'no such local address'
    : (err as Error).message;
  return new Error(`cannot listen for ${what} on ${formatHostPort(host, port)}: ${why}`);
}

/** The application folders under `www`, sorted; undefined when `www` is not a folder. */
function appFolders(www: string): string[] | undefined {
  try {
    return readdirSync(www, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  } catch {
    return undefined;
  }
}

export async function startServer(config: ServerConfig, log: Logger): Promise<RunningServer> {
  const started = performance.now();
  log.info({ www: config.www }, 'covey starting');
  /** Addresses a script returned (onHandshake, onRendezVousUnknown), parsed; a bad one is logged and left out. */
  const scriptAddresses = (answer: string[] | false | undefined, event: string): Address[] | undefined => {
    if (answer === undefined || answer === false) return undefined;
    const out: Address[] = [];
    for (const text of answer) {
      const address = parseHostPort(text);
      if (address === undefined) log.warn({ layer: 'lua', event, address: text }, `${event} returned a bad address (expected host:port with an IP address): left out`);
      else out.push(address);
    }
    return out;
  };
  const closers: Array<() => void | Promise<void>> = [];
  // An application is a folder under www/. Folders added later are served too (looked up at
  // each connect); the start-up line says what there is now, so a wrong www/ shows at once.
  const appExists = (name: string) => {
    // The empty path is the root app when there is a script for it (www/main.lua, as MonaServer).
    if (name === '') return existsSync(join(config.www, 'main.lua'));
    const dir = join(config.www, name);
    return existsSync(dir) && statSync(dir).isDirectory();
  };
  const apps = appFolders(config.www);
  if (apps === undefined) log.warn({ www: config.www }, 'www folder missing: every connect will be refused until it exists');
  else if (apps.length === 0) log.warn({ www: config.www }, 'no apps: the www folder has no app folders (an app is a folder, e.g. www/live), so every connect will be refused');
  else log.info({ www: config.www, apps }, `serving ${apps.length === 1 ? 'app' : 'apps'} ${apps.join(', ')}`);
  const { dataDir, writeDelayMs, ...sharedObjectLimits } = config.sharedObjects;
  let store: FileSharedObjectStore | undefined;
  if (dataDir !== '') {
    try {
      store = new FileSharedObjectStore({ dir: dataDir, log: log.child({ part: 'shared-objects' }), writeDelayMs });
    } catch (err) {
      throw new Error(`cannot use ${dataDir} for shared objects: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    log.info({ dataDir }, 'persistent shared objects are saved under the data folder');
  } else log.info('persistent shared objects are kept in memory only (--shared-object-dir saves them)');
  // Lua apps (www/main.lua, www/<app>/main.lua...): their hooks serve every app; a folder
  // without main.lua inherits its parent's, and with no script at all everything is accepted.
  let lua: LuaHost | undefined;
  // The model first, so that scripts reach it from their first onStart (mona:sharedObject,
  // mona:publish); no client can connect before the services below start.
  const flash = new FlashServer({ log: log.child({ layer: 'flash' }), groups: config.groups, appExists, gopCacheBytes: config.media.gopCacheBytes, publishTakeoverMs: config.media.publishTakeoverMs, hooks: apps !== undefined ? () => lua?.hooks : undefined, sharedObjects: sharedObjectLimits, sharedObjectStore: store });
  if (apps !== undefined) {
    lua = await startLuaHost({ www: config.www, log: log.child({ layer: 'lua' }), timeLimitMs: config.lua.timeLimitMs, memoryBytes: config.lua.memoryBytes, flash });
    closers.push(() => lua!.close());
  }
  const server: RunningServer = {
    flash,
    lua,
    close: async () => {
      for (const c of closers.reverse()) await c();
      // Changes still waiting for their write are written before we go.
      await store?.flush();
    },
  };

  if (config.rtmfp.enabled) {
    const { host, port } = config.rtmfp;
    let endpoint: RtmfpEndpoint;
    try {
      const r = config.rendezvous;
      endpoint = await startRtmfpService({
        host, port, flash, log: log.child({ proto: 'rtmfp' }), mediaMergeMs: config.media.mergeMs,
        peers: new PeerRegistry(r.maxReportedAddresses),
        keepalive: { serverMs: r.keepaliveServerMs, peerMs: r.keepalivePeerMs },
        rendezvous: {
          perSource: { perSecond: r.perSourcePerSecond, burst: r.perSourceBurst }, perTarget: { perSecond: r.perTargetPerSecond, burst: r.perTargetBurst },
          unknownPeer: lua && {
            wanted: () => lua!.rootDefines('onRendezVousUnknown'),
            addresses: (peerId) => scriptAddresses(lua!.rendezVousUnknown('rtmfp', peerId.toString('hex')), 'onRendezVousUnknown'),
          },
        },
        // Checked with the rest of the configuration: every entry parses.
        redirectTo: config.rtmfp.redirectTo.map((a) => parseHostPort(a)!),
        // A script's onHandshake may send a connection elsewhere (false: keep it here).
        redirectDecide: lua && ((request) => {
          const answer = lua!.handshake('rtmfp', formatAddress(request.from), request.epd.ancillaryData ?? '');
          return answer === false ? null : scriptAddresses(answer, 'onHandshake');
        }),
        timings: { pingAfterSilenceMs: config.rtmfp.pingAfterMs, pingIntervalMs: config.rtmfp.pingIntervalMs, deadAfterPings: config.rtmfp.deadAfterPings },
      });
    } catch (err) {
      throw bindError('RTMFP (UDP)', host, port, err);
    }
    server.rtmfp = endpoint;
    closers.push(() => endpoint.close('server shutdown'));
    // Say which send path is in use: without the accelerator a fan-out costs about 1.7 times the CPU.
    const sendPath = endpoint.sealInPlace ? 'native (batched sends, in-place AES)' : `TypeScript (node:dgram; native accelerator ${nativeAccelUnavailable ?? 'not used'})`;
    log.info({ address: formatAddress(endpoint.localAddress), sendPath }, 'RTMFP listening (UDP)');
    if (config.rtmfp.redirectTo.length > 0) log.info({ to: config.rtmfp.redirectTo }, 'RTMFP connections are redirected to other servers in turn');
  }

  if (config.rtmp.enabled) {
    const { host, port } = config.rtmp;
    let rtmp: RtmpListener;
    try {
      rtmp = await startRtmpService({ host, port, flash, log: log.child({ proto: 'rtmp' }), mediaMergeMs: config.media.mergeMs });
    } catch (err) {
      await server.close();
      throw bindError('RTMP (TCP)', host, port, err);
    }
    server.rtmp = rtmp;
    closers.push(() => rtmp.close());
    log.info({ address: formatHostPort(rtmp.address.address, rtmp.address.port) }, 'RTMP listening (TCP)');
  }

  log.info({ ms: Math.round(performance.now() - started) }, 'covey ready');
  return server;
}
