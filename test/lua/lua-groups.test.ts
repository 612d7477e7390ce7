// mona.groups (MonaServer v1) over real RTMFP NetGroup joins: the app's groups by ID, with their
// size and members, as the script sees them while members come and go.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { luaWorld } from '../support/lua-world.js';
import { until } from '../support/test-server.js';
import { NetGroup } from '../../src/client/net-group.js';

const GROUPSPEC = 'G:027f0201010103010c050e74657374011b00';
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest();
const APP = `
function onConnection(client)
  function client:groups(id)
    local ids = {}
    for gid, g in pairs(mona.groups) do ids[#ids + 1] = gid .. '=' .. g.size end
    local g = mona.groups[id]
    local peers = {}
    for _, m in ipairs(g and g.members or {}) do peers[#peers + 1] = m.peerId .. '@' .. m.clientId end
    table.sort(peers)
    return { count = #mona.groups, ids = table.concat(ids, ','), peers = table.concat(peers, ','), called = mona.groups(id) ~= nil }
  end
end`;
const GROUP_ID_HEX = sha256(sha256('G:027f0201010103010c050e74657374011b')).toString('hex');

test('rtmfp: mona.groups lists the app\'s NetGroups by ID with their size and members', async () => {
  const w = await luaWorld({ 'live/main.lua': APP, 'other/main.lua': APP });
  try {
    const a = await w.rtmfp('live');
    const b = await w.rtmfp('live');
    const outsider = await w.rtmfp('other');
    assert.deepEqual(await a.call('groups', GROUP_ID_HEX), { count: 0, ids: '', peers: '', called: false });
    await NetGroup.join(a, GROUPSPEC);
    await NetGroup.join(b, GROUPSPEC);
    const idOf = (peerId: string) => w.server.flash.groups.group('live', GROUP_ID_HEX)!.members.find((m) => m.peerId.toString('hex') === peerId)!.client.id;
    const expected = [`${a.peerId}@${idOf(a.peerId)}`, `${b.peerId}@${idOf(b.peerId)}`].sort().join(',');
    assert.deepEqual(await a.call('groups', GROUP_ID_HEX), { count: 1, ids: `${GROUP_ID_HEX}=2`, peers: expected, called: true });
    // Another app's script sees only its own application's groups.
    assert.deepEqual(await outsider.call('groups', GROUP_ID_HEX), { count: 0, ids: '', peers: '', called: false });
    await b.close();
    // b's leave reaches the server with its close; then the listing has a alone.
    await until(() => w.server.flash.groups.group('live', GROUP_ID_HEX)?.size === 1, 20_000, 'the server to see b leave the group');
    assert.deepEqual(await a.call('groups', GROUP_ID_HEX), { count: 1, ids: `${GROUP_ID_HEX}=1`, peers: `${a.peerId}@${idOf(a.peerId)}`, called: true });
  } finally {
    await w.close();
  }
});
