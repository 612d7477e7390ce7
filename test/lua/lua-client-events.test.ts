// The client and server events MonaServer apps use beyond connect, RPC and publish, over real
// sockets: onUnsubscribe with the objects onSubscribe saw (RTMP and RTMFP), onAddressChanged when
// an RTMFP client's address moves (through a UDP relay that changes its outgoing port),
// onHandshake sending an RTMFP connection to another server, and onRendezVousUnknown sending an
// initiator to the server where the peer it asks for is.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { luaWorld, type LuaWorld } from '../support/lua-world.js';
import { until } from '../support/test-server.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';

/** What the root app recorded in `events` (a Lua list of strings). */
function events(w: LuaWorld, app = ''): string[] {
  const [list] = w.server.lua!.apps.event(w.server.lua!.apps.apps.get(app)!, 'recorded', []) as [unknown];
  // An empty Lua table reads as {}.
  return Array.isArray(list) ? (list as string[]) : [];
}

const RECORDER = `
events = {}
function recorded() return events end
local function note(line) events[#events + 1] = line end
function onConnection(client, name)
  client.name = name
  function client:onSubscribe(publication, subscription)
    subscription.mark = 'sub#' .. publication.name
    note('subscribe ' .. client.name .. ' ' .. publication.name .. ' token=' .. tostring(subscription.query.token))
  end
  function client:onUnsubscribe(publication, subscription)
    note('unsubscribe ' .. client.name .. ' ' .. publication.name .. ' ' .. tostring(subscription.mark))
  end
  function client:onAddressChanged(old)
    note('moved ' .. client.name .. ' from ' .. old .. ' to ' .. client.address)
  end
end
function onDisconnection(client) note('bye ' .. client.name) end
`;

for (const proto of ['rtmp', 'rtmfp'] as const) {
  test(`${proto}: onUnsubscribe gets the objects onSubscribe saw, when a play is replaced, closed, or its client leaves`, async () => {
    const w = await luaWorld({ 'main.lua': RECORDER, 'live/.keep': '' });
    try {
      const c = await w[proto]('live', ['ann']);
      const first = await c.play('one?token=t1');
      // A second play on the same stream replaces the first.
      first.sendCommand('play', 'two', -2);
      await until(() => events(w).includes('unsubscribe ann one sub#one'), 20_000, 'onUnsubscribe for the replaced play');
      await until(() => events(w).includes('subscribe ann two token=nil'), 20_000, 'onSubscribe for the new play');
      first.sendCommand('closeStream');
      await until(() => events(w).includes('unsubscribe ann two sub#two'), 20_000, 'onUnsubscribe after closeStream');
      await c.play('three');
      await c.close();
      await until(() => events(w).includes('bye ann'), 20_000, 'onDisconnection');
      assert.deepEqual(events(w), [
        'subscribe ann one token=t1', 'unsubscribe ann one sub#one', 'subscribe ann two token=nil', 'unsubscribe ann two sub#two',
        'subscribe ann three token=nil', 'unsubscribe ann three sub#three', 'bye ann',
      ]);
    } finally {
      await w.close();
    }
  });
}

/** A UDP relay in front of a server: the client talks to `port`; move() changes the port the server sees. */
async function udpRelay(target: number): Promise<{ port: number; outgoing(): number; move(): Promise<void>; close(): void }> {
  const bound = (s: Socket, port = 0) => new Promise<void>((resolve) => s.bind(port, '127.0.0.1', () => resolve()));
  const front = createSocket('udp4');
  await bound(front);
  let client: { address: string; port: number } | undefined;
  const backs: Socket[] = [];
  const newBack = async () => {
    const back = createSocket('udp4');
    await bound(back);
    back.on('message', (msg) => client && front.send(msg, client.port, client.address));
    backs.push(back);
  };
  await newBack();
  front.on('message', (msg, from) => {
    client = { address: from.address, port: from.port };
    backs.at(-1)!.send(msg, target, '127.0.0.1');
  });
  return {
    port: (front.address() as AddressInfo).port,
    outgoing: () => (backs.at(-1)!.address() as AddressInfo).port,
    move: newBack,
    close: () => {
      front.close();
      for (const b of backs) b.close();
    },
  };
}

test('rtmfp: onAddressChanged(old) when the client\'s address moves; client.address is the new one', async () => {
  const w = await luaWorld({ 'main.lua': RECORDER, 'live/.keep': '' });
  const relay = await udpRelay(w.server.rtmfp!.localAddress.port);
  let c: RtmfpClient | undefined;
  try {
    c = await RtmfpClient.connect({ host: '127.0.0.1', port: relay.port, app: 'live', stream: '', tcUrl: `rtmfp://127.0.0.1:${relay.port}/live` }, { connectArgs: ['bob'] });
    const before = relay.outgoing();
    await relay.move();
    const after = relay.outgoing();
    // Anything the client sends now comes from the new port; the server checks it, then moves.
    let moved: string | undefined;
    for (let i = 0; i < 200 && moved === undefined; i++) {
      await c.call('nothing').catch(() => undefined);
      moved = events(w).find((e) => e.startsWith('moved'));
      if (moved === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(moved, `moved bob from 127.0.0.1:${before} to 127.0.0.1:${after}`);
  } finally {
    await c?.close();
    relay.close();
    await w.close();
  }
});

test('rtmfp: onHandshake(protocol, address, path, properties) sends a connection to another server, or keeps it (false)', async () => {
  const other = await luaWorld({ 'live/main.lua': `function onConnection(client) return { server = 'other' } end` });
  const w = await luaWorld({
    'live/main.lua': `
      seen = {}
      function handshakes() return seen end
      function onHandshake(protocol, address, path, properties)
        seen[#seen + 1] = protocol .. ' ' .. address:gsub(':%d+$', '') .. ' ' .. path .. ' ' .. tostring(properties.go)
        if properties.go == 'away' then return { '127.0.0.1:${other.server.rtmfp!.localAddress.port}' } end
        if properties.go == 'nowhere' then return 'not an address' end
        return false
      end
      function onConnection(client) return { server = 'this' } end`,
  });
  try {
    const away = await w.rtmfp('live?go=away');
    assert.equal(away.connectInfo?.server, 'other');
    const here = await w.rtmfp('live?go=stay');
    assert.equal(here.connectInfo?.server, 'this');
    // A bad address is logged and left out: the connection stays.
    const bad = await w.rtmfp('live?go=nowhere');
    assert.equal(bad.connectInfo?.server, 'this');
    assert.ok(w.logs.some((l) => String(l.msg).startsWith('onHandshake returned a bad address') && l.address === 'not an address'));
    const [seen] = w.server.lua!.apps.event(w.server.lua!.apps.apps.get('live')!, 'handshakes', []) as [string[]];
    assert.ok(seen.includes('rtmfp 127.0.0.1 live away'), seen.join(' | '));
    assert.ok(seen.includes('rtmfp 127.0.0.1 live stay'), seen.join(' | '));
  } finally {
    await w.close();
    await other.close();
  }
});

test('rtmfp: onRendezVousUnknown(protocol, peerId) sends an initiator to the server where the peer is, and the P2P session opens', async () => {
  const other = await luaWorld({ 'live/.keep': '' });
  const w = await luaWorld({
    'main.lua': `
      asked = {}
      function recorded() return asked end
      function onRendezVousUnknown(protocol, peerId)
        asked[#asked + 1] = protocol .. ' ' .. peerId
        return '127.0.0.1:${other.server.rtmfp!.localAddress.port}'
      end`,
    'live/.keep': '',
  });
  try {
    const peer = await other.rtmfp('live');
    const initiator = await w.rtmfp('live');
    const session = await initiator.connectPeer(peer.peerId, { timeoutMs: 20_000 });
    assert.equal(session.peerId, peer.peerId);
    assert.ok(events(w).includes(`rtmfp ${peer.peerId}`), events(w).join(' | '));
  } finally {
    await w.close();
    await other.close();
  }
});
