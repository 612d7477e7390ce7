#!/usr/bin/env -S node --single-threaded-gc --max-semi-space-size=3 --min-semi-space-size=3
// `covey`: the one command-line program. Subcommands are registered by their own modules.
//
// The node flags above (npm start passes the same; V8 takes them only at start-up), measured
// with the RTMFP fan-out benchmark (scripts/bench/rtmfp-fanout.ts):
// - --single-threaded-gc: V8's parallel and concurrent GC threads cost more CPU than they save
//   for a server meant to fill one core: 12-30% less server CPU per subscriber without them
//   (three interleaved pairs at 300 subscribers), for scavenge pauses of about 10 ms that live
//   media (buffered, with second-long deadlines) does not notice.
// - a small fixed young generation, 6 MB (3 MB semi-spaces). V8 grows it to 32 MB under load,
//   and the server's RSS with it. Measured with builds or flags alternating, at 500 subscribers
//   unless said:
//   - 8 MB semi-spaces against V8's default: RSS 96 and 111 MB at 300 and 500 subscribers
//     against 115-118 and 130 MB, at the same CPU per subscriber;
//   - 4 MB against 8 MB: 12 MB less RSS at both 100 and 500 (97-98 against 109-111 MB at 500),
//     same server CPU (55.3-55.7 % against 55.6-55.7 %). By smaps, V8's pages took 5 MB less
//     and the malloc heap 6 MB less: that heap holds node:crypto's output buffers (one per
//     packet sent) until the scavenge after their packet, and scavenges came twice as often;
//   - 2 MB against 4 MB: server CPU 49.0-49.7 % against 51.0-51.6 % (three rounds) and 6 MB
//     less RSS (likely: less memory is touched between scavenges, so more of it stays in the
//     caches); 1 MB measured no better than 2 MB;
//   - but with 2 MB the memory a subscriber adds grew: three full benchmark runs (100, 300 and
//     500 subscribers) read 48.3, 60.8 and 58.7 KB per subscriber (least squares) against
//     43.4-48.9 KB in four with 4 MB, while three with 3 MB read 45.3-48.9 KB at 0.90-0.95 ms/s
//     per subscriber (4 MB: 0.96-0.99; 2 MB: 0.89-0.94). Hence 3 MB.
//   A fixed size also stops the young generation from growing part-way through a measurement.
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
