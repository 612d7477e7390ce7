// require, dofile and loadfile in Lua apps, over real sockets: modules next to the calling file,
// in the app's folder and its parents', run with the app's environment and kept once per app;
// nothing outside www/ (.., absolute paths, dot folders, links leading out), and the root app on
// the empty connect path.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { luaWorld } from '../support/lua-world.js';

const FILES = {
  'main.lua': `
    function onConnection(client) function client:where() return 'root app "' .. path .. '", client at "' .. client.path .. '"' end end`,
  // Found from live/ by walking up to the parent app's folder.
  'shared.lua': `return { name = 'shared at the root' }`,
  'live/main.lua': `
    loads = 0
    local util = require('lib.util')
    local again = require('lib/util.lua')
    local shared = require('shared')
    local setup = dofile('setup.lua')
    function onConnection(client)
      function client:modules()
        return { util = util.describe(), same = util == again, shared = shared.name, setup = setup, loads = loads }
      end
      function client:try(code)
        local ok, err = pcall(load(code, '=try', 't', this))
        return ok and 'ran' or tostring(err)
      end
      function client:loadfile(name)
        local f, err = loadfile(name)
        if f then return f() end
        return 'nil: ' .. err
      end
      function client:failing() return require('lib.broken') end
    end`,
  'live/lib/util.lua': `
    loads = loads + 1            -- the app's own global: modules run with the app's environment
    local helper = require('helper')  -- next to this file: live/lib/helper.lua
    local M = {}
    function M.describe() return helper .. ' in ' .. path end
    return M`,
  'live/lib/helper.lua': `return 'helper'`,
  'live/lib/broken.lua': `local x = nil\nreturn x.field`,
  'live/setup.lua': `return 'setup done'`,
  'live/.data/evil.lua': `return 'read from a dot folder'`,
};

for (const proto of ['rtmp', 'rtmfp'] as const) {
  test(`${proto}: require finds modules next to the caller, in the app and up to www/, once per app; dofile and loadfile read files`, async () => {
    const w = await luaWorld(FILES);
    try {
      const c = await w[proto]('live');
      assert.deepEqual(await c.call('modules'), { util: 'helper in live', same: true, shared: 'shared at the root', setup: 'setup done', loads: 1 });
      assert.equal(await c.call('loadfile', 'setup.lua'), 'setup done');
      assert.match(String(await c.call('loadfile', 'nothing.lua')), /^nil: dofile\/loadfile: nothing\.lua not found \(looked for nothing\.lua in covey-lua-\w+\/live, covey-lua-\w+\)$/);
      // An error inside a module names the module's file and line.
      await assert.rejects(c.call('failing'), /attempt to index a nil value \(local 'x'\)/);
      assert.ok(w.logs.some((l) => /live\/lib\/broken\.lua:2: attempt to index a nil value/.test(String(l.msg))), 'the module error logged with its file:line');
    } finally {
      await w.close();
    }
  });
}

test('require and dofile reach nothing outside www/: .., absolute paths, dot folders, links leading out, native modules', async () => {
  const outside = mkdtempSync(join(tmpdir(), 'covey-outside-'));
  writeFileSync(join(outside, 'secret.lua'), `return 'outside www'`);
  const w = await luaWorld(FILES);
  try {
    symlinkSync(join(outside, 'secret.lua'), join(w.www, 'live', 'link.lua'));
    const c = await w.rtmp('live');
    const attempt = async (code: string) => String(await c.call('try', code));
    assert.match(await attempt(`require('../secret')`), /^try:1: require: \.\.\/secret leads outside the app \("\.\." is not allowed\)$/);
    assert.match(await attempt(`dofile('../../secret.lua')`), /leads outside the app/);
    assert.match(await attempt(`require('${join(outside, 'secret')}')`), /is an absolute path; scripts reach only files under www\//);
    assert.match(await attempt(`dofile('.data/evil.lua')`), /is not a valid name/);
    assert.match(await attempt(`require('link')`), /require: link leads outside www\/ \(.*link\.lua is a link to .*secret\.lua\)/);
    // No C modules, no package library to load one with.
    assert.match(await attempt(`require('socket.core')`), /require: socket\.core not found \(looked for socket\/core\.lua or socket\/core\/init\.lua in/);
    assert.match(await attempt(`return package.loadlib('x.so', 'f')`), /attempt to index a nil value \(global 'package'\)/);
    assert.match(await attempt(`require(42)`), /bad argument #1 to 'require' \(string expected, got number\)/);
    assert.equal(await attempt(`require('shared')`), 'ran');
  } finally {
    await w.close();
    rmSync(outside, { recursive: true, force: true });
  }
});

test('a module that requires itself fails with the loop named, not a stack overflow', async () => {
  const w = await luaWorld({
    'live/main.lua': `function onConnection(client) function client:go() return require('a') end end`,
    'live/a.lua': `return require('b')`,
    'live/b.lua': `return require('a')`,
  });
  try {
    const c = await w.rtmfp('live');
    await assert.rejects(c.call('go'), /require: a requires itself \(a loop through covey-lua-\w+\/live\/a\.lua\)/);
  } finally {
    await w.close();
  }
});

for (const proto of ['rtmp', 'rtmfp'] as const) {
  test(`${proto}: the empty connect path is the root app when www/main.lua exists`, async () => {
    const w = await luaWorld({ 'main.lua': FILES['main.lua'], 'live/.keep': '' });
    try {
      const c = await w[proto]('');
      assert.equal(c.connectInfo?.code, 'NetConnection.Connect.Success');
      assert.equal(await c.call('where'), 'root app "", client at "/"');
      const publisher = await c.publish('at-root');
      publisher.sendVideo(0, Buffer.from([0x17, 0, 0, 0, 0]));
      // live/ has no main.lua: the root's events serve it; the function's environment stays the root's.
      const live = await w[proto]('live');
      assert.equal(await live.call('where'), 'root app "", client at "/live"');
    } finally {
      await w.close();
    }
  });

  test(`${proto}: without www/main.lua the empty connect path is an invalid app (as Flash Media Server answers), saying why`, async () => {
    const w = await luaWorld({ 'live/main.lua': 'function onConnection(client) end' });
    try {
      await assert.rejects(w[proto](''), (err: Error & { info?: Record<string, unknown> }) => {
        assert.equal(err.info?.code, 'NetConnection.Connect.InvalidApp');
        assert.match(String(err.info?.description), /^no application in the connect URL \(expected rtmp:\/\/host\/app; this server has no root application\)$/);
        return true;
      });
    } finally {
      await w.close();
    }
  });
}
