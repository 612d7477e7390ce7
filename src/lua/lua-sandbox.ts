// What a script can reach: a Lua 5.4 state with base, string, table, math, coroutine and utf8,
// and of os only time, clock and date. Everything that reaches the host or defeats the limits is
// absent or wrapped:
// - io, os (but the three above), debug, package, require, dofile, loadfile: absent. wasmoon's io
//   works on an in-memory file system, and its os.exit sets the Node process's exit code.
// - load: source text only ("t"): `load(string.dump(f))` would run crafted bytecode. string.dump
//   is removed too.
// - xpcall: its handler runs after the error unwound (see CallDeadline: once the time limit has
//   passed every instruction raises, so a handler running before unwinding would never end).
// - string.find/match/gmatch/gsub: the subject length is bounded by the pattern's repetitions,
//   because a C pattern match cannot be interrupted by the instruction hook (wasmoon #45).
// - collectgarbage: only "count", "collect" and "step" (a script stopping the collector would
//   reach the memory cap sooner, for everyone sharing the state).
// - print: goes to the server log, not to stdout.
import { LuaLibraries } from 'wasmoon';
import { LuaVm, type LuaVmOptions, type LuaRef } from './lua-vm.js';

/**
 * Steps a pattern match may take at worst, estimated as n^(repetitions + 1 when unanchored) for a
 * subject of n bytes: 1e8 is well under a second in wasm (measured: `string.rep("a", 1e4):find(
 * ".-.-b")`, 1e8 steps, 0.4 s), so a refused call is one that could have blocked the server.
 */
export const PATTERN_STEP_BUDGET = 1e8;

const PRELUDE = `
local rawload, rawpcall, select, type, error, tostring = load, pcall, select, type, error, tostring
local pack, unpack = table.pack, table.unpack
local print_host = ...

load = function(chunk, name, mode, ...)
  if select('#', ...) > 0 then return rawload(chunk, name, 't', ...) end
  return rawload(chunk, name, 't')
end
dofile, loadfile, string.dump = nil, nil, nil

xpcall = function(f, handler, ...)
  local r = pack(rawpcall(f, ...))
  if r[1] then return unpack(r, 1, r.n) end
  return false, handler(r[2])
end

local rawcollect = collectgarbage
collectgarbage = function(opt, ...)
  opt = opt or 'collect'
  if opt ~= 'count' and opt ~= 'collect' and opt ~= 'step' then
    error('collectgarbage("' .. tostring(opt) .. '") is not allowed here', 2)
  end
  return rawcollect(opt, ...)
end

local budget = ${PATTERN_STEP_BUDGET}
local byte, sfind = string.byte, string.find
local function bounded(name, fn, unanchoredByDefault)
  return function(s, pattern, init, plain, ...)
    if type(s) == 'string' and type(pattern) == 'string' and not (name == 'find' and plain) then
      local repetitions = 0
      local i, n = 1, #pattern
      while i <= n do
        local c = byte(pattern, i)
        if c == 37 then i = i + 1 -- '%' escapes the next character
        elseif c == 42 or c == 43 or c == 45 then repetitions = repetitions + 1 end -- * + -
        i = i + 1
      end
      local exponent = repetitions
      if unanchoredByDefault and byte(pattern, 1) ~= 94 then exponent = exponent + 1 end
      if exponent > 0 and (#s) ^ exponent > budget then
        error(('string.%s: a %d-byte subject is too long for this pattern (%d repetitions%s): at most %d bytes')
          :format(name, #s, repetitions, exponent > repetitions and ', unanchored' or '',
            math.floor(budget ^ (1 / exponent))), 2)
      end
    end
    return fn(s, pattern, init, plain, ...)
  end
end
string.find = bounded('find', string.find, true)
string.match = bounded('match', string.match, true)
string.gmatch = bounded('gmatch', string.gmatch, true)
string.gsub = bounded('gsub', string.gsub, true)

print = function(...)
  local parts = pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  print_host(table.concat(parts, '\\t', 1, parts.n))
end
`;

/** A sandboxed state; `log` receives what scripts print (with the caller's file:line). */
export async function createSandbox(options: LuaVmOptions, log: (line: string, where: string) => void): Promise<LuaVm> {
  const vm = await LuaVm.create(options);
  const { lua, L } = vm;
  for (const library of [LuaLibraries.Base, LuaLibraries.String, LuaLibraries.Table, LuaLibraries.Math, LuaLibraries.Coroutine]) vm.openLibrary(library);
  // wasmoon's loadLibrary(UTF8) opens the string library again under the name utf8.
  lua.luaopen_utf8(L);
  lua.lua_setglobal(L, 'utf8');
  // os: a fresh table with the three functions that only read clocks.
  lua.luaopen_os(L);
  lua.lua_createtable(L, 0, 3);
  for (const name of ['time', 'clock', 'date']) {
    lua.lua_getfield(L, -2, name);
    lua.lua_setfield(L, -2, name);
  }
  lua.lua_setglobal(L, 'os');
  lua.lua_settop(L, 0);
  const prelude: LuaRef = vm.load(PRELUDE, '=covey-sandbox');
  const print = vm.hostFunction((args, where) => log(String(args[0] ?? ''), where(2)));
  vm.call(prelude, [print]);
  vm.release(prelude);
  return vm;
}
