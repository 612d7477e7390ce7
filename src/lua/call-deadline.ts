// The per-call time limit of a Lua state: an instruction-count hook armed only while a script
// runs. Any active hook makes the Lua VM check it on every instruction (measured: a 1e7-step loop
// 96 ms without a hook, 204-236 ms with one every 1e4 instructions), so it is set before each call
// and cleared after.
//
// Once the deadline has passed, the hook raises on the next instruction and then on *every*
// instruction (count 1), in whatever thread runs: a `pcall` that catches the error returns into
// Lua code whose first instruction raises again, so `while true do pcall(function() while true
// do end end) end` cannot swallow it (with a hook that raises once, that loop never stops).
import type { LuaWasm } from 'wasmoon';

/** Instructions between two looks at the clock while a call is in time. */
const CHECK_EVERY = 10_000;
const LUA_MASKCOUNT = 1 << 3;

export const TIME_LIMIT_MESSAGE = 'time limit exceeded';

export class CallDeadline {
  private readonly hook: number;
  /** Date.now() past which the running call is stopped; 0 when no call runs. */
  private deadline = 0;
  private expired = false;
  /** The thread the call started on: it must raise too once a coroutine found the time up. */
  private mainThread = 0;

  /** lua_sethook as the wasm module exports it (wasmoon's cwrap costs 0.25 us a call, this 0.05). */
  private readonly sethook: (L: number, hook: number, mask: number, count: number) => void;

  constructor(private readonly lua: LuaWasm) {
    this.hook = lua.module.addFunction((L: number) => this.onCount(L), 'vii');
    this.sethook = (lua.module as unknown as { _lua_sethook: (L: number, f: number, m: number, c: number) => void })._lua_sethook;
  }

  /** Arms the limit on the state's main thread (coroutines it creates inherit the hook). */
  arm(L: number, limitMs: number): void {
    this.deadline = Date.now() + limitMs;
    this.expired = false;
    this.mainThread = L;
    this.sethook(L, this.hook, LUA_MASKCOUNT, CHECK_EVERY);
  }

  /** Clears the limit after the call; returns whether it had expired. */
  disarm(L: number): boolean {
    this.sethook(L, 0, 0, 0);
    this.deadline = 0;
    const expired = this.expired;
    this.expired = false;
    return expired;
  }

  private onCount(L: number): void {
    if (this.deadline === 0) {
      // A coroutine created during an earlier call keeps the hook; outside calls it is idle, and
      // back to the slow period if it had been set to every instruction.
      this.lua.lua_sethook(L, this.hook, LUA_MASKCOUNT, CHECK_EVERY);
      return;
    }
    if (!this.expired && Date.now() <= this.deadline) return;
    if (!this.expired) {
      this.expired = true;
      if (L !== this.mainThread) this.lua.lua_sethook(this.mainThread, this.hook, LUA_MASKCOUNT, 1);
    }
    this.lua.lua_sethook(L, this.hook, LUA_MASKCOUNT, 1);
    this.lua.lua_pushstring(L, TIME_LIMIT_MESSAGE);
    this.lua.lua_error(L);
  }

  close(): void {
    this.lua.module.removeFunction(this.hook);
  }
}
