// The Lua limits from the command line: defaults, the config file's "lua" keys, the flags over
// both (memory with K and M), bad values stopping start-up with one line that names the key, the
// source and the range, --help naming them, and a server started from the configuration
// stopping a runaway call and a memory bomb at exactly those limits.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyConfigObject, ConfigError, resolveConfig } from '../../src/cli/config.js';
import { defaultConfig } from '../../src/server-config.js';
import { startServer } from '../../src/server.js';
import { silentLogger } from '../../src/util/log.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const covey = ['--import', 'tsx', 'src/cli/main.ts'];

test('Lua limits: defaults, config file keys, flags over both', () => {
  assert.deepEqual(resolveConfig({}, root).lua, { timeLimitMs: 1000, memoryBytes: 64 * 1024 * 1024 });
  const config = defaultConfig();
  applyConfigObject(config, { lua: { timeLimitMs: 250, memoryBytes: '16M' } }, 'covey.json');
  assert.deepEqual(config.lua, { timeLimitMs: 250, memoryBytes: 16 * 1024 * 1024 });
  applyConfigObject(config, { lua: { memoryBytes: 8 * 1024 * 1024 } }, 'covey.json');
  assert.equal(config.lua.memoryBytes, 8 * 1024 * 1024);
  const dir = mkdtempSync(join(tmpdir(), 'covey-lua-config-'));
  try {
    mkdirSync(join(dir, 'www'));
    writeFileSync(join(dir, 'covey.json'), JSON.stringify({ lua: { timeLimitMs: 300, memoryBytes: '32M' } }));
    assert.deepEqual(resolveConfig({}, dir).lua, { timeLimitMs: 300, memoryBytes: 32 * 1024 * 1024 });
    assert.deepEqual(resolveConfig({ luaTimeLimitMs: '40', luaMemory: '2048K' }, dir).lua, { timeLimitMs: 40, memoryBytes: 2 * 1024 * 1024 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad Lua limit is named with its source and its range', () => {
  assert.throws(() => resolveConfig({ luaTimeLimitMs: '5' }, root), new ConfigError('bad config value lua.timeLimitMs="5" (from --lua-time-limit-ms): expected whole milliseconds 10-60000'));
  assert.throws(() => resolveConfig({ luaTimeLimitMs: '1.5' }, root), /lua\.timeLimitMs="1\.5" \(from --lua-time-limit-ms\)/);
  assert.throws(() => resolveConfig({ luaMemory: '2G' }, root), new ConfigError('bad config value lua.memoryBytes="2G" (from --lua-memory): expected bytes 1048576-1073741824 (or with K or M: 512K, 4M)'));
  assert.throws(() => resolveConfig({ luaMemory: '512K' }, root), /lua\.memoryBytes="512K" \(from --lua-memory\): expected bytes 1048576-/);
  assert.throws(() => applyConfigObject(defaultConfig(), { lua: { timeLimitMs: 120_000 } }, 'covey.json'), /lua\.timeLimitMs=120000 \(from covey\.json\): expected whole milliseconds 10-60000/);
  assert.throws(() => applyConfigObject(defaultConfig(), { lua: { memory: 1 } }, 'covey.json'), new ConfigError('unknown config key lua.memory (in covey.json); known: timeLimitMs, memoryBytes'));
  assert.throws(() => applyConfigObject(defaultConfig(), { lua: 5 }, 'covey.json'), /bad config value lua=5 \(from covey\.json\): expected an object/);
  const r = spawnSync(process.execPath, [...covey, 'serve', '--lua-memory', 'lots'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr.trim(), /^covey serve: bad config value lua\.memoryBytes="lots" \(from --lua-memory\)/);
  const help = spawnSync(process.execPath, [...covey, 'serve', '--help'], { cwd: root, encoding: 'utf8' });
  assert.ok(help.stdout.includes('--lua-time-limit-ms') && help.stdout.includes('--lua-memory') && help.stdout.includes('"lua": { "timeLimitMs"'), help.stdout);
});

test('the server started from the configuration stops a script at its time limit and memory cap', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-lua-limits-'));
  mkdirSync(join(dir, 'www', 'live'), { recursive: true });
  writeFileSync(join(dir, 'www', 'live', 'main.lua'), `
    function onConnection(client)
      function client:spin() while true do end end
      function client:hoard() return #string.rep('x', 8 * 1024 * 1024) end
      function client:ping() return 'pong' end
    end`);
  const config = resolveConfig({ www: 'www', host: '127.0.0.1', rtmpPort: '0', rtmfp: false, luaTimeLimitMs: '60', luaMemory: '4M' }, dir);
  const server = await startServer(config, silentLogger);
  const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.rtmp!.address.port}/live`);
  try {
    await assert.rejects(client.call('spin'), /time limit exceeded \(60 ms\)/);
    await assert.rejects(client.call('hoard'), /memory limit exceeded \(4194304 bytes\)/);
    assert.equal(await client.call('ping'), 'pong');
  } finally {
    await client.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
