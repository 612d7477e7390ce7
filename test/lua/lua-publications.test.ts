// Publications made by a script (mona:publish / mona:newPublication) played by Covey's clients
// over RTMP and RTMFP, and the listings mona.publications and mona.clients as scripts see them.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { decodeAmf0 } from '../../src/codec/amf0.js';
import { luaWorld } from '../support/lua-world.js';
import { until } from '../support/test-server.js';

const APP = `
function onConnection(client)
  function client:startShow(name)
    local publication, err = mona:newPublication(name)
    if not publication then return 'refused: ' .. err end
    show = publication
    publication:writeProperties({ width = 320, title = 'made in Lua' })
    return tostring(publication)
  end
  function client:again(name)
    local publication, err = mona.publish(name)
    return publication == nil and err
  end
  -- Keyframes with a counter byte, then one audio packet and one data message.
  function client:pushFrames(n)
    for i = 1, n do show:writeVideo(40 * i, string.char(0x17, 1, 0, 0, 0, i, 0xff, 0x80)) end
    show:pushAudioPacket(40 * n, string.char(0xaf, 1, 0xde, 0xad))
    show:writeData('onText', { text = 'from the script' })
  end
  -- MonaServer2's form: a tag table and the codec's bytes (the FLV header comes from the tag).
  function client:pushTags()
    show:writeVideo({ time = 200, codec = 7, frame = 7 }, string.char(1, 2))
    show:writeVideo(1, { time = 240, codec = 7, frame = 1, compositionOffset = 40 }, string.char(3))
    show:writeAudio({ time = 200, codec = 10, isConfig = true }, string.char(0x12, 0x10))
    show:writeAudio({ time = 223, codec = 10 }, string.char(0x21))
    show:writeAudio({ time = 250, codec = 2, rate = 22050, channels = 1 }, string.char(0xff))
  end
  function client:badWrite() show:writeVideo({ time = 1 }, 'x') end
  function client:badTrack() show:writeAudio(2, { codec = 10 }, 'x') end
  function client:stopShow() show:close() end
  function client:listing()
    local names = {}
    for name, p in pairs(mona.publications) do names[#names + 1] = name .. (p.byScript and '*' or '') end
    table.sort(names)
    local s = mona.publications.show
    return {
      count = #mona.publications, names = table.concat(names, ','),
      showFrames = s and s.frames, showListeners = s and s.listeners, title = s and s.properties.title,
      called = mona.publications('show') ~= nil, missing = mona.publications.nothing == nil,
      clients = #mona.clients, me = mona.clients(self.id) == self,
    }
  end
end`;

for (const proto of ['rtmp', 'rtmfp'] as const) {
  test(`${proto}: a publication made by a script is played like any stream; mona.publications and mona.clients list what there is`, async () => {
    const w = await luaWorld({ 'live/main.lua': APP });
    try {
      const control = await w[proto]('live');
      const viewer = await w[proto]('live/room');
      const camera = await w[proto]('live');
      await camera.publish('cam');
      const got: Array<[string, number, Buffer]> = [];
      const play = await viewer.play('show', { onFrame: (k, ts, p) => got.push([k, ts, Buffer.from(p)]) });
      assert.equal(await control.call('startShow', 'show'), 'publication show');
      assert.equal(await control.call('again', 'show'), 'show is already being published');
      await control.call('pushFrames', 3);
      // Over RTMFP each kind may come on its own flow: wait for all of them.
      const complete = () => got.filter(([k]) => k === 'video').length >= 3 && got.some(([k]) => k === 'audio') && got.find(([k, , p]) => k === 'data' && decodeAmf0(p)[0] === 'onText');
      const data = await until(complete, 20_000, '3 video frames, 1 audio, the onText data message').catch((err: Error) => {
        throw new Error(`${err.message} (got ${got.map(([k, ts]) => `${k}@${ts}`).join(' ') || 'nothing'})`);
      });
      const video = got.filter(([k]) => k === 'video').map(([, ts, p]) => `${ts}:${p.toString('hex')}`);
      assert.deepEqual(video, ['40:170100000001ff80', '80:170100000002ff80', '120:170100000003ff80']);
      assert.deepEqual(got.filter(([k]) => k === 'audio').map(([, ts, p]) => `${ts}:${p.toString('hex')}`), ['120:af01dead']);
      assert.deepEqual(decodeAmf0(data[2]), ['onText', { text: 'from the script' }]);
      assert.deepEqual(decodeAmf0(got.find(([k, , p]) => k === 'data' && decodeAmf0(p)[0] === 'onMetaData')![2]), ['onMetaData', { width: 320, title: 'made in Lua' }]);

      assert.deepEqual(await control.call('listing'), {
        count: 2, names: 'cam,show*', showFrames: 6, showListeners: 1, title: 'made in Lua', called: true, missing: true, clients: 3, me: true,
      });
      await assert.rejects(control.call('badWrite'), /publication:writeVideo\(tag, packet\): tag.codec is the FLV codec number \(0-15\), got nil/);
      await assert.rejects(control.call('badTrack'), /publication:writeAudio\(time, packet\) or \(tag, packet\): track 2 \(a publication has one track of each kind\)/);
      const before = got.length;
      await control.call('pushTags');
      const tagged = () => got.slice(before).filter(([k]) => k !== 'data');
      await until(() => tagged().length >= 5, 20_000, 'the 5 frames written with tag tables');
      const frames = (kind: string) => tagged().filter(([k]) => k === kind).map(([, ts, p]) => `${ts}:${p.toString('hex')}`);
      // H.264 config as a key frame with packet type 0; a key frame with its composition offset (40 = 0x28).
      assert.deepEqual(frames('video'), ['200:1700000000' + '0102', '240:1701000028' + '03']);
      // AAC config (packet type 0) then raw (1), "44 kHz stereo" as FLV has it; MP3 22 kHz mono 16-bit.
      assert.deepEqual(frames('audio'), ['200:af001210', '223:af0121', '250:2aff']);

      await control.call('stopShow');
      await until(() => play.statuses.some((s) => s.code === 'NetStream.Play.UnpublishNotify'), 20_000, 'UnpublishNotify at the player after publication:close()');
      assert.equal(((await control.call('listing')) as Record<string, unknown>).names, 'cam');
    } finally {
      await w.close();
    }
  });
}

test('a reload ends the publications the app made, and its new instance may publish the name again', async () => {
  const w = await luaWorld({ 'live/main.lua': APP, 'other/main.lua': APP });
  try {
    const control = await w.rtmp('live');
    await control.call('startShow', 'show');
    const viewer = await w.rtmfp('other');
    assert.equal(((await viewer.call('listing')) as Record<string, unknown>).names, '', 'other/ lists only its own application\'s streams');
    w.write('live/main.lua', APP + '\n-- v2');
    await until(() => w.server.flash.apps.get('live')?.publication('show') === undefined, 20_000, 'the script publication closed by the reload');
    const again = await w.rtmp('live');
    assert.equal(await again.call('startShow', 'show'), 'publication show');
  } finally {
    await w.close();
  }
});

test('an application holding only a script\'s publication is forgotten once it closes, whether no client ever came or the last one left before', async () => {
  const w = await luaWorld({ 'radio/main.lua': "function onStart() jingle = mona:publish('jingle') end", 'tv/main.lua': "function onStart() show = mona:publish('show') end" });
  const apps = w.server.flash.apps;
  try {
    await until(() => apps.get('radio')?.publication('jingle') !== undefined && apps.get('tv')?.publication('show') !== undefined, 20_000, 'both script publications started');
    // tv/: a client comes and goes; the publication keeps the application.
    const c = await w.rtmp('tv');
    assert.equal(apps.get('tv')?.clients.size, 1);
    c.close();
    await until(() => w.server.flash.clients.size === 0, 20_000, 'the client gone');
    assert.ok(apps.get('tv')?.publication('show'), 'the publication holds tv/ while it lives');
    // A reload without the publish ends each publication (the app's onStop): nothing is left.
    w.write('radio/main.lua', '-- publishes nothing now');
    await until(() => !apps.has('radio'), 20_000, 'radio/ forgotten once its publication closed');
    assert.ok(apps.get('tv')?.publication('show'), 'tv/ keeps serving');
    w.write('tv/main.lua', '-- publishes nothing now');
    await until(() => !apps.has('tv'), 20_000, 'tv/ forgotten once its publication closed');
    // Publishing again makes the application again.
    w.write('radio/main.lua', "function onStart() jingle = mona:publish('jingle') end");
    await until(() => apps.get('radio')?.publication('jingle') !== undefined, 20_000, 'radio/ publishing again');
  } finally {
    await w.close();
  }
});
