// How every covey command ends, so scripts can tell a wrong command line from a failed run:
//   0  done;
//   1  it ran and failed (connection refused, stream missing, port in use, lost connection...);
//   2  refused before doing anything: the command line or the config is wrong (unknown option,
//      bad value, bad URL, a file that is not FLV...).
// Either failure is one line on stderr: `covey <command>: <what and why>`.

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The command line or configuration is wrong: exit 2, nothing was attempted. */
export class UsageError extends Error {}

/** Writes the one line for `err` and exits 2 for a usage error, 1 otherwise. */
export function exitWithError(command: string | undefined, err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`${command === undefined ? 'covey' : `covey ${command}`}: ${message.replace(/\s*\n\s*/g, ' ')}`);
  process.exit(err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE);
}
