// Players waiting for a stream's start (there before its first keyframe) get the audio published
// from the keyframe's timestamp on, even when it reached the server before the keyframe did: an
// RTMFP publisher sends audio and video on flows of their own, so a small audio frame published
// right after a large keyframe overtakes it. So do players joining mid-stream, from the GOP cache.
// Over real sockets on 127.0.0.1, RTMFP and RTMP players.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { sleep, startTestServer, testApps, until, type TestServer } from '../support/test-server.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import type { NetConnection, NetStream } from '../../src/client/net-connection.js';

let server: TestServer;
before(async () => {
  server = await startTestServer({ flash: testApps([], {}) });
});
after(() => server.close());

const VIDEO_HEADER = Buffer.from([0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f]);
const AUDIO_HEADER = Buffer.from([0xaf, 0x00, 0x12, 0x10]);
const keyframe = (bytes: number) => Buffer.concat([Buffer.from([0x17, 1, 0, 0, 0]), Buffer.alloc(bytes - 5, 0x11)]);
const interFrame = () => Buffer.concat([Buffer.from([0x27, 1, 0, 0, 0]), Buffer.alloc(300, 0x22)]);
/** An AAC frame whose payload names its timestamp, so the test can tell which arrived. */
const audio = (ts: number) => Buffer.concat([Buffer.from([0xaf, 1]), Buffer.from(`a${ts}`)]);

interface Player {
  connection: NetConnection;
  got: string[];
}

/** RTMFP and RTMP players of `name`, playing before anything is published. */
async function waitingPlayers(name: string): Promise<Player[]> {
  const players: Player[] = [];
  for (const connection of [await RtmfpClient.connect(server.rtmfpUrl('live')), await RtmpClient.connect(server.url('live'))]) {
    const got: string[] = [];
    await connection.play(name, {
      onFrame: (kind, ts, payload) => {
        if (kind === 'audio' && payload[1] === 1) got.push(`audio ${ts} ${payload.subarray(2).toString()}`);
        else if (kind === 'video' && payload[1] === 1) got.push(`video ${ts} ${payload[0] === 0x17 ? 'key' : 'inter'}`);
      },
    });
    players.push({ connection, got });
  }
  return players;
}

test('audio published before the first keyframe reaches waiting players after it, from the keyframe\'s timestamp on (an RTMP publisher sending it in that order)', async () => {
  const players = await waitingPlayers('order');
  const publisher = await RtmpClient.connect(server.url('live'));
  const stream: NetStream = await publisher.publish('order');
  stream.sendVideo(0, VIDEO_HEADER);
  stream.sendAudio(0, AUDIO_HEADER);
  // What the server sees when the audio flow overtakes the video flow: audio 0 and 20 before the
  // keyframe at 20. Audio 0 is before the start; audio 20 belongs with the keyframe.
  stream.sendAudio(0, audio(0));
  stream.sendAudio(20, audio(20));
  stream.sendVideo(20, keyframe(2000));
  stream.sendAudio(40, audio(40));
  stream.sendVideo(60, interFrame());
  for (const p of players) {
    await until(() => p.got.includes('video 60 inter'), 5000, 'the last frame at a player');
    await sleep(200); // over RTMFP, audio travels on a flow of its own and may come after
    assert.deepEqual(p.got.filter((f) => f.startsWith('audio')), ['audio 20 a20', 'audio 40 a40'], 'audio from the keyframe on, none before it');
    assert.ok(p.got.indexOf('video 20 key') < p.got.indexOf('audio 20 a20') || p.connection instanceof RtmfpClient, 'over RTMP (one ordered stream) the held audio follows the keyframe');
    assert.equal(p.got.filter((f) => f === 'video 20 key').length, 1);
  }
  stream.close();
  for (const c of [publisher, ...players.map((p) => p.connection)]) c.close();
});

test('an RTMFP publisher\'s first audio frame, published right after a large first keyframe, reaches the players that waited, over RTMFP and RTMP', async () => {
  const players = await waitingPlayers('overtake');
  const publisher = await RtmfpClient.connect(server.rtmfpUrl('live'));
  const stream = await publisher.publish('overtake');
  stream.sendVideo(0, VIDEO_HEADER);
  stream.sendAudio(0, AUDIO_HEADER);
  // 20 KB: some 18 packets, while the audio frame after it fits in the first on its own flow.
  stream.sendVideo(0, keyframe(20_000));
  stream.sendAudio(0, audio(0));
  stream.sendAudio(20, audio(20));
  stream.sendVideo(40, interFrame());
  for (const p of players) {
    await until(() => p.got.includes('video 40 inter'), 5000, 'the last frame at a player');
    await sleep(200);
    assert.deepEqual(p.got.filter((f) => f.startsWith('audio')), ['audio 0 a0', 'audio 20 a20'], `${p.connection instanceof RtmfpClient ? 'RTMFP' : 'RTMP'} player: every audio frame`);
    assert.ok(p.got.includes('video 0 key') && p.got.includes('video 40 inter'));
  }
  stream.close();
  for (const c of [publisher, ...players.map((p) => p.connection)]) c.close();
});

test('a player joining mid-stream starts on the cached keyframe with the audio that reached the server before it but is stamped from its timestamp on', async () => {
  const publisher = await RtmpClient.connect(server.url('live'));
  const stream = await publisher.publish('joiner');
  stream.sendVideo(0, VIDEO_HEADER);
  stream.sendAudio(0, AUDIO_HEADER);
  stream.sendVideo(0, keyframe(2000));
  stream.sendAudio(0, audio(0));
  stream.sendVideo(40, interFrame());
  // Audio 60 belongs to the first GOP; audio 80 came before the keyframe at 80 but goes with it.
  stream.sendAudio(60, audio(60));
  stream.sendAudio(80, audio(80));
  stream.sendVideo(80, keyframe(2000));
  await sleep(300);
  const players = await waitingPlayers('joiner');
  stream.sendAudio(100, audio(100));
  stream.sendVideo(120, interFrame());
  for (const p of players) {
    await until(() => p.got.includes('video 120 inter'), 5000, 'the last frame at a joiner');
    await sleep(200);
    assert.deepEqual(p.got.filter((f) => f.startsWith('audio')), ['audio 80 a80', 'audio 100 a100'], `${p.connection instanceof RtmfpClient ? 'RTMFP' : 'RTMP'} joiner`);
    assert.equal(p.got.find((f) => f.startsWith('video')), 'video 80 key', `the joiner's video starts on the cached keyframe: ${p.got.join(', ')}`);
  }
  stream.close();
  for (const c of [publisher, ...players.map((p) => p.connection)]) c.close();
});
