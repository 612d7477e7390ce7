#!/usr/bin/env node
// `npm test`'s first step: installs (npm ci) only when this checkout has not been installed, or
// package-lock.json changed since. The README's test command is then `npm test` alone: it works
// on a fresh clone, and next to a server started with `npm ci && npm start` it does not run
// npm ci again, which would delete node_modules under the running server.
import { statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const mtime = (path) => {
  try {
    return statSync(new URL(path, new URL('..', import.meta.url))).mtimeMs;
  } catch {
    return undefined;
  }
};
// npm writes node_modules/.package-lock.json at the end of every install.
const installedAt = mtime('node_modules/.package-lock.json');
const lockAt = mtime('package-lock.json');
const why = installedAt === undefined ? 'not installed yet' : lockAt !== undefined && lockAt > installedAt ? 'package-lock.json changed since the last install' : undefined;
if (why !== undefined) {
  console.error(`npm test: ${why}: running npm ci first`);
  const npm = process.env.npm_execpath;
  const r = npm ? spawnSync(process.execPath, [npm, 'ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' }) : spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
