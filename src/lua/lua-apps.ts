// The tree of Lua apps under www/, as MonaServer: www/main.lua is the root app, www/a/b/main.lua
// the app for /a/b, and a folder without main.lua is an app too (it inherits everything). Each
// app's environment falls back to its parent's, so a child sees and may override its parent's
// globals and events; `super` names the parent.
//
// Hot reload: the tree is polled once a second (as MonaServer2's file watcher). A changed, added or
// removed main.lua stops that app and its children (onStop, their clients closed with
// NetConnection.Connect.AppShutdown, timers stopped), rebuilds their environments and starts them
// again (onStart). Siblings are untouched. A script that fails to load is logged with file:line
// and its app refuses connections with that message until the file changes.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { FlashClient } from '../flash/flash-client.js';
import { statusInfo } from '../flash/status.js';
import type { Logger } from '../util/log.js';
import type { LuaAppRuntime } from './lua-app-runtime.js';
import { dataFile, encodeData, loadData, saveAtomically } from './lua-data-store.js';
import { LuaError, type LuaRef, type LuaVm } from './lua-vm.js';

/** Folder depth searched under www/ (www/a/b/c/... ). */
const MAX_DEPTH = 8;
const FOLDER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
/** How often www/ is looked at for changed main.lua files (MonaServer2 polls about once a second). */
export const RELOAD_POLL_MS = 1000;

export interface LuaClientEntry {
  client: FlashClient;
  ref: LuaRef;
  app: LuaApp;
}

export interface LuaApp {
  /** "" for the root, "a/b" for www/a/b. */
  path: string;
  /** main.lua's path, when the folder has one. */
  file: string | undefined;
  /** What identifies the file's version (mtime and size); "" without a file. */
  stamp: string;
  env: LuaRef | undefined;
  /** Why the app refuses connections (its script failed to load), with file:line. */
  failure: string | undefined;
  timers: Set<NodeJS.Timeout>;
  clients: Set<LuaClientEntry>;
  /** What to undo when the app stops (publications it made...), run after onStop. */
  onStop: Array<() => void>;
  /** Host function refs made for this app (its mona table), released when it stops. */
  refs: LuaRef[];
  /** mona.clients: the app's Lua client objects by id. */
  clientsTable: LuaRef | undefined;
  /** The bytes of `data` last saved (or loaded), so an unchanged table is not written again. */
  savedData: Buffer | undefined;
}

export interface LuaAppsOptions {
  www: string;
  vm: LuaVm;
  runtime: LuaAppRuntime;
  log: Logger;
  /** Builds an app's `mona` table (timers and the rest), given the app. */
  monaFor(app: LuaApp): Record<string, unknown>;
}

export class LuaApps {
  readonly apps = new Map<string, LuaApp>();
  private readonly poller: NodeJS.Timeout;

  constructor(private readonly options: LuaAppsOptions) {
    for (const [path, file] of this.scan()) this.apps.set(path, this.newApp(path, file));
    this.poller = setInterval(() => this.poll(), RELOAD_POLL_MS);
    this.poller.unref();
  }

  /**
   * Runs every app (onStart), parents first. Apart from the constructor, so that what the scripts
   * call from onStart (mona:publish, mona.publications) finds this object made.
   */
  startAll(): void {
    for (const path of this.sortedPaths()) this.start(this.apps.get(path)!);
  }

  /** The app a connect path (app + instance) goes to: the deepest folder along it. */
  route(path: string): { app: LuaApp; rest: string } | undefined {
    const parts = path.split('/').filter((p) => p !== '');
    // The root app serves the empty path only; "/unknown" is no app (MonaServer: "doesn't exist").
    for (let n = parts.length; n >= (parts.length === 0 ? 0 : 1); n--) {
      const app = this.apps.get(parts.slice(0, n).join('/'));
      if (app) return { app, rest: parts.slice(n).join('/') };
    }
    return undefined;
  }

  /** Calls an app event (inherited ones too); undefined when no app in the chain defines it. */
  event(app: LuaApp, name: string, args: unknown[]): unknown[] | undefined {
    if (app.env === undefined) return undefined;
    const [found, ...values] = this.options.vm.call(this.options.runtime.event, [app.env, name, ...args]);
    return found === true ? values : undefined;
  }

  /** Logs a script error with the app and its file:line (in the message), and returns the message. */
  reportError(app: LuaApp, what: string, err: unknown): string {
    const message = err instanceof Error ? err.message : String(err);
    const kind = err instanceof LuaError ? err.kind : 'error';
    this.options.log.error({ app: `/${app.path}`, kind }, `${what}: ${message}`);
    return message;
  }

  close(): void {
    clearInterval(this.poller);
    for (const path of this.sortedPaths().reverse()) this.stop(this.apps.get(path)!, 'server stopping');
  }

  /** Folders under www/ with their main.lua, if any (path -> file or undefined). */
  private scan(): Map<string, { file: string | undefined; stamp: string }> {
    const found = new Map<string, { file: string | undefined; stamp: string }>();
    const visit = (dir: string, path: string, depth: number) => {
      const file = join(dir, 'main.lua');
      let stamp = '';
      try {
        const st = statSync(file);
        if (st.isFile()) stamp = `${st.mtimeMs}:${st.size}`;
      } catch {
        // No main.lua: the app inherits.
      }
      found.set(path, { file: stamp === '' ? undefined : file, stamp });
      if (depth >= MAX_DEPTH) return;
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) if (e.isDirectory() && FOLDER_NAME.test(e.name)) visit(join(dir, e.name), path === '' ? e.name : `${path}/${e.name}`, depth + 1);
    };
    visit(this.options.www, '', 0);
    return found;
  }

  private newApp(path: string, found: { file: string | undefined; stamp: string }): LuaApp {
    return { path, file: found.file, stamp: found.stamp, env: undefined, failure: undefined, timers: new Set(), clients: new Set(), onStop: [], refs: [], clientsTable: undefined, savedData: undefined };
  }

  /** Paths parents first. */
  private sortedPaths(): string[] {
    return [...this.apps.keys()].sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a.split('/').length - b.split('/').length || a.localeCompare(b)));
  }

  private parentOf(path: string): LuaApp | undefined {
    if (path === '') return undefined;
    const slash = path.lastIndexOf('/');
    return this.apps.get(slash < 0 ? '' : path.slice(0, slash));
  }

  private start(app: LuaApp): void {
    const { vm, runtime } = this.options;
    const parent = this.parentOf(app.path);
    const mona = this.options.monaFor(app);
    app.failure = undefined;
    let data: Record<string, unknown> = {};
    const file = dataFile(this.options.www, app.path);
    try {
      data = loadData(file);
      app.savedData = encodeData(data);
    } catch (err) {
      // Never start on an empty table over data that exists: the next save would erase it.
      app.failure = this.reportError(app, `cannot read ${file}`, err);
    }
    app.env = vm.callForRef(runtime.newEnv, [parent?.env, app.path, mona, data]);
    if (app.file === undefined || app.failure !== undefined) return;
    // Named from www/'s own folder ("www/live/main.lua"): short enough that Lua never elides it.
    const chunkName = `@${relative(dirname(this.options.www), app.file)}`;
    try {
      const code = readFileSync(app.file, 'utf8');
      vm.call(runtime.run, [code, chunkName, app.env]);
    } catch (err) {
      app.failure = this.reportError(app, 'cannot load the app', err);
      return;
    }
    try {
      this.event(app, 'onStart', [app.path]);
    } catch (err) {
      this.reportError(app, 'onStart failed', err);
    }
    this.options.log.info({ app: `/${app.path}`, file: app.file }, 'Lua app started');
  }

  /** Writes the app's `data` when it changed since the last save. */
  saveData(app: LuaApp): void {
    if (app.env === undefined || app.failure !== undefined) return;
    try {
      const [data] = this.options.vm.call(this.options.runtime.data, [app.env]);
      const bytes = encodeData(data ?? {});
      if (app.savedData !== undefined && bytes.equals(app.savedData)) return;
      saveAtomically(dataFile(this.options.www, app.path), bytes);
      app.savedData = bytes;
    } catch (err) {
      this.reportError(app, 'cannot save data', err);
    }
  }

  /** Saves every app's data (each onManage tick, and at stop). */
  saveAll(): void {
    for (const app of this.apps.values()) this.saveData(app);
  }

  /** Stops one app: onStop (when asked), its data saved, its clients closed, its timers cleared. */
  private stop(app: LuaApp, why: string): void {
    const { vm } = this.options;
    if (app.env !== undefined && app.failure === undefined && app.file !== undefined) {
      try {
        vm.call(this.options.runtime.ownEvent, [app.env, 'onStop', app.path]);
      } catch (err) {
        this.reportError(app, 'onStop failed', err);
      }
    }
    this.saveData(app);
    for (const undo of app.onStop.splice(0)) {
      try {
        undo();
      } catch (err) {
        this.reportError(app, 'stopping', err);
      }
    }
    for (const timer of app.timers) clearTimeout(timer);
    app.timers.clear();
    for (const entry of [...app.clients]) {
      app.clients.delete(entry);
      vm.release(entry.ref);
      entry.client.sendStatus(statusInfo('error', 'NetConnection.Connect.AppShutdown', `application /${app.path} ${why}`));
      entry.client.disconnect(`application /${app.path} ${why}`);
    }
    for (const ref of app.refs) vm.release(ref);
    app.refs = [];
    app.clientsTable = undefined;
    if (app.env !== undefined) vm.release(app.env);
    app.env = undefined;
  }

  private poll(): void {
    const now = this.scan();
    const changed: string[] = [];
    for (const [path, found] of now) {
      const app = this.apps.get(path);
      if (app === undefined || app.stamp !== found.stamp) changed.push(path);
    }
    for (const path of this.apps.keys()) if (!now.has(path)) changed.push(path);
    if (changed.length === 0) return;
    // Reload each changed app that has no changed ancestor, with its whole branch.
    const tops = changed.filter((p) => !changed.some((q) => q !== p && (q === '' || p.startsWith(`${q}/`))));
    for (const top of tops) this.reload(top, now);
  }

  private reload(top: string, now: Map<string, { file: string | undefined; stamp: string }>): void {
    const inBranch = (p: string) => top === '' || p === top || p.startsWith(`${top}/`);
    const branch = this.sortedPaths().filter(inBranch);
    const old = this.apps.get(top);
    const why = now.has(top) ? (old === undefined ? 'added' : old.file === undefined && now.get(top)!.file !== undefined ? 'added main.lua' : now.get(top)!.file === undefined ? 'removed main.lua' : 'reloaded (main.lua changed)') : 'removed';
    this.options.log.info({ app: `/${top}`, apps: branch.length }, `Lua app ${why}: reloading its branch`);
    // Parents first for onStop too (MonaServer2 stops the app, then its children).
    for (const path of branch) {
      this.stop(this.apps.get(path)!, why === 'removed' ? 'removed' : 'reloaded');
      this.apps.delete(path);
    }
    this.options.vm.call(this.collector);
    for (const [path, found] of now) if (inBranch(path)) this.apps.set(path, this.newApp(path, found));
    for (const path of this.sortedPaths().filter(inBranch)) this.start(this.apps.get(path)!);
  }

  private get collector(): LuaRef {
    return (this.collectRef ??= this.options.vm.load('collectgarbage()', '=collect'));
  }

  private collectRef: LuaRef | undefined;
}
