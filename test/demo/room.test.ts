// The "room" demo (www/room, scripts/demo/room.ts) against a real server: an RTMP user and RTMFP
// users see each other arrive and leave (a killed one too, removed by the app's script) and share
// one click count, which a later user still sees (the counter is a persistent shared object,
// saved under the data folder).
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../../src/server-config.js';
import { startServer } from '../../src/server.js';
import { silentLogger } from '../../src/util/log.js';
import { until } from '../support/test-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'covey-room-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const spawned: ChildProcess[] = [];
after(() => {
  // A failed expectation leaves a --stay client running: it must not outlive the test.
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function demo(url: string, ...args: string[]): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'scripts/demo/room.ts'), url, ...args], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  spawned.push(child);
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

/** Waits for `check` on a demo's lines; on time-out the error lists what it printed (and the bound is generous: tsx starts slowly on a loaded machine). */
async function waitLines(who: { lines: string[] }, check: (lines: string[]) => boolean, what: string, ms = 60_000): Promise<void> {
  try {
    await until(() => check(who.lines), ms, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}; it printed:\n${who.lines.join('\n') || '(nothing)'}`);
  }
}

test('room demo: presence and a shared click count across RTMP and RTMFP users, kept after they leave', async () => {
  const config = defaultConfig();
  config.www = join(root, 'www');
  config.rtmfp = { ...config.rtmfp, host: '127.0.0.1', port: 0 };
  config.rtmp = { enabled: true, host: '127.0.0.1', port: 0 };
  config.sharedObjects.dataDir = dataDir;
  const server = await startServer(config, silentLogger);
  const rtmp = `rtmp://127.0.0.1:${server.rtmp!.address.port}/room`;
  const rtmfp = `rtmfp://127.0.0.1:${server.rtmfp!.localAddress.port}/room`;
  try {
    const alice = demo(rtmp, '--name', 'alice', '--stay');
    await waitLines(alice, (l) => l.includes('room: 1 here (alice); 0 clicks'), 'alice alone');
    const bob = demo(rtmfp, '--name', 'bob', '--clicks', '3');
    await waitLines(alice, (l) => l.includes('room: 2 here (alice, bob); 3 clicks'), 'alice sees bob and his clicks');
    assert.equal(await bob.exited, 0);
    await waitLines(alice, (l) => l.at(-1) === 'room: 1 here (alice); 3 clicks', 'alice sees bob leave');
    // One that dies without leaving is taken off the list by the app's script when its connection ends.
    const dave = demo(rtmp, '--name', 'dave', '--stay');
    await waitLines(alice, (l) => l.at(-1) === 'room: 2 here (alice, dave); 3 clicks', 'alice sees dave arrive');
    dave.child.kill('SIGKILL');
    await waitLines(alice, (l) => l.at(-1) === 'room: 1 here (alice); 3 clicks', 'alice sees dave, killed, gone');
    alice.child.stdin!.write('\n\n');
    await waitLines(alice, (l) => l.at(-1) === 'room: 1 here (alice); 5 clicks', 'alice clicks twice');
    alice.child.stdin!.end();
    assert.equal(await alice.exited, 0);
    // Everyone gone: the persistent count stays, the presence list starts empty.
    const carol = demo(rtmfp, '--name', 'carol', '--clicks', '1');
    assert.equal(await carol.exited, 0);
    assert.ok(carol.lines.includes('room: 1 here (carol); 6 clicks'), carol.lines.join('\n'));
  } finally {
    await server.close();
  }
});
