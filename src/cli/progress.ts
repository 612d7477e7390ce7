// One progress line on stderr, rewritten in place on a terminal, a line per update otherwise.

export class Progress {
  private readonly started = Date.now();
  private lastLength = 0;
  private readonly tty = process.stderr.isTTY === true;

  /** `mediaMs`: media time so far; `bytes`: payload bytes so far. */
  update(mediaMs: number, bytes: number): void {
    const wall = (Date.now() - this.started) / 1000;
    const kbps = wall > 0 ? (bytes * 8) / wall / 1000 : 0;
    const line = `time=${(mediaMs / 1000).toFixed(1)}s bytes=${formatBytes(bytes)} bitrate=${kbps.toFixed(0)}kb/s`;
    if (this.tty) {
      process.stderr.write(`\r${line.padEnd(this.lastLength)}`);
      this.lastLength = line.length;
    } else {
      process.stderr.write(`${line}\n`);
    }
  }

  done(): void {
    if (this.tty && this.lastLength > 0) process.stderr.write('\n');
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}KiB`;
  return `${(n / 1024 / 1024).toFixed(2)}MiB`;
}
