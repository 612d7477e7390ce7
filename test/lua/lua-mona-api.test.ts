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

test('mona: hashes and HMACs with the algorithm asked for, JSON and AMF both ways, timers returning their next delay', async () => {
  const w = await luaWorld({ 'live/main.lua': `
    ticks = 0
    mona:setTimer(function(elapsed) ticks = ticks + 1 if ticks < 3 then return 50 end end, 50)
    function onConnection(client)
      function client:digests(s)
        return { md5 = mona.hex(mona.hash(mona.MD5, s)), sha1 = mona.hex(mona:hash(mona.SHA1, s)),
                 sha256 = mona.hex(mona.hash(mona.SHA256, s)), hmac = mona.hex(mona.hmac(mona.SHA256, 'key', s)) }
      end
      function client:json() local t = mona.fromJSON(mona.toJSON({ a = 1, b = { 2, 3 }, c = 'x' })) return t end
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
    assert.deepEqual(await c.call('json'), { a: 1, b: [2, 3], c: 'x' });
    assert.deepEqual(await c.call('amf'), [42, 'two', { k: true }]);
    await eventually(async () => (await c.call('ticks')) === 3, 20_000, 'three timer ticks');
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
