// Logging for the whole server: pino, because it is fast enough for per-packet debug lines
// when enabled and costs nothing when they are off. Readable lines on a terminal
// (pino-pretty, synchronous so nothing is lost on exit); JSON lines with --log-format json.
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };
export type LogFormat = 'pretty' | 'json';
export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LogOptions {
  level?: LevelWithSilent;
  format?: LogFormat;
  /** Where lines go; stderr by default so `covey play -o -` can write media to stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? 'info';
  const destination = options.destination ?? process.stderr;
  if ((options.format ?? 'pretty') === 'json') {
    return pino({ level, base: undefined }, destination);
  }
  const stream = pretty({
    sync: true,
    colorize: (destination as { isTTY?: boolean }).isTTY === true,
    destination,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
  });
  return pino({ level, base: undefined }, stream);
}

/** A logger that drops everything: the default for library users and tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
