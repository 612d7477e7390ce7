// Lua apps for a running server: one sandboxed state for the www/ tree (apps inherit from their
// parents, so they share it, as in MonaServer), the apps, their AppHooks, timers and onManage.
//
// Limits: each call into a script may take LUA_TIME_LIMIT_MS, and the state LUA_MEMORY_BYTES.
import type { AppHooks } from '../flash/app-hooks.js';
import type { Logger } from '../util/log.js';
import { LuaAppHooks } from './lua-app-hooks.js';
import { installRuntime } from './lua-app-runtime.js';
import { LuaApps, type LuaApp } from './lua-apps.js';
import { createSandbox } from './lua-sandbox.js';
import { LuaRef } from './lua-vm.js';
import { ScriptFiles } from './lua-modules.js';
import { LuaPublications } from './lua-publications.js';
import { LuaGroups } from './lua-groups.js';
import { LuaSharedObjects } from './lua-shared-objects.js';
import type { FlashServer } from '../flash/flash-server.js';
import { monaFor, scriptConfig } from './lua-mona-api.js';

/** A script's call may run this long (a callback blocks the server while it runs). */
export const LUA_TIME_LIMIT_MS = 1000;
/** Heap of the apps' Lua state; a fresh state uses about 18 KB. */
export const LUA_MEMORY_BYTES = 64 * 1024 * 1024;
/** onManage period, as MonaServer v1 and Cumulus. */
export const MANAGE_PERIOD_MS = 2000;

export interface LuaHostOptions {
  www: string;
  log: Logger;
  timeLimitMs?: number;
  memoryBytes?: number;
  /**
   * The model, when it exists already: given here, scripts reach it from their first onStart
   * (mona:sharedObject, mona:publish); otherwise from attach() on.
   */
  flash?: FlashServer;
}

export interface LuaHost {
  hooks: AppHooks;
  apps: LuaApps;
  /**
   * onHandshake(protocol, address, path, properties) of the app `url` names, before the
   * connection is accepted: addresses ("host:port") to redirect it to, false to keep it here,
   * undefined when the script says nothing (or there is no such app).
   */
  handshake(protocol: string, address: string, url: string): string[] | false | undefined;
  /** Whether the root app (or the globals) defines this event now. */
  rootDefines(event: string): boolean;
  /** The root app's onRendezVousUnknown(protocol, peerId): where that peer may be instead. */
  rendezVousUnknown(protocol: string, peerId: string): string[] | undefined;
  /** Gives scripts the model (mona:publish, mona.publications); the server calls it once made. */
  attach(flash: FlashServer): void;
  close(): void;
}

const LEVELS: Record<string, 'error' | 'warn' | 'info' | 'debug' | 'trace'> = { ERROR: 'error', WARN: 'warn', NOTE: 'info', INFO: 'info', DEBUG: 'debug', TRACE: 'trace' };

export async function startLuaHost(options: LuaHostOptions): Promise<LuaHost> {
  const log = options.log;
  const vm = await createSandbox(
    { timeLimitMs: options.timeLimitMs ?? LUA_TIME_LIMIT_MS, memoryBytes: options.memoryBytes ?? LUA_MEMORY_BYTES },
    (line, where) => log.info({ at: where }, line),
  );
  log.info({ timeLimitMs: vm.options.timeLimitMs, memoryBytes: vm.options.memoryBytes }, 'Lua state ready (each call limited in time, the state in memory)');
  let hooks: LuaAppHooks | undefined;
  const files = new ScriptFiles(options.www);
  const publications = new LuaPublications();
  const groups = new LuaGroups();
  const sharedObjects = new LuaSharedObjects(vm);
  const appAt = (path: string): LuaApp => {
    const app = apps.apps.get(path);
    if (app === undefined || app.env === undefined) throw new Error(`application /${path} is not running`);
    return app;
  };
  const runtime = installRuntime(vm, {
    log: (level, message, where) => log[LEVELS[level] ?? 'info']({ at: where }, message),
    invoke: (clientId, name, args) => {
      const entry = hooks?.clients.get(clientId);
      if (entry === undefined) throw new Error(`writeInvocation: client ${clientId} is gone`);
      const callback = args.at(-1) instanceof LuaRef ? (args.pop() as LuaRef) : undefined;
      // Without a callback nobody waits for the answer: the call goes as transaction 0.
      if (callback === undefined) {
        entry.client.notify(name, ...args);
        return;
      }
      const answer = (values: unknown[]) => {
        try {
          vm.call(callback, values);
        } catch (err) {
          apps.reportError(entry.app, `writeInvocation ${name} callback failed`, err);
        } finally {
          vm.release(callback);
        }
      };
      entry.client.call(name, ...args).then((value) => answer([value]), (err: Error) => answer([null, err.message]));
    },
    close: (clientId, reason) => hooks?.clients.get(clientId)?.client.disconnect(reason ?? 'closed by the application'),
    resolve: (appPath, caller, name, kind) => files.resolve(appPath, caller, name, kind),
    read: (file) => files.read(file),
    publish: (path, name) => publications.publish(appAt(path), name),
    media: (id, kind, time, packet) => publications.push(id, kind, time, packet),
    data: (id, payload) => publications.pushData(id, payload),
    properties: (id, properties) => publications.setProperties(id, properties),
    unpublish: (id) => publications.close(id),
    listPublications: (path) => publications.list(appAt(path)),
    findPublication: (path, name) => publications.find(appAt(path), name),
    listGroups: (path) => groups.list(appAt(path)),
    findGroup: (path, id) => groups.find(appAt(path), id),
    memberSet: (clientId, name) => hooks?.memberSet(clientId, name),
  });

  const config = scriptConfig();
  const monaHost = { vm, config, timerFailed: (app: LuaApp, err: unknown) => apps.reportError(app, 'timer failed (stopped)', err) };
  if (options.flash !== undefined) {
    publications.attach(options.flash);
    groups.attach(options.flash);
    sharedObjects.attach(options.flash);
  }
  const apps = new LuaApps({ www: options.www, vm, runtime, log, monaFor: (app) => ({ ...monaFor(app, monaHost), ...sharedObjects.monaFieldsFor(app) }) });
  hooks = new LuaAppHooks(vm, runtime, apps, sharedObjects);
  apps.startAll();
  const manage = setInterval(() => {
    for (const app of apps.apps.values()) {
      if (app.env === undefined || app.failure !== undefined) continue;
      try {
        vm.call(runtime.ownEvent, [app.env, 'onManage']);
      } catch (err) {
        apps.reportError(app, 'onManage failed', err);
      }
    }
    // data is saved here too: at most one period is lost to a crash.
    apps.saveAll();
  }, MANAGE_PERIOD_MS);
  manage.unref();
  /** A script's answer as addresses: a string, a list of them, false, or nothing. */
  const addresses = (app: LuaApp, event: string, values: unknown[] | undefined): string[] | false | undefined => {
    const value = values?.[0];
    if (value === false) return false;
    if (value === undefined || value === null) return undefined;
    const list = Array.isArray(value) ? value : [value];
    if (list.every((a) => typeof a === 'string')) return list as string[];
    apps.reportError(app, `${event} returned ${JSON.stringify(value)}`, new Error('expected an address "host:port", a list of them, false or nothing'));
    return undefined;
  };
  const handshake = (protocol: string, address: string, url: string): string[] | false | undefined => {
    let path = '';
    let properties: Record<string, string> = {};
    try {
      const parsed = new URL(url);
      path = decodeURIComponent(parsed.pathname).replace(/^\/+|\/+$/g, '');
      properties = Object.fromEntries(parsed.searchParams);
    } catch {
      return undefined;
    }
    const app = apps.route(path)?.app;
    if (app === undefined || app.env === undefined || app.failure !== undefined) return undefined;
    try {
      return addresses(app, 'onHandshake', apps.event(app, 'onHandshake', [protocol, address, path, properties]));
    } catch (err) {
      apps.reportError(app, 'onHandshake failed', err);
      return undefined;
    }
  };
  const rendezVousUnknown = (protocol: string, peerId: string): string[] | undefined => {
    const root = apps.apps.get('');
    if (root === undefined || root.env === undefined || root.failure !== undefined) return undefined;
    try {
      return addresses(root, 'onRendezVousUnknown', apps.event(root, 'onRendezVousUnknown', [protocol, peerId])) || undefined;
    } catch (err) {
      apps.reportError(root, 'onRendezVousUnknown failed', err);
      return undefined;
    }
  };
  const rootDefines = (event: string): boolean => {
    const root = apps.apps.get('');
    if (root === undefined || root.env === undefined || root.failure !== undefined) return false;
    return vm.call(runtime.defines, [root.env, event])[0] === true;
  };
  return {
    hooks,
    apps,
    handshake,
    rootDefines,
    rendezVousUnknown,
    attach: (flash) => {
      publications.attach(flash);
      groups.attach(flash);
      sharedObjects.attach(flash);
    },
    close: () => {
      clearInterval(manage);
      apps.close();
      vm.close();
    },
  };
}
