// The server's node flags live in two places that users run: the `covey` command's shebang and
// `npm start`. They must agree (the benchmarks read the shebang's).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

test('npm start runs the server with the covey command\'s node flags', () => {
  const shebang = readFileSync('src/cli/main.ts', 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env -S node (.+)$/.exec(shebang);
  assert.ok(m, `unexpected shebang ${shebang}`);
  const start = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } }).scripts.start;
  assert.equal(start, `node ${m[1]} dist/cli/main.js serve`);
});
