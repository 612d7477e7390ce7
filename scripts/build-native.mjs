// Builds Covey's optional native accelerator (src/rtmfp/native/covey_native.c) with node-gyp;
// `npm install` and `npm ci` run it. Covey works without it, only slower at high fan-out, so a
// build that cannot happen (not Linux, no compiler) is reported in one paragraph and the install
// goes on, unless COVEY_REQUIRE_NATIVE=1 (CI sets it: there, a missing accelerator is a defect).
// COVEY_NATIVE=0 skips the build. Run it again with `npm run build:native`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const required = process.env.COVEY_REQUIRE_NATIVE === '1';

function giveUp(why, details = '') {
  const message = `covey: native accelerator not built (${why}).${details ? `\n${details}` : ''}\n` +
    'Covey runs on its TypeScript path instead: everything works, but a large RTMFP fan-out costs about 1.7 times the CPU per subscriber.';
  console.error(message);
  process.exit(required ? 1 : 0);
}

if (process.env.COVEY_NATIVE === '0') giveUp('COVEY_NATIVE=0');
if (process.platform !== 'linux') giveUp(`it is for Linux, and this is ${process.platform}`);

// npm names its own node-gyp to install scripts; outside npm, use the one beside this node's npm.
const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter((p) => p && existsSync(p));
if (candidates.length === 0) giveUp('no node-gyp found: it comes with npm');

// Build against this node's own headers where it has them (Debian's and the official tarballs
// do), so that nothing is downloaded; otherwise node-gyp finds or fetches them as it will.
const prefix = join(dirname(process.execPath), '..');
const ownHeaders = existsSync(join(prefix, 'include', 'node', 'node_api.h')) && !process.env.npm_config_nodedir;
const gypArgs = [candidates[0], 'rebuild', ...(ownHeaders ? [`--nodedir=${prefix}`] : [])];
const r = spawnSync(process.execPath, gypArgs, { cwd: root, encoding: 'utf8' });
if (r.status !== 0) {
  const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
  giveUp(`node-gyp failed${r.error ? `: ${r.error.message}` : ''}; it needs python3, make and a C compiler`, tail);
}
console.error('covey: native accelerator built (build/Release/covey_native.node)');
