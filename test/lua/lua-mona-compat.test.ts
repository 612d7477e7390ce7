// What the side-by-side run against MonaServer2 (README, "Compatibility with MonaServer's Lua API")
// showed Covey had to answer as MonaServer does, over RTMP and RTMFP: writeInvocation without a
// callback goes as transaction 0 (the client does not answer it), error() with several arguments
// concatenates them and error() alone rejects with "client rejected", and the refusal texts of
// onPublish/onSubscribe returning false.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { decodeCommand, isCommandType, type CommandMessage } from '../../src/codec/flash-command.js';
import type { NetConnection } from '../../src/client/net-connection.js';
import { eventually, luaWorld } from '../support/lua-world.js';
import { until } from '../support/test-server.js';

/** Every command the connection receives from now on, as on the wire. */
function recordCommands(c: NetConnection): CommandMessage[] {
  const seen: CommandMessage[] = [];
  const connection = c as unknown as { receive(streamId: number, type: number, timestamp: number, payload: Buffer): void };
  const receive = connection.receive.bind(c);
  connection.receive = (streamId, type, timestamp, payload) => {
    if (isCommandType(type)) seen.push(decodeCommand(type, payload));
    receive(streamId, type, timestamp, payload);
  };
  return seen;
}

const APP = `
function onConnection(client, user)
  if user == 'empty' then error() end
  if user == 'parts' then error('bad ', 'user ', 42) end
  if user == 'level' then error('at level 2', 2) end
  function client:push(n) client:writeInvocation('tick', n) return 'pushed' end
  function client:ask(n) client:writeInvocation('double', n, function(result) client.answer = result end) end
  function client:doubled() return client.answer end
  function client:checked(ok) assert(ok, 'not ', 'ok ', 7) return 'fine' end
  function client:onPublish(publication) if publication.name == 'forbidden' then return false end end
  function client:onSubscribe(publication) if publication.name == 'secret' then return false end end
end`;

for (const proto of ['rtmp', 'rtmfp'] as const) {
  test(`${proto}: writeInvocation without a callback is transaction 0, with one it waits for the client's answer`, async () => {
    const w = await luaWorld({ 'live/main.lua': APP });
    try {
      const c = await w[proto]('live');
      const seen = recordCommands(c);
      const ticks: unknown[] = [];
      c.methods.tick = (n) => ticks.push(n);
      c.methods.double = (n) => (n as number) * 2;
      assert.equal(await c.call('push', 1), 'pushed');
      await until(() => ticks.length === 1, 20_000, 'the tick invocation');
      assert.deepEqual(seen.filter((m) => m.name === 'tick').map((m) => [m.transactionId, m.args]), [[0, [1]]]);
      await c.call('ask', 21);
      await until(() => seen.some((m) => m.name === 'double'), 20_000, 'the double invocation');
      assert.notEqual(seen.find((m) => m.name === 'double')!.transactionId, 0);
      assert.equal(await eventually(async () => (await c.call('doubled')) as number | undefined, 20_000, 'the script receiving the answer'), 42);
    } finally {
      await w.close();
    }
  });

  test(`${proto}: error() alone rejects with "client rejected", error with several arguments concatenates them, error(message, level) is Lua's`, async () => {
    const w = await luaWorld({ 'live/main.lua': APP });
    const description = (err: Error & { info?: Record<string, unknown> }) => err.info?.description;
    try {
      await assert.rejects(w[proto]('live', ['empty']), (err: Error & { info?: Record<string, unknown> }) => {
        assert.equal(err.info?.code, 'NetConnection.Connect.Rejected');
        return description(err) === 'client rejected';
      });
      await assert.rejects(w[proto]('live', ['parts']), (err: Error & { info?: Record<string, unknown> }) => description(err) === 'bad user 42');
      await assert.rejects(w[proto]('live', ['level']), (err: Error & { info?: Record<string, unknown> }) => description(err) === 'at level 2');
      // The log says where the script called error.
      const parts = await until(() => w.logs.find((l) => String(l.msg).includes('bad user 42')), 20_000, 'the rejection logged');
      assert.match(String(parts.msg), /main\.lua:4: bad user 42$/);
      const c = await w[proto]('live', ['bob']);
      assert.equal(await c.call('checked', true), 'fine');
      await assert.rejects(c.call('checked', false), (err: Error & { info?: Record<string, unknown> }) => description(err) === 'not ok 7');
    } finally {
      await w.close();
    }
  });

  test(`${proto}: onPublish and onSubscribe returning false refuse with MonaServer's texts`, async () => {
    const w = await luaWorld({ 'live/main.lua': APP });
    try {
      const c = await w[proto]('live', ['bob']);
      const publish = await c.createNetStream();
      publish.sendCommand('publish', 'forbidden');
      const refused = await publish.waitStatus((code) => code.startsWith('NetStream.Publish.')).catch((err: Error & { info?: Record<string, unknown> }) => err.info);
      assert.deepEqual([refused?.code, refused?.description], ['NetStream.Publish.Failed', 'Not allowed to publish forbidden']);
      const play = await c.createNetStream();
      play.sendCommand('play', 'secret');
      const denied = await play.waitStatus((code) => code.startsWith('NetStream.Play.')).catch((err: Error & { info?: Record<string, unknown> }) => err.info);
      assert.deepEqual([denied?.code, denied?.description], ['NetStream.Play.Failed', 'Not authorized to play secret']);
    } finally {
      await w.close();
    }
  });
}
