// Remote shared objects for scripts, as FMS's server-side SharedObject: mona:sharedObject(name
// [, persistent]) opens (or creates, or loads) an object of the app's model application (the
// first segment of its path, as publications), and returns a handle with
//   so:get(key), so:set(key, value) (nil deletes), so:slots() (a copy of every slot),
//   so:version(), so:send(handler, ...) (to every user), so:lock() / so:unlock(), so:release().
// Server-side writes reach every user as Change (or Remove), with no Success anywhere (FMS: a
// server-side setProperty "always succeeds" and notifies clients only). Between lock() and the
// matching unlock() (locks nest) the writes are kept and applied as one batch under one version,
// as FMS batches a locked object's changes into one update message. A write over a size limit
// raises a Lua error and changes nothing.
//
// Each handle holds its object: while any handle holds it, the object stays loaded without users
// (a transient one keeps its slots). so:release() drops the hold (FMS's SharedObject.close), and
// so does the handle's garbage collection (FMS: a reference is valid until the script's variable
// is collected) and the app's stop or reload. Without users and holds, a transient object
// vanishes and a persistent one is unloaded (its pending write still goes out).
//
// client:onSharedObjectChange(name, key, value) may also rewrite a client's request: its answer
// goes through changeHook below (nil or true: as asked; false or error(): refused; mona.DELETE:
// the slot is deleted; any other value: stored instead).
import type { FlashServer } from '../flash/flash-server.js';
import type { ChangeDecision } from '../flash/app-hooks.js';
import type { SharedObject } from '../flash/shared-object.js';
import type { SharedObjects } from '../flash/shared-objects.js';
import type { SlotChange } from '../flash/shared-object.js';
import type { LuaApp } from './lua-apps.js';
import { LuaValues, type LuaRef, type LuaVm } from './lua-vm.js';

const LUA_SIDE = `
local api = ...
local SharedObject = {}
SharedObject.__index = SharedObject
-- A handle collected without release(): its hold goes (the host applies it after the running call).
SharedObject.__gc = function(self) local id = rawget(self, 'id') if id then api.collected(id) end end
local function check(self, what)
  if getmetatable(self) ~= SharedObject then error('call it as so:' .. what .. '(...), with a colon', 3) end
  if not self.id then error('so:' .. what .. '(): shared object "' .. self.name .. '" was released (open it again with mona:sharedObject)', 3) end
end
function SharedObject:get(key)
  check(self, 'get')
  return api.get(self.id, tostring(key))
end
function SharedObject:slots()
  check(self, 'slots')
  return api.slots(self.id)
end
function SharedObject:version()
  check(self, 'version')
  return api.version(self.id)
end
function SharedObject:set(key, value)
  check(self, 'set')
  if type(key) ~= 'string' and type(key) ~= 'number' then error('so:set(key, value): a string key, got ' .. type(key), 2) end
  local change = { k = tostring(key), v = value }
  if self.locks > 0 then self.batch[#self.batch + 1] = change return end
  local err = api.write(self.id, { change })
  if err then error(err, 2) end
end
function SharedObject:send(handler, ...)
  check(self, 'send')
  if type(handler) ~= 'string' then error('so:send(handler, ...): a handler name, got ' .. type(handler), 2) end
  api.send(self.id, handler, ...)
end
function SharedObject:lock()
  check(self, 'lock')
  self.locks = self.locks + 1
  return self.locks
end
function SharedObject:unlock()
  check(self, 'unlock')
  if self.locks == 0 then error('so:unlock() without a lock()', 2) end
  self.locks = self.locks - 1
  if self.locks > 0 or #self.batch == 0 then return self.locks end
  local batch = self.batch
  self.batch = {}
  local err = api.write(self.id, batch)
  if err then error(err, 2) end
  return 0
end
function SharedObject:release()
  if getmetatable(self) ~= SharedObject then error('call it as so:release(), with a colon', 2) end
  if not self.id then return end
  if self.locks > 0 then error('so:release() inside so:lock(): unlock() first (its writes would be lost)', 2) end
  local id = self.id
  self.id = nil
  api.release(id)
end

-- What client:onSharedObjectChange answered, for the host: 'keep', 'refuse', 'delete' or 'set', value.
local DELETE = setmetatable({}, { __tostring = function() return 'mona.DELETE' end, __newindex = function() error('mona.DELETE is a constant', 2) end })
local function changeHook(client, name, key, value)
  local f = rawget(client, 'onSharedObjectChange')
  if type(f) ~= 'function' then return 'keep' end
  local answer = f(client, name, key, value)
  if answer == nil or answer == true then return 'keep' end
  if answer == false then return 'refuse' end
  if rawequal(answer, DELETE) then return 'delete' end
  local t = type(answer)
  if t ~= 'string' and t ~= 'number' and t ~= 'table' then
    error('onSharedObjectChange returned a ' .. t .. ': return nothing (as asked), false (refused), mona.DELETE, or the value to store', 0)
  end
  return 'set', answer
end

local function open(path, name, persistent)
  if type(name) ~= 'string' or name == '' then error('mona:sharedObject(name[, persistent]): a name, got ' .. type(name), 2) end
  persistent = persistent == true
  local id, err = api.open(path, name, persistent)
  if not id then error(err, 2) end
  return setmetatable({ name = name, persistent = persistent, id = id, locks = 0, batch = {} }, SharedObject)
end
-- (DELETE through a function: a table returned to JS would arrive as a copy, not a reference.)
return function(path) return function(name, persistent) return open(path, name, persistent) end end, function() return DELETE end, changeHook
`;

/** A script's handle on an object (its hold), by the id its Lua table carries. */
interface Handle {
  all: SharedObjects;
  object: SharedObject;
  app: LuaApp;
}

export class LuaSharedObjects {
  /** client:onSharedObjectChange's caller: (client, name, key, value) -> 'keep' | 'refuse' | 'delete' | 'set', value. */
  readonly changeHook: LuaRef;
  private flash: FlashServer | undefined;
  private readonly handles = new Map<number, Handle>();
  /** Running apps by path (a handle belongs to the app that opened it). */
  private readonly apps = new Map<string, LuaApp>();
  private nextId = 1;
  /** Handles collected by Lua's GC, released after the call that collected them. */
  private collected: number[] = [];
  private readonly opener: LuaRef;
  private readonly deleteConstant: LuaRef;

  constructor(private readonly vm: LuaVm) {
    const handle = (id: unknown): Handle => {
      const found = this.handles.get(Number(id));
      if (found === undefined) throw new Error('shared object handle released');
      return found;
    };
    const api = {
      open: vm.hostFunction((args) => {
        if (this.flash === undefined) throw new Error('mona:sharedObject: the server is not running yet (call it from onStart or later)');
        const path = String(args[0]);
        const app = this.appOf(path);
        const all = this.flash.sharedObjectsOf(path.split('/')[0]!);
        const held = all.hold(String(args[1]), args[2] === true);
        if (typeof held === 'string') return new LuaValues([undefined, held]);
        const id = this.nextId++;
        this.handles.set(id, { all, object: held, app });
        return id;
      }),
      get: vm.hostFunction((args) => handle(args[0]).object.get(String(args[1]))),
      slots: vm.hostFunction((args) => handle(args[0]).object.snapshot().slots),
      version: vm.hostFunction((args) => handle(args[0]).object.version),
      write: vm.hostFunction((args) => {
        const { all, object } = handle(args[0]);
        const entries = Array.isArray(args[1]) ? (args[1] as Array<{ k?: unknown; v?: unknown }>) : Object.values((args[1] ?? {}) as Record<string, { k?: unknown; v?: unknown }>);
        const changes: SlotChange[] = entries.map((e) => ({ key: String(e.k), value: e.v ?? undefined }));
        return all.write(object, changes);
      }),
      send: vm.hostFunction((args) => handle(args[0]).object.send(String(args[1]), args.slice(2))),
      release: vm.hostFunction((args) => this.release(Number(args[0]))),
      collected: vm.hostFunction((args) => {
        // Inside a collection, in the middle of some Lua code: nothing changes until it is over.
        if (this.collected.push(Number(args[0])) === 1) queueMicrotask(() => this.releaseCollected());
      }),
    };
    const chunk = vm.load(LUA_SIDE, '=covey-shared-objects');
    const [opener, deleteGetter, changeHook] = vm.call(chunk, [api]) as LuaRef[];
    vm.release(chunk);
    this.opener = opener!;
    this.deleteConstant = vm.callForRef(deleteGetter!);
    vm.release(deleteGetter!);
    this.changeHook = changeHook!;
  }

  /** The model the objects live in (the server makes it after the Lua host). */
  attach(flash: FlashServer): void {
    this.flash = flash;
  }

  /**
   * An app's mona fields: sharedObject (released with the app's other refs; the app's holds are
   * released when it stops) and DELETE (client:onSharedObjectChange's answer that deletes).
   */
  monaFieldsFor(app: LuaApp): { sharedObject: LuaRef; DELETE: LuaRef } {
    const sharedObject = this.vm.callForRef(this.opener, [app.path]);
    app.refs.push(sharedObject);
    this.apps.set(app.path, app);
    app.onStop.push(() => {
      for (const [id, h] of this.handles) if (h.app === app) this.release(id);
      if (this.apps.get(app.path) === app) this.apps.delete(app.path);
    });
    return { sharedObject, DELETE: this.deleteConstant };
  }

  /** Turns the hook's answer into the model's: see changeHook in LUA_SIDE. */
  static decision(answer: unknown[], refused: string): ChangeDecision {
    switch (answer[0]) {
      case 'refuse':
        return refused;
      case 'delete':
        return { value: undefined };
      case 'set':
        return { value: answer[1] };
      default:
        return undefined;
    }
  }

  /** Live handles (tests and stats). */
  get handleCount(): number {
    return this.handles.size;
  }

  private appOf(path: string): LuaApp {
    const app = this.apps.get(path);
    if (app === undefined) throw new Error(`application /${path} is not running`);
    return app;
  }

  private release(id: number): void {
    const h = this.handles.get(id);
    if (h === undefined) return;
    this.handles.delete(id);
    h.all.unhold(h.object);
  }

  private releaseCollected(): void {
    const ids = this.collected;
    this.collected = [];
    for (const id of ids) this.release(id);
  }
}
