// How long the model keeps an application: while it holds a client, a publication or a player,
// and no longer; a client whose connect a hook is still deciding joins the application served
// once it is accepted, even if the one it asked for was forgotten in between.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { startTestServer, until } from '../support/test-server.js';
import { collector } from '../support/media.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';

test('a client accepted after its application was forgotten (the hook still deciding) joins the one served now: its stream reaches the others', async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  // A connect whose first argument is "wait" is decided once the test opens the gate.
  const server = await startTestServer({ flash: { hooks: () => ({ onConnect: async (client) => void (client.request!.args[0] === 'wait' && (await gate)) }) } });
  try {
    const first = await RtmpClient.connect(server.url('live'));
    const app = server.flash.apps.get('live');
    assert.ok(app);
    const pending = RtmpClient.connect(server.url('live'), { connectArgs: ['wait'] });
    await until(() => [...server.flash.clients].some((c) => c.request?.args[0] === 'wait'), 20_000, 'the second connect being decided');
    first.close();
    await until(() => !server.flash.apps.has('live'), 20_000, 'the application forgotten with its last client');
    open();
    const late = await pending;
    assert.equal(late.connectInfo?.code, 'NetConnection.Connect.Success');
    assert.equal(server.flash.apps.get('live')?.clients.size, 1, 'the accepted client is in the application served');
    const stream = await late.publish('cam');
    const viewer = await RtmpClient.connect(server.url('live'));
    const seen = collector();
    await viewer.play('cam', { onFrame: seen.onFrame });
    stream.sendAudio(0, Buffer.of(0xaf, 1, 0xaa));
    await until(() => seen.frames.some((f) => f.kind === 'audio'), 20_000, 'the late client\'s audio at a player');
    viewer.close();
    late.close();
    await until(() => !server.flash.apps.has('live'), 20_000, 'the application forgotten again once empty');
  } finally {
    await server.close();
  }
});
