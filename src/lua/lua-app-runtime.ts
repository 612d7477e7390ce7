// The Lua side of the app model, run once in the sandboxed state before any script: app
// environments chained child -> parent -> ... -> root -> globals (MonaServer's inheritance:
// Lua 5.4 has no setfenv, so each main.lua is loaded with its environment as _ENV), `super`,
// `path` and `this` in each, the client object's methods, and the entry points the host calls.
import { encodeAmf0 } from '../codec/amf0.js';
import { LuaValues, type LuaRef, type LuaVm } from './lua-vm.js';

const RUNTIME = `
local host = ...
local load, setmetatable, rawget, rawequal, type, error, tostring, pairs =
  load, setmetatable, rawget, rawequal, type, error, tostring, pairs
local G = _G

-- Logging globals, each line with the caller's file:line.
for _, level in ipairs({'ERROR', 'WARN', 'NOTE', 'INFO', 'DEBUG', 'TRACE'}) do
  local write = host.log
  G[level] = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    write(level, table.concat(parts, ' ', 1, parts.n))
  end
end

local Client = {}
Client.__index = Client
Client.__tostring = function(self) return 'client ' .. rawget(self, 'id') end
-- Members the host calls for every event of a kind (onSharedObjectChange: each change a user
-- asks for): it is told when a client gets one, so a client without costs no Lua call.
local watched = { onSharedObjectChange = true }
Client.__newindex = function(self, key, value)
  rawset(self, key, value)
  if watched[key] then host.memberSet(rawget(self, 'id'), key) end
end
-- client:writeInvocation(name, ...[, callback]): calls the client's own method; a function last
-- receives its answer (the result, or nil and the error description).
function Client:writeInvocation(name, ...) return host.invoke(rawget(self, 'id'), name, ...) end
function Client:close(reason) return host.close(rawget(self, 'id'), reason) end
-- MonaServer v1 wrote through client.writer.
Client.writer = setmetatable({}, { __index = function(_, key)
  error('use client:' .. tostring(key) .. '(...) (client.writer is MonaServer v1 API)', 2)
end })

-- A publication a script made (mona:publish / mona:newPublication). Packets are FLV tag bodies,
-- as publication:onAudio/onVideo receive them, so a script can forward what it gets.
local Publication = {}
Publication.__index = Publication
Publication.__tostring = function(self) return 'publication ' .. rawget(self, 'name') end
local function mediaWriter(kind, method)
  return function(self, time, packet)
    if type(time) ~= 'number' then
      error("publication:" .. method .. "(time, packet): the time in ms first (MonaServer2's tag table is not supported), got " .. type(time), 2)
    end
    if type(packet) ~= 'string' then error('publication:' .. method .. '(time, packet): the packet is a string of bytes, got ' .. type(packet), 2) end
    host.media(rawget(self, 'id'), kind, time, packet)
  end
end
Publication.pushAudioPacket = mediaWriter('audio', 'pushAudioPacket')
Publication.pushVideoPacket = mediaWriter('video', 'pushVideoPacket')
Publication.writeAudio = mediaWriter('audio', 'writeAudio')
Publication.writeVideo = mediaWriter('video', 'writeVideo')
-- v1: the handler name and its values already in AMF (mona:toAMF(...)).
function Publication:pushDataPacket(name, packet) host.dataPacket(rawget(self, 'id'), tostring(name), packet or '') end
-- The handler name and Lua values, sent as AMF0 (NetStream.send on the players' side).
function Publication:writeData(name, ...) host.data(rawget(self, 'id'), tostring(name), ...) end
-- Metadata (onMetaData), kept for players that come later.
function Publication:writeProperties(properties) host.properties(rawget(self, 'id'), properties) end
function Publication:flush() end
function Publication:close() host.unpublish(rawget(self, 'id')) end

local runtime = {}

-- The app's mona: host functions callable as mona.f(...) and mona:f(...) alike.
local function newMona(api)
  local mona = {}
  for name, value in pairs(api) do
    if type(value) == 'function' then
      local f = value
      mona[name] = function(first, ...)
        if rawequal(first, mona) then return f(...) end
        return f(first, ...)
      end
    else
      mona[name] = value
    end
  end
  return mona
end

-- require, dofile and loadfile of one app: files under www/ only (the host resolves the name,
-- next to the calling file, then in the app's folder and its parents'), loaded as source text
-- with the app's environment. Modules are kept per app, as package.loaded is per state.
local LOADING = {}
local function fileFunctions(meta, env, path)
  local loaded = {}
  local resolve, read = host.resolve, host.read
  local function loadSource(file, chunkname)
    local chunk, err = load(read(file), chunkname, 't', env)
    if not chunk then error(err, 0) end
    return chunk
  end
  meta.require = function(name)
    if type(name) ~= 'string' then error("bad argument #1 to 'require' (string expected, got " .. type(name) .. ')', 2) end
    local ok, file, chunkname = pcall(resolve, path, name, 'module', 3)
    if not ok then error(file, 2) end
    local value = loaded[file]
    if value == LOADING then error('require: ' .. name .. ' requires itself (a loop through ' .. chunkname:sub(2) .. ')', 2) end
    if value ~= nil then return value, file end
    loaded[file] = LOADING
    local ok, result = pcall(function() return loadSource(file, chunkname)(name, file) end)
    if not ok then loaded[file] = nil error(result, 0) end
    if result == nil then result = true end
    loaded[file] = result
    return result, file
  end
  meta.dofile = function(name, ...)
    if type(name) ~= 'string' then error("bad argument #1 to 'dofile' (string expected, got " .. type(name) .. ')', 2) end
    local ok, file, chunkname = pcall(resolve, path, name, 'file', 3)
    if not ok then error(file, 2) end
    return loadSource(file, chunkname)(...)
  end
  meta.loadfile = function(name, mode, fileEnv)
    if type(name) ~= 'string' then error("bad argument #1 to 'loadfile' (string expected, got " .. type(name) .. ')', 2) end
    local ok, file, chunkname = pcall(resolve, path, name, 'file', 3)
    if not ok then return nil, file end
    local chunk, err = load(read(file), chunkname, 't', fileEnv or env)
    if not chunk then return nil, err end
    return chunk
  end
end

function runtime.newEnv(parent, path, api, data)
  local mona = newMona(api)
  local meta = { path = path, super = parent, mona = mona, data = data }
  setmetatable(meta, { __index = parent or G })
  local env = setmetatable({}, { __index = meta })
  meta.this = env
  fileFunctions(meta, env, path)
  local function publish(name)
    if type(name) ~= 'string' then error('mona:publish(name): a stream name, got ' .. type(name), 3) end
    local id, err = host.publish(path, name)
    if not id then return nil, err end
    return setmetatable({ name = name, id = id }, Publication)
  end
  mona.publish = function(first, ...) if rawequal(first, mona) then return publish(...) end return publish(first, ...) end
  mona.newPublication = mona.publish
  -- mona.publications: by name (t[name] or t(name)), pairs, # (snapshots taken when asked).
  mona.publications = setmetatable({}, {
    __index = function(_, name) return host.findPublication(path, name) end,
    __call = function(_, name) return host.findPublication(path, name) end,
    __len = function() return #host.listPublications(path) end,
    __pairs = function()
      local list, i = host.listPublications(path), 0
      return function() i = i + 1 local p = list[i] if p then return p.name, p end end
    end,
    __newindex = function() error('mona.publications is read-only (mona:publish(name) makes one)', 2) end,
  })
  -- mona.groups (v1): the app's NetGroups by ID, as mona.publications.
  mona.groups = setmetatable({}, {
    __index = function(_, id) return host.findGroup(path, id) end,
    __call = function(_, id) return host.findGroup(path, id) end,
    __len = function() return #host.listGroups(path) end,
    __pairs = function()
      local list, i = host.listGroups(path), 0
      return function() i = i + 1 local g = list[i] if g then return g.id, g end end
    end,
    __newindex = function() error('mona.groups is read-only', 2) end,
  })
  -- mona.clients: by id, also callable (v1) and counted with #.
  if type(mona.clients) == 'table' then
    setmetatable(mona.clients, {
      __call = function(t, id) return rawget(t, id) end,
      __len = function(t) local n = 0 for _ in next, t do n = n + 1 end return n end,
    })
  end
  return env
end

function runtime.run(code, chunkname, env)
  local chunk, err = load(code, chunkname, 't', env)
  if not chunk then error(err, 0) end
  chunk()
end

-- An app event: false when the app (with its parents) has no such function.
function runtime.event(env, name, ...)
  local f = env[name]
  if type(f) ~= 'function' then return false end
  return true, f(...)
end

-- Whether an app event is defined (inherited ones too), without calling it.
function runtime.defines(env, name)
  return type(env[name]) == 'function'
end

-- An app event defined by this app itself (onManage: once per app that has one).
function runtime.ownEvent(env, name, ...)
  local f = rawget(env, name)
  if type(f) ~= 'function' then return false end
  return true, f(...)
end

function runtime.newClient(fields)
  return setmetatable(fields, Client)
end

-- A member of the client (onPublish, onSubscribe...): false when it has none.
function runtime.clientEvent(client, name, ...)
  local f = rawget(client, name)
  if type(f) ~= 'function' then return false end
  return true, f(client, ...)
end

-- A call from the client: its own member of that name, else client:onMessage(name, ...).
-- Methods of the client object itself (close, writeInvocation) are not callable from outside.
function runtime.rpc(client, name, ...)
  local f = rawget(client, name)
  if type(f) == 'function' then return true, f(client, ...) end
  f = rawget(client, 'onMessage')
  if type(f) == 'function' then return true, f(client, name, ...) end
  return false
end

-- Which per-packet callbacks a publication object defines (so packets cost a Lua call only when asked).
function runtime.packetCallbacks(publication)
  return type(rawget(publication, 'onAudio')) == 'function', type(rawget(publication, 'onVideo')) == 'function',
    type(rawget(publication, 'onData')) == 'function'
end

function runtime.setField(t, key, value)
  t[key] = value
end

-- The app's own data table (the script may have replaced it: env.data then is the one kept).
function runtime.data(env)
  return env.data
end

return runtime.newEnv, runtime.run, runtime.event, runtime.ownEvent, runtime.newClient,
  runtime.clientEvent, runtime.rpc, runtime.setField, runtime.data, runtime.packetCallbacks, runtime.defines
`;

/** The runtime's entry points, as registry refs. */
export interface LuaAppRuntime {
  newEnv: LuaRef;
  run: LuaRef;
  event: LuaRef;
  ownEvent: LuaRef;
  newClient: LuaRef;
  clientEvent: LuaRef;
  rpc: LuaRef;
  setField: LuaRef;
  data: LuaRef;
  packetCallbacks: LuaRef;
  defines: LuaRef;
}

export interface RuntimeHost {
  /** A logging global: level name, message, the script's file:line. */
  log(level: string, message: string, where: string): void;
  invoke(clientId: string, name: string, args: unknown[]): void;
  close(clientId: string, reason: string | undefined): void;
  /** mona:publish for app `appPath`: the publication's id, or throws why not. */
  publish(appPath: string, name: string): number;
  media(id: number, kind: 'audio' | 'video', time: number, packet: Buffer): void;
  data(id: number, payload: Buffer): void;
  properties(id: number, properties: unknown): void;
  unpublish(id: number): void;
  listPublications(appPath: string): unknown[];
  findPublication(appPath: string, name: string): unknown;
  listGroups(appPath: string): unknown[];
  findGroup(appPath: string, id: string): unknown;
  /** A client object got a member the host watches (see Client.__newindex). */
  memberSet(clientId: string, name: string): void;
  /** The file a require/dofile/loadfile name gives for an app, asked from `caller` (file:line). */
  resolve(appPath: string, caller: string, name: string, kind: 'module' | 'file'): { file: string; chunkName: string };
  read(file: string): string;
}

export function installRuntime(vm: LuaVm, host: RuntimeHost): LuaAppRuntime {
  const hostTable = {
    log: vm.hostFunction((args, where) => host.log(String(args[0]), String(args[1] ?? ''), where(2))),
    invoke: vm.hostFunction((args) => host.invoke(String(args[0]), String(args[1] ?? ''), args.slice(2))),
    close: vm.hostFunction((args) => host.close(String(args[0]), args[1] === undefined ? undefined : String(args[1]))),
    // where(level): the code that called require (called through pcall from the runtime's wrapper: level 3).
    resolve: vm.hostFunction((args, where) => {
      const { file, chunkName } = host.resolve(String(args[0]), where(Number(args[3])), String(args[1]), args[2] === 'module' ? 'module' : 'file');
      return new LuaValues([file, chunkName]);
    }),
    read: vm.hostFunction((args) => host.read(String(args[0]))),
    publish: vm.hostFunction((args) => {
      try {
        return host.publish(String(args[0]), String(args[1]));
      } catch (err) {
        return new LuaValues([undefined, (err as Error).message]);
      }
    }),
    media: vm.hostFunction((args, _where, raw) => host.media(Number(args[0]), args[1] === 'audio' ? 'audio' : 'video', Number(args[2]), raw(3))),
    data: vm.hostFunction((args) => host.data(Number(args[0]), encodeAmf0(...args.slice(1)))),
    dataPacket: vm.hostFunction((args, _where, raw) => host.data(Number(args[0]), Buffer.concat([encodeAmf0(String(args[1])), raw(2)]))),
    properties: vm.hostFunction((args) => host.properties(Number(args[0]), args[1])),
    unpublish: vm.hostFunction((args) => host.unpublish(Number(args[0]))),
    listPublications: vm.hostFunction((args) => host.listPublications(String(args[0]))),
    findPublication: vm.hostFunction((args) => host.findPublication(String(args[0]), String(args[1]))),
    listGroups: vm.hostFunction((args) => host.listGroups(String(args[0]))),
    findGroup: vm.hostFunction((args) => host.findGroup(String(args[0]), String(args[1]))),
    memberSet: vm.hostFunction((args) => host.memberSet(String(args[0]), String(args[1]))),
  };
  const chunk = vm.load(RUNTIME, '=covey-runtime');
  const refs = vm.call(chunk, [hostTable]) as LuaRef[];
  vm.release(chunk);
  const [newEnv, run, event, ownEvent, newClient, clientEvent, rpc, setField, data, packetCallbacks, defines] = refs;
  return { newEnv: newEnv!, run: run!, event: event!, ownEvent: ownEvent!, newClient: newClient!, clientEvent: clientEvent!, rpc: rpc!, setField: setField!, data: data!, packetCallbacks: packetCallbacks!, defines: defines! };
}
