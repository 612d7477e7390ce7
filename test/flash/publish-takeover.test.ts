// Publish takeover (publishTakeoverMs), over real sockets: a name whose publisher has sent no
// audio or video for that long is taken by a new publisher; the old one is told
// (NetStream.Publish.Idle) and what it sends after goes nowhere; the players go on with the new
// publisher. A publisher that is sending is never displaced, and with the default (0) a name
// stays refused however long its publisher is quiet.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { startTestServer, until } from '../support/test-server.js';
import { fixtureTags, publishInRealTime } from '../support/media.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import { FlvTagType } from '../../src/codec/flv.js';

const TAKEOVER_MS = 2000;
const codes = (s: { statuses: Array<{ code?: unknown }> }) => s.statuses.map((i) => String(i.code));

test('a publisher silent for publishTakeoverMs loses its name to a new one; one that is sending keeps it; the players go on with the new one', async () => {
  const server = await startTestServer({ flash: { publishTakeoverMs: TAKEOVER_MS } });
  const first = await RtmfpClient.connect(server.rtmfpUrl('live'));
  const second = await RtmpClient.connect(server.url('live'));
  const viewer = await RtmpClient.connect(server.url('live'));
  try {
    const player = await viewer.play('tk');
    const old = await first.publish('tk');
    const app = server.flash.apps.get('live')!;
    const tags = fixtureTags();
    const sending = publishInRealTime(old, tags);
    await until(() => player.receivedBytes > 0, 20_000, 'the first publisher\'s media at the player');
    // While it sends (a frame every 40 ms or less), the name is not free.
    await assert.rejects(second.publish('tk'), /NetStream\.Publish\.BadName/);
    await sending;
    const publication = app.publication('tk')!;
    await until(() => Date.now() - publication.lastMediaAt > TAKEOVER_MS + 100, 20_000, 'the first publisher to have been silent past the takeover time');
    assert.equal(first.session.state, 'open', 'it is connected, only quiet');

    const taker = await second.publish('tk');
    const line = await server.waitLog((l) => l.msg === 'publish taken over: its publisher had sent nothing' && l.stream === 'tk', 5000);
    assert.ok(Number(line.idleMs) >= TAKEOVER_MS, `taken after ${String(line.idleMs)} ms of silence`);
    await until(() => codes(old).includes('NetStream.Publish.Idle'), 10_000, 'NetStream.Publish.Idle at the old publisher');
    const idle = old.statuses.find((i) => i.code === 'NetStream.Publish.Idle')!;
    assert.match(String(idle.description), /^tk was taken over by another publisher: nothing published for \d+ ms\.$/);
    await until(() => codes(player).includes('NetStream.Play.UnpublishNotify'), 10_000, 'UnpublishNotify at the player');

    const now = app.publication('tk')!;
    assert.notEqual(now, publication);
    // What the old publisher sends now goes nowhere; the new one's reaches the player.
    old.sendAudio(5000, tags.find((t) => t.type === FlvTagType.Audio)!.data);
    const before = player.receivedBytes;
    const framesBefore = now.frames;
    await publishInRealTime(taker, tags.slice(0, 20));
    await until(() => now.frames === framesBefore + 20, 10_000, `the new publisher's 20 frames at the server (${now.frames - framesBefore})`);
    await until(() => player.receivedBytes > before, 10_000, 'the new publisher\'s media at the player');
    assert.equal(app.publication('tk'), now, 'the old publisher\'s late frame did not take anything back');
    assert.ok(codes(player).lastIndexOf('NetStream.Play.PublishNotify') > codes(player).lastIndexOf('NetStream.Play.UnpublishNotify'), `the player heard the new publisher start: ${codes(player).join(', ')}`);
  } finally {
    await Promise.all([first.close(), second.close(), viewer.close()]);
    await server.close();
  }
});

test('by default (publishTakeoverMs 0) a quiet publisher keeps its name: a second publish is refused', async () => {
  const server = await startTestServer();
  const first = await RtmpClient.connect(server.url('live'));
  const second = await RtmpClient.connect(server.url('live'));
  try {
    await first.publish('kept'); // and sends nothing at all
    const publication = await until(() => server.flash.apps.get('live')?.publication('kept'), 5000, 'the publication');
    await until(() => Date.now() - publication.lastMediaAt > 1500, 10_000, 'a second and a half of silence');
    await assert.rejects(second.publish('kept'), /NetStream\.Publish\.BadName/);
    assert.equal(server.flash.apps.get('live')!.publication('kept'), publication);
  } finally {
    await Promise.all([first.close(), second.close()]);
    await server.close();
  }
});
