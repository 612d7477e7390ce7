// The `covey` command run as a user runs it, from the project's sources (through tsx), for the
// CLI tests: its stderr readable while it runs, its exit awaited.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The project's root: where `covey` runs from. */
export const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface CoveyRun {
  child: ChildProcess;
  /** What it wrote to stderr so far. */
  stderr: () => string;
  exited: Promise<{ code: number | null; stderr: string }>;
}

/** Starts `covey ARGS...`; stdout is read and dropped. */
export function startCovey(args: string[]): CoveyRun {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: projectRoot });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
  return { child, stderr: () => stderr, exited };
}
