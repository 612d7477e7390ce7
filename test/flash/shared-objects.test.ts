// Remote shared objects end to end over real sockets on 127.0.0.1: RTMP (TCP) and RTMFP (UDP)
// users of one object in one app, AMF0 and AMF3 connections, FMS's semantics (clear then state,
// success to the requester and change to the others, send to everyone, deltas on reconnect),
// the hooks' refusals, every limit, and malformed messages that must cost only their sender.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startTestServer, until, type TestServer } from '../support/test-server.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import type { NetConnection, StatusInfo } from '../../src/client/net-connection.js';
import { SharedObject, SharedObjectError, type SyncChange } from '../../src/client/shared-object.js';
import { encodeSharedObjectMessage, SharedObjectEventType as E } from '../../src/codec/shared-object-message.js';

let server: TestServer;
const RESYNC_DEPTH = 10;

before(async () => {
  server = await startTestServer({
    flash: {
      sharedObjects: { resyncDepth: RESYNC_DEPTH, maxObjectsPerApp: 50, maxUsersPerObject: 6, maxSlotsPerObject: 8, maxSlotBytes: 200, maxObjectBytes: 1000, maxEventsPerMessage: 20, maxEventsPerSecondPerClient: 400 },
      hooks: (app) =>
        app === 'guarded'
          ? {
              onSharedObjectUse: (_client, name) => (name === 'secret' ? 'not for you' : undefined),
              onSharedObjectChange: (_client, _name, key) => (key === 'locked' ? 'read only' : undefined),
            }
          : {},
    },
  });
});
after(() => server.close());

type Kind = 'rtmp' | 'rtmfp';
const opened: NetConnection[] = [];
async function connect(kind: Kind, app = 'room', objectEncoding: 0 | 3 = 0): Promise<NetConnection> {
  const c = kind === 'rtmp' ? await RtmpClient.connect(server.url(app), { objectEncoding }) : await RtmfpClient.connect(server.rtmfpUrl(app), { objectEncoding });
  opened.push(c);
  return c;
}
after(() => {
  for (const c of opened) c.close();
});

/** The app's live object on the server. */
const serverObject = (name: string, app = 'room') => server.flash.sharedObjectsOf(app).get(name);

/** Every sync batch an object receives, in order. */
function record(so: SharedObject): SyncChange[][] {
  const batches: SyncChange[][] = [];
  so.onSync = (changes) => batches.push(changes);
  return batches;
}

test('an RTMP user and an RTMFP user of one object see each other\'s changes: clear then state, success to the requester, change to the other', async () => {
  const a = new SharedObject('board');
  const b = new SharedObject('board');
  const aBatches = record(a);
  const bBatches = record(b);
  const first = await a.connect(await connect('rtmp', 'room', 0));
  assert.deepEqual(first.map((c) => c.code), ['clear'], 'first use of a new object: clear, no slots');
  a.setProperty('x', 1);
  a.setProperty('label', { text: 'hello', at: new Date(1_700_000_000_000) });
  await a.waitFor(() => a.pendingCount === 0);
  assert.deepEqual(aBatches.at(-1)!.map((c) => [c.code, c.name]), [['success', 'x'], ['success', 'label']], 'two changes in one turn: one message, one batch');

  const joined = await b.connect(await connect('rtmfp', 'room', 3));
  assert.deepEqual(joined.map((c) => [c.code, c.name]), [['clear', undefined], ['change', 'x'], ['change', 'label']]);
  assert.deepEqual({ ...b.data }, { x: 1, label: { text: 'hello', at: new Date(1_700_000_000_000) } });
  assert.equal(b.version, a.version);

  b.setProperty('x', 2);
  await a.waitFor(() => a.data.x === 2, 5000, 'A sees B\'s change');
  assert.deepEqual(aBatches.at(-1), [{ code: 'change', name: 'x', oldValue: 1, value: 2, version: a.version }]);
  await b.waitFor(() => b.pendingCount === 0);
  assert.deepEqual(bBatches.at(-1)!.map((c) => c.code), ['success']);

  // Null deletes; so does a request remove. Everyone else gets delete, the requester success.
  a.setProperty('x', null);
  await b.waitFor(() => !('x' in b.data), 5000, 'B sees the delete');
  assert.equal(bBatches.at(-1)![0]!.code, 'delete');
  b.setProperty('label', undefined);
  await a.waitFor(() => !('label' in a.data), 5000, 'A sees the request remove');
  await b.waitFor(() => b.pendingCount === 0);
  assert.deepEqual(serverObject('board')!.snapshot().slots, {});
  assert.equal(a.version, b.version);
  a.close();
  b.close();
  await until(() => serverObject('board') === undefined, 5000, 'the transient object vanishes with its last user');
});

test('concurrent changes to one slot from four users (RTMP and RTMFP, AMF0 and AMF3) converge to one value, in one order for everyone', async () => {
  const kinds: Array<[Kind, 0 | 3]> = [['rtmp', 0], ['rtmp', 3], ['rtmfp', 0], ['rtmfp', 3]];
  const users = await Promise.all(kinds.map(async ([kind, enc]) => {
    const so = new SharedObject('race');
    const seen: Array<[number, unknown]> = [];
    so.onSync = (changes) => {
      for (const c of changes) if (c.name === 'x' && (c.code === 'change' || c.code === 'success')) seen.push([c.version!, c.value]);
    };
    await so.connect(await connect(kind, 'room', enc));
    return { so, seen };
  }));
  const start = users[0]!.so.version;
  const ROUNDS = 25;
  for (let round = 0; round < ROUNDS; round++) {
    users.forEach(({ so }, i) => so.setProperty('x', `${i}:${round}`));
    await new Promise((r) => setImmediate(r));
  }
  const server = serverObject('race')!;
  await until(() => users.every(({ so }) => so.pendingCount === 0 && so.version === server.version), 10_000, 'every request answered');
  assert.equal(server.version, start + ROUNDS * users.length, 'one version per message');
  const final = server.get('x');
  for (const { so, seen } of users) {
    assert.equal(so.data.x, final, 'everyone ends on the server\'s value');
    // Each user saw every version, its own as success and the others' as change: the same sequence for all.
    assert.deepEqual(seen, users[0]!.seen);
    assert.equal(seen.length, ROUNDS * users.length);
    assert.deepEqual(seen.map(([v]) => v), Array.from({ length: seen.length }, (_, i) => start + i + 1));
  }
  for (const { so } of users) so.close();
});

test('send reaches every user, the sender included, with its arguments (AMF0 and AMF3, RTMP and RTMFP)', async () => {
  const users = await Promise.all((['rtmp', 'rtmfp', 'rtmp', 'rtmfp'] as Kind[]).map(async (kind, i) => {
    const so = new SharedObject('chat');
    const got: unknown[][] = [];
    so.handlers.onChat = (...args) => got.push(args);
    await so.connect(await connect(kind, 'room', i % 2 === 0 ? 0 : 3));
    return { so, got };
  }));
  const args = ['hi', 42, { nested: [true, null] }];
  users[1]!.so.send('onChat', ...args);
  for (const { got } of users) await until(() => got.length === 1, 5000, 'the message');
  for (const { got } of users) assert.deepEqual(got[0], args);
  for (const { so } of users) so.close();
});

test('a returning user gets exactly the delta since its version; one further behind than resyncDepth gets clear and the full state', async () => {
  const keeper = new SharedObject('notes');
  await keeper.connect(await connect('rtmfp'));
  keeper.setProperty('a', 1);
  keeper.setProperty('b', 2);
  keeper.setProperty('gone', 'soon');
  await keeper.waitFor(() => keeper.pendingCount === 0);

  const away = new SharedObject('notes');
  await away.connect(await connect('rtmp'));
  assert.deepEqual({ ...away.data }, { a: 1, b: 2, gone: 'soon' });
  away.close();

  keeper.setProperty('b', 3);
  await keeper.waitFor(() => keeper.pendingCount === 0);
  keeper.setProperty('gone', null);
  await keeper.waitFor(() => keeper.pendingCount === 0);
  keeper.setProperty('c', 'new');
  await keeper.waitFor(() => keeper.pendingCount === 0);

  // Back on another connection, with the version it had: b changed, gone removed, c added; a untouched.
  const back = await away.connect(await connect('rtmfp', 'room', 3));
  assert.deepEqual(back.map((c) => [c.code, c.name]).sort(), [['change', 'b'], ['change', 'c'], ['delete', 'gone']]);
  assert.deepEqual({ ...away.data }, { a: 1, b: 3, c: 'new' });
  assert.equal(away.version, keeper.version);
  away.close();

  // Now more than resyncDepth versions go by.
  for (let i = 0; i <= RESYNC_DEPTH; i++) {
    keeper.setProperty('b', 100 + i);
    await keeper.waitFor(() => keeper.pendingCount === 0);
  }
  keeper.setProperty('a', null);
  await keeper.waitFor(() => keeper.pendingCount === 0);
  const stale = await away.connect(await connect('rtmp'));
  assert.equal(stale[0]!.code, 'clear', 'too far behind: clear first');
  assert.deepEqual(stale.slice(1).map((c) => [c.code, c.name]).sort(), [['change', 'b'], ['change', 'c']]);
  assert.deepEqual({ ...away.data }, { b: 100 + RESYNC_DEPTH, c: 'new' });

  // Up to date: nothing but Use Success.
  away.close();
  assert.deepEqual(await away.connect(await connect('rtmfp')), []);
  away.close();
  keeper.close();
});

test('release and disconnect remove the user; a transient object vanishes with its last user and comes back empty, above its old version', async () => {
  const c1 = await connect('rtmp');
  const one = new SharedObject('lobby');
  await one.connect(c1);
  const two = new SharedObject('lobby');
  await two.connect(await connect('rtmfp'));
  one.setProperty('who', 'one');
  await one.waitFor(() => one.pendingCount === 0);
  const object = serverObject('lobby')!;
  assert.equal(object.users.size, 2);
  two.close();
  await until(() => object.users.size === 1, 5000, 'release');
  const oldVersion = object.version;
  c1.close();
  await until(() => serverObject('lobby') === undefined, 5000, 'disconnect: the last user gone, the object too');
  const again = new SharedObject('lobby');
  const state = await again.connect(await connect('rtmp'));
  assert.deepEqual(state.map((c) => c.code), ['clear']);
  assert.ok(again.version >= oldVersion, `a new incarnation starts at ${again.version}, not below ${oldVersion}`);
  // A client holding the old version gets the full (empty) state, not a wrong delta.
  const old = new SharedObject('lobby');
  old.version = oldVersion;
  assert.deepEqual((await old.connect(await connect('rtmfp'))).map((c) => c.code), ['clear']);
  again.close();
  old.close();
});

test('refusals: BadPersistence for the other flag, NoReadAccess and NoWriteAccess from the app, changes before use', async () => {
  const t = new SharedObject('mixed', false);
  await t.connect(await connect('rtmp'));
  const p = new SharedObject('mixed', true);
  await assert.rejects(p.connect(await connect('rtmfp')), (e: SharedObjectError) => e.status?.code === 'SharedObject.BadPersistence');
  t.close();

  const secret = new SharedObject('secret');
  await assert.rejects(secret.connect(await connect('rtmp', 'guarded')), (e: SharedObjectError) => e.status?.code === 'SharedObject.NoReadAccess');

  const doc = new SharedObject('doc');
  const other = new SharedObject('doc');
  await doc.connect(await connect('rtmfp', 'guarded'));
  await other.connect(await connect('rtmp', 'guarded'));
  const versionBefore = serverObject('doc', 'guarded')!.version;
  doc.setProperty('free', 1);
  doc.setProperty('locked', 2);
  await doc.waitFor(() => doc.statuses.length === 1);
  assert.deepEqual(doc.statuses[0], { code: 'SharedObject.NoWriteAccess', level: 'error' });
  assert.deepEqual({ ...doc.data }, {}, 'the refused requests are dropped from data');
  assert.equal(doc.pendingCount, 0);
  assert.equal(serverObject('doc', 'guarded')!.version, versionBefore, 'one refused change refuses its whole message');
  assert.equal(serverObject('doc', 'guarded')!.get('free'), undefined);
  other.setProperty('free', 'ok');
  await doc.waitFor(() => doc.data.free === 'ok', 5000, 'the others carry on');

  // A change from a connection that never used the object.
  const c = await connect('rtmfp', 'guarded');
  const statuses: unknown[] = [];
  c.attachSharedObject('doc', (m) => m.events.forEach((e) => e.type === E.Status && statuses.push(e)), () => {});
  c.sendSharedObjectMessage({ name: 'doc', version: 0, persistent: false, events: [{ type: E.RequestChange, key: 'free', value: 'hijack' }] });
  await until(() => statuses.length === 1, 5000, 'NoWriteAccess');
  assert.equal(serverObject('doc', 'guarded')!.get('free'), 'ok');
  doc.close();
  other.close();
});

test('limits: users, slots, bytes, events per message and per second, objects per app: each answered with a status, nothing changed', async () => {
  const conns = await Promise.all([0, 1, 2, 3, 4, 5, 6].map((i) => connect(i % 2 === 0 ? 'rtmp' : 'rtmfp', 'limits')));
  const objects = conns.map(() => new SharedObject('capped'));
  for (const [i, so] of objects.slice(0, 6).entries()) await so.connect(conns[i]!);
  await assert.rejects(objects[6]!.connect(conns[6]!), (e: SharedObjectError) => e.status?.code === 'SharedObject.NoReadAccess', 'the seventh user of an object capped at six');
  const [so, watcher] = objects as [SharedObject, SharedObject];
  const object = () => server.flash.sharedObjectsOf('limits').get('capped')!;
  const refused = async (what: string, act: () => void) => {
    const version = object().version;
    const slots = object().snapshot().slots;
    const n = so.statuses.length;
    act();
    await so.waitFor(() => so.statuses.length === n + 1, 5000, what);
    assert.equal(so.statuses.at(-1)!.code, 'SharedObject.NoWriteAccess', what);
    assert.equal(object().version, version, `${what}: no new version`);
    assert.deepEqual(object().snapshot().slots, slots, `${what}: nothing changed`);
    assert.equal(so.pendingCount, 0, `${what}: the refused requests are dropped (reject)`);
  };
  await refused('a slot over 200 bytes', () => so.setProperty('big', 'x'.repeat(300)));
  for (let i = 0; i < 8; i++) so.setProperty(`s${i}`, i);
  await so.waitFor(() => so.pendingCount === 0 && object().slotCount === 8);
  await refused('a ninth slot', () => so.setProperty('s8', 8));
  await refused('over 1000 bytes in the object', () => {
    for (let i = 0; i < 8; i++) so.setProperty(`s${i}`, 'y'.repeat(150));
  });
  await refused('21 events in one message', () => {
    for (let i = 0; i < 21; i++) so.setProperty('s0', i);
  });
  // Within bounds still works, and the watcher saw none of the refused changes.
  so.setProperty('s0', 'fine');
  await watcher.waitFor(() => watcher.data.s0 === 'fine', 5000, 'a change within bounds');
  assert.equal(watcher.data.big, undefined);

  // Events per second: 400 a second with as much burst; 25 messages of 20 exceed it at once.
  const n = so.statuses.length;
  for (let i = 0; i < 25; i++) {
    for (let j = 0; j < 20; j++) so.setProperty('s1', i * 100 + j);
    await new Promise((r) => setImmediate(r));
  }
  await so.waitFor(() => so.statuses.length > n, 5000, 'over the event rate');
  assert.ok(so.statuses.slice(n).every((s) => s.code === 'SharedObject.NoWriteAccess'));
  for (const s of objects.slice(0, 6)) s.close();

  // Objects per app: 50 (on a connection of its own: the one above spent its events).
  const c = await connect('rtmfp', 'limits');
  const many = Array.from({ length: 50 }, (_, i) => new SharedObject(`o${i}`));
  await Promise.all(many.map((m) => m.connect(c)));
  await assert.rejects(new SharedObject('o50').connect(await connect('rtmp', 'limits')), (e: SharedObjectError) => e.status?.code === 'SharedObject.ObjectCreationFailed');
  for (const m of many) m.close();
});

test('malformed shared-object messages (truncated, absurd lengths, unknown events) cost only their sender a status; others and the sender carry on', async () => {
  for (const kind of ['rtmp', 'rtmfp'] as Kind[]) {
    const good = new SharedObject('sturdy');
    await good.connect(await connect(kind === 'rtmp' ? 'rtmfp' : 'rtmp'));
    const c = await connect(kind);
    const sender = new SharedObject('sturdy');
    await sender.connect(c);
    const statuses: StatusInfo[] = [];
    c.onStatus = (info) => statuses.push(info);
    const valid = encodeSharedObjectMessage(0, { name: 'sturdy', version: 0, persistent: false, events: [{ type: E.RequestChange, key: 'k', value: 'bad' }] }).payload;
    const truncated = valid.subarray(0, valid.length - 3);
    const absurd = Buffer.from(valid);
    absurd.writeUInt32BE(0x7fffffff, 2 + 6 + 12 + 1);
    const hugeName = Buffer.from(valid);
    hugeName.writeUInt16BE(0xffff, 0);
    for (const bad of [truncated, absurd, hugeName, Buffer.alloc(0), Buffer.of(0)]) c.sendOnStream(0, 19, 0, bad);
    await until(() => statuses.length === 5, 5000, `five BadVersion statuses over ${kind}`);
    assert.ok(statuses.every((s) => s.code === 'NetConnection.Call.BadVersion'));
    // Unknown event types are skipped; the known ones of the same message still apply.
    c.sendOnStream(0, 19, 0, encodeSharedObjectMessage(0, { name: 'sturdy', version: 0, persistent: false, events: [{ type: 14, unknown: true, data: Buffer.of(1) }, { type: 99, unknown: true, data: Buffer.alloc(0) }, { type: E.RequestChange, key: 'k', value: 'after unknown' }] }).payload);
    await good.waitFor(() => good.data.k === 'after unknown', 5000, 'the known event after unknown ones');
    // The sender's connection and object still work.
    sender.setProperty('k', `still ${kind}`);
    await good.waitFor(() => good.data.k === `still ${kind}`, 5000, 'the sender carries on');
    good.close();
    sender.close();
  }
});

test('malformed AMF3 containers (type 16: a bad format byte, a truncated or invalid value behind 0x11) cost only their sender a status, over RTMP and RTMFP', async () => {
  for (const kind of ['rtmp', 'rtmfp'] as Kind[]) {
    const good = new SharedObject('sturdy3');
    await good.connect(await connect(kind === 'rtmp' ? 'rtmfp' : 'rtmp', 'room', 3));
    const c = await connect(kind, 'room', 3);
    const sender = new SharedObject('sturdy3');
    await sender.connect(c);
    const version = serverObject('sturdy3')!.version;
    const statuses: StatusInfo[] = [];
    c.onStatus = (info) => statuses.push(info);
    const valid = encodeSharedObjectMessage(3, { name: 'sturdy3', version: 0, persistent: false, events: [{ type: E.RequestChange, key: 'k', value: { deep: [1, 2, 3] } }] }).payload;
    // Layout: 00 | name (2 + 7) | version, flags, reserved (12) | event type, length (5) | key (2 + 1) | 11 | AMF3 value.
    const valueAt = 1 + 2 + 7 + 12 + 5 + 3;
    assert.equal(valid[valueAt], 0x11, 'the value is behind the AVM+ switch');
    const badFormat = Buffer.from(valid);
    badFormat[0] = 5;
    // The event claims fewer bytes and the body ends there: the AMF3 object is cut short.
    const cut = Buffer.from(valid.subarray(0, valueAt + 3));
    cut.writeUInt32BE(cut.length - (valueAt - 3), valueAt - 7);
    const badMarker = Buffer.from(valid);
    badMarker[valueAt + 1] = 0x7f;
    for (const bad of [badFormat, cut, badMarker]) c.sendOnStream(0, 16, 0, bad);
    await until(() => statuses.length === 3, 5000, `three BadVersion statuses over ${kind}`);
    assert.ok(statuses.every((s) => s.code === 'NetConnection.Call.BadVersion'), JSON.stringify(statuses));
    assert.equal(serverObject('sturdy3')!.version, version, 'nothing changed');
    // The well-formed message still applies, and the other user sees it.
    c.sendOnStream(0, 16, 0, valid);
    await good.waitFor(() => JSON.stringify(good.data.k) === '{"deep":[1,2,3]}', 5000, 'the valid AMF3 change');
    good.close();
    sender.close();
  }
});

test('server-to-client events sent by a client (change, success, status, clear, remove, use success) change nothing and reach no one', async () => {
  const c = await connect('rtmfp');
  const sender = new SharedObject('quiet');
  await sender.connect(c);
  const watcher = new SharedObject('quiet');
  await watcher.connect(await connect('rtmp'));
  sender.setProperty('k', 'kept');
  await watcher.waitFor(() => watcher.data.k === 'kept', 5000, 'the first change');
  const object = serverObject('quiet')!;
  const before = { version: object.version, slots: object.snapshot().slots };
  const batches = record(watcher);
  for (const type of ['rtmp', 'rtmfp'] as Kind[]) {
    const conn = type === 'rtmfp' ? c : await connect('rtmp');
    if (type === 'rtmp') await new SharedObject('quiet').connect(conn);
    conn.sendSharedObjectMessage({
      name: 'quiet', version: 0, persistent: false,
      events: [{ type: E.Change, key: 'k', value: 'forged' }, { type: E.Success, key: 'k' }, { type: E.Status, code: 'SharedObject.Forged', level: 'error' }, { type: E.Clear }, { type: E.Remove, key: 'k' }, { type: E.UseSuccess }],
    });
  }
  // A real change after them, from the sender: everything before it was handled.
  sender.setProperty('after', 1);
  await watcher.waitFor(() => watcher.data.after === 1, 5000, 'the change after the forged events');
  assert.equal(object.version, before.version + 1, 'only the real change took a version');
  assert.deepEqual(object.snapshot().slots, { ...before.slots, after: 1 });
  assert.deepEqual(batches.flat().map((e) => [e.code, e.name]), [['change', 'after']], 'the watcher got the real change only');
  assert.deepEqual(watcher.statuses, []);
  sender.close();
  watcher.close();
});

test('sends over a limit, or from a connection that does not use the object, are refused at level warning and reach no one; over the event rate, refused messages change nothing', async () => {
  const c = await connect('rtmp', 'limits');
  const sender = new SharedObject('talk');
  await sender.connect(c);
  const listener = new SharedObject('talk');
  await listener.connect(await connect('rtmfp', 'limits'));
  const heard: unknown[] = [];
  listener.handlers.say = (...args) => heard.push(args[0]);
  // 21 sends in one message: over maxEventsPerMessage (20).
  for (let i = 0; i < 21; i++) sender.send('say', `too many ${i}`);
  await sender.waitFor(() => sender.statuses.length === 1, 5000, 'the refused sends');
  assert.deepEqual(sender.statuses[0], { code: 'SharedObject.NoWriteAccess', level: 'warning' });
  // A send from a connection that never used the object.
  const stranger = await connect('rtmfp', 'limits');
  const strangerStatuses: unknown[] = [];
  stranger.attachSharedObject('talk', (m) => m.events.forEach((e) => e.type === E.Status && strangerStatuses.push(e)), () => {});
  stranger.sendSharedObjectMessage({ name: 'talk', version: 0, persistent: false, events: [{ type: E.SendMessage, handler: 'say', args: ['stranger'] }] });
  await until(() => strangerStatuses.length === 1, 5000, 'the stranger refused');
  assert.deepEqual(strangerStatuses[0], { type: E.Status, code: 'SharedObject.NoWriteAccess', level: 'warning' });
  sender.send('say', 'fine');
  await until(() => heard.length > 0, 5000, 'a send within bounds');
  assert.deepEqual(heard, ['fine'], 'none of the refused sends reached the listener');

  // Over the event rate (400 a second, as much burst): each message sets the slot to its own
  // number; the refused ones must not show in the object or its version.
  const object = serverObject('talk', 'limits')!;
  const version = object.version;
  const n = sender.statuses.length;
  for (let i = 0; i < 25; i++) {
    for (let j = 0; j < 20; j++) sender.setProperty('seq', i);
    await new Promise((r) => setImmediate(r));
  }
  await sender.waitFor(() => sender.pendingCount === 0, 5000, 'every message answered');
  const refused = sender.statuses.length - n;
  assert.ok(refused > 0 && sender.statuses.slice(n).every((s) => s.code === 'SharedObject.NoWriteAccess' && s.level === 'error'), JSON.stringify(sender.statuses.slice(n)));
  assert.equal(object.version, version + 25 - refused, 'one version per accepted message, none for the refused');
  await listener.waitFor(() => listener.version === object.version, 5000, 'the listener up to date');
  assert.equal(listener.data.seq, object.get('seq'));
  assert.equal(sender.data.seq, object.get('seq'), 'the sender converged too');
  sender.close();
  listener.close();
});
