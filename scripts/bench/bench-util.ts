// Shared by the benchmarks: start the server half in a child process and talk to it.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

const root = fileURLToPath(new URL('../..', import.meta.url));
let built = false;

/**
 * The node arguments that run `covey` as users run it: the compiled dist/ (built here once per
 * benchmark, as `npm ci` does), with the node flags of the `covey` command and `npm start`
 * (coveyNodeFlags()), plus serverNodeFlags(). Not through tsx: its transform names every closure
 * at run time (keepNames), which costs a property table per closure, about 6 KB per RTMFP
 * subscriber, and CPU that the built server does not spend.
 */
export function coveyServerArgs(...cli: string[]): string[] {
  if (!built) {
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('the build (tsc -p tsconfig.build.json) failed');
    built = true;
  }
  return [...coveyNodeFlags(), ...serverNodeFlags(), join(root, 'dist', 'cli', 'main.js'), ...cli];
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Ends a fan-out measurement: the server (the first of `processes`) gets SIGINT so it can exit
 * cleanly and write a profile when asked, then whatever is left of all of them is killed.
 */
export async function stopBenchProcesses(processes: ChildProcess[]): Promise<void> {
  processes[0]?.kill('SIGINT');
  await sleep(1000);
  for (const c of processes) c.kill('SIGKILL');
  await sleep(500);
}

export interface BenchServer {
  port: number;
  ask<T>(msg: object): Promise<T>;
  stop(): void;
}

/** The node flags of the `covey` command: its shebang line's (`#!/usr/bin/env -S node FLAGS`). */
export function coveyNodeFlags(): string[] {
  const shebang = readFileSync(join(root, 'src', 'cli', 'main.ts'), 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env -S node(.*)$/.exec(shebang);
  if (!m) throw new Error(`src/cli/main.ts: unexpected first line ${JSON.stringify(shebang)}`);
  return m[1]!.trim().split(/\s+/).filter(Boolean);
}

/**
 * Node flags for a benchmark's server process only: BENCH_PROFILE=dir writes a CPU profile there
 * (node --cpu-prof); BENCH_SERVER_ARGS adds any others (e.g. --trace-gc).
 */
export function serverNodeFlags(): string[] {
  return [
    ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []),
    ...(process.env.BENCH_SERVER_ARGS?.split(' ').filter(Boolean) ?? []),
  ];
}

export async function startBenchServer(script: string): Promise<BenchServer> {
  const child: ChildProcess = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...serverNodeFlags()],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return {
    port,
    ask: <T>(msg: object) =>
      new Promise<T>((resolve) => {
        child.once('message', (m) => resolve(m as T));
        child.send(msg);
      }),
    stop: () => {
      child.send({ cmd: 'exit' });
    },
  };
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
