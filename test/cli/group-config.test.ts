// The NetGroup bounds as a user sets them: config file keys and flags, checked with one clear
// line when wrong, listed by --help, and obeyed by the server they start.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { applyConfigObject, ConfigError, resolveConfig } from '../../src/cli/config.js';
import { encodeGroupJoinById } from '../../src/codec/group-control.js';
import { DEFAULT_GROUP_LIMITS } from '../../src/flash/group-registry.js';
import { defaultConfig } from '../../src/server-config.js';
import { startServer } from '../../src/server.js';
import { silentLogger } from '../../src/util/log.js';
import { GroupTestMember } from '../support/group-member.js';
import { until } from '../support/test-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const covey = ['--import', 'tsx', 'src/cli/main.ts'];

test('group bounds: defaults, config file keys, flags over both', () => {
  assert.deepEqual(resolveConfig({}, root).groups, DEFAULT_GROUP_LIMITS);
  const config = defaultConfig();
  applyConfigObject(config, { groups: { maxGroupsPerClient: 4, maxMembersPerGroup: 500, joinsPerSecond: 100, joinsPerSecondPerClient: 2 } }, 'covey.json');
  assert.deepEqual(config.groups, { maxGroupsPerClient: 4, maxMembersPerGroup: 500, joinsPerSecond: 100, joinsPerSecondPerClient: 2 });
  const flags = resolveConfig({ groupMaxPerClient: '3', groupMaxMembers: '20000', groupJoinRate: '50', groupJoinRatePerClient: '5' }, root);
  assert.deepEqual(flags.groups, { maxGroupsPerClient: 3, maxMembersPerGroup: 20_000, joinsPerSecond: 50, joinsPerSecondPerClient: 5 });
});

test('a bad group bound is named with its source and what was expected', () => {
  assert.throws(() => resolveConfig({ groupMaxMembers: '0' }, root), new ConfigError('bad config value groups.maxMembersPerGroup="0" (from --group-max-members): expected a whole number 1-10000000'));
  assert.throws(() => resolveConfig({ groupJoinRate: 'fast' }, root), /groups\.joinsPerSecond="fast" \(from --group-join-rate\)/);
  assert.throws(() => applyConfigObject(defaultConfig(), { groups: { maxGroups: 3 } }, 'covey.json'), /unknown config key groups\.maxGroups \(in covey\.json\); known: maxGroupsPerClient, maxMembersPerGroup, joinsPerSecondPerClient, joinsPerSecond/);
  assert.throws(() => applyConfigObject(defaultConfig(), { groups: { maxGroupsPerClient: 2.5 } }, 'covey.json'), /expected a whole number 1-1000/);
  const r = spawnSync(process.execPath, [...covey, 'serve', '--group-max-per-client', '-1'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr.trim(), /^covey serve: bad config value groups\.maxGroupsPerClient="-1" \(from --group-max-per-client\)/);
});

test('--help lists the group bounds', () => {
  const r = spawnSync(process.execPath, [...covey, 'serve', '--help'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0);
  for (const flag of ['--group-max-per-client', '--group-max-members', '--group-join-rate', '--group-join-rate-per-client', '"groups"']) assert.ok(r.stdout.includes(flag), flag);
});

test('the server started from the configuration applies its group bounds', async () => {
  const config = resolveConfig({ host: '127.0.0.1', rtmfpPort: '0', rtmp: false, groupMaxPerClient: '1' }, root);
  const server = await startServer(config, silentLogger);
  const member = await GroupTestMember.connect(server.rtmfp!.localAddress, 'live');
  try {
    const first = member.join(encodeGroupJoinById(randomBytes(32)));
    const second = member.join(encodeGroupJoinById(randomBytes(32)));
    await until(() => second.rejected, 5000, 'the second join refused');
    assert.ok(!first.rejected);
    assert.equal(server.flash.groups.groupCount, 1);
    assert.equal(server.flash.groups.refusedBy['groups-per-client'], 1);
  } finally {
    member.vanish();
    await server.close();
  }
});
