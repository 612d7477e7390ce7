// media.gopCacheBytes from the command line: the default is the model's, the config file and
// --gop-cache-bytes (with K and M) set it, bad values stop start-up with one line, --help names
// it, and the server started from the configuration gives each publication a cache of that size.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { applyConfigObject, ConfigError, resolveConfig } from '../../src/cli/config.js';
import { DEFAULT_GOP_CACHE_BYTES } from '../../src/flash/gop-cache.js';
import { defaultConfig } from '../../src/server-config.js';
import { startServer } from '../../src/server.js';
import { silentLogger } from '../../src/util/log.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import { until } from '../support/test-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const covey = ['--import', 'tsx', 'src/cli/main.ts'];

test('GOP cache bound: the model\'s default, config file key, flag with K and M over both', () => {
  assert.equal(resolveConfig({}, root).media.gopCacheBytes, DEFAULT_GOP_CACHE_BYTES);
  const config = defaultConfig();
  applyConfigObject(config, { media: { gopCacheBytes: 1000 } }, 'covey.json');
  assert.equal(config.media.gopCacheBytes, 1000);
  assert.equal(resolveConfig({ gopCacheBytes: '512K' }, root).media.gopCacheBytes, 512 * 1024);
  assert.equal(resolveConfig({ gopCacheBytes: '2M' }, root).media.gopCacheBytes, 2 * 1024 * 1024);
  assert.equal(resolveConfig({ gopCacheBytes: '0' }, root).media.gopCacheBytes, 0);
  assert.throws(() => resolveConfig({ gopCacheBytes: '4G' }, root), new ConfigError('bad config value media.gopCacheBytes="4G" (from --gop-cache-bytes): expected bytes 0-268435456 (or with K or M: 512K, 4M)'));
  assert.throws(() => applyConfigObject(defaultConfig(), { media: { gopCacheBytes: -1 } }, 'covey.json'), /media\.gopCacheBytes=-1 \(from covey\.json\)/);
  const r = spawnSync(process.execPath, [...covey, 'serve', '--gop-cache-bytes', 'lots'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr.trim(), /^covey serve: bad config value media\.gopCacheBytes="lots" \(from --gop-cache-bytes\)/);
  const help = spawnSync(process.execPath, [...covey, 'serve', '--help'], { cwd: root, encoding: 'utf8' });
  assert.ok(help.stdout.includes('--gop-cache-bytes') && help.stdout.includes('"gopCacheBytes"'));
});

test('the server started from the configuration gives each publication a GOP cache of that bound', async () => {
  const config = resolveConfig({ host: '127.0.0.1', rtmpPort: '0', rtmfp: false, gopCacheBytes: '1K' }, root);
  const server = await startServer(config, silentLogger);
  const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.rtmp!.address.port}/live`);
  try {
    await client.publish('bounded');
    const publication = await until(() => server.flash.apps.get('live')?.publication('bounded'), 3000, 'the publication');
    assert.equal(publication.gopCache.maxBytes, 1024);
  } finally {
    client.close();
    await server.close();
  }
});
