// Remote shared objects for scripts, as FMS's server-side SharedObject: mona:sharedObject(name
// [, persistent]) opens (or creates, or loads) an object of the app's model application (the
// first segment of its path, as publications), and returns an object with
//   so:get(key), so:set(key, value) (nil deletes), so:slots() (a copy of every slot),
//   so:version(), so:send(handler, ...) (to every user), so:lock() / so:unlock(),
// Server-side writes reach every user as Change (or Remove), with no Success anywhere (FMS: a
// server-side setProperty "always succeeds" and notifies clients only). Between lock() and the
// matching unlock() (locks nest) the writes are kept and applied as one batch under one version,
// as FMS batches a locked object's changes into one update message. A write over a size limit
// raises a Lua error and changes nothing. An object a script opened stays loaded while users
// come and go, until the app's application holds no users of it and a user releases it.
import type { FlashServer } from '../flash/flash-server.js';
import type { SharedObjects } from '../flash/shared-objects.js';
import type { SlotChange } from '../flash/shared-object.js';
import type { LuaApp } from './lua-apps.js';
import type { LuaRef, LuaVm } from './lua-vm.js';

const LUA_SIDE = `
local api, path = ...
local SharedObject = {}
SharedObject.__index = SharedObject
local function check(self, what)
  if getmetatable(self) ~= SharedObject then error('call it as so:' .. what .. '(...), with a colon', 3) end
end
function SharedObject:get(key)
  check(self, 'get')
  return api.get(path, self.name, self.persistent, tostring(key))
end
function SharedObject:slots()
  check(self, 'slots')
  return api.slots(path, self.name, self.persistent)
end
function SharedObject:version()
  check(self, 'version')
  return api.version(path, self.name, self.persistent)
end
function SharedObject:set(key, value)
  check(self, 'set')
  if type(key) ~= 'string' and type(key) ~= 'number' then error('so:set(key, value): a string key, got ' .. type(key), 2) end
  local change = { k = tostring(key), v = value }
  if self.locks > 0 then self.batch[#self.batch + 1] = change return end
  local err = api.write(path, self.name, self.persistent, { change })
  if err then error(err, 2) end
end
function SharedObject:send(handler, ...)
  check(self, 'send')
  if type(handler) ~= 'string' then error('so:send(handler, ...): a handler name, got ' .. type(handler), 2) end
  local err = api.send(path, self.name, self.persistent, handler, ...)
  if err then error(err, 2) end
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
  local err = api.write(path, self.name, self.persistent, batch)
  if err then error(err, 2) end
  return 0
end
return function(name, persistent)
  if type(name) ~= 'string' or name == '' then error('mona:sharedObject(name[, persistent]): a name, got ' .. type(name), 2) end
  persistent = persistent == true
  local err = api.open(path, name, persistent)
  if err then error(err, 2) end
  return setmetatable({ name = name, persistent = persistent, locks = 0, batch = {} }, SharedObject)
end
`;

export class LuaSharedObjects {
  private flash: FlashServer | undefined;
  private readonly api: Record<string, LuaRef>;
  private readonly chunk: LuaRef;

  constructor(private readonly vm: LuaVm) {
    const objects = (appPath: string, name: string, persistent: boolean) => {
      if (this.flash === undefined) throw new Error('mona:sharedObject: the server is not running yet (call it from onStart or later)');
      const all = this.flash.sharedObjectsOf(appPath.split('/')[0]!);
      return { all, object: all.open(name, persistent) };
    };
    /** The object, or the reason it cannot be had (taken with the other persistence, too many objects). */
    const opened = (args: unknown[]) => {
      const [path, name, persistent] = [String(args[0]), String(args[1]), args[2] === true];
      const { all, object } = objects(path, name, persistent);
      return { all, object, refusal: object === undefined ? refusal(all, name, persistent) : undefined };
    };
    this.api = {
      open: vm.hostFunction((args) => opened(args).refusal),
      get: vm.hostFunction((args) => opened(args).object?.get(String(args[3]))),
      slots: vm.hostFunction((args) => opened(args).object?.snapshot().slots ?? {}),
      version: vm.hostFunction((args) => opened(args).object?.version ?? 0),
      write: vm.hostFunction((args) => {
        const { all, refusal: why } = opened(args);
        if (why !== undefined) return why;
        const entries = Array.isArray(args[3]) ? (args[3] as Array<{ k?: unknown; v?: unknown }>) : Object.values((args[3] ?? {}) as Record<string, { k?: unknown; v?: unknown }>);
        const changes: SlotChange[] = entries.map((e) => ({ key: String(e.k), value: e.v ?? undefined }));
        return all.write(String(args[1]), args[2] === true, changes);
      }),
      send: vm.hostFunction((args) => {
        const { object, refusal: why } = opened(args);
        if (object === undefined) return why;
        object.send(String(args[3]), args.slice(4));
        return undefined;
      }),
    };
    this.chunk = vm.load(LUA_SIDE, '=covey-shared-objects');
  }

  /** The model the objects live in (the server makes it after the Lua host). */
  attach(flash: FlashServer): void {
    this.flash = flash;
  }

  /** mona.sharedObject for one app (released with the app's other refs). */
  functionFor(app: LuaApp): LuaRef {
    const ref = this.vm.callForRef(this.chunk, [this.api, app.path]);
    app.refs.push(ref);
    return ref;
  }
}

function refusal(all: SharedObjects, name: string, persistent: boolean): string {
  if (all.get(name) !== undefined) return `shared object "${name}" exists ${persistent ? 'transient' : 'persistent'} (SharedObject.BadPersistence)`;
  return `the application holds its limit of ${all.limits.maxObjectsPerApp} shared objects`;
}

