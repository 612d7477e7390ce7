// The shared-object fan-out benchmark's lean users (scripts/bench/lean-rtmp-so-user.ts and
// lean-rtmfp-so-user.ts) against a real server on 127.0.0.1: each must see every update a full
// client (Covey's SharedObject) sees, with the same values in the same order, through chunk and
// packet boundaries, and keep its connection or session up (answering pings and acknowledging).
// The benchmark's figures are only worth anything if this holds.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { startTestServer, until, type TestServer } from '../support/test-server.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { SharedObject } from '../../src/client/shared-object.js';
import { AckScheduler } from '../../scripts/bench/lean-player.js';
import { LeanRtmpSoUser } from '../../scripts/bench/lean-rtmp-so-user.js';
import { LeanRtmfpSoUser } from '../../scripts/bench/lean-rtmfp-so-user.js';
import { LeanSessionPlayer } from '../../scripts/bench/lean-session-player.js';

let server: TestServer;
before(async () => {
  server = await startTestServer({ flash: { sharedObjects: { maxEventsPerSecondPerClient: 1_000_000 } } });
});
after(() => server.close());

/** A full client's view of slot `v`: every number it was changed to, in order. */
async function fullUser(url: string, rtmfp: boolean): Promise<{ values: number[]; close: () => void }> {
  const connection = rtmfp ? await RtmfpClient.connect(url) : await RtmpClient.connect(url);
  const so = new SharedObject('fan');
  const values: number[] = [];
  so.onSync = (changes) => {
    for (const c of changes) if (c.code === 'change' && c.name === 'v') values.push(c.value as number);
  };
  await so.connect(connection);
  return { values, close: () => void connection.close() };
}

/**
 * A writer sets `v` to 1..count, one message each, 25 before waiting for the answers: the updates
 * reach the users several to a TCP read or packet; every 10th rides with a slot larger than an
 * RTMP chunk and an RTMFP packet, so it comes in several chunks or fragments.
 */
async function write(url: string, rtmfp: boolean, count: number): Promise<() => void> {
  const connection = rtmfp ? await RtmfpClient.connect(url) : await RtmpClient.connect(url);
  const writer = new SharedObject('fan');
  await writer.connect(connection);
  for (let v = 1; v <= count; v++) {
    writer.setProperty('v', v);
    if (v % 10 === 0) writer.setProperty('big', 'x'.repeat(5000 + v));
    // One message per turn of the event loop: the client sends what was set in a turn as one batch.
    await new Promise((r) => setImmediate(r));
    if (v % 25 === 0) await writer.waitFor(() => writer.pendingCount === 0, 10_000, 'the writer answered');
  }
  await writer.waitFor(() => writer.pendingCount === 0, 10_000, 'the writer answered');
  return () => void connection.close();
}

test('a lean RTMP user sees every update of the slot a full client sees, in order', async () => {
  const url = server.url('so-lean');
  const full = await fullUser(url, false);
  const leanValues: number[] = [];
  const lean = await LeanRtmpSoUser.open('127.0.0.1', server.port, 'so-lean', 'fan', 'v', (v) => leanValues.push(v));
  const stopWriter = await write(url, false, 300);
  try {
    await until(() => full.values.length === 300 && leanValues.length === 300, 10_000, 'every update at both users');
    assert.deepEqual(leanValues, full.values);
    assert.deepEqual(leanValues, Array.from({ length: 300 }, (_, i) => i + 1));
    assert.equal(lean.malformed, 0);
    // Still a user of the object: one more update reaches it.
    const stopAgain = await write(url, false, 1);
    await until(() => leanValues.length === 301, 5000, 'the update after');
    stopAgain();
  } finally {
    lean.close();
    full.close();
    stopWriter();
  }
});

test('a lean RTMFP user sees every update of the slot a full client sees, in order, and acknowledges them', async () => {
  const url = server.rtmfpUrl('so-lean-rtmfp');
  const full = await fullUser(url, true);
  const session = await LeanSessionPlayer.connect(url);
  await new SharedObject('fan').connect(session.client);
  const leanValues: number[] = [];
  const lean = await session.takeOverWith((s) => new LeanRtmfpSoUser(s, 'v'.charCodeAt(0), (v) => leanValues.push(v)));
  const acks = new AckScheduler([lean], () => performance.now());
  const stopWriter = await write(url, true, 300);
  try {
    await until(() => full.values.length === 300 && leanValues.length === 300, 10_000, 'every update at both users');
    assert.deepEqual(leanValues, full.values);
    assert.deepEqual(leanValues, Array.from({ length: 300 }, (_, i) => i + 1));
    assert.equal(lean.malformed, 0);
    // 300 updates and 30 large slots: far more than the server sends unacknowledged.
    assert.ok(lean.packetsOut > 10, `acknowledgements sent (${lean.packetsOut})`);
  } finally {
    acks.stop();
    session.close();
    full.close();
    stopWriter();
  }
});
