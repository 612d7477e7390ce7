// The `covey` command run as a user runs it, from the project's sources (through tsx), for the
// CLI tests: its stderr readable while it runs, its exit awaited.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The project's root: where `covey` runs from. */
export const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface CoveyExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** What it wrote to stdout, when kept (`keepStdout`); otherwise empty. */
  stdout: Buffer;
  /** Date.now() when its exit was seen, for tests that check what the server saw around it. */
  exitedAt: number;
}

export interface CoveyRun {
  child: ChildProcess;
  /** What it wrote to stderr so far. */
  stderr: () => string;
  exited: Promise<CoveyExit>;
}

export interface CoveyRunOptions {
  /** Keep stdout (a recording to `-o -`); by default it is read and dropped. */
  keepStdout?: boolean;
  /** Called with all of stderr so far, each time more comes. */
  onStderr?: (all: string) => void;
}

/** Starts `covey ARGS...`. */
export function startCovey(args: string[], options: CoveyRunOptions = {}): CoveyRun {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: projectRoot });
  let stderr = '';
  const stdout: Buffer[] = [];
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    options.onStderr?.(stderr);
  });
  if (options.keepStdout) child.stdout!.on('data', (d: Buffer) => stdout.push(d));
  else child.stdout!.resume();
  const exited = new Promise<CoveyExit>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, stdout: Buffer.concat(stdout), exitedAt: Date.now() })),
  );
  return { child, stderr: () => stderr, exited };
}
