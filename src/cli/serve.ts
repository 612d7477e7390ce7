// `covey serve`: starts the server with defaults, an optional config file, and flags.
import type { Command } from 'commander';
import { resolveConfig, DEFAULT_CONFIG_FILE, PACKAGE_WWW, defaultWww, type ServeFlags } from './config.js';
import { exitWithError } from './exit.js';
import { createLogger } from '../util/log.js';
import { startServer } from '../server.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start the server (RTMFP on UDP, RTMP on TCP) with the apps under www/')
    .option('-c, --config <file>', `JSON config file (default: ./${DEFAULT_CONFIG_FILE} when present)`)
    .option('--www <dir>', `application root, one folder per app (default: ./www when the working folder has one, else Covey's own ${PACKAGE_WWW}; started here: ${defaultWww(process.cwd())})`)
    .option('--host <addr>', 'address to listen on; :: means all interfaces, IPv6 and IPv4 (default: ::)')
    .option('--rtmfp-port <port>', 'UDP port for RTMFP (default: 1935)')
    .option('--rtmp-port <port>', 'TCP port for RTMP (default: 1935)')
    .option('--no-rtmfp', 'do not listen for RTMFP')
    .option('--no-rtmp', 'do not listen for RTMP')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default: info)')
    .option('--log-format <format>', 'pretty or json (default: pretty)')
    .option('--media-merge-ms <ms>', 'media to players may wait this long to leave with the next frames: fewer sends per player for a little latency; 0 sends at once (default: 100)')
    .option('--gop-cache-bytes <bytes>', 'keep each stream\'s frames since its last keyframe, up to this size (K and M suffixes: 4M), so a player joining mid-stream starts at once; 0 disables (default: 4M)')
    .option('--publish-takeover-ms <ms>', 'let a new publisher take a stream name whose publisher has sent no audio or video for this long (it is told, its players go on with the new one); 0 never does: the name stays refused while its publisher is connected (default: 0)')
    .option('--group-max-per-client <n>', 'NetGroups one connection may be in at once; further joins are refused (default: 16)')
    .option('--group-max-members <n>', 'members of one NetGroup; further joins are refused (default: 50000)')
    .option('--group-join-rate <n>', 'NetGroup joins a second, all clients together; more are refused (default: 2000)')
    .option('--group-join-rate-per-client <n>', 'NetGroup joins a second from one connection; more are refused (default: 10)')
    .option('--shared-object-dir <dir>', 'save persistent remote shared objects under this folder (made if missing; crash-safe writes); without it they live in memory only, while used')
    .option('--redirect-to <ip:port,...>', 'send connecting RTMFP clients to these other servers in turn (a redirector); peers connected here are still introduced')
    .option('--keepalive-server-ms <ms>', 'keepalive period told to RTMFP clients for their session with us, at least 5000 (default: 15000)')
    .option('--keepalive-peer-ms <ms>', 'keepalive period told to RTMFP clients for their P2P sessions, at least 5000 (default: 10000)')
    .option('--ping-after-ms <ms>', 'ping an RTMFP client heard nothing from for this long, 100 or more (default: 3000)')
    .option('--ping-interval-ms <ms>', 'then ping it again this often while it stays silent, 100 or more (default: 1000)')
    .option('--dead-after-pings <n>', 'end the session of a client that leaves this many pings in a row unanswered: its streams are unpublished, its plays stopped (default: 5, so dead after 8 s of silence)')
    .option('--lua-time-limit-ms <ms>', 'each call into a Lua app (event, RPC, timer) may run this long before it is stopped, 10-60000 (default: 1000)')
    .option('--lua-memory <bytes>', 'memory of the Lua apps\' state (K and M suffixes: 64M), 1M-1024M (default: 64M)')
    .addHelpText('after', `
Config file (JSON; every key optional; flags override it; "www" is relative to the working folder):
  { "www": "www",
    "rtmfp": { "enabled": true, "host": "::", "port": 1935, "redirectTo": [],
               "pingAfterMs": 3000, "pingIntervalMs": 1000, "deadAfterPings": 5 },
    "rtmp":  { "enabled": true, "host": "::", "port": 1935 },
    "log":   { "level": "info", "format": "pretty" },
    "media": { "mergeMs": 100, "gopCacheBytes": 4194304, "publishTakeoverMs": 0 },
    "groups": { "maxGroupsPerClient": 16, "maxMembersPerGroup": 50000,
                "joinsPerSecond": 2000, "joinsPerSecondPerClient": 10 },
    "sharedObjects": { "dataDir": "", "writeDelayMs": 100, "maxObjectsPerApp": 1000,
                       "maxUsersPerObject": 5000, "maxSlotsPerObject": 10000,
                       "maxSlotBytes": 65536, "maxObjectBytes": 4194304,
                       "maxEventsPerMessage": 256, "maxEventsPerSecondPerClient": 1000,
                       "resyncDepth": 1000 },
    "rendezvous": { "keepaliveServerMs": 15000, "keepalivePeerMs": 10000,
                    "maxReportedAddresses": 8,
                    "perSourcePerSecond": 50, "perSourceBurst": 100,
                    "perTargetPerSecond": 50, "perTargetBurst": 100 },
    "lua": { "timeLimitMs": 1000, "memoryBytes": "64M" } }
  sharedObjects.dataDir: as --shared-object-dir (relative to the working folder); "" keeps
  persistent shared objects in memory only. Going over a shared-object bound answers only that
  client with a status (NoWriteAccess, NoReadAccess or ObjectCreationFailed).
  rtmfp.redirectTo: ["ip:port", ...], as --redirect-to.
  rtmfp liveness: a client silent for pingAfterMs + deadAfterPings x pingIntervalMs (8 s) is
  dropped, and the log says so at that moment; one that answers pings is kept however quiet.
  rendezvous: clients are introduced to peers that ask for them by peer ID; introductions are
  limited per initiator IP address (perSource*) and per peer asked for (perTarget*); at
  --log-level debug each introduction and each refusal is logged.
  lua: limits of the Lua apps under www/ (all apps share one state): a call running past
  timeLimitMs fails with "time limit exceeded", an allocation past memoryBytes with "memory
  limit exceeded"; both are logged with the app and the script's file:line, and the app serves on.

Environment:
  COVEY_NATIVE=0   send RTMFP through node:crypto and node:dgram, not the native accelerator
                   that npm ci builds on Linux (the 'RTMFP listening' log line names the path)`)
    .action(async (flags: ServeFlags) => {
      let config;
      try {
        config = resolveConfig(flags);
      } catch (err) {
        exitWithError('serve', err);
      }
      const log = createLogger(config.log);
      const server = await startServer(config, log);
      const stop = (signal: string) => {
        log.info({ signal }, 'stopping');
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}
