// The server's configuration as the command line builds it: the defaults (src/server-config.ts,
// which also says what each value means), an optional JSON file, then command-line flags, in that
// order of precedence (flags win). Every value is checked here so a bad one stops start-up with one
// line naming the key, the value, where it came from and what was expected.
import { readFileSync, existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOG_LEVELS } from '../util/log.js';
import { defaultConfig, type ServerConfig } from '../server-config.js';
import { parseHostPort } from '../rtmfp-flash/peer-info.js';
import { UsageError } from './exit.js';

export const DEFAULT_CONFIG_FILE = 'covey.json';

/** A bad configuration: start-up is refused with its one line and exit code 2. */
export class ConfigError extends UsageError {}

/**
 * The apps that ship with Covey, beside src/ and dist/ alike (this file is src/cli/config.ts or
 * dist/cli/config.js), so `covey serve` finds them wherever it is installed and started.
 */
export const PACKAGE_WWW = fileURLToPath(new URL('../../www', import.meta.url));

function isFolder(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/**
 * The application root when neither --www nor the config file names one: ./www when the working
 * folder has one (a project of your own), else the package's own www/. A plain relative 'www'
 * failed whenever the command was started anywhere but the source folder (npm install -g).
 */
export function defaultWww(cwd: string): string {
  const local = resolve(cwd, 'www');
  return isFolder(local) ? local : PACKAGE_WWW;
}

type Source = string; // "covey.json" or "--flag", for error messages

function fail(key: string, value: unknown, source: Source, expected: string): never {
  throw new ConfigError(`bad config value ${key}=${JSON.stringify(value)} (from ${source}): expected ${expected}`);
}

function checkPort(key: string, v: unknown, source: Source): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) fail(key, v, source, 'a port number 0-65535');
  return n;
}
function checkString(key: string, v: unknown, source: Source): string {
  if (typeof v !== 'string' || v.length === 0) fail(key, v, source, 'a non-empty string');
  return v;
}
function checkMs(key: string, v: unknown, source: Source, max: number, min = 0): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) fail(key, v, source, `whole milliseconds ${min}-${max}`);
  return n;
}
function checkCount(key: string, v: unknown, source: Source, max: number): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) fail(key, v, source, `a whole number 1-${max}`);
  return n;
}
/** Bytes as a whole number, or with a K/M suffix (KiB, MiB) on the command line: "4M", "512K". */
function checkBytes(key: string, v: unknown, source: Source, max = MAX_GOP_CACHE_BYTES, min = 0): number {
  const m = typeof v === 'string' ? /^(\d+)([KkMm]?)$/.exec(v) : null;
  const n = m ? Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]!) ? 1024 : 1024 * 1024) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) fail(key, v, source, `bytes ${min}-${max} (or with K or M: 512K, 4M)`);
  return n;
}

/**
 * Lua limits. A call under 10 ms would stop ordinary scripts on a loaded machine, and one over
 * a minute is no limit (the server is blocked meanwhile). A state under 1 MiB cannot hold the
 * runtime and an app; wasm32 memory ends at 4 GiB, and 1 GiB is already far past what scripts
 * sharing one event loop should hold.
 */
const LUA_TIME_LIMIT_RANGE = [10, 60_000] as const;
const LUA_MEMORY_RANGE = [1024 * 1024, 1024 * 1024 * 1024] as const;
function checkLua(k: 'timeLimitMs' | 'memoryBytes', v: unknown, source: Source): number {
  const key = `lua.${k}`;
  return k === 'timeLimitMs' ? checkMs(key, v, source, LUA_TIME_LIMIT_RANGE[1], LUA_TIME_LIMIT_RANGE[0]) : checkBytes(key, v, source, LUA_MEMORY_RANGE[1], LUA_MEMORY_RANGE[0]);
}
/** The longest publish takeover delay accepted: an hour. */
const MAX_TAKEOVER_MS = 3_600_000;
/** The largest GOP cache accepted: 256 MiB, more than any GOP a live encoder makes. */
const MAX_GOP_CACHE_BYTES = 256 * 1024 * 1024;
function checkBool(key: string, v: unknown, source: Source): boolean {
  if (typeof v !== 'boolean') fail(key, v, source, 'true or false');
  return v;
}
function checkOneOf<T extends string>(key: string, v: unknown, source: Source, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !allowed.includes(v as T)) fail(key, v, source, `one of ${allowed.join(', ')}`);
  return v as T;
}

/** A list of "ip:port" (IPv6 as "[addr]:port"), from JSON or as one comma-separated flag. */
function checkAddressList(key: string, v: unknown, source: Source): string[] {
  const items = typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter((x) => x !== '') : v;
  if (!Array.isArray(items) || !items.every((x) => typeof x === 'string' && parseHostPort(x) !== undefined)) {
    fail(key, v, source, 'a list of numeric "ip:port" addresses ("[ipv6]:port" for IPv6)');
  }
  return items as string[];
}

/** The largest value each rendezvous setting takes. */
const RENDEZVOUS_MAX: ServerConfig['rendezvous'] = {
  keepaliveServerMs: 3_600_000, keepalivePeerMs: 3_600_000, maxReportedAddresses: 23,
  perSourcePerSecond: 1_000_000, perSourceBurst: 1_000_000, perTargetPerSecond: 1_000_000, perTargetBurst: 1_000_000,
};
function checkRendezvous(k: string, v: unknown, source: Source): number {
  const key = `rendezvous.${k}`;
  if (k === 'keepaliveServerMs' || k === 'keepalivePeerMs') {
    const ms = checkMs(key, v, source, RENDEZVOUS_MAX[k]);
    // RFC 7425 §5.3.4: clients use no period under 5 s.
    if (ms < 5000) fail(key, v, source, 'at least 5000 ms');
    return ms;
  }
  return checkCount(key, v, source, RENDEZVOUS_MAX[k as keyof ServerConfig['rendezvous']]);
}

/**
 * RTMFP liveness settings. Under 100 ms a ping would go out faster than a loaded path answers
 * (and a silent client could cost 10 pings a second); over an hour, a dead client is no longer
 * "noticed". More than 100 pings is no bound.
 */
type LivenessKey = 'pingAfterMs' | 'pingIntervalMs' | 'deadAfterPings';
const LIVENESS_KEYS: readonly LivenessKey[] = ['pingAfterMs', 'pingIntervalMs', 'deadAfterPings'];
function checkLiveness(k: LivenessKey, v: unknown, source: Source): number {
  const key = `rtmfp.${k}`;
  return k === 'deadAfterPings' ? checkCount(key, v, source, 100) : checkMs(key, v, source, 3_600_000, 100);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The largest value each NetGroup bound takes (beyond them a bound is no bound). */
const GROUP_LIMIT_MAX: ServerConfig['groups'] = { maxGroupsPerClient: 1000, maxMembersPerGroup: 10_000_000, joinsPerSecondPerClient: 100_000, joinsPerSecond: 1_000_000 };

/** The largest value each shared-object bound takes. */
const SHARED_OBJECT_MAX: Omit<ServerConfig['sharedObjects'], 'dataDir'> = {
  writeDelayMs: 60_000, maxObjectsPerApp: 1_000_000, maxUsersPerObject: 1_000_000, maxSlotsPerObject: 1_000_000,
  maxSlotBytes: 16 * 1024 * 1024, maxObjectBytes: 256 * 1024 * 1024, maxEventsPerMessage: 100_000,
  maxEventsPerSecondPerClient: 10_000_000, resyncDepth: 0xffffffff,
};

/** Merges a parsed config-file object into `config`, rejecting unknown keys (typos matter). */
export function applyConfigObject(config: ServerConfig, obj: unknown, source: Source): void {
  if (!isRecord(obj)) throw new ConfigError(`${source}: expected a JSON object at the top level`);
  for (const [key, value] of Object.entries(obj)) {
    switch (key) {
      case 'www': config.www = checkString('www', value, source); break;
      case 'rtmfp': case 'rtmp': {
        if (!isRecord(value)) fail(key, value, source, 'an object');
        const target = config[key];
        for (const [k, v] of Object.entries(value)) {
          const full = `${key}.${k}`;
          if (k === 'enabled') target.enabled = checkBool(full, v, source);
          else if (k === 'host') target.host = checkString(full, v, source);
          else if (k === 'port') target.port = checkPort(full, v, source);
          else if (key === 'rtmfp' && k === 'redirectTo') config.rtmfp.redirectTo = checkAddressList(full, v, source);
          else if (key === 'rtmfp' && LIVENESS_KEYS.includes(k as LivenessKey)) config.rtmfp[k as LivenessKey] = checkLiveness(k as LivenessKey, v, source);
          else throw new ConfigError(`unknown config key ${full} (in ${source}); known: enabled, host, port${key === 'rtmfp' ? `, redirectTo, ${LIVENESS_KEYS.join(', ')}` : ''}`);
        }
        break;
      }
      case 'log': {
        if (!isRecord(value)) fail(key, value, source, 'an object');
        for (const [k, v] of Object.entries(value)) {
          if (k === 'level') config.log.level = checkOneOf('log.level', v, source, LOG_LEVELS);
          else if (k === 'format') config.log.format = checkOneOf('log.format', v, source, ['pretty', 'json'] as const);
          else throw new ConfigError(`unknown config key log.${k} (in ${source}); known: level, format`);
        }
        break;
      }
      case 'media': {
        if (!isRecord(value)) fail(key, value, source, 'an object');
        for (const [k, v] of Object.entries(value)) {
          if (k === 'mergeMs') config.media.mergeMs = checkMs('media.mergeMs', v, source, 1000);
          else if (k === 'gopCacheBytes') config.media.gopCacheBytes = checkBytes('media.gopCacheBytes', v, source);
          else if (k === 'publishTakeoverMs') config.media.publishTakeoverMs = checkMs('media.publishTakeoverMs', v, source, MAX_TAKEOVER_MS);
          else throw new ConfigError(`unknown config key media.${k} (in ${source}); known: mergeMs, gopCacheBytes, publishTakeoverMs`);
        }
        break;
      }
      case 'groups': {
        if (!isRecord(value)) fail(key, value, source, 'an object');
        for (const [k, v] of Object.entries(value)) {
          if (!Object.hasOwn(GROUP_LIMIT_MAX, k)) throw new ConfigError(`unknown config key groups.${k} (in ${source}); known: ${Object.keys(GROUP_LIMIT_MAX).join(', ')}`);
          const limit = k as keyof ServerConfig['groups'];
          config.groups[limit] = checkCount(`groups.${k}`, v, source, GROUP_LIMIT_MAX[limit]);
        }
        break;
      }
      case 'sharedObjects': {
        if (!isRecord(value)) fail(key, value, source, 'an object');
        for (const [k, v] of Object.entries(value)) {
          if (k === 'dataDir') config.sharedObjects.dataDir = typeof v === 'string' ? v : fail('sharedObjects.dataDir', v, source, 'a folder path, or "" for none');
          else if (k === 'writeDelayMs') config.sharedObjects.writeDelayMs = checkMs('sharedObjects.writeDelayMs', v, source, SHARED_OBJECT_MAX.writeDelayMs);
          else if (Object.hasOwn(SHARED_OBJECT_MAX, k)) {
            const limit = k as keyof typeof SHARED_OBJECT_MAX;
            config.sharedObjects[limit] = checkCount(`sharedObjects.${k}`, v, source, SHARED_OBJECT_MAX[limit]);
          } else throw new ConfigError(`unknown config key sharedObjects.${k} (in ${source}); known: dataDir, ${Object.keys(SHARED_OBJECT_MAX).join(', ')}`);
        }
        break;
      }
      case 'rendezvous': {
        if (!isRecord(value)) fail(key, value, source, 'an object');
        for (const [k, v] of Object.entries(value)) {
          if (!Object.hasOwn(RENDEZVOUS_MAX, k)) throw new ConfigError(`unknown config key rendezvous.${k} (in ${source}); known: ${Object.keys(RENDEZVOUS_MAX).join(', ')}`);
          config.rendezvous[k as keyof ServerConfig['rendezvous']] = checkRendezvous(k, v, source);
        }
        break;
      }
      case 'lua': {
        if (!isRecord(value)) fail(key, value, source, 'an object');
        for (const [k, v] of Object.entries(value)) {
          if (k !== 'timeLimitMs' && k !== 'memoryBytes') throw new ConfigError(`unknown config key lua.${k} (in ${source}); known: timeLimitMs, memoryBytes`);
          config.lua[k] = checkLua(k, v, source);
        }
        break;
      }
      default:
        throw new ConfigError(`unknown config key ${key} (in ${source}); known: www, rtmfp, rtmp, log, media, groups, sharedObjects, rendezvous, lua`);
    }
  }
}

export function loadConfigFile(config: ServerConfig, path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  applyConfigObject(config, obj, path);
}

export interface ServeFlags {
  config?: string;
  www?: string;
  host?: string;
  rtmfpPort?: string;
  rtmpPort?: string;
  rtmfp?: boolean;
  rtmp?: boolean;
  logLevel?: string;
  logFormat?: string;
  mediaMergeMs?: string;
  groupMaxPerClient?: string;
  groupMaxMembers?: string;
  groupJoinRate?: string;
  groupJoinRatePerClient?: string;
  redirectTo?: string;
  keepaliveServerMs?: string;
  keepalivePeerMs?: string;
  gopCacheBytes?: string;
  publishTakeoverMs?: string;
  pingAfterMs?: string;
  pingIntervalMs?: string;
  deadAfterPings?: string;
  sharedObjectDir?: string;
  luaTimeLimitMs?: string;
  luaMemory?: string;
}

/** Builds the effective configuration: defaults, then the config file, then flags. */
export function resolveConfig(flags: ServeFlags, cwd = process.cwd()): ServerConfig {
  const config = defaultConfig();
  config.www = ''; // until the config file or --www names one (neither may name ''): see defaultWww
  const file = flags.config ?? (existsSync(resolve(cwd, DEFAULT_CONFIG_FILE)) ? DEFAULT_CONFIG_FILE : undefined);
  if (file) loadConfigFile(config, resolve(cwd, file));
  if (flags.www !== undefined) config.www = checkString('www', flags.www, '--www');
  if (flags.host !== undefined) {
    config.rtmfp.host = checkString('host', flags.host, '--host');
    config.rtmp.host = config.rtmfp.host;
  }
  if (flags.rtmfpPort !== undefined) config.rtmfp.port = checkPort('rtmfp.port', flags.rtmfpPort, '--rtmfp-port');
  if (flags.rtmpPort !== undefined) config.rtmp.port = checkPort('rtmp.port', flags.rtmpPort, '--rtmp-port');
  if (flags.rtmfp === false) config.rtmfp.enabled = false;
  if (flags.rtmp === false) config.rtmp.enabled = false;
  if (flags.mediaMergeMs !== undefined) config.media.mergeMs = checkMs('media.mergeMs', flags.mediaMergeMs, '--media-merge-ms', 1000);
  if (flags.groupMaxPerClient !== undefined) config.groups.maxGroupsPerClient = checkCount('groups.maxGroupsPerClient', flags.groupMaxPerClient, '--group-max-per-client', GROUP_LIMIT_MAX.maxGroupsPerClient);
  if (flags.groupMaxMembers !== undefined) config.groups.maxMembersPerGroup = checkCount('groups.maxMembersPerGroup', flags.groupMaxMembers, '--group-max-members', GROUP_LIMIT_MAX.maxMembersPerGroup);
  if (flags.groupJoinRate !== undefined) config.groups.joinsPerSecond = checkCount('groups.joinsPerSecond', flags.groupJoinRate, '--group-join-rate', GROUP_LIMIT_MAX.joinsPerSecond);
  if (flags.groupJoinRatePerClient !== undefined) config.groups.joinsPerSecondPerClient = checkCount('groups.joinsPerSecondPerClient', flags.groupJoinRatePerClient, '--group-join-rate-per-client', GROUP_LIMIT_MAX.joinsPerSecondPerClient);
  if (flags.redirectTo !== undefined) config.rtmfp.redirectTo = checkAddressList('rtmfp.redirectTo', flags.redirectTo, '--redirect-to');
  if (flags.keepaliveServerMs !== undefined) config.rendezvous.keepaliveServerMs = checkRendezvous('keepaliveServerMs', flags.keepaliveServerMs, '--keepalive-server-ms');
  if (flags.keepalivePeerMs !== undefined) config.rendezvous.keepalivePeerMs = checkRendezvous('keepalivePeerMs', flags.keepalivePeerMs, '--keepalive-peer-ms');
  if (flags.gopCacheBytes !== undefined) config.media.gopCacheBytes = checkBytes('media.gopCacheBytes', flags.gopCacheBytes, '--gop-cache-bytes');
  if (flags.publishTakeoverMs !== undefined) config.media.publishTakeoverMs = checkMs('media.publishTakeoverMs', flags.publishTakeoverMs, '--publish-takeover-ms', MAX_TAKEOVER_MS);
  if (flags.pingAfterMs !== undefined) config.rtmfp.pingAfterMs = checkLiveness('pingAfterMs', flags.pingAfterMs, '--ping-after-ms');
  if (flags.pingIntervalMs !== undefined) config.rtmfp.pingIntervalMs = checkLiveness('pingIntervalMs', flags.pingIntervalMs, '--ping-interval-ms');
  if (flags.deadAfterPings !== undefined) config.rtmfp.deadAfterPings = checkLiveness('deadAfterPings', flags.deadAfterPings, '--dead-after-pings');
  if (flags.sharedObjectDir !== undefined) config.sharedObjects.dataDir = checkString('sharedObjects.dataDir', flags.sharedObjectDir, '--shared-object-dir');
  if (config.sharedObjects.dataDir !== '') config.sharedObjects.dataDir = resolve(cwd, config.sharedObjects.dataDir);
  if (flags.luaTimeLimitMs !== undefined) config.lua.timeLimitMs = checkLua('timeLimitMs', flags.luaTimeLimitMs, '--lua-time-limit-ms');
  if (flags.luaMemory !== undefined) config.lua.memoryBytes = checkLua('memoryBytes', flags.luaMemory, '--lua-memory');
  if (flags.logLevel !== undefined) config.log.level = checkOneOf('log.level', flags.logLevel, '--log-level', LOG_LEVELS);
  if (flags.logFormat !== undefined) config.log.format = checkOneOf('log.format', flags.logFormat, '--log-format', ['pretty', 'json'] as const);
  if (!config.rtmfp.enabled && !config.rtmp.enabled) {
    throw new ConfigError('nothing to listen on: RTMFP and RTMP are both disabled (--no-rtmfp, --no-rtmp or "enabled": false in the config file)');
  }
  config.www = config.www === '' ? defaultWww(cwd) : resolve(cwd, config.www);
  if (!isFolder(config.www)) {
    throw new ConfigError(`www folder ${config.www} does not exist or is not a folder (set it with --www or "www" in the config file)`);
  }
  return config;
}
