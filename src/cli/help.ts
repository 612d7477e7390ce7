// Conventions every command's --help follows, applied once to all of them rather than in each:
// a required option says so (in the usage line and beside it), and a default reads as the user
// would type it, `(default: 10)`, not as commander's JSON `(default: "10")`.
import type { Command } from 'commander';

export function polishHelp(program: Command): void {
  for (const command of [program, ...program.commands]) {
    const required: string[] = [];
    for (const option of command.options) {
      if (typeof option.defaultValue === 'string' && option.defaultValue !== '' && option.defaultValueDescription === undefined) {
        option.defaultValueDescription = option.defaultValue;
      }
      if (option.mandatory) {
        option.description = `${option.description} (required)`;
        const arg = /[<[].*[>\]]/.exec(option.flags)?.[0];
        required.push(`${option.short ?? option.long}${arg === undefined ? '' : ` ${arg}`}`);
      }
    }
    // Commander's usage line is "[options] <args>"; a required option goes in front of it.
    if (required.length > 0) command.usage(`${required.join(' ')} ${command.usage()}`);
  }
}
