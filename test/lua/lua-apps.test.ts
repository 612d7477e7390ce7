// Lua apps under www/ served to Covey's own clients over real sockets (RTMP and RTMFP): the
// MonaServer events with their arguments, rejections, RPC both ways, publish/play refusals,
// inheritance, errors with file:line, and hot reload.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, luaWorld } from '../support/lua-world.js';
import { until } from '../support/test-server.js';

const ROOT = `
events = {}
function onStart(path) events[#events + 1] = 'start:' .. path end
function onConnection(client, user, token)
  if user == 'mallory' then error('no entry for ' .. user) end
  if user == 'silent' then return false end
  client.user = user
  function client:add(a, b) return a + b end
  function client:fail(why) error('failed: ' .. why) end
  function client:whoami() return { user = self.user, protocol = self.protocol, path = self.path, arg = self.arguments[2] } end
  function client:onMessage(name, ...) return 'fallback ' .. name .. ' ' .. select('#', ...) end
  function client:onPublish(publication)
    if publication.name == 'forbidden' then return false end
    if publication.name == 'secret' then error('secret is reserved') end
  end
  function client:onSubscribe(publication, subscription)
    if publication.name == 'hidden' then error('hidden stream') end
  end
  function client:callMe(n)
    self:writeInvocation('double', n, function(result) self.doubled = result end)
  end
  function client:doubled_value() return self.doubled end
  return { greeting = 'hello ' .. user, level = 'ignored' }
end
function onDisconnection(client) events[#events + 1] = 'bye:' .. tostring(client.user) end
function client_events() return table.concat(events, ',') end
`;

for (const proto of ['rtmp', 'rtmfp'] as const) {
  test(`${proto}: onConnection accepts with fields, rejects with error(msg) or false; RPC results, errors, fallback, unknown`, async () => {
    const w = await luaWorld({ 'main.lua': ROOT, 'live/.keep': '' });
    try {
      const c = await w[proto]('live/room', ['alice', 'tok']);
      assert.equal(c.connectInfo?.code, 'NetConnection.Connect.Success');
      assert.equal(c.connectInfo?.greeting, 'hello alice');
      // The protocol's own fields win over a script's.
      assert.equal(c.connectInfo?.level, 'status');
      assert.equal(await c.call('add', 2, 40), 42);
      assert.deepEqual(await c.call('whoami'), { user: 'alice', protocol: proto, path: '/live/room', arg: 'tok' });
      await assert.rejects(c.call('fail', 'because'), (err: Error & { info?: Record<string, unknown> }) => {
        assert.equal(err.info?.code, 'NetConnection.Call.Failed');
        assert.equal(err.info?.level, 'error');
        assert.equal(err.info?.description, 'failed: because');
        return true;
      });
      assert.equal(await c.call('anything', 1, 2, 3), 'fallback anything 3');
      // Methods of the client object itself are not callable from outside.
      assert.equal(await c.call('close'), 'fallback close 0');
      await assert.rejects(w[proto]('live', ['mallory']), (err: Error & { info?: Record<string, unknown> }) => {
        assert.equal(err.info?.code, 'NetConnection.Connect.Rejected');
        assert.equal(err.info?.description, 'no entry for mallory');
        return true;
      });
      await assert.rejects(w[proto]('live', ['silent']), /client rejected/);
      const line = await until(() => w.logs.find((l) => String(l.msg).includes('no entry for mallory')), 20_000, 'the rejection logged');
      assert.match(String(line.msg), /^onConnection rejected a client: covey-lua-\w+\/main\.lua:5: no entry for mallory$/);
    } finally {
      await w.close();
    }
  });

  test(`${proto}: onPublish and onSubscribe refuse with Publish.Failed / Play.Failed and the message; writeInvocation calls the client`, async () => {
    const w = await luaWorld({ 'main.lua': ROOT, 'live/.keep': '' });
    try {
      const c = await w[proto]('live', ['bob']);
      const s1 = await c.createNetStream();
      s1.sendCommand('publish', 'forbidden');
      const f1 = await s1.waitStatus((code) => code.startsWith('NetStream.Publish.'));
      assert.equal(f1.code, 'NetStream.Publish.Failed');
      assert.equal(f1.description, 'Not allowed to publish forbidden');
      const s2 = await c.createNetStream();
      s2.sendCommand('publish', 'secret');
      const f2 = await s2.waitStatus((code) => code.startsWith('NetStream.Publish.'));
      assert.equal(f2.description, 'secret is reserved');
      const s3 = await c.createNetStream();
      s3.sendCommand('play', 'hidden');
      const f3 = await s3.waitStatus((code) => code.startsWith('NetStream.Play.'));
      assert.equal(f3.code, 'NetStream.Play.Failed');
      assert.equal(f3.description, 'hidden stream');
      await c.publish('open');
      c.methods.double = (n) => (n as number) * 2;
      await c.call('callMe', 21);
      assert.equal(await eventually(async () => (await c.call('doubled_value')) as number | undefined, 20_000, 'the client\'s answer to writeInvocation in the script'), 42);
    } finally {
      await w.close();
    }
  });
}

test('onStart and onDisconnection fire with their arguments; a child inherits, overrides and calls super', async () => {
  const w = await luaWorld({
    'main.lua': ROOT,
    'live/.keep': '',
    'chat/main.lua': `
      function onConnection(client, user)
        local fields = super.onConnection(client, user)
        function client:where() return path .. ' ' .. fields.greeting end
      end`,
  });
  try {
    const a = await w.rtmp('live', ['ann']);
    const b = await w.rtmfp('chat', ['ben']);
    assert.equal(await b.call('where'), 'chat hello ben');
    assert.equal(await b.call('add', 1, 2), 3);
    a.close();
    const root = w.server.lua!.apps.apps.get('')!;
    const events = await until(() => {
      const [v] = w.server.lua!.apps.event(root, 'client_events', []) as string[];
      return v.includes('bye:ann') && v;
    }, 20_000, 'onDisconnection');
    assert.match(events, /^start:,start:chat/);
  } finally {
    await w.close();
  }
});

test('a syntax error is logged with file:line and its app refuses connections with it; siblings serve', async () => {
  const w = await luaWorld({ 'live/.keep': '', 'broken/main.lua': 'function onConnection(client)\n  return {\nend' });
  try {
    await assert.rejects(w.rtmp('broken'), (err: Error & { info?: Record<string, unknown> }) => {
      assert.match(String(err.info?.description), /^application \/broken failed to load: .*broken\/main\.lua:3: unexpected symbol near 'end'/);
      return true;
    });
    const line = w.logs.find((l) => String(l.msg).startsWith('cannot load the app'))!;
    assert.match(String(line.msg), /broken\/main\.lua:3:/);
    const ok = await w.rtmp('live');
    assert.equal(ok.connectInfo?.code, 'NetConnection.Connect.Success');
  } finally {
    await w.close();
  }
});

test('a runtime error in an event is logged with file:line; a runaway RPC stops at the time limit and the app serves on', async () => {
  const w = await luaWorld({ 'live/main.lua': `
    function onConnection(client)
      function client:spin() while true do pcall(function() while true do end end) end end
      function client:nilcall() local t = nil; return t.x end
      function client:ping() return 'pong' end
    end` });
  try {
    const c = await w.rtmfp('live');
    await assert.rejects(c.call('nilcall'), /attempt to index a nil value \(local 't'\)/);
    assert.ok(w.logs.some((l) => /live\/main\.lua:4: attempt to index a nil value/.test(String(l.msg))));
    const started = Date.now();
    await assert.rejects(c.call('spin'), /time limit exceeded \(1000 ms\)/);
    assert.ok(Date.now() - started < 15_000, 'the runaway call was stopped');
    assert.equal(await c.call('ping'), 'pong');
  } finally {
    await w.close();
  }
});

test('hot reload: a changed app restarts (onStop, its clients closed with AppShutdown) while a sibling keeps serving; a parent reloads its children', async () => {
  const w = await luaWorld({
    'main.lua': 'function who() return "root v1" end',
    'a/main.lua': `
      stops = 0
      function onStop(path) INFO('a stopping ', path) end
      function onConnection(client) function client:version() return 'a v1 ' .. who() end end`,
    'a/b/.keep': '',
    'sibling/main.lua': 'function onConnection(client) function client:version() return "sibling v1" end end',
  });
  try {
    const a = await w.rtmp('a');
    const sibling = await w.rtmfp('sibling');
    assert.equal(await a.call('version'), 'a v1 root v1');
    const statuses: Array<Record<string, unknown>> = [];
    a.onStatus = (info) => statuses.push(info);
    let aEnded = false;
    a.onEnd = () => (aEnded = true);
    w.write('a/main.lua', `function onConnection(client) function client:version() return 'a v2 ' .. who() end end`);
    await until(() => aEnded, 20_000, 'the client of the reloaded app closed');
    assert.equal(statuses[0]?.code, 'NetConnection.Connect.AppShutdown');
    assert.match(String(statuses[0]?.description), /application \/a reloaded/);
    assert.ok(w.logs.some((l) => l.msg === 'a stopping a' && /a\/main\.lua:3/.test(String(l.at))));
    const a2 = await w.rtmp('a');
    assert.equal(await a2.call('version'), 'a v2 root v1');
    assert.equal(await sibling.call('version'), 'sibling v1');
    // The child a/b (no main.lua) inherits a's onConnection.
    const b = await w.rtmfp('a/b');
    assert.equal(await b.call('version'), 'a v2 root v1');
    // The root changes: every app under it reloads, and sees the new root.
    let siblingEnded = false;
    sibling.onEnd = () => (siblingEnded = true);
    w.write('main.lua', 'function who() return "root v2" end');
    await until(() => siblingEnded, 20_000, 'children of the root closed');
    const a3 = await w.rtmp('a');
    assert.equal(await a3.call('version'), 'a v2 root v2');
    // Removing main.lua: the app inherits from the root again (no onConnection: accepts, no methods).
    rmSync(join(w.www, 'a/main.lua'));
    await until(() => w.logs.some((l) => String(l.msg).startsWith('Lua app removed main.lua')), 20_000, 'the removal seen');
    const a4 = await w.rtmp('a');
    await assert.rejects(a4.call('version'), /Method not found \(version\)/);
  } finally {
    await w.close();
  }
});

for (const proto of ['rtmp', 'rtmfp'] as const) {
  test(`${proto}: publication:onVideo/onAudio get each packet only when the script defined them`, async () => {
    const w = await luaWorld({ 'live/main.lua': `
      seen = { video = 0, audio = 0, bytes = 0, unpublished = '' }
      function onConnection(client)
        function client:onPublish(publication)
          if publication.name ~= 'watched' then return end
          function publication:onVideo(time, packet) seen.video = seen.video + 1 seen.bytes = seen.bytes + #packet seen.last = time end
          function publication:onAudio(time, packet) seen.audio = seen.audio + 1 end
        end
        function client:onUnpublish(publication) seen.unpublished = seen.unpublished .. publication.name .. ' ' end
        function client:seen() return seen end
      end` });
    try {
      const c = await w[proto]('live');
      const watched = await c.publish('watched');
      const plain = await c.publish('plain');
      const app = w.server.flash.apps.get('live')!;
      assert.equal(app.publication('plain')?.observer, undefined);
      assert.notEqual(app.publication('watched')?.observer, undefined);
      const frame = Buffer.from([0x17, 1, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]);
      for (let i = 0; i < 5; i++) {
        watched.sendVideo(40 * i, frame);
        plain.sendVideo(40 * i, frame);
      }
      watched.sendAudio(0, Buffer.from([0xaf, 1, 0x21]));
      let last: Record<string, number> | undefined;
      const seen = await eventually(async () => {
        last = (await c.call('seen')) as Record<string, number>;
        return last.video === 5 && last.audio === 1 ? last : undefined;
      }, 20_000, 'five video packets and one audio in the script');
      assert.equal(seen.bytes, 5 * frame.length);
      assert.equal(seen.last, 160);
      watched.sendCommand('publish', false);
      await eventually(async () => ((await c.call('seen')) as Record<string, string>).unpublished === 'watched ', 20_000, 'onUnpublish of watched');
    } finally {
      await w.close();
    }
  });
}
