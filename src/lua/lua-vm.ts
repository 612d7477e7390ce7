// One Lua 5.4 state (wasmoon) driven through the C API: calls into Lua with the time limit armed
// and the stack top restored, JS functions callable from Lua, values both ways, registry refs.
//
// wasmoon's own helpers are bypassed on purpose: its doString leaves each result on the global
// stack (wasmoon #109: the 60th `doString('return 1')` crashes with "memory access out of
// bounds"), a function got with global.get makes a Lua thread per call and returns one value, and
// its table conversion turns every JS object into a proxy or loses binary strings.
import { LuaFactory, LUA_REGISTRYINDEX, type LuaEngine, type LuaLibraries, type LuaWasm } from 'wasmoon';
import { CallDeadline, TIME_LIMIT_MESSAGE } from './call-deadline.js';

const LUA_OK = 0;
const LUA_MULTRET = -1;
const T_NIL = 0;
const T_BOOLEAN = 1;
const T_NUMBER = 3;
const T_STRING = 4;
const T_TABLE = 5;
const T_FUNCTION = 6;
/** Nested tables read or written at most this deep (a cycle or a deep structure stops here). */
const MAX_DEPTH = 32;

/** A Lua value kept alive in the registry (a function, a table) that JS refers to. */
export class LuaRef {
  constructor(readonly id: number) {}
}

/** A Lua error: the message carries `file:line:` when Lua knew where it was raised. */
export class LuaError extends Error {
  override name = 'LuaError';
  constructor(
    message: string,
    /** What stopped the call: the script's own error, the time limit or the memory cap. */
    readonly kind: 'error' | 'time' | 'memory',
  ) {
    super(message);
  }
}

/** A JS function Lua may call; it receives the Lua arguments converted and returns one value (or none). */
/** Several values returned to Lua at once (a host function's multiple results). */
export class LuaValues {
  constructor(readonly values: unknown[]) {}
}

/**
 * A JS function Lua may call: the arguments converted (strings as UTF-8 text), `where(level)` the
 * calling Lua code's "file:line" (level 1: the caller), `raw(i)` argument i's bytes (binary
 * strings). It returns one value, none (undefined), or LuaValues.
 */
export type HostFunction = (args: unknown[], where: (level?: number) => string, raw: (index: number) => Buffer) => unknown;

export interface LuaVmOptions {
  /** Bytes the state may allocate (its heap), enforced by the allocator. */
  memoryBytes: number;
  /** Wall time one call from JS into Lua may take. */
  timeLimitMs: number;
}

let factory: LuaFactory | undefined;

/**
 * The C API functions of the call path, as the wasm module exports them: 0.05 us a call where
 * wasmoon's cwrap wrappers take 0.25 us (measured, 1e6 lua_gettop), which added up to about 2 us
 * of an empty hook's cost.
 */
interface RawLua {
  _lua_gettop(L: number): number;
  _lua_settop(L: number, index: number): void;
  _lua_rawgeti(L: number, index: number, n: bigint): number;
  _lua_pcallk(L: number, nargs: number, nresults: number, errfunc: number, ctx: number, k: number): number;
  _lua_type(L: number, index: number): number;
  _lua_toboolean(L: number, index: number): number;
  _lua_isinteger(L: number, index: number): number;
  _lua_tointegerx(L: number, index: number, isnum: number): bigint;
  _lua_tonumberx(L: number, index: number, isnum: number): number;
  _lua_pushinteger(L: number, n: bigint): void;
  _lua_pushnumber(L: number, n: number): void;
  _lua_pushnil(L: number): void;
  _lua_pushboolean(L: number, b: number): void;
  _lua_pushlstring(L: number, s: number, len: number): number;
  _lua_tolstring(L: number, index: number, len: number): number;
  _malloc(n: number): number;
  _free(p: number): void;
  HEAPU8: Uint8Array;
  HEAP32: Int32Array;
}

/**
 * Bytes pushed into Lua go through one scratch area of the wasm heap, kept between calls: a
 * malloc and a free per string cost more than the copy (a 16 KiB packet to publication:onVideo
 * took 50-116 us with them). Areas above this size are not kept.
 */
const MAX_KEPT_SCRATCH = 1024 * 1024;
const utf8 = new TextEncoder();

export class LuaVm {
  readonly lua: LuaWasm;
  readonly L: number;
  private readonly c: RawLua;
  private readonly engine: LuaEngine;
  private readonly deadline: CallDeadline;
  private readonly hostFunctions: HostFunction[] = [];
  private readonly trampoline: number;
  /** Calls from JS into Lua now running (a host function may call back in). */
  private depth = 0;
  private closed = false;
  private scratch = 0;
  private scratchSize = 0;
  /** Where lua_tolstring writes a length (4 bytes, kept). */
  private readonly lengthSlot: number;

  static async create(options: LuaVmOptions): Promise<LuaVm> {
    // One factory: the wasm module compiles once (27 ms), each state then costs about 1 ms.
    factory ??= new LuaFactory();
    const engine = await factory.createEngine({ openStandardLibs: false, enableProxy: false, traceAllocations: true });
    return new LuaVm(engine, options);
  }

  private constructor(
    engine: LuaEngine,
    readonly options: LuaVmOptions,
  ) {
    this.engine = engine;
    this.lua = engine.global.lua;
    this.c = this.lua.module as unknown as RawLua;
    this.L = engine.global.address;
    this.deadline = new CallDeadline(this.lua);
    this.trampoline = this.lua.module.addFunction((L: number) => this.callHost(L), 'ii');
    engine.global.setMemoryMax(options.memoryBytes);
    this.lengthSlot = this.c._malloc(4);
  }

  /** Opens one of Lua's standard libraries as a global. */
  openLibrary(library: LuaLibraries): void {
    this.engine.global.loadLibrary(library);
  }

  get memoryUsed(): number {
    return this.engine.global.getMemoryUsed();
  }

  /** Loads Lua source text (never bytecode) as a function; throws LuaError with file:line on a syntax error. */
  load(code: string, chunkName: string): LuaRef {
    const { lua, L } = this;
    const top = lua.lua_gettop(L);
    try {
      const status = lua.luaL_loadbufferx(L, code, lua.module.lengthBytesUTF8(code), chunkName, 't');
      if (status !== LUA_OK) throw new LuaError(this.errorText(L, -1), status === 4 ? 'memory' : 'error');
      return new LuaRef(lua.luaL_ref(L, LUA_REGISTRYINDEX));
    } finally {
      lua.lua_settop(L, top);
    }
  }

  /**
   * Calls a Lua function with JS arguments and returns its results, with the time limit armed
   * (only for the outermost call) and the stack top put back whatever happens.
   */
  call(fn: LuaRef, args: readonly unknown[] = []): unknown[] {
    return this.invoke(fn, args, false);
  }

  /** Calls a Lua function and keeps its first result in the registry (a table JS refers to later). */
  callForRef(fn: LuaRef, args: readonly unknown[] = []): LuaRef {
    return this.invoke(fn, args, true)[0] as LuaRef;
  }

  private invoke(fn: LuaRef, args: readonly unknown[], refFirst: boolean): unknown[] {
    if (this.closed) throw new LuaError('the Lua state is closed', 'error');
    const { lua, L, c } = this;
    const top = c._lua_gettop(L);
    const outermost = this.depth === 0;
    let armed = false;
    this.depth++;
    try {
      c._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(fn.id));
      for (const arg of args) this.push(arg);
      if (outermost) {
        this.deadline.arm(L, this.options.timeLimitMs);
        armed = true;
      }
      const status = c._lua_pcallk(L, args.length, LUA_MULTRET, 0, 0, 0);
      armed = false;
      const expired = outermost && this.deadline.disarm(L);
      // A coroutine may have met the limit and been caught by resume: the call still failed.
      if (expired) throw new LuaError(`${TIME_LIMIT_MESSAGE} (${this.options.timeLimitMs} ms)`, 'time');
      if (status !== LUA_OK) {
        if (status === 4) throw new LuaError(`memory limit exceeded (${this.options.memoryBytes} bytes)`, 'memory');
        throw new LuaError(this.errorText(L, -1), 'error');
      }
      const results: unknown[] = [];
      const end = c._lua_gettop(L);
      if (refFirst) {
        c._lua_settop(L, top + 1);
        return [new LuaRef(lua.luaL_ref(L, LUA_REGISTRYINDEX))];
      }
      for (let i = top + 1; i <= end; i++) results.push(this.read(L, i));
      return results;
    } finally {
      if (armed) this.deadline.disarm(L);
      this.depth--;
      c._lua_settop(L, top);
    }
  }

  /** Makes a JS function callable from Lua, as a Lua function value held in the registry. */
  hostFunction(fn: HostFunction): LuaRef {
    const { lua, L } = this;
    this.hostFunctions.push(fn);
    lua.lua_pushinteger(L, BigInt(this.hostFunctions.length - 1));
    lua.lua_pushcclosure(L, this.trampoline, 1);
    return new LuaRef(lua.luaL_ref(L, LUA_REGISTRYINDEX));
  }

  /** Keeps a value (a table, a function) in the registry for JS. */
  ref(value: unknown): LuaRef {
    this.push(value);
    return new LuaRef(this.lua.luaL_ref(this.L, LUA_REGISTRYINDEX));
  }

  release(ref: LuaRef): void {
    if (!this.closed) this.lua.luaL_unref(this.L, LUA_REGISTRYINDEX, ref.id);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.engine.global.close();
    this.deadline.close();
    if (this.scratch !== 0) this.c._free(this.scratch);
    this.c._free(this.lengthSlot);
    this.lua.module.removeFunction(this.trampoline);
  }

  private callHost(L: number): number {
    const { lua } = this;
    const id = Number(lua.lua_tointegerx(L, LUA_REGISTRYINDEX - 1, null));
    const fn = this.hostFunctions[id]!;
    const n = lua.lua_gettop(L);
    let result: unknown;
    let failure: string | undefined;
    try {
      const args: unknown[] = [];
      for (let i = 1; i <= n; i++) args.push(this.read(L, i));
      result = fn(args, (level = 1) => {
        lua.luaL_where(L, level);
        const where = this.string(L, -1);
        lua.lua_settop(L, -2);
        return where.replace(/: $/, '');
      }, (i) => this.bytes(L, i + 1));
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    if (failure !== undefined) {
      // Raised outside the try: lua_error leaves this function by a longjmp.
      this.pushString(L, failure);
      lua.lua_error(L);
      return 0;
    }
    if (result === undefined) return 0;
    if (result instanceof LuaValues) {
      for (const v of result.values) this.pushOn(L, v, 0);
      return result.values.length;
    }
    this.pushOn(L, result, 0);
    return 1;
  }

  push(value: unknown): void {
    this.pushOn(this.L, value, 0);
  }

  private pushOn(L: number, value: unknown, depth: number): void {
    const { lua, c } = this;
    if (value === undefined || value === null) c._lua_pushnil(L);
    else if (typeof value === 'boolean') c._lua_pushboolean(L, value ? 1 : 0);
    else if (typeof value === 'number') {
      // Integers stay integers in Lua 5.4 (tostring(3) is "3", not "3.0").
      if (Number.isSafeInteger(value)) c._lua_pushinteger(L, BigInt(value));
      else c._lua_pushnumber(L, value);
    } else if (typeof value === 'string') this.pushString(L, value);
    else if (value instanceof LuaRef) c._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(value.id));
    else if (value instanceof Uint8Array) this.pushBytes(L, value);
    else if (value instanceof Date) lua.lua_pushnumber(L, value.getTime());
    else if (typeof value === 'object' && depth < MAX_DEPTH) {
      const record = (value as { values?: unknown }).values;
      // AmfTypedObject and AmfEcmaArray carry their members in `values`.
      const source = Array.isArray(value) ? undefined : record !== undefined && typeof record === 'object' && record !== null && value.constructor !== Object ? (record as Record<string, unknown>) : (value as Record<string, unknown>);
      if (source === undefined) {
        const array = value as unknown[];
        lua.lua_createtable(L, array.length, 0);
        for (let i = 0; i < array.length; i++) {
          this.pushOn(L, array[i], depth + 1);
          lua.lua_rawseti(L, -2, BigInt(i + 1));
        }
      } else {
        const keys = Object.keys(source);
        lua.lua_createtable(L, 0, keys.length);
        for (const key of keys) {
          this.pushOn(L, source[key], depth + 1);
          lua.lua_setfield(L, -2, key);
        }
      }
    } else lua.lua_pushnil(L);
  }

  private pushString(L: number, s: string): void {
    const n = Buffer.byteLength(s);
    const p = this.scratchFor(n);
    utf8.encodeInto(s, this.c.HEAPU8.subarray(p, p + n));
    this.c._lua_pushlstring(L, p, n);
    this.releaseScratch();
  }

  private pushBytes(L: number, bytes: Uint8Array): void {
    const p = this.scratchFor(bytes.length);
    // HEAPU8 is read after the allocation: a grown heap is a new buffer.
    this.c.HEAPU8.set(bytes, p);
    this.c._lua_pushlstring(L, p, bytes.length);
    this.releaseScratch();
  }

  private scratchFor(n: number): number {
    if (n > this.scratchSize || this.scratch === 0) {
      if (this.scratch !== 0) this.c._free(this.scratch);
      this.scratchSize = Math.max(n, 4096, Math.min(this.scratchSize * 2, MAX_KEPT_SCRATCH));
      this.scratch = this.c._malloc(this.scratchSize);
    }
    return this.scratch;
  }

  /** Gives back a scratch area too large to keep. */
  private releaseScratch(): void {
    if (this.scratchSize <= MAX_KEPT_SCRATCH) return;
    this.c._free(this.scratch);
    this.scratch = 0;
    this.scratchSize = 0;
  }

  /** The bytes of the string at `index` (Lua strings are byte strings: media payloads, hashes). */
  bytes(L: number, index: number): Buffer {
    const p = this.c._lua_tolstring(L, index, this.lengthSlot);
    const len = this.c.HEAP32[this.lengthSlot >> 2]!;
    return Buffer.from(this.c.HEAPU8.subarray(p, p + len));
  }

  private string(L: number, index: number): string {
    return this.bytes(L, index).toString('utf8');
  }

  private errorText(L: number, index: number): string {
    const type = this.lua.lua_type(L, index);
    if (type === T_STRING || type === T_NUMBER) return this.string(L, index);
    if (type === T_NIL) return 'nil';
    return `(error object is a ${this.lua.lua_typename(L, type)} value)`;
  }

  /** Reads the value at `index` as JS: tables become arrays (keys 1..n) or objects, functions refs. */
  read(L: number, index: number, depth = 0): unknown {
    const { lua, c } = this;
    const type = c._lua_type(L, index);
    switch (type) {
      case T_NIL:
        return undefined;
      case T_BOOLEAN:
        return c._lua_toboolean(L, index) !== 0;
      case T_NUMBER:
        return c._lua_isinteger(L, index) ? Number(c._lua_tointegerx(L, index, 0)) : c._lua_tonumberx(L, index, 0);
      case T_STRING:
        return this.string(L, index);
      case T_TABLE:
        return depth >= MAX_DEPTH ? undefined : this.readTable(L, lua.lua_absindex(L, index), depth);
      case T_FUNCTION:
        lua.lua_pushvalue(L, index);
        return new LuaRef(lua.luaL_ref(L, LUA_REGISTRYINDEX));
      default:
        return undefined;
    }
  }

  private readTable(L: number, index: number, depth: number): unknown {
    const { lua } = this;
    const entries: Array<[unknown, unknown]> = [];
    lua.lua_pushnil(L);
    while (lua.lua_next(L, index) !== 0) {
      // Read the key without converting it in place (lua_tolstring on a number key breaks lua_next).
      const keyType = lua.lua_type(L, -2);
      const key = keyType === T_STRING || keyType === T_NUMBER ? this.read(L, -2, depth + 1) : undefined;
      const value = lua.lua_type(L, -1) === T_FUNCTION ? undefined : this.read(L, -1, depth + 1);
      lua.lua_settop(L, -2);
      if (key !== undefined && value !== undefined) entries.push([key, value]);
    }
    const n = entries.length;
    if (n > 0 && entries.every(([k]) => typeof k === 'number' && Number.isInteger(k) && k >= 1 && k <= n)) {
      const array = new Array<unknown>(n);
      for (const [k, v] of entries) array[(k as number) - 1] = v;
      return array;
    }
    const object: Record<string, unknown> = {};
    for (const [k, v] of entries) if (k !== undefined) object[String(k)] = v;
    return object;
  }
}
