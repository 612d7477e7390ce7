#!/usr/bin/env -S node --single-threaded-gc --max-semi-space-size=8 --min-semi-space-size=8
// `covey`: the one command-line program. Subcommands are registered by their own modules.
//
// The node flags above (npm start passes the same; V8 takes them only at start-up), measured
// with the RTMFP fan-out benchmark (scripts/bench/rtmfp-fanout.ts):
// - --single-threaded-gc: V8's parallel and concurrent GC threads cost more CPU than they save
//   for a server meant to fill one core: 12-30% less server CPU per subscriber without them
//   (three interleaved pairs at 300 subscribers), for scavenge pauses of about 10 ms that live
//   media (buffered, with second-long deadlines) does not notice.
// - a fixed 16 MB young generation (8 MB semi-spaces). V8 grows it to 32 MB under load, and
//   the server's RSS with it: at 300 and 500 subscribers RSS was 96 and 111 MB with the fixed
//   size against 115-118 and 130 MB without, at the same CPU per subscriber.
//   Smaller sizes suit RTMFP fan-out but not RTMP fan-out, measured with runs alternating:
//   - RTMFP at 500 subscribers: 4 MB semi-spaces took 12 MB off RSS at the same CPU (half of it
//     the malloc heap, where node:crypto's output buffers, one per packet sent, wait for the
//     next scavenge), and 2 MB another 6 MB and 3.5 % of CPU (49.0-49.7 % against 51.0-51.6 %);
//   - RTMP at 200 subscribers (scripts/bench/rtmp-fanout.ts): with 3 MB, Covey's CPU per
//     subscriber read 0.48x and 0.52x Node-Media-Server's, against 0.44x and 0.40x with 8 MB;
//     that bench's target is at most 0.5x. So 8 MB, until the RTMP path's cost with a small
//     young generation is understood.
//   A fixed size also stops the young generation from growing part-way through a measurement.
import { Command, CommanderError } from 'commander';
import { registerServe } from './serve.js';
import { registerPublish } from './publish.js';
import { registerPlay } from './play.js';
import { exitWithError, EXIT_USAGE, UsageError } from './exit.js';
import { polishHelp } from './help.js';

const program = new Command();
program
  .name('covey')
  .description('Covey: a peer-assisted streaming server (RTMFP with an RTMP fallback)')
  .version('0.1.0')
  // Commander's own error lines (two of them, exit 1) are replaced by ours below: one line,
  // exit 2, as for every other refusal (src/cli/exit.ts). Subcommands inherit both settings.
  .configureOutput({ outputError: () => {} })
  .exitOverride();

registerServe(program);
registerPublish(program);
registerPlay(program);
polishHelp(program);

/** The subcommand the user asked for, if any: the first word that is not an option. */
function commandName(): string | undefined {
  const word = process.argv.slice(2).find((a) => !a.startsWith('-'));
  return program.commands.some((c) => c.name() === word) ? word : undefined;
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const command = commandName();
  if (!(err instanceof CommanderError)) exitWithError(command, err);
  // --help, --version and `covey help` end here too, successfully.
  if (err.exitCode === 0) process.exit(0);
  // `covey` alone: commander has written the help to stderr.
  if (err.code === 'commander.help') process.exit(EXIT_USAGE);
  // Commander suggests on a second line: "(Did you mean serve?)"; it joins the hint on ours.
  const suggestion = /\(Did you mean (.+?)\?\)/.exec(err.message)?.[1];
  const message = err.message.replace(/^error: /, '').replace(/\s*\(Did you mean .+?\?\)/, '');
  const hint = command === undefined ? 'covey --help lists the commands' : `covey ${command} --help lists its options`;
  exitWithError(command, new UsageError(`${message} (${suggestion === undefined ? '' : `did you mean ${suggestion}? `}${hint})`));
}
