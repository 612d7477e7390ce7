// The Lua side of the app model, run once in the sandboxed state before any script: app
// environments chained child -> parent -> ... -> root -> globals (MonaServer's inheritance:
// Lua 5.4 has no setfenv, so each main.lua is loaded with its environment as _ENV), `super`,
// `path` and `this` in each, the client object's methods, and the entry points the host calls.
import { encodeAmf0 } from '../codec/amf0.js';
import { LuaValues, type LuaRef, type LuaVm } from './lua-vm.js';

const RUNTIME = `
local host = ...
local load, setmetatable, rawget, rawequal, type, error, tostring, pairs, select =
  load, setmetatable, rawget, rawequal, type, error, tostring, pairs, select
local G = _G

-- Logging globals, each line with the caller's file:line. The arguments are concatenated as they
-- are, as MonaServer's (INFO('user ', name, ' joined')).
local function logText(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  return table.concat(parts, '', 1, parts.n)
end
for _, level in ipairs({'ERROR', 'WARN', 'NOTE', 'INFO', 'DEBUG', 'TRACE'}) do
  local write = host.log
  G[level] = function(...) write(level, logText(...)) end
end
-- LOG(level, ...) with MonaServer2's level numbers (LOG_FATAL 1 ... LOG_TRACE 8): fatal and critic
-- log as errors, a level that is not a number as INFO (its default), above 8 as TRACE.
local LOG_NAMES = { 'FATAL', 'CRITIC', 'ERROR', 'WARN', 'NOTE', 'INFO', 'DEBUG', 'TRACE' }
local LOG_AS = { FATAL = 'ERROR', CRITIC = 'ERROR' }
for i, name in ipairs(LOG_NAMES) do G['LOG_' .. name] = i end
do
  local write, tointeger = host.log, math.tointeger
  G.LOG = function(level, ...)
    local n = type(level) == 'number' and tointeger(level // 1) or 0
    local name = n <= 0 and 'INFO' or LOG_NAMES[n > 8 and 8 or n]
    write(LOG_AS[name] or name, logText(...))
  end
end

-- error(...) and assert(v, ...) as MonaServer2's: more than one message argument (and not Lua's
-- error(message, level)) are concatenated, as the logging globals do; error() alone rejects with
-- an empty message (the host then says "client rejected", as MonaServer v1).
do
  local rawError, rawAssert, select = error, assert, select
  G.error = function(...)
    local n, message, level = select('#', ...), ...
    if n == 0 then rawError('', 2) end
    if n == 1 or (n == 2 and (level == nil or type(level) == 'number')) then
      -- Level 1 is the caller of this wrapper: one more for the wrapper itself (0 stays "no position").
      if level == nil then level = 1 end
      rawError(message, level > 0 and level + 1 or 0)
    end
    rawError(logText(...), 2)
  end
  G.assert = function(v, ...)
    if v or select('#', ...) <= 1 then return rawAssert(v, ...) end
    rawError(logText(...), 2)
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
-- as publication:onAudio/onVideo receive them, so a script can forward what it gets; or, in
-- MonaServer2's form, a tag table and the codec's own bytes, which get the FLV header from the tag.
local Publication = {}
Publication.__index = Publication
Publication.__tostring = function(self) return 'publication ' .. rawget(self, 'name') end

local AAC, AVC, HEVC = 10, 7, 12
local tointeger, char, spack = math.tointeger, string.char, string.pack
local function tagCodec(tag, method)
  local codec = tointeger(tag.codec)
  if codec == nil or codec < 0 or codec > 15 then
    error('publication:' .. method .. '(tag, packet): tag.codec is the FLV codec number (0-15), got ' .. tostring(tag.codec), 4)
  end
  return codec
end
-- FLV audio header: codec, rate (5.5, 11, 22 or 44 kHz), 16-bit, stereo; AAC adds its packet type
-- (0 for the AudioSpecificConfig, tag.isConfig) and is always "44 kHz stereo" in FLV.
local function audioBody(tag, packet)
  local codec = tagCodec(tag, 'writeAudio')
  local rate = tonumber(tag.rate) or 44100
  local rateIndex = rate <= 5512 and 0 or rate <= 11025 and 1 or rate <= 22050 and 2 or 3
  local stereo = (tonumber(tag.channels) or 2) > 1 and 1 or 0
  if codec == AAC then return char((AAC << 4) | 15, tag.isConfig and 0 or 1) .. packet end
  return char((codec << 4) | (rateIndex << 2) | 2 | stereo) .. packet
end
-- FLV video header: frame type (MonaServer2's tag.frame: 1 key, 2 inter, 3 disposable, 5 info,
-- 7 config, which FLV sends as a key frame) and codec; H.264 and HEVC add the packet type (0 for
-- the decoder configuration, 1 for NAL units) and the composition offset in ms.
local function videoBody(tag, packet)
  local codec = tagCodec(tag, 'writeVideo')
  local frame = tointeger(tag.frame) or 2
  local config = frame == 7
  local frameType = config and 1 or (frame >= 1 and frame <= 5) and frame or 2
  local head = char((frameType << 4) | codec)
  if codec == AVC or codec == HEVC then
    head = head .. char(config and 0 or 1) .. spack('>i3', tointeger(tag.compositionOffset) or 0)
  end
  return head .. packet
end

local function mediaWriter(kind, method, tagBody)
  local usage = 'publication:' .. method .. '(time, packet) or (tag, packet)'
  return function(self, time, packet, ...)
    -- MonaServer2's (track, tag, packet): one track per kind here.
    if type(time) == 'number' and type(packet) == 'table' then
      if time ~= 0 and time ~= 1 then error(usage .. ': track ' .. tostring(time) .. ' (a publication has one track of each kind)', 2) end
      time, packet = packet, ...
    end
    if type(packet) ~= 'string' then error(usage .. ': the packet is a string of bytes, got ' .. type(packet), 2) end
    if type(time) == 'table' then
      local tag = time
      packet = tagBody(tag, packet)
      time = tonumber(tag.time) or 0
    elseif type(time) ~= 'number' then
      error(usage .. ': the time in ms or a tag table first, got ' .. type(time), 2)
    end
    host.media(rawget(self, 'id'), kind, time, packet)
  end
end
Publication.pushAudioPacket = mediaWriter('audio', 'pushAudioPacket', audioBody)
Publication.pushVideoPacket = mediaWriter('video', 'pushVideoPacket', videoBody)
Publication.writeAudio = mediaWriter('audio', 'writeAudio', audioBody)
Publication.writeVideo = mediaWriter('video', 'writeVideo', videoBody)
-- v1: the handler name and its values already in AMF (mona:toAMF(...)).
function Publication:pushDataPacket(name, packet) host.dataPacket(rawget(self, 'id'), tostring(name), packet or '') end
-- The handler name and Lua values, sent as AMF0 (NetStream.send on the players' side).
function Publication:writeData(name, ...) host.data(rawget(self, 'id'), tostring(name), ...) end
-- Metadata (onMetaData), kept for players that come later.
function Publication:writeProperties(properties) host.properties(rawget(self, 'id'), properties) end
function Publication:flush() end
function Publication:close() host.unpublish(rawget(self, 'id')) end

-- Timers (MonaServer2's API): mona:setTimer(function[, ms]) returns a timer object. The callback
-- gets the ms elapsed since the timer was made or last fired and returns the next delay (0 or
-- nothing stops it); without ms it runs at once and its result is the first delay.
-- mona:setTimer(timer, ms) re-arms a timer, mona:setTimer(timer, 0) stops it, mona:setTimer(timer)
-- and timer() fire it now, timer:nextRaising() tells when it fires next (ms since the epoch, 0 when
-- stopped). An armed timer is pinned in its app (as MonaServer2 pins it in the app's environment),
-- a stopped one lives as long as the script keeps it; a reload stops them all.
local Timer = { __metatable = 'timer' }
local timerRecords = setmetatable({}, { __mode = 'k' })
local function armTimer(r, t, delay)
  delay = tonumber(delay) or 0
  if delay > 0 then r.pins[r.id] = t else r.pins[r.id] = nil end
  r.host.arm(r.id, delay)
end
local function fireTimer(r, t, elapsed)
  -- Unpinned first: a callback that fails leaves its timer stopped.
  armTimer(r, t, 0)
  armTimer(r, t, r.fn(elapsed))
end
Timer.__index = {
  nextRaising = function(self)
    local r = timerRecords[self]
    if r == nil then error('timer:nextRaising(): call it on a timer (mona:setTimer returns one)', 2) end
    return r.host.due(r.id)
  end,
}
Timer.__call = function(self)
  local r = timerRecords[self]
  fireTimer(r, self, r.host.elapsed(r.id))
end
Timer.__tostring = function(self) return 'timer ' .. timerRecords[self].id end

local function newSetTimer(timerHost)
  local pins, lastId = {}, 0
  -- Called by the host when an armed timer's delay has passed.
  timerHost.init(function(id, elapsed)
    local t = pins[id]
    if t ~= nil then fireTimer(timerRecords[t], t, elapsed) end
  end)
  return function(target, delay)
    local t, r
    if type(target) == 'function' then
      lastId = lastId + 1
      t = setmetatable({}, Timer)
      r = { id = lastId, fn = target, host = timerHost, pins = pins }
      timerRecords[t] = r
    else
      r = target ~= nil and timerRecords[target] or nil
      if r == nil or r.pins ~= pins then
        error('mona:setTimer(function or timer[, delay in ms]): got ' .. type(target) .. (r and " (a timer of another app)" or ''), 3)
      end
      t = target
    end
    if delay == nil then
      fireTimer(r, t, type(target) == 'function' and 0 or timerHost.elapsed(r.id))
    elseif type(delay) ~= 'number' then
      error('mona:setTimer(' .. type(target) .. ', delay): the delay in ms is a number, got ' .. type(delay), 3)
    else
      armTimer(r, t, delay)
    end
    return t
  end
end

local runtime = {}

-- The app's mona: host functions callable as mona.f(...) and mona:f(...) alike.
local function newMona(api)
  local mona = {}
  for name, value in pairs(api) do
    if type(value) == 'function' then
      local f = value
      -- Through ... alone, so that mona.f() passes no argument (not one nil: toJSON() is "[]").
      mona[name] = function(...)
        if rawequal((...), mona) then return f(select(2, ...)) end
        return f(...)
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
  local timerHost = api._timer
  api._timer = nil
  local mona = newMona(api)
  if timerHost then
    local setTimer = newSetTimer(timerHost)
    mona.setTimer = function(first, ...) if rawequal(first, mona) then return setTimer(...) end return setTimer(first, ...) end
  end
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
