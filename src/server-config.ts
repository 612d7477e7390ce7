// What a running server needs to know, and its defaults. The server takes this and nothing else:
// where the values come from (a config file, flags) is the command line's business
// (src/cli/config.ts), so the server can be started from code or tests without a command line.
import type { LevelWithSilent } from 'pino';
import type { LogFormat } from './util/log.js';
import { DEFAULT_TIMINGS } from './rtmfp/session.js';
import { DEFAULT_PER_SOURCE, DEFAULT_PER_TARGET } from './rtmfp/introducer.js';
import { DEFAULT_MAX_REPORTED_ADDRESSES } from './rtmfp/peer-registry.js';
import { DEFAULT_GOP_CACHE_BYTES } from './flash/gop-cache.js';
import { DEFAULT_GROUP_LIMITS, type GroupLimits } from './flash/group-registry.js';
import { DEFAULT_SHARED_OBJECT_LIMITS, type SharedObjectLimits } from './flash/shared-object-limits.js';

export interface ListenerConfig {
  enabled: boolean;
  /** Address to bind; '::' listens on all interfaces, IPv6 and IPv4 alike. */
  host: string;
  port: number;
}

export interface ServerConfig {
  /** Folder holding one sub-folder per application. */
  www: string;
  rtmfp: ListenerConfig & {
    /** Other servers ("ip:port") connecting clients are sent to in turn; empty: they stay here. */
    redirectTo: string[];
    /**
     * Liveness of clients (RFC 7016 keepalive): a client heard nothing from for pingAfterMs is
     * pinged, then every pingIntervalMs; after deadAfterPings unanswered pings its session is
     * dead and ends (its streams unpublished, its plays stopped). A client that answers is never
     * dropped, however quiet.
     */
    pingAfterMs: number;
    pingIntervalMs: number;
    deadAfterPings: number;
  };
  rtmp: ListenerConfig;
  log: { level: LevelWithSilent; format: LogFormat };
  media: {
    /**
     * How long media to players may wait to leave with the next frames, ms (both protocols):
     * far fewer sends per player for a little latency. 0 sends each frame at once.
     */
    mergeMs: number;
    /**
     * Payload bytes of each publication's GOP cache (the frames since the last keyframe, sent to
     * a player joining mid-stream so it starts at once): a GOP larger than this is not cached.
     * 0 disables it; players then wait for the next keyframe.
     */
    gopCacheBytes: number;
    /**
     * A publish of a name whose publisher has sent no audio or video for this long, ms, takes
     * the name over (the old publisher is told, its players go on with the new one); 0: never,
     * the name stays refused while its publisher is connected.
     */
    publishTakeoverMs: number;
  };
  /** Bounds on NetGroups (RTMFP); joins beyond them are refused. The model's type and defaults. */
  groups: GroupLimits;
  /**
   * Remote shared objects: where persistent ones are saved, and the model's bounds (their values
   * and reasons: DEFAULT_SHARED_OBJECT_LIMITS in src/flash/shared-object-limits.ts).
   */
  sharedObjects: SharedObjectLimits & {
    /** Folder persistent objects are saved under (one msgpack file each); '' keeps them in memory only. */
    dataDir: string;
    /** How long a change waits for others before its object is written, ms (a burst costs one write). */
    writeDelayMs: number;
  };
  /**
   * Limits of the Lua apps under www/ (one Lua state for the tree): each call into a script
   * (an event, an RPC, a timer) may run timeLimitMs, and the state may use memoryBytes.
   */
  lua: { timeLimitMs: number; memoryBytes: number };
  /** RTMFP introductions (peer to peer rendezvous) and the keepalive periods told to clients. */
  rendezvous: {
    /** Client to server keepalive period told after connect, ms (at least 5000). */
    keepaliveServerMs: number;
    /** Peer to peer keepalive period told after connect, ms (at least 5000). */
    keepalivePeerMs: number;
    /** setPeerInfo addresses kept per client. */
    maxReportedAddresses: number;
    /** Introductions a second answered for one initiator IP address, and its burst. */
    perSourcePerSecond: number;
    perSourceBurst: number;
    /** Introductions a second to one peer, and its burst. */
    perTargetPerSecond: number;
    perTargetBurst: number;
  };
}

export function defaultConfig(): ServerConfig {
  return {
    www: 'www',
    // Liveness: the engine's defaults (DEFAULT_TIMINGS in src/rtmfp/session.ts, with their
    // reasons): pinged after 3 s of silence, then every second, dead after 5 unanswered (8 s).
    rtmfp: {
      enabled: true, host: '::', port: 1935, redirectTo: [],
      pingAfterMs: DEFAULT_TIMINGS.pingAfterSilenceMs, pingIntervalMs: DEFAULT_TIMINGS.pingIntervalMs, deadAfterPings: DEFAULT_TIMINGS.deadAfterPings,
    },
    rtmp: { enabled: true, host: '::', port: 1935 },
    log: { level: 'info', format: 'pretty' },
    // publishTakeoverMs: off, so a name is never taken from a connected publisher unasked.
    media: { mergeMs: 100, gopCacheBytes: DEFAULT_GOP_CACHE_BYTES, publishTakeoverMs: 0 },
    groups: { ...DEFAULT_GROUP_LIMITS },
    sharedObjects: { dataDir: '', writeDelayMs: 100, ...DEFAULT_SHARED_OBJECT_LIMITS },
    // A callback blocks the server while it runs: 1 s stops a runaway loop long before clients
    // time out; a fresh state uses about 18 KB, so 64 MiB leaves scripts room for real data.
    lua: { timeLimitMs: 1000, memoryBytes: 64 * 1024 * 1024 },
    // The keepalive periods are DEFAULT_KEEPALIVE's (src/rtmfp-flash/peer-presence.ts, which
    // server-config may not import), the rest the engine's own defaults, with their reasons.
    rendezvous: {
      keepaliveServerMs: 15_000, keepalivePeerMs: 10_000, maxReportedAddresses: DEFAULT_MAX_REPORTED_ADDRESSES,
      perSourcePerSecond: DEFAULT_PER_SOURCE.perSecond, perSourceBurst: DEFAULT_PER_SOURCE.burst,
      perTargetPerSecond: DEFAULT_PER_TARGET.perSecond, perTargetBurst: DEFAULT_PER_TARGET.burst,
    },
  };
}
