// The mona object, persistent data and the demo apps shipped in www/, over real sockets.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unpack } from 'msgpackr';
import { eventually, luaWorld } from '../support/lua-world.js';
import { until } from '../support/test-server.js';
import { dataFile } from '../../src/lua/lua-data-store.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('mona: hashes and HMACs with the algorithm asked for, JSON (all arguments as one array, as MonaServer) and AMF both ways, timers returning their next delay', async () => {
  const w = await luaWorld({ 'live/main.lua': `
    ticks = 0
    mona:setTimer(function(elapsed) ticks = ticks + 1 if ticks < 3 then return 50 end end, 50)
    function onConnection(client)
      function client:digests(s)
        return { md5 = mona.hex(mona.hash(mona.MD5, s)), sha1 = mona.hex(mona:hash(mona.SHA1, s)),
                 sha256 = mona.hex(mona.hash(mona.SHA256, s)), hmac = mona.hex(mona.hmac(mona.SHA256, 'key', s)) }
      end
      function client:json()
        -- As MonaServer v1 and v2: all the arguments as one JSON array, and fromJSON its inverse.
        local one, several = mona:toJSON({ a = 1 }), mona.toJSON({ a = 1, b = { 2, 3 }, c = 'x' }, 'two', 3)
        local t, s, n = mona:fromJSON(several)
        local object = mona.fromJSON('{"k":true}')
        return { one = one, t = t, s = s, n = n, none = select('#', mona.fromJSON('[]')), empty = mona.toJSON(), object = object }
      end
      function client:amf() local n, s, t = mona.fromAMF(mona.toAMF(42, 'two', { k = true })) return { n, s, t } end
      function client:ticks() return ticks end
    end` });
  try {
    const c = await w.rtmfp('live');
    const s = 'covey';
    assert.deepEqual(await c.call('digests', s), {
      md5: createHash('md5').update(s).digest('hex'),
      sha1: createHash('sha1').update(s).digest('hex'),
      sha256: createHash('sha256').update(s).digest('hex'),
      hmac: createHmac('sha256', 'key').update(s).digest('hex'),
    });
    assert.deepEqual(await c.call('json'), { one: '[{"a":1}]', t: { a: 1, b: [2, 3], c: 'x' }, s: 'two', n: 3, none: 0, empty: '[]', object: { k: true } });
    assert.deepEqual(await c.call('amf'), [42, 'two', { k: true }]);
    await eventually(async () => (await c.call('ticks')) === 3, 20_000, 'three timer ticks');
  } finally {
    await w.close();
  }
});

test('mona:setTimer returns a timer (MonaServer2): setTimer(timer, 0) stops it, setTimer(timer, ms) re-arms it, timer() fires it now, nextRaising tells when', async () => {
  const w = await luaWorld({ 'live/main.lua': `
    fired, period, probes = 0, 20, 0
    t = mona:setTimer(function(elapsed) fired = fired + 1 return period end, 20)
    function onConnection(client)
      function client:state() return { fired = fired, probes = probes, next = t:nextRaising(), kind = tostring(t), meta = getmetatable(t) } end
      function client:stop() mona:setTimer(t, 0) return t:nextRaising() end
      -- a second timer that fires five times: once it has, a stopped 20 ms timer would have fired too
      function client:probe() probes = 0 mona:setTimer(function() probes = probes + 1 if probes < 5 then return 20 end end, 20) end
      function client:fireNow(nextPeriod) period = nextPeriod local before = fired t() return fired - before, t:nextRaising() end
      function client:rearm() period = 20 local same = mona:setTimer(t, 20) return rawequal(same, t) and t:nextRaising() > 0 end
      function client:immediate()
        local runs = 0
        local u = mona:setTimer(function(elapsed) runs = runs + 1 return 0 end)
        return { runs = runs, next = u:nextRaising() }
      end
      function client:bad() mona:setTimer(42) end
      function client:badDelay() mona:setTimer(t, 'soon') end
    end` });
  try {
    const c = await w.rtmp('live');
    type State = { fired: number; probes: number; next: number; kind: string; meta: string };
    const state = async () => (await c.call('state')) as State;
    await eventually(async () => (await state()).fired >= 2, 20_000, 'the timer firing twice');
    const armed = await state();
    assert.match(armed.kind, /^timer \d+$/);
    assert.equal(armed.meta, 'timer');
    // nextRaising is a time in ms since the epoch while armed.
    assert.ok(armed.next > Date.now() - 60_000 && armed.next < Date.now() + 60_000, String(armed.next));
    assert.equal(await c.call('stop'), 0);
    const stopped = (await state()).fired;
    await c.call('probe');
    await eventually(async () => (await state()).probes === 5, 20_000, 'the probe timer firing five times');
    assert.equal((await state()).fired, stopped, 'a stopped timer does not fire');
    // timer() runs the callback now; its 0 leaves the timer stopped.
    assert.equal(await c.call('fireNow', 0), 1);
    assert.equal((await state()).next, 0);
    assert.equal(await c.call('rearm'), true);
    const rearmed = (await state()).fired;
    await eventually(async () => (await state()).fired >= rearmed + 2, 20_000, 'the re-armed timer firing');
    // Without a delay the callback runs before setTimer returns; returning 0 leaves it stopped.
    assert.deepEqual(await c.call('immediate'), { runs: 1, next: 0 });
    await assert.rejects(c.call('bad'), /mona:setTimer\(function or timer\[, delay in ms\]\): got number/);
    await assert.rejects(c.call('badDelay'), /the delay in ms is a number, got string/);
  } finally {
    await w.close();
  }
});

test('LOG(level, ...) with MonaServer2\'s LOG_* numbers logs at that level with the file:line', async () => {
  const w = await luaWorld({ 'live/main.lua': `
    function onConnection(client)
      function client:log()
        LOG(LOG_WARN, 'warned ', 42)
        LOG(LOG_FATAL, 'fatal')
        LOG('not a level', 'default')
        LOG(LOG_DEBUG, 'debugged')
        return LOG_ERROR .. LOG_TRACE
      end
    end` });
  try {
    const c = await w.rtmp('live');
    assert.equal(await c.call('log'), '38');
    const line = (msg: string) => w.logs.find((l) => l.msg === msg);
    // pino levels: 50 error, 40 warn, 30 info, 20 debug. The arguments are concatenated, as MonaServer's.
    assert.deepEqual([line('warned 42')?.level, line('fatal')?.level, line('default')?.level, line('debugged')?.level], [40, 50, 30, 20]);
    assert.match(String(line('warned 42')?.at), /live\/main\.lua:4$/);
  } finally {
    await w.close();
  }
});

test('data survives a restart: nested tables, numbers stay numbers', async () => {
  const www = mkdtempSync(join(tmpdir(), 'covey-lua-data-'));
  const app = `
    function onConnection(client)
      function client:set(n) data.count = n data.nested = { list = { 1, 2.5, 'three' }, flag = true } return true end
      function client:get() return data end
    end`;
  try {
    const first = await luaWorld({ 'store/main.lua': app }, { www, keep: true });
    const c = await first.rtmp('store');
    assert.equal(await c.call('set', 7), true);
    await first.close();
    assert.deepEqual(unpack(readFileSync(dataFile(www, 'store'))), { count: 7, nested: { list: [1, 2.5, 'three'], flag: true } });
    const second = await luaWorld({}, { www, keep: true });
    const d = await second.rtmfp('store');
    assert.deepEqual(await d.call('get'), { count: 7, nested: { list: [1, 2.5, 'three'], flag: true } });
    await second.close();
  } finally {
    rmSync(www, { recursive: true, force: true });
  }
});

test('data written while the writer is killed (-9) is the old value or the new one, never torn', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-lua-kill-'));
  const file = join(dir, 'data.msgpack');
  // A writer saving ever-growing values as fast as it can, killed at a random moment each round.
  const writer = `
    import { saveAtomically, encodeData } from ${JSON.stringify(join(root, 'src/lua/lua-data-store.ts'))};
    for (let i = Number(process.argv[1]); ; i++) saveAtomically(${JSON.stringify(file)}, encodeData({ i, payload: 'x'.repeat(1000 + (i % 50) * 1000) }));
  `;
  try {
    let last = 0;
    for (let round = 1; round <= 5; round++) {
      // Each round's writer counts from round * 1e6, and is killed after a random number of writes.
      const base = round * 1_000_000;
      const killAfter = base + 3 + Math.floor(Math.random() * 300);
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', writer, String(base)], { cwd: root, stdio: 'ignore' });
      await until(() => {
        try {
          return (unpack(readFileSync(file)) as { i: number }).i >= killAfter || undefined;
        } catch {
          return undefined;
        }
      }, 20_000, 'the writer writing');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const value = unpack(readFileSync(file)) as { i: number; payload: string };
      assert.equal(value.payload.length, 1000 + (value.i % 50) * 1000, `round ${round}: a whole value`);
      assert.ok(value.i >= killAfter && value.i > last, `round ${round}: ${value.i} after ${killAfter}`);
      last = value.i;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the shipped www/: the root logs, chat passes messages to the others with writeInvocation, live is open without a secret', async () => {
  const www = mkdtempSync(join(tmpdir(), 'covey-lua-www-'));
  cpSync(join(root, 'www'), www, { recursive: true });
  rmSync(join(www, '.data'), { recursive: true, force: true });
  try {
    const w = await luaWorld({}, { www });
    const alice = await w.rtmp('chat', ['alice']);
    const bob = await w.rtmfp('chat', ['bob']);
    assert.equal(bob.connectInfo?.name, 'bob');
    const heard: unknown[][] = [];
    bob.methods.onMessage = (...args) => heard.push(args);
    let aliceHeard = 0;
    alice.methods.onMessage = () => aliceHeard++;
    assert.equal(await alice.call('send', 'hello bob'), 1);
    await until(() => heard.length === 1, 20_000, 'bob hears alice');
    assert.deepEqual(heard[0], ['alice', 'hello bob']);
    assert.equal(aliceHeard, 0);
    assert.ok(w.logs.some((l) => /^connection from 127\.0\.0\.1:\d+ \(rtmp\) to \/chat$/.test(String(l.msg)) && /main\.lua:5$/.test(String(l.at))));
    const live = await w.rtmfp('live');
    assert.equal(live.connectInfo?.code, 'NetConnection.Connect.Success');
    await w.close();
  } finally {
    rmSync(www, { recursive: true, force: true });
  }
});

test('live with a secret: a good HMAC token is accepted, a bad or missing one rejected', async () => {
  const www = mkdtempSync(join(tmpdir(), 'covey-lua-live-'));
  cpSync(join(root, 'www'), www, { recursive: true });
  process.env.COVEY_APP_LIVE_SECRET = 's3cret';
  try {
    const w = await luaWorld({}, { www });
    try {
      const token = createHmac('sha256', 's3cret').update('carol').digest('hex');
      const ok = await w.rtmp('live', ['carol', token]);
      assert.equal(ok.connectInfo?.code, 'NetConnection.Connect.Success');
      await assert.rejects(w.rtmfp('live', ['carol', 'bad']), /bad token for carol/);
      await assert.rejects(w.rtmp('live'), /needs a user name and a token/);
    } finally {
      await w.close();
    }
  } finally {
    delete process.env.COVEY_APP_LIVE_SECRET;
    rmSync(www, { recursive: true, force: true });
  }
});
