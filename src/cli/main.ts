#!/usr/bin/env -S node --single-threaded-gc
// `covey`: the one command-line program. Subcommands are registered by their own modules.
// --single-threaded-gc: V8's parallel and concurrent GC threads cost more CPU than they save for
// a server that is meant to fill one core: the RTMFP fan-out bench measured 12-30% less server
// CPU per subscriber without them (three interleaved pairs, 300 subscribers), at the price of
// scavenge pauses of about 10 ms, which live media (buffered, with second-long deadlines) does not
// notice. `npm start` passes the same flag; it cannot be set once V8 is running.
import { Command, CommanderError } from 'commander';
import { registerServe } from './serve.js';
import { registerPublish } from './publish.js';
import { registerPlay } from './play.js';

const program = new Command();
program
  .name('covey')
  .description('Covey: a peer-assisted streaming server (RTMFP with an RTMP fallback)')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerServe(program);
registerPublish(program);
registerPlay(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  console.error(`covey: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
