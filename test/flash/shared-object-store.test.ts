// Persistent shared objects on disk: values round-trip exactly (AMF3 types included), a burst of
// changes costs one write, the version survives a restart (a returning client gets a delta), and
// a server killed with SIGKILL in the middle of a burst of writes, again and again, always
// leaves a whole file holding one consistent batch.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { AmfDictionary, AmfEcmaArray, AmfExternalizable, AmfTypedObject, AmfVector, AmfXml, AmfXmlDocument } from '../../src/codec/amf-types.js';
import { decodeSnapshot, encodeSnapshot, FileSharedObjectStore } from '../../src/flash/shared-object-store.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { SharedObject, SharedObjectError } from '../../src/client/shared-object.js';
import { startTestServer, until } from '../support/test-server.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'covey-so-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const silent = pino({ level: 'silent' });

test('snapshots round-trip every AMF value exactly, slot names included', () => {
  const slots: Record<string, unknown> = {
    n: 1.5, big: 2 ** 53 - 1, neg: -7, s: 'é', t: true, nil: null, u: undefined, when: new Date(1_700_000_000_000),
    list: [1, [2, { three: 3 }]], obj: { a: { b: 'c' } }, bytes: Buffer.from([0, 1, 255]),
    ecma: new AmfEcmaArray({ 0: 'x', k: 2 }), typed: new AmfTypedObject('flex.Point', { x: 1 }, ['x'], true),
    vector: new AmfVector('double', [1.5, 2]), vobj: new AmfVector('object', [{ a: 1 }], true, 'com.Foo'),
    dict: new AmfDictionary(new Map<unknown, unknown>([[{ key: 1 }, 'v'], ['s', 2]]), true),
    xml: new AmfXml('<a/>'), doc: new AmfXmlDocument('<b/>'), ext: new AmfExternalizable('flex.messaging.io.ArrayCollection', [1, 2]),
  };
  Object.defineProperty(slots, '__proto__', { value: 'a slot named __proto__', enumerable: true, writable: true, configurable: true });
  const back = decodeSnapshot(encodeSnapshot({ version: 4_000_000_000, slots }));
  assert.equal(back.version, 4_000_000_000);
  assert.deepEqual(back.slots, slots);
  assert.equal(Object.getOwnPropertyDescriptor(back.slots, '__proto__')?.value, 'a slot named __proto__');
  assert.throws(() => decodeSnapshot(Buffer.from('not msgpack of ours')), /./);
});

test('a burst of changes costs one write; the state and version survive a restart, and a returning client gets a delta', async () => {
  const dir = tempDir();
  // A write delay no burst outlasts, however loaded the machine (a 200 ms one did, at times):
  // the 100 messages all land before the write, which flush() then makes at once.
  const store = new FileSharedObjectStore({ dir, log: silent, writeDelayMs: 600_000 });
  const server = await startTestServer({ flash: { sharedObjectStore: store } });
  const c = await RtmpClient.connect(server.url('app'));
  const so = new SharedObject('scores', true);
  await so.connect(c);
  for (let i = 0; i < 100; i++) {
    so.setProperty('n', i);
    so.setProperty(`k${i % 10}`, i);
    await new Promise((r) => setImmediate(r));
  }
  await so.waitFor(() => so.pendingCount === 0);
  assert.equal(store.writes, 0, 'nothing written during the burst');
  await store.flush();
  assert.equal(store.writes, 1, '100 messages, one write');
  const saved = decodeSnapshot(readFileSync(store.path('app', 'scores')));
  assert.equal(saved.version, so.version);
  assert.equal(saved.slots.n, 99);
  so.close();
  c.close();
  await store.flush();
  await server.close();

  // A new server on the same folder: the object is read on first use, at its version.
  const store2 = new FileSharedObjectStore({ dir, log: silent });
  const server2 = await startTestServer({ flash: { sharedObjectStore: store2 } });
  const fresh = new SharedObject('scores', true);
  const state = await fresh.connect(await RtmfpClient.connect(server2.rtmfpUrl('app')));
  assert.equal(state[0]!.code, 'clear');
  assert.deepEqual({ ...fresh.data }, saved.slots);
  assert.equal(fresh.version, saved.version, 'the version is persisted');
  // The client of before, at the saved version: nothing to send.
  const c3 = await RtmpClient.connect(server2.url('app'));
  assert.deepEqual(await so.connect(c3), []);
  assert.deepEqual({ ...so.data }, saved.slots);
  // Transient and persistent objects of the same name in another app are distinct.
  assert.equal(server2.flash.sharedObjectsOf('other').get('scores'), undefined);
  so.close();
  fresh.close();
  c3.close();
  await server2.close();
});

test('object names a file system cannot take as they are (900 encoded bytes, dots, slashes) are saved inside the data folder and read back', async () => {
  const dir = tempDir();
  const store = new FileSharedObjectStore({ dir, log: silent, writeDelayMs: 20 });
  const server = await startTestServer({ flash: { sharedObjectStore: store } });
  const longName = '名'.repeat(100);
  const cases: Array<[string, string]> = [['app', 'first'], ['app', longName], ['app', '..'], ['app', '../../escape']];
  const connect = (app: string) => RtmpClient.connect({ host: '127.0.0.1', port: server.port, app, stream: '', tcUrl: `rtmp://127.0.0.1:${server.port}/${app}` });
  for (const [app, name] of cases) {
    const c = await connect(app);
    const so = new SharedObject(name, true);
    await so.connect(c);
    so.setProperty('kept', `${app}/${name.length}`);
    await so.waitFor(() => so.pendingCount === 0, 5000, `${app}/${name.slice(0, 8)} applied`);
    so.close();
    c.close();
  }
  await until(() => store.writes === cases.length, 5000, 'every object written');
  // Every file is inside the data folder, in its app's folder, none beside it.
  for (const [app, name] of cases) {
    const file = store.path(app, name);
    assert.ok(file.startsWith(`${dir}/`) && relative(dir, file).split('/').length === 2 && !relative(dir, file).startsWith('.'), file);
    assert.equal(decodeSnapshot(readFileSync(file)).slots.kept, `${app}/${name.length}`);
  }
  assert.ok(basename(store.path('app', longName)).length < 255);
  assert.equal(readdirSync(join(dir, '..')).filter((f) => f.endsWith('.so')).length, 0, 'nothing written beside the data folder');
  await server.close();

  // Read back by a new server, on first use.
  const server2 = await startTestServer({ flash: { sharedObjectStore: new FileSharedObjectStore({ dir, log: silent }) } });
  for (const [app, name] of cases) {
    const c = await RtmfpClient.connect({ host: '127.0.0.1', port: server2.rtmfp.localAddress.port, app, stream: '', tcUrl: `rtmfp://127.0.0.1:${server2.rtmfp.localAddress.port}/${app}` });
    const so = new SharedObject(name, true);
    await so.connect(c);
    assert.equal(so.data.kept, `${app}/${name.length}`);
    so.close();
    c.close();
  }
  await server2.close();
});

test('a persistent object whose file cannot be read is refused to its user (ObjectCreationFailed), logged, and everything else carries on', async () => {
  const dir = tempDir();
  const store = new FileSharedObjectStore({ dir, log: silent, writeDelayMs: 20 });
  const server = await startTestServer({ flash: { sharedObjectStore: store } });
  // A folder where the file should be: reading it fails with EISDIR (as root, permissions would not).
  mkdirSync(store.path('app', 'blocked'), { recursive: true });
  for (const connect of [() => RtmpClient.connect(server.url('app')), () => RtmfpClient.connect(server.rtmfpUrl('app'))]) {
    const c = await connect();
    await assert.rejects(new SharedObject('blocked', true).connect(c), (e: SharedObjectError) => e.status?.code === 'SharedObject.ObjectCreationFailed');
    const fine = new SharedObject('fine', true);
    await fine.connect(c);
    fine.setProperty('n', 1);
    await fine.waitFor(() => fine.pendingCount === 0, 5000, 'the connection serves on');
    fine.close();
    c.close();
  }
  assert.ok(server.logs.some((l) => String(l.msg).includes('cannot be read') && String(l.reason).includes('EISDIR')), JSON.stringify(server.logs.filter((l) => Number(l.level) >= 40)));
  await server.close();
});

/** Starts the child server on `dir`; resolves with its process and RTMP port. */
async function startChild(dir: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../support/shared-object-server-child.ts'), dir, '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before listening`)));
  });
  return { child, exited, port: (JSON.parse(line) as { port: number }).port };
}

test('kill -9 in the middle of a burst of writes, eight times: the file is always whole, one consistent batch, and is where the next start resumes', async () => {
  const dir = tempDir();
  const file = new FileSharedObjectStore({ dir, log: silent }).path('app', 'counter');
  let last = { version: 0, n: -1 };
  let progressed = 0;
  for (let round = 0; round < 8; round++) {
    const { child, exited, port } = await startChild(dir);
    const c = await RtmpClient.connect(`rtmp://127.0.0.1:${port}/app`);
    const so = new SharedObject('counter', true);
    await so.connect(c);
    // The restarted server holds exactly what the file held.
    assert.equal(so.version, last.version, `round ${round}: the version resumed`);
    assert.equal(so.data.n ?? -1, last.n, `round ${round}: the value resumed`);
    let n = last.n;
    let sent = 0;
    const kill = 50 + Math.floor(Math.random() * 400);
    let t0: number | undefined;
    // n and an 8 KB pad naming n go in one message: one batch, so a file must hold both or neither.
    // The kill comes 50-450 ms after the server has applied the first of them.
    while (t0 === undefined || Date.now() - t0 < kill) {
      if (t0 === undefined && so.version > last.version) t0 = Date.now();
      n++;
      so.setProperty('n', n);
      so.setProperty('pad', `${n}:${'x'.repeat(8_000)}`);
      sent++;
      // Keep at most 16 messages unanswered: a steady burst the server keeps up with.
      if (so.pendingCount > 32) await so.waitFor(() => so.pendingCount <= 16 || !so.connected, 10_000);
      else await new Promise((r) => setImmediate(r));
    }
    child.kill('SIGKILL');
    await exited;
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      // Killed before the very first write: no file yet is a correct outcome, once.
      assert.equal(last.n, -1, `round ${round}: the file vanished`);
      continue;
    }
    const saved = decodeSnapshot(bytes);
    const savedN = saved.slots.n as number;
    assert.ok(typeof savedN === 'number' && savedN >= last.n && savedN <= n, `round ${round}: n ${savedN} between ${last.n} and ${n}`);
    assert.ok(String(saved.slots.pad).startsWith(`${savedN}:`), `round ${round}: pad and n from one batch`);
    assert.ok(saved.version >= last.version);
    if (savedN > last.n) progressed++;
    if (process.env.TEST_LOG) console.log({ round, kill, sent, n, savedN, version: saved.version });
    last = { version: saved.version, n: savedN };
    assert.ok(sent > 0);
  }
  assert.ok(progressed >= 4, `writes landed in ${progressed} of 8 rounds`);
});
