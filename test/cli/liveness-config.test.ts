// RTMFP liveness from the command line: the defaults are the engine's, the config file keys
// (rtmfp.pingAfterMs, rtmfp.pingIntervalMs, rtmfp.deadAfterPings) and the flags set them, bad
// values stop start-up with one line, and --help names them. That the running server uses them
// is shown by test/rtmfp-flash/dead-peers.test.ts, which starts it from this configuration.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { applyConfigObject, ConfigError, resolveConfig } from '../../src/cli/config.js';
import { defaultConfig } from '../../src/server-config.js';
import { DEFAULT_TIMINGS } from '../../src/rtmfp/session.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const covey = ['--import', 'tsx', 'src/cli/main.ts'];

test('liveness: the engine\'s defaults, config file keys, flags over both', () => {
  const { rtmfp } = resolveConfig({}, root);
  assert.deepEqual(
    [rtmfp.pingAfterMs, rtmfp.pingIntervalMs, rtmfp.deadAfterPings],
    [DEFAULT_TIMINGS.pingAfterSilenceMs, DEFAULT_TIMINGS.pingIntervalMs, DEFAULT_TIMINGS.deadAfterPings],
  );
  assert.deepEqual([rtmfp.pingAfterMs, rtmfp.pingIntervalMs, rtmfp.deadAfterPings], [3000, 1000, 5], 'as --help and the README say');
  const config = defaultConfig();
  applyConfigObject(config, { rtmfp: { pingAfterMs: 2000, pingIntervalMs: 250, deadAfterPings: 8 } }, 'covey.json');
  assert.deepEqual([config.rtmfp.pingAfterMs, config.rtmfp.pingIntervalMs, config.rtmfp.deadAfterPings], [2000, 250, 8]);
  const flags = resolveConfig({ pingAfterMs: '500', pingIntervalMs: '100', deadAfterPings: '1' }, root).rtmfp;
  assert.deepEqual([flags.pingAfterMs, flags.pingIntervalMs, flags.deadAfterPings], [500, 100, 1]);
});

test('liveness: bad values are refused with one line naming key, value, source and what is expected', () => {
  assert.throws(() => resolveConfig({ pingAfterMs: '50' }, root), new ConfigError('bad config value rtmfp.pingAfterMs="50" (from --ping-after-ms): expected whole milliseconds 100-3600000'));
  assert.throws(() => resolveConfig({ pingIntervalMs: '1s' }, root), new ConfigError('bad config value rtmfp.pingIntervalMs="1s" (from --ping-interval-ms): expected whole milliseconds 100-3600000'));
  assert.throws(() => resolveConfig({ deadAfterPings: '0' }, root), new ConfigError('bad config value rtmfp.deadAfterPings="0" (from --dead-after-pings): expected a whole number 1-100'));
  assert.throws(() => applyConfigObject(defaultConfig(), { rtmfp: { deadAfterPings: 2.5 } }, 'covey.json'), /bad config value rtmfp\.deadAfterPings=2\.5 \(from covey\.json\): expected a whole number 1-100/);
  assert.throws(() => applyConfigObject(defaultConfig(), { rtmfp: { idleTimeoutMs: 1000 } }, 'covey.json'), new ConfigError('unknown config key rtmfp.idleTimeoutMs (in covey.json); known: enabled, host, port, redirectTo, pingAfterMs, pingIntervalMs, deadAfterPings'));
  const r = spawnSync(process.execPath, [...covey, 'serve', '--dead-after-pings', 'many'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), 'covey serve: bad config value rtmfp.deadAfterPings="many" (from --dead-after-pings): expected a whole number 1-100');
});

test('liveness: --help names the flags, their defaults and the config keys', () => {
  const help = spawnSync(process.execPath, [...covey, 'serve', '--help'], { cwd: root, encoding: 'utf8' }).stdout.replace(/\s+/g, ' ');
  for (const text of ['--ping-after-ms <ms>', '--ping-interval-ms <ms>', '--dead-after-pings <n>', '(default: 3000)', '(default: 1000)', '"pingAfterMs": 3000', '"pingIntervalMs": 1000', '"deadAfterPings": 5']) {
    assert.ok(help.includes(text), `--help lacks ${text}`);
  }
});
