// mona:sharedObject for scripts, over real sockets: what a script writes reaches an RTMP and an
// RTMFP user of the object as change (a locked batch as one message under one version), a nil
// deletes, send calls the handler at every user, and a write over a size limit raises in the
// script and changes nothing; client:onSharedObjectUse and client:onSharedObjectChange refuse.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, luaWorld, type LuaWorld } from '../support/lua-world.js';
import { until } from '../support/test-server.js';
import { SharedObject, type SyncChange } from '../../src/client/shared-object.js';
import { decodeSnapshot } from '../../src/flash/shared-object-store.js';
import type { LuaAppHooks } from '../../src/lua/lua-app-hooks.js';

const serverObject = (w: LuaWorld, app: string, name: string) => w.server.flash.sharedObjectsOf(app).get(name);

const APP = `
function onConnection(client, name)
  local so = mona:sharedObject('state')
  function client:bump(n)
    so:lock()
    so:set('count', (so:get('count') or 0) + n)
    so:set('by', name)
    so:unlock()
    return so:version()
  end
  function client:forget() so:set('by', nil) end
  function client:shout(text) so:send('onShout', text, name) end
  function client:huge() so:set('huge', string.rep('x', 70000)) end
  function client:slotCount() local n = 0 for _ in pairs(so:slots()) do n = n + 1 end return n end
  function client:onSharedObjectUse(name, persistent)
    if name == 'secret' then return false end
  end
  function client:onSharedObjectChange(name, key, value)
    if key == 'count' then error("count is the server's") end
  end
end
`;

test('a script writes a shared object: RTMP and RTMFP users get one batch per unlock, deletes, sends; over a limit it raises and nothing changes; its hooks refuse uses and changes', async () => {
  const w = await luaWorld({ 'room/main.lua': APP });
  try {
    const a = await w.rtmp('room', ['ann']);
    const b = await w.rtmfp('room', ['ben']);
    const users = [new SharedObject('state'), new SharedObject('state')];
    const batches: SyncChange[][][] = [[], []];
    const shouts: unknown[][][] = [[], []];
    users.forEach((so, i) => {
      so.onSync = (changes) => batches[i]!.push(changes);
      so.handlers.onShout = (...args) => shouts[i]!.push(args);
    });
    await users[0]!.connect(a);
    await users[1]!.connect(b);

    const version = (await b.call('bump', 2)) as number;
    for (const [i, so] of users.entries()) {
      await so.waitFor(() => so.data.count === 2 && so.data.by === 'ben', 20_000, `user ${i} sees the script's batch`);
      const batch = batches[i]!.at(-1)!;
      assert.deepEqual(batch.map((c) => [c.code, c.name, c.value, c.version]), [['change', 'count', 2, version], ['change', 'by', 'ben', version]], `user ${i}: both changes in one message, under the version the script saw`);
    }

    assert.equal(await a.call('bump', 3), version + 1);
    await b.call('forget');
    for (const [i, so] of users.entries()) await so.waitFor(() => so.data.count === 5 && !('by' in so.data), 20_000, `user ${i} sees the delete`);
    assert.ok(batches[1]!.at(-1)!.some((c) => c.code === 'delete' && c.name === 'by'));

    await a.call('shout', 'hi');
    for (const [i, so] of users.entries()) await so.waitFor(() => shouts[i]!.length === 1, 20_000, `user ${i} gets the script's send`);
    assert.deepEqual(shouts, [[['hi', 'ann']], [['hi', 'ann']]]);

    // The script's hooks: a refused change is answered NoWriteAccess and rolled back at its
    // requester; a refused use NoReadAccess.
    users[1]!.setProperty('count', 100);
    await users[1]!.waitFor(() => users[1]!.data.count === 5 && users[1]!.pendingCount === 0, 20_000, 'the refused change rolled back');
    assert.ok(users[1]!.statuses.some((s) => s.code === 'SharedObject.NoWriteAccess'), JSON.stringify(users[1]!.statuses));
    await assert.rejects(new SharedObject('secret').connect(a), /SharedObject.NoReadAccess/);
    users[1]!.setProperty('note', 'fine');
    await users[0]!.waitFor(() => users[0]!.data.note === 'fine', 20_000, 'an allowed change from a user');

    const before = users[0]!.version;
    await assert.rejects(a.call('huge'), /not changed: slot "huge" would hold \d+ bytes \(limit 65536\)/);
    assert.equal(await a.call('slotCount'), 2, 'nothing of the refused write is in the object (count and note)');
    // A later write still goes through, one version on: the refused one took none.
    await a.call('bump', 1);
    await users[0]!.waitFor(() => users[0]!.data.count === 6, 20_000, 'the next write');
    assert.equal(users[0]!.version, before + 1);
  } finally {
    await w.close();
  }
});

// client:onSharedObjectChange rewriting a request: the value it returns is stored and every user,
// the requester included, ends with it; one version for the message; persisted as rewritten;
// checked against the limits; a hook that fails or runs out of time refuses and changes nothing.
const REWRITE_APP = `
function onConnection(client, name)
  if name == 'plain' then return end
  function client:onSharedObjectChange(so, key, value)
    if key == 'nick' then return string.upper(value) end
    if key == 'typing' and value == '' then return mona.DELETE end
    if key == 'score' then return math.max(0, math.min(100, value)) end
    if key == 'big' then return string.rep('x', 70000) end
    if key == 'boom' then error('no boom here') end
    if key == 'slow' then while true do end end
    if key == 'odd' then return function() end end
    if key == 'gone' then return 'back' end
  end
end
`;

test('client:onSharedObjectChange rewrites a request: the requester (RTMP or RTMFP) and every other user get the stored value under one version, persisted; over a limit, an error or the time limit refuses with nothing changed; clients without the hook cost no Lua call', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'covey-so-rewrite-'));
  const w = await luaWorld({ 'game/main.lua': REWRITE_APP }, {
    configure: (config) => {
      config.sharedObjects.dataDir = dataDir;
      // The hook that loops is stopped by the time limit: a short one keeps the test short.
      config.lua.timeLimitMs = 200;
    },
  });
  try {
    const conns = [await w.rtmp('game', ['ann']), await w.rtmfp('game', ['ben']), await w.rtmp('game', ['plain'])];
    const users = conns.map(() => new SharedObject('board', true));
    const batches: SyncChange[][][] = users.map(() => []);
    users.forEach((so, i) => (so.onSync = (changes) => batches[i]!.push(changes)));
    for (const [i, so] of users.entries()) await so.connect(conns[i]!);
    const [ann, ben, plain] = users as [SharedObject, SharedObject, SharedObject];
    const settled = (what: string, check: (so: SharedObject) => boolean) =>
      Promise.all(users.map((so, i) => so.waitFor(() => so.pendingCount === 0 && check(so), 20_000, `user ${i}: ${what}`)));
    const sameVersion = () => users.every((so) => so.version === ann.version);

    // RTMP requester, two slots in one message, one rewritten.
    let before = ann.version;
    ann.setProperty('nick', 'ann');
    ann.setProperty('color', 'red');
    await settled('nick rewritten, color as asked', (so) => so.data.nick === 'ANN' && so.data.color === 'red' && so.version === before + 1);
    assert.deepEqual(batches[0]!.at(-1)!.map((c) => [c.code, c.name, c.value]), [['success', 'nick', 'ann'], ['success', 'color', 'red'], ['change', 'nick', 'ANN']], 'the requester: its successes, then the stored value, in one message');
    for (const i of [1, 2]) assert.deepEqual(batches[i]!.at(-1)!.map((c) => [c.code, c.name, c.value, c.version]), [['change', 'nick', 'ANN', before + 1], ['change', 'color', 'red', before + 1]], `user ${i}: the stored values, one version`);

    // RTMFP requester: a clamp, and a rewrite into a delete (of a slot that exists, then of one that does not).
    ben.setProperty('typing', 'yes');
    ben.setProperty('score', 250);
    await settled('typing set, score clamped', (so) => so.data.typing === 'yes' && so.data.score === 100);
    before = ann.version;
    ben.setProperty('typing', '');
    await settled('typing deleted', (so) => !('typing' in so.data) && so.version === before + 1);
    assert.deepEqual(batches[1]!.at(-1)!.map((c) => c.code), ['success', 'delete']);
    assert.ok(batches[0]!.at(-1)!.some((c) => c.code === 'delete' && c.name === 'typing'));
    ben.setProperty('typing', '');
    await ben.waitFor(() => ben.pendingCount === 0 && !('typing' in ben.data), 20_000, 'a delete of nothing leaves the requester without the slot');

    // Refusals: a rewritten value over the 64 KiB slot limit, error(), the time limit, a value
    // that cannot be stored. Each message has an innocent slot too: nothing of it applies.
    const state = () => JSON.stringify(serverObject(w, 'game', 'board')!.snapshot());
    const stateBefore = state();
    before = ann.version;
    const statusesBefore = users.map((so) => so.statuses.length);
    const refusals: Array<[SharedObject, string]> = [[ann, 'big'], [ben, 'boom'], [ann, 'slow'], [ben, 'odd']];
    for (const [so, key] of refusals) {
      const n = so.statuses.length;
      so.setProperty('innocent', key);
      so.setProperty(key, 'v');
      await so.waitFor(() => so.statuses.length > n && so.pendingCount === 0, 20_000, `${key} refused`);
      assert.deepEqual(so.statuses.at(-1), { code: 'SharedObject.NoWriteAccess', level: 'error' }, key);
      assert.ok(!('innocent' in so.data) && !(key in so.data), `${key}: rolled back at the requester`);
    }
    assert.equal(state(), stateBefore, 'the server object did not change');
    // A later change goes through at the next version: the refused messages took none.
    plain.setProperty('after', 1);
    await settled('the next change', (so) => so.data.after === 1);
    assert.equal(ann.version, before + 1);
    assert.ok(sameVersion());
    assert.equal(plain.statuses.length, statusesBefore[2], 'the others were told nothing of the refusals');
    assert.ok(w.logs.some((l) => String(l.msg).includes('time limit exceeded')), 'the looping hook was stopped by the time limit');

    // A client without the hook: its requests cost no Lua call, and are stored as asked.
    const hooks = w.server.lua!.hooks as LuaAppHooks;
    const calls = hooks.sharedObjectChangeCalls;
    plain.setProperty('nick', 'plain');
    plain.setProperty('gone', 'x');
    await settled('plain values', (so) => so.data.nick === 'plain' && so.data.gone === 'x');
    assert.equal(hooks.sharedObjectChangeCalls, calls, 'no Lua call for a client without onSharedObjectChange');
    ann.setProperty('gone', 'x');
    await settled('a hooked client\'s request rewritten', (so) => so.data.gone === 'back');
    assert.equal(hooks.sharedObjectChangeCalls, calls + 1);

    // Persisted as stored.
    const file = join(dataDir, 'game', 'board.so');
    await eventually(async () => {
      try {
        const saved = decodeSnapshot(readFileSync(file));
        return saved.version === ann.version && saved.slots.nick === 'plain' && saved.slots.score === 100 && saved.slots.gone === 'back' && !('typing' in saved.slots);
      } catch {
        return false;
      }
    }, 20_000, 'the file holds the stored values');
  } finally {
    await w.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// A script's holds: an object a script opened stays loaded without users while the script holds
// it, and goes (transient) or is unloaded after its file is written (persistent) once neither a
// user nor a script holds it: so:release(), the handle's garbage collection, the app's reload.
const HOLD_APP = `
local held = {}
function onStart()
  held.lobby = mona:sharedObject('lobby')
  held.lobby:set('motd', 'hello')
end
local function touch(name) mona:sharedObject(name):set('tmp', 1) end
function onConnection(client)
  function client:open(name, persistent)
    held[name] = mona:sharedObject(name, persistent)
    held[name]:set('by', 'script')
  end
  function client:release(name) held[name]:release() held[name]:release() end
  function client:afterRelease(name) return held[name]:get('by') end
  function client:touch(name) touch(name) end
  function client:collect() collectgarbage() end
end
`;

test('a script holds the objects it opens (from its first onStart on) until so:release(), garbage collection or its reload; then a transient object vanishes and a persistent one is saved and unloaded', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'covey-so-hold-'));
  const w = await luaWorld({ 'hold/main.lua': HOLD_APP }, { configure: (config) => (config.sharedObjects.dataDir = dataDir) });
  const loaded = (name: string) => serverObject(w, 'hold', name);
  try {
    const a = await w.rtmp('hold');
    const b = await w.rtmfp('hold');

    // Transient, held by the script: a user comes and goes, the object and its slots stay.
    await a.call('open', 'notes', false);
    assert.equal(loaded('notes')?.get('by'), 'script', 'loaded with no user, as the script holds it');
    const user = new SharedObject('notes');
    await user.connect(b);
    assert.equal(user.data.by, 'script');
    user.setProperty('seen', true);
    await user.waitFor(() => user.pendingCount === 0, 20_000, 'the change applied');
    user.close();
    await until(() => w.logs.some((l) => l.msg === 'shared object used' && l.object === 'notes') && loaded('notes')?.users.size === 0, 20_000, 'the user released it');
    assert.deepEqual(loaded('notes')?.snapshot().slots, { by: 'script', seen: true }, 'still there: the script holds it');
    const lastVersion = loaded('notes')!.version;
    // Released (twice: the second is a no-op): no user, no hold, gone.
    await a.call('release', 'notes');
    assert.equal(loaded('notes'), undefined, 'gone once nobody holds it');
    await assert.rejects(a.call('afterRelease', 'notes'), /so:get\(\): shared object "notes" was released \(open it again with mona:sharedObject\)/);
    const again = new SharedObject('notes');
    const first = await again.connect(a);
    assert.deepEqual(first.map((c) => c.code), ['clear'], 'a new, empty incarnation');
    assert.ok(again.version > lastVersion, 'above the old version');
    again.close();

    // Persistent: released with no user, its file is written and it is unloaded.
    await a.call('open', 'saved', true);
    await a.call('release', 'saved');
    assert.equal(loaded('saved'), undefined, 'unloaded');
    await eventually(async () => {
      try {
        return decodeSnapshot(readFileSync(join(dataDir, 'hold', 'saved.so'))).slots.by === 'script';
      } catch {
        return false;
      }
    }, 20_000, 'the persistent object saved');

    // A handle the script drops: collected, its hold released.
    await a.call('touch', 'scratch');
    assert.equal(loaded('scratch')?.get('tmp'), 1);
    await a.call('collect');
    await until(() => loaded('scratch') === undefined, 20_000, 'the collected handle released its hold');

    // What onStart opened at the server's start (the model exists before the first onStart)
    // is released by the app's reload.
    assert.equal(loaded('lobby')?.get('motd'), 'hello');
    w.write('hold/main.lua', HOLD_APP.replace("held.lobby = mona:sharedObject('lobby')\n  held.lobby:set('motd', 'hello')", ''));
    await until(() => loaded('lobby') === undefined, 20_000, 'the reloaded app no longer holds the lobby');
  } finally {
    await w.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a client its change hook disconnects (client:close in onSharedObjectChange): its connection ends, the request it made stands, it is no longer a user, the others carry on (RTMP and RTMFP)', async () => {
  const w = await luaWorld({ 'kick/main.lua': `
function onConnection(client)
  function client:onSharedObjectChange(so, key, value)
    if key == 'bye' then client:close('said bye') end
  end
end
` });
  try {
    const watcher = new SharedObject('s');
    await watcher.connect(await w.rtmp('kick'));
    for (const kind of ['rtmp', 'rtmfp'] as const) {
      const c = kind === 'rtmp' ? await w.rtmp('kick') : await w.rtmfp('kick');
      const ended = new Promise<string>((resolve) => (c.onEnd = resolve));
      const so = new SharedObject('s');
      await so.connect(c);
      so.setProperty('bye', kind);
      await ended;
      await watcher.waitFor(() => watcher.data.bye === kind, 20_000, `the ${kind} request, made before the kick, applied`);
      const object = serverObject(w, 'kick', 's')!;
      await until(() => object.users.size === 1, 20_000, `the ${kind} client no longer a user`);
      watcher.setProperty('after', kind);
      await watcher.waitFor(() => watcher.data.after === kind && watcher.pendingCount === 0, 20_000, 'the watcher carries on');
    }
  } finally {
    await w.close();
  }
});
