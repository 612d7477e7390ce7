// Each app's `mona` object (the runtime wraps each function so that mona.f(x) and mona:f(x) both work) (MonaServer2's global, one per app here so that timers and clients
// belong to the app that made them and stop with it): setTimer, clients, JSON and AMF codecs,
// hashes and HMACs, configuration values.
//
// hash/hmac use the algorithm asked for: MonaServer2 maps MD5, SHA1 and SHA256 all to MD5
// (LUAMona.cpp L314-316), which Covey does not copy.
import { createHash, createHmac } from 'node:crypto';
import { decodeAmf0, encodeAmf0 } from '../codec/amf0.js';
import type { LuaApp } from './lua-apps.js';
import { LuaRef, LuaValues, type LuaVm } from './lua-vm.js';

const ALGORITHMS = new Set(['md5', 'sha1', 'sha256']);
/** Environment variables with this prefix are configuration values for scripts (mona.config). */
export const CONFIG_ENV_PREFIX = 'COVEY_APP_';

/** Configuration values scripts read as mona.config.NAME: COVEY_APP_NAME=value in the environment. */
export function scriptConfig(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (key.startsWith(CONFIG_ENV_PREFIX) && value !== undefined) config[key.slice(CONFIG_ENV_PREFIX.length)] = value;
  return config;
}

export interface MonaApiHost {
  vm: LuaVm;
  config: Record<string, string>;
  /** A timer's callback failed: logged for its app. */
  timerFailed(app: LuaApp, err: unknown): void;
}

export function monaFor(app: LuaApp, host: MonaApiHost): Record<string, unknown> {
  const { vm } = host;
  const fn = (f: Parameters<LuaVm['hostFunction']>[0]): LuaRef => {
    const ref = vm.hostFunction(f);
    app.refs.push(ref);
    return ref;
  };
  // The app's clients by id; the hooks add and remove them.
  const clients = vm.ref({});
  app.refs.push(clients);
  app.clientsTable = clients;

  const setTimer = fn((args) => {
    const [callback, delay] = args;
    if (!(callback instanceof LuaRef)) throw new Error('mona:setTimer(function, delay in ms) needs a function');
    app.refs.push(callback);
    let last = Date.now();
    let timer: NodeJS.Timeout;
    const fire = () => {
      app.timers.delete(timer);
      if (app.env === undefined) return;
      const now = Date.now();
      let next: unknown;
      try {
        [next] = vm.call(callback, [now - last]);
      } catch (err) {
        host.timerFailed(app, err);
        return;
      }
      last = now;
      if (typeof next === 'number' && next > 0) arm(next);
    };
    const arm = (ms: number) => {
      timer = setTimeout(fire, ms);
      app.timers.add(timer);
    };
    // Without a delay the callback runs at once and its return value is the first delay (MonaServer2).
    arm(typeof delay === 'number' && delay > 0 ? delay : 0);
    return undefined;
  });

  const digest = (name: string, algorithm: unknown): string => {
    const a = String(algorithm ?? '').toLowerCase();
    if (!ALGORITHMS.has(a)) throw new Error(`mona:${name}: unknown algorithm ${String(algorithm)} (mona.MD5, mona.SHA1 or mona.SHA256)`);
    return a;
  };
  // Hash and HMAC results are raw bytes, as MonaServer's; hex gives them in hexadecimal.
  const hash = fn((args, _where, raw) => createHash(digest('hash', args[0])).update(raw(1)).digest());
  const hmac = fn((args, _where, raw) => createHmac(digest('hmac', args[0]), raw(1)).update(raw(2)).digest());
  const hex = fn((_args, _where, raw) => raw(0).toString('hex'));
  const toJSON = fn((args) => JSON.stringify(args[0] ?? null));
  const fromJSON = fn((args) => {
    const text = String(args[0] ?? '');
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new Error(`mona:fromJSON: ${(err as Error).message}`);
    }
  });
  const toAMF = fn((args) => encodeAmf0(...args));
  const fromAMF = fn((_args, _where, raw) => {
    try {
      return new LuaValues(decodeAmf0(raw(0)));
    } catch (err) {
      throw new Error(`mona:fromAMF: ${(err as Error).message}`);
    }
  });
  return {
    setTimer, clients, hash, hmac, hex, toJSON, fromJSON, toAMF, toAMF0: toAMF, fromAMF, fromAMF0: fromAMF,
    MD5: 'md5', SHA1: 'sha1', SHA256: 'sha256',
    config: host.config,
  };
}
