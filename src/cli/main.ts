#!/usr/bin/env node
// `covey`: the one command-line program. Subcommands are registered by their own modules.
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
