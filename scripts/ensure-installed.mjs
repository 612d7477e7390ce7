#!/usr/bin/env node
// `npm test`'s first step: installs (npm ci) only when node_modules does not hold what
// package-lock.json names. The README's test command is then `npm test` alone: it works on a
// fresh clone, and next to a server started with `npm ci && npm start` it does not run npm ci
// again, which would delete node_modules under the running server.
//
// What is installed is compared by content (npm's own record, node_modules/.package-lock.json,
// against package-lock.json: every package's version and integrity), not by file times: a
// checkout made after the install (a git worktree, a `git checkout` of another branch with the
// same lock) has a newer package-lock.json and nothing to install. A node_modules that is a link
// to another checkout's is never reinstalled from here: npm ci would empty the other one.
import { lstatSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const readJson = (path) => {
  try {
    return JSON.parse(readFileSync(new URL(path, new URL('..', import.meta.url)), 'utf8'));
  } catch {
    return undefined;
  }
};

/** Why node_modules does not match package-lock.json, or undefined when it does. */
function whyInstall() {
  const installed = readJson('node_modules/.package-lock.json')?.packages;
  if (installed === undefined) return 'not installed yet';
  const wanted = readJson('package-lock.json')?.packages ?? {};
  for (const [path, want] of Object.entries(wanted)) {
    if (path === '') continue;
    const have = installed[path];
    // Optional packages for other platforms (esbuild's, say) are in the lock, never installed.
    if (have === undefined) {
      if (want.optional) continue;
      return `${path} is not installed`;
    }
    if (have.version !== want.version || have.integrity !== want.integrity) {
      return `${path} is ${have.version}, package-lock.json wants ${want.version}`;
    }
  }
  return undefined;
}

const why = whyInstall();
if (why !== undefined) {
  let linked = false;
  try {
    linked = lstatSync(new URL('node_modules', new URL('..', import.meta.url))).isSymbolicLink();
  } catch {}
  if (linked) {
    console.error(`npm test: ${why}, but node_modules is a link to another checkout's: not running npm ci here (run it there)`);
    process.exit(0);
  }
  console.error(`npm test: ${why}: running npm ci first`);
  const npm = process.env.npm_execpath;
  const r = npm ? spawnSync(process.execPath, [npm, 'ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' }) : spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
