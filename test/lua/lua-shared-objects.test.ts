// mona:sharedObject for scripts, over real sockets: what a script writes reaches an RTMP and an
// RTMFP user of the object as change (a locked batch as one message under one version), a nil
// deletes, send calls the handler at every user, and a write over a size limit raises in the
// script and changes nothing; client:onSharedObjectUse and client:onSharedObjectChange refuse.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { luaWorld } from '../support/lua-world.js';
import { SharedObject, type SyncChange } from '../../src/client/shared-object.js';

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
