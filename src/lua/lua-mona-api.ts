// Each app's `mona` object (the runtime wraps each function so that mona.f(x) and mona:f(x) both work) (MonaServer2's global, one per app here so that timers and clients
// belong to the app that made them and stop with it): timers, clients, JSON and AMF codecs,
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

  // Timers (MonaServer2's mona:setTimer): the timer objects live in Lua (lua-app-runtime.ts),
  // pinned there while armed; here each timer id has at most one pending setTimeout, cleared with
  // the app. `fire` is the app's Lua function that runs timer `id` and re-arms it by its result.
  let fire: LuaRef | undefined;
  const pending = new Map<number, { handle?: NodeJS.Timeout; last: number; due: number }>();
  const timerState = (id: number) => {
    let state = pending.get(id);
    if (state === undefined) pending.set(id, (state = { last: Date.now(), due: 0 }));
    return state;
  };
  const timer = {
    init: fn((args) => {
      if (!(args[0] instanceof LuaRef)) throw new Error('timer init needs a function');
      fire = args[0];
      app.refs.push(fire);
    }),
    // arm(id, ms): fire after ms; 0 stops it.
    arm: fn((args) => {
      const id = Number(args[0]);
      const ms = Number(args[1]);
      const state = timerState(id);
      if (state.handle !== undefined) {
        clearTimeout(state.handle);
        app.timers.delete(state.handle);
        state.handle = undefined;
      }
      if (!(ms > 0)) {
        // Stopped: a timer re-armed later counts its elapsed time from then.
        pending.delete(id);
        return;
      }
      state.due = Date.now() + ms;
      const handle = setTimeout(() => {
        app.timers.delete(handle);
        state.handle = undefined;
        state.due = 0;
        if (app.env === undefined || fire === undefined) return;
        const now = Date.now();
        const elapsed = now - state.last;
        state.last = now;
        try {
          vm.call(fire, [id, elapsed]);
        } catch (err) {
          host.timerFailed(app, err);
        }
      }, ms);
      state.handle = handle;
      app.timers.add(handle);
    }),
    // elapsed(id): ms since the timer was made or last fired (the callback's argument), now a firing.
    elapsed: fn((args) => {
      const state = timerState(Number(args[0]));
      const now = Date.now();
      const elapsed = now - state.last;
      state.last = now;
      return elapsed;
    }),
    // due(id): when the timer fires next (ms since the epoch), 0 when it is stopped.
    due: fn((args) => pending.get(Number(args[0]))?.due ?? 0),
  };

  const digest = (name: string, algorithm: unknown): string => {
    const a = String(algorithm ?? '').toLowerCase();
    if (!ALGORITHMS.has(a)) throw new Error(`mona:${name}: unknown algorithm ${String(algorithm)} (mona.MD5, mona.SHA1 or mona.SHA256)`);
    return a;
  };
  // Hash and HMAC results are raw bytes, as MonaServer's; hex gives them in hexadecimal.
  const hash = fn((args, _where, raw) => createHash(digest('hash', args[0])).update(raw(1)).digest());
  const hmac = fn((args, _where, raw) => createHmac(digest('hmac', args[0]), raw(1)).update(raw(2)).digest());
  const hex = fn((_args, _where, raw) => raw(0).toString('hex'));
  // As MonaServer v1 and v2: toJSON writes all its arguments as one JSON array (toJSON(t) is
  // "[t]"), and fromJSON gives an array's items back as that many values, so each is the other's
  // inverse. A JSON text that is not an array (which MonaServer reads as nothing, or an object as
  // itself) is returned as one value here.
  const toJSON = fn((args) => JSON.stringify(args.map((v) => v ?? null)));
  const fromJSON = fn((args) => {
    const text = String(args[0] ?? '');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new Error(`mona:fromJSON: ${(err as Error).message}`);
    }
    return Array.isArray(value) ? new LuaValues(value) : value;
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
    _timer: timer, clients, hash, hmac, hex, toJSON, fromJSON, toAMF, toAMF0: toAMF, fromAMF, fromAMF0: fromAMF,
    MD5: 'md5', SHA1: 'sha1', SHA256: 'sha256',
    config: host.config,
  };
}
