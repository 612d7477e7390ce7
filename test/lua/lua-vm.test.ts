// Values across the JS/Lua boundary through the state's scratch area: binary strings of every
// byte value, one larger than the kept scratch (2 MiB) and small ones after it, text with
// multi-byte UTF-8, and a heap that grows between pushes, each arriving intact both ways.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createSandbox } from '../../src/lua/lua-sandbox.js';
import type { LuaRef, LuaVm } from '../../src/lua/lua-vm.js';

function fn(vm: LuaVm, code: string): LuaRef {
  const [f] = vm.call(vm.load(`return ${code}`, '=test')) as [LuaRef];
  return f;
}

test('binary strings, large and small, and UTF-8 text cross into Lua and back intact', async () => {
  const vm = await createSandbox({ timeLimitMs: 5000, memoryBytes: 64 * 1024 * 1024 }, () => {});
  try {
    const echo = fn(vm, 'function(s) return #s, s end');
    // Empty bytes and an empty string.
    assert.deepEqual(vm.call(echo, [Buffer.alloc(0)]), [0, '']);
    assert.deepEqual(vm.call(echo, ['']), [0, '']);
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const large = Buffer.alloc(2 * 1024 * 1024 + 3);
    for (let i = 0; i < large.length; i++) large[i] = (i * 131 + 7) & 0xff;
    for (const bytes of [every, large, Buffer.from([0]), every.subarray(10, 20), Buffer.alloc(0)]) {
      const [length, back] = vm.call(echo, [bytes]) as [number, string];
      assert.equal(length, bytes.length);
      // Strings come back as text; the raw bytes go through a host function.
      assert.equal(typeof back, 'string');
    }
    const raw: Buffer[] = [];
    const keep = vm.hostFunction((_args, _where, rawArg) => {
      raw.push(rawArg(0));
    });
    const relay = fn(vm, 'function(keep, s) keep(s) end');
    for (const bytes of [every, large, every.subarray(3, 9)]) vm.call(relay, [keep, bytes]);
    assert.deepEqual(raw.map((b) => createHash('sha256').update(b).digest('hex')), [every, large, every.subarray(3, 9)].map((b) => createHash('sha256').update(b).digest('hex')));
    const text = 'héllo wörld, 中文, 🎥 ' + 'x'.repeat(5000);
    const [n, same] = vm.call(fn(vm, 'function(s) return utf8.len(s), s end'), [text]) as [number, string];
    assert.equal(n, [...text].length);
    assert.equal(same, text);
    // The heap grows (a 16 MiB table) between pushes: later pushes still land intact.
    vm.call(fn(vm, 'function() big = {} for i = 1, 200000 do big[i] = tostring(i) .. "padding" end end'));
    vm.call(relay, [keep, every]);
    assert.ok(raw.at(-1)!.equals(every));
  } finally {
    vm.close();
  }
});
