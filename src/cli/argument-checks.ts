// What `covey publish` and `covey play` check before they connect, so a wrong command line is
// refused as such (exit 2, src/cli/exit.ts) and the server never sees a session that could not
// have worked: the URL must name a stream (scheme, port, application, name), and publish's file
// must be FLV with media where media should start (not zero frames published, then a failure).
import { open } from 'node:fs/promises';
import { FlvParser, FlvTagType, MediaFormatError } from '../codec/flv.js';
import { streamProtocolFor } from '../client/stream-client.js';
import '../client/stream-protocols.js';
import { UsageError } from './exit.js';

/** Throws a UsageError saying what is wrong when `url` cannot name a stream. */
export function checkStreamUrl(url: string): void {
  try {
    streamProtocolFor(url).check(url);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * How far to look for the first audio or video tag. An FLV starts with its header, an onMetaData
 * tag (a few hundred bytes; a few hundred KB with a keyframe index for a long recording), then
 * media.
 */
const FIRST_MEDIA_WITHIN = 4 * 1024 * 1024;
const READ_SIZE = 64 * 1024;

/** Resolves when `file` reads as FLV with an audio or video tag near its start; throws a UsageError otherwise. */
export async function checkFlvFile(file: string): Promise<void> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `no such file: ${file}` : `cannot read ${file}: ${code ?? (err as Error).message}`);
  }
  try {
    const parser = new FlvParser();
    const buffer = Buffer.alloc(READ_SIZE);
    let position = 0;
    while (position < FIRST_MEDIA_WITHIN) {
      let bytesRead;
      try {
        ({ bytesRead } = await handle.read(buffer, 0, READ_SIZE, position));
      } catch (err) {
        throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      if (bytesRead === 0) break;
      position += bytesRead;
      let tags;
      try {
        tags = parser.push(Buffer.from(buffer.subarray(0, bytesRead)));
      } catch (err) {
        if (err instanceof MediaFormatError) throw new UsageError(`${file}: ${err.message}`);
        throw err;
      }
      if (tags.some((t) => t.type === FlvTagType.Audio || t.type === FlvTagType.Video)) return;
    }
    if (position === 0) throw new UsageError(`${file}: empty file, not FLV`);
    if (parser.header === undefined) throw new UsageError(`${file}: not an FLV file: ${position} bytes, shorter than an FLV header`);
    const where = position < FIRST_MEDIA_WITHIN ? 'in the whole file' : `in its first ${FIRST_MEDIA_WITHIN / 1024 / 1024} MB`;
    throw new UsageError(`${file}: no complete audio or video tag ${where}: nothing to publish`);
  } finally {
    await handle.close();
  }
}
