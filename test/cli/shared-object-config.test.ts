// Shared-object settings as a user sets them: config file keys and the --shared-object-dir flag,
// one clear line when wrong, and a server started with them that saves persistent objects under
// the data folder (and writes what is pending when it stops).
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyConfigObject, resolveConfig } from '../../src/cli/config.js';
import { DEFAULT_SHARED_OBJECT_LIMITS } from '../../src/flash/shared-object-limits.js';
import { DEFAULT_WRITE_DELAY_MS, decodeSnapshot, FileSharedObjectStore } from '../../src/flash/shared-object-store.js';
import { defaultConfig } from '../../src/server-config.js';
import { startServer } from '../../src/server.js';
import { silentLogger } from '../../src/util/log.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import { SharedObject } from '../../src/client/shared-object.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'covey-so-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('shared-object defaults are the model\'s; config keys and the flag set them; bad ones are named', () => {
  const { dataDir, writeDelayMs, ...limits } = resolveConfig({}, root).sharedObjects;
  assert.deepEqual(limits, DEFAULT_SHARED_OBJECT_LIMITS);
  assert.equal(writeDelayMs, DEFAULT_WRITE_DELAY_MS);
  assert.equal(dataDir, '', 'no data folder unless one is given');
  const config = defaultConfig();
  applyConfigObject(config, { sharedObjects: { dataDir: 'so-data', maxUsersPerObject: 10, resyncDepth: 5, writeDelayMs: 0 } }, 'covey.json');
  assert.equal(config.sharedObjects.maxUsersPerObject, 10);
  assert.equal(config.sharedObjects.resyncDepth, 5);
  assert.equal(config.sharedObjects.writeDelayMs, 0);
  assert.equal(resolveConfig({ sharedObjectDir: 'data/so' }, root).sharedObjects.dataDir, join(root, 'data/so'));
  assert.throws(() => applyConfigObject(defaultConfig(), { sharedObjects: { maxUsers: 3 } }, 'covey.json'), /unknown config key sharedObjects\.maxUsers \(in covey\.json\); known: dataDir, writeDelayMs, maxObjectsPerApp/);
  assert.throws(() => applyConfigObject(defaultConfig(), { sharedObjects: { maxSlotBytes: 0 } }, 'covey.json'), /bad config value sharedObjects\.maxSlotBytes=0 \(from covey\.json\): expected a whole number 1-16777216/);
  assert.throws(() => applyConfigObject(defaultConfig(), { sharedObjects: { dataDir: 3 } }, 'covey.json'), /sharedObjects\.dataDir=3/);
});

test('a server started with a data folder saves persistent objects there, and writes what is pending when it stops', async () => {
  const config = defaultConfig();
  config.www = join(root, 'www');
  config.rtmfp.enabled = false;
  config.rtmp = { enabled: true, host: '127.0.0.1', port: 0 };
  config.sharedObjects.dataDir = dir;
  config.sharedObjects.writeDelayMs = 60_000; // only the stop writes it
  const server = await startServer(config, silentLogger);
  const c = await RtmpClient.connect(`rtmp://127.0.0.1:${server.rtmp!.address.port}/live`);
  const so = new SharedObject('settings', true);
  await so.connect(c);
  so.setProperty('theme', 'dark');
  await so.waitFor(() => so.pendingCount === 0);
  c.close();
  await server.close();
  const file = new FileSharedObjectStore({ dir, log: silentLogger }).path('live', 'settings');
  assert.deepEqual(decodeSnapshot(readFileSync(file)), { version: so.version, slots: { theme: 'dark' } });
});
