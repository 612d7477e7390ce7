#!/usr/bin/env -S node --single-threaded-gc --max-semi-space-size=4 --min-semi-space-size=4
// `covey`: the one command-line program. Subcommands are registered by their own modules.
//
// The node flags above (npm start passes the same; V8 takes them only at start-up), measured
// with the RTMFP fan-out benchmark (scripts/bench/rtmfp-fanout.ts):
// - --single-threaded-gc: V8's parallel and concurrent GC threads cost more CPU than they save
//   for a server meant to fill one core: 12-30% less server CPU per subscriber without them
//   (three interleaved pairs at 300 subscribers), for scavenge pauses of about 10 ms that live
//   media (buffered, with second-long deadlines) does not notice.
// - a fixed 8 MB young generation (4 MB semi-spaces): V8 grows it to 32 MB under load, and
//   the server's RSS with it: at 300 and 500 subscribers RSS was 96 and 111 MB with 8 MB
//   semi-spaces against 115-118 and 130 MB with V8's default, and 4 MB semi-spaces took another
//   12 MB off at both 100 and 500 subscribers (A/B, two rounds each: 97-98 against 109-111 MB at
//   500), at the same server CPU (55.3-55.7 % against 55.6-55.7 %). By smaps at 500, V8's pages
//   took 5 MB less and the malloc heap 6 MB less: that heap holds node:crypto's output buffers
//   (one per packet sent) until the scavenge after their packet, and scavenges come twice as
//   often. A fixed size also stops the young generation from growing part-way through a
//   measurement.
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
